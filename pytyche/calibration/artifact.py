"""`Calibration`: an SBC-fitted interval correction, saved as JSON and applied to posteriors.

An artifact holds inflation factors ``c(γ, n)`` on a grid of nominal levels γ and scales n
(fitted by :func:`pytyche.calibration.fit_calibration`, which documents the method) and the
regime they were fitted in: outcome family, metric, number of arms K, model and version,
the sweep id and spec hash, the scale range and the creation date.

Applying it
-----------
- ``c(γ, n)`` is interpolated **linearly in log n** between grid scales and held flat
  outside the fitted range (with a :class:`CalibrationRangeWarning`: the correction was not
  measured there); between fitted levels it is interpolated linearly in γ, flat outside.
- **Intervals**: ``[m − c (m − lower_γ), m + c (upper_γ − m)]``, ``m`` the posterior median.
- **Draws**: each draw ``θ_s`` is moved to ``m + c(γ_s, n) (θ_s − m)``, with
  ``γ_s = |2 F̂(θ_s) − 1|`` its own central level (``F̂`` the empirical CDF of the draws).
  The draw at the ``(1 ± γ)/2`` quantile lands on the calibrated γ interval's end, so
  every summary computed from calibrated draws (intervals, P(beats control), Thompson
  weights) uses the calibrated uncertainty. For near-normal posteriors, monotone effective
  z (see the fitting module) keeps the draws' order.

Everything returned carries ``claim_level = "calibrated posterior"``
(:attr:`pytyche.contracts.ClaimLevel.CALIBRATED`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from pytyche.contracts import ClaimLevel, Metric, MetricFamily

__all__ = [
    "SCHEMA_VERSION",
    "Calibration",
    "CalibrationConfigWarning",
    "CalibrationMismatchError",
    "CalibrationRangeWarning",
    "Regime",
]

SCHEMA_VERSION = 1
METHOD = "median-anchored interval inflation (SBC interval-ratio quantiles)"
_ARRAY_FIELDS = ("inflation", "coverage_before", "coverage_after")
_NATURAL_METRIC = {
    MetricFamily.HURDLE: Metric.REVENUE_PER_VISITOR,
    MetricFamily.BINARY: Metric.CONVERSION_RATE,
    MetricFamily.CONTINUOUS: Metric.MEAN_OUTCOME,
}


class CalibrationMismatchError(ValueError):
    """A calibration artifact was applied to a regime it was not fitted for."""


class CalibrationRangeWarning(UserWarning):
    """A calibration artifact is used at a scale outside the range it was fitted on."""


class CalibrationConfigWarning(UserWarning):
    """A calibration is used with fit settings other than those it was fitted for."""


class Regime(NamedTuple):
    """The regime of a posterior, for :meth:`Calibration.applies_to` without a RoundData.

    ``family`` and ``metric`` as strings or pytyche enums; ``num_arms`` is K (control
    included); ``n`` the number of visitors the posterior was fitted to.
    """

    family: str
    metric: str | None
    num_arms: int
    n: int


@dataclass(frozen=True, eq=False)
class Calibration:
    """An SBC-fitted interval correction (see the module docstring).

    Attributes
    ----------
    family, metric, num_arms, model, model_version
        The regime fitted in.
    sweep_id, spec_hash
        The SBC sweep it was fitted from.
    created
        ISO-8601 creation time (UTC).
    levels
        ``(V,)`` increasing nominal levels.
    scales
        ``(N,)`` increasing scales n of the sweep.
    inflation
        ``(V, N)`` factors ``c(γ, n)``.
    num_replicates
        ``(N,)`` replicates per scale the factors were estimated from.
    quantities
        The quantities pooled in the fit.
    coverage_before, coverage_after
        ``(V, N)`` in-sample empirical coverage of the raw and corrected intervals.
    fit_config
        The sweep's fit settings (``BCFConfig`` fields, e.g. tree counts and draws): the
        correction is measured for fits made this way (empty when unknown).
    method
        Description of the correction.
    """

    family: str
    metric: str
    num_arms: int
    model: str
    model_version: str
    sweep_id: str
    spec_hash: str
    created: str
    levels: tuple[float, ...]
    scales: tuple[int, ...]
    inflation: np.ndarray
    num_replicates: tuple[int, ...]
    quantities: tuple[str, ...]
    coverage_before: np.ndarray
    coverage_after: np.ndarray
    fit_config: dict[str, Any] = field(default_factory=dict)
    method: str = METHOD
    schema_version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        shape = (len(self.levels), len(self.scales))
        for name in _ARRAY_FIELDS:
            value = np.asarray(getattr(self, name), float)
            if value.shape != shape:
                raise ValueError(
                    f"{name} must have shape (levels, scales) = {shape}, got {value.shape}"
                )
            object.__setattr__(self, name, value)
        levels = np.asarray(self.levels, float)
        if np.any((levels <= 0) | (levels >= 1)) or np.any(np.diff(levels) <= 0):
            raise ValueError(f"levels must be increasing in (0, 1), got {self.levels}")
        if np.any(np.asarray(self.scales) < 1) or np.any(np.diff(self.scales) <= 0):
            raise ValueError(f"scales must be increasing positive integers, got {self.scales}")
        if not np.all(np.isfinite(self.inflation)) or np.any(self.inflation <= 0):
            raise ValueError("inflation factors must be finite and positive")
        if len(self.num_replicates) != len(self.scales):
            raise ValueError("num_replicates must have one entry per scale")

    # ------------------------------------------------------------ regime
    def config_mismatches(self, config: Any) -> list[str]:
        """Fit settings of ``config`` (a ``BCFConfig``) that differ from the sweep's.

        Returns
        -------
        list of str
            ``"name: fitted with A, used with B"`` per differing field (empty when the
            artifact records no fit settings or all recorded ones agree).
        """
        reasons = []
        for name, fitted in sorted(self.fit_config.items()):
            used = getattr(config, name, None)
            if used is not None and used != fitted:
                reasons.append(f"{name}: fitted with {fitted!r}, used with {used!r}")
        return reasons

    def check_config(self, config: Any) -> bool:
        """Warn (`CalibrationConfigWarning`) when ``config`` is not the sweep's fit config.

        A correction fitted on SBC sweeps of one fit configuration (forest sizes, chain
        lengths) is not measured for another: intervals of a larger forest or a longer
        chain undercover by a different amount. Returns True when the settings agree.
        """
        reasons = self.config_mismatches(config)
        if reasons:
            warnings.warn(
                f"calibration {self.sweep_id!r} was fitted on fits with other settings ("
                + "; ".join(reasons)
                + "); its correction is unmeasured for this fit configuration",
                CalibrationConfigWarning,
                stacklevel=2,
            )
        return not reasons

    @property
    def scale_range(self) -> tuple[int, int]:
        """Smallest and largest scale n the factors were measured at."""
        return self.scales[0], self.scales[-1]

    def mismatches(self, data: Any, metric: Metric | str | None = None) -> list[str]:
        """Reasons this artifact does not apply to ``data`` (empty when it applies).

        Parameters
        ----------
        data
            A :class:`pytyche.data.RoundData` or a :class:`Regime`.
        metric
            The metric the intervals are on. With a RoundData (which records none) the
            default is the family's natural metric: revenue per visitor (hurdle),
            conversion rate (binary), mean outcome (continuous).
        """
        regime = _regime_of(data, metric)
        reasons = []
        if str(regime.family) != self.family:
            reasons.append(f"family {str(regime.family)!r} != calibrated family {self.family!r}")
        if regime.metric is not None and str(regime.metric) != self.metric:
            reasons.append(f"metric {str(regime.metric)!r} != calibrated metric {self.metric!r}")
        if int(regime.num_arms) != self.num_arms:
            reasons.append(f"K = {regime.num_arms} arms != calibrated K = {self.num_arms}")
        return reasons

    def applies_to(self, data: Any, metric: Metric | str | None = None) -> bool:
        """Whether the artifact was fitted for ``data``'s regime (family, metric, K).

        Returns False on a regime mismatch. Inside the regime but outside the fitted scale
        range it returns True and warns with :class:`CalibrationRangeWarning`.
        """
        if self.mismatches(data, metric):
            return False
        self._warn_range(_regime_of(data, metric).n)
        return True

    def check(self, data: Any, metric: Metric | str | None = None) -> int:
        """Raise :class:`CalibrationMismatchError` unless the artifact applies; return n."""
        reasons = self.mismatches(data, metric)
        if reasons:
            raise CalibrationMismatchError(
                f"calibration {self.sweep_id!r} does not apply: " + "; ".join(reasons)
            )
        n = int(_regime_of(data, metric).n)
        self._warn_range(n)
        return n

    def _warn_range(self, n: int) -> None:
        low, high = self.scale_range
        if not low <= n <= high:
            warnings.warn(
                f"calibration {self.sweep_id!r} was fitted on scales n in [{low:,}, {high:,}]; "
                f"n = {n:,} is outside, so the nearest scale's correction is used unmeasured",
                CalibrationRangeWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------ factors
    def factor(self, n: int, level: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """``c(γ, n)``: log-n-linear between scales, γ-linear between levels, flat outside."""
        if not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a positive integer (visitors), got {n!r}")
        log_scales = np.log(np.asarray(self.scales, float))
        log_n = np.clip(np.log(n), log_scales[0], log_scales[-1])
        at_n = np.array([np.interp(log_n, log_scales, row) for row in self.inflation])
        gamma = np.asarray(level, float)
        if np.any((gamma < 0) | (gamma >= 1)):
            raise ValueError(f"level must lie in [0, 1), got {level!r}")
        return np.interp(gamma, np.asarray(self.levels), at_n)

    # ------------------------------------------------------------ applying
    def calibrated_interval(
        self, draws: np.ndarray, n: int, level: float, axis: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated central ``level`` interval of draws along ``axis``.

        Returns
        -------
        (lower, upper)
            Arrays with ``axis`` removed.
        """
        draws = np.asarray(draws, float)
        median = np.median(draws, axis=axis)
        lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=axis)
        c = self.factor(n, level)
        return median - c * (median - lower), median + c * (upper - median)

    def calibrated_draws(self, draws: np.ndarray, n: int, axis: int = 0) -> np.ndarray:
        """Draws re-spread about their median by the level-dependent factor (module doc)."""
        draws = np.asarray(draws, float)
        moved = np.moveaxis(draws, axis, 0)
        num_draws = moved.shape[0]
        median = np.median(moved, axis=0)
        ranks = np.argsort(np.argsort(moved, axis=0, kind="stable"), axis=0)
        own_level = np.abs(2 * (ranks + 0.5) / num_draws - 1)
        calibrated = median + self.factor(n, own_level) * (moved - median)
        return np.moveaxis(calibrated, 0, axis)

    def apply(
        self,
        draws: xr.DataArray,
        *,
        n: int | None = None,
        data: Any = None,
        metric: Metric | str | None = None,
        levels: Sequence[float] | None = None,
        sample_dims: Sequence[str] = ("chain", "draw"),
    ) -> xr.Dataset:
        """Calibrated draws and intervals of a posterior quantity.

        Parameters
        ----------
        draws
            Posterior draws (e.g. ``Posterior.gate(...)``), with ``sample_dims``.
        n
            Visitors the posterior was fitted to; default ``len(data.frame)``.
        data
            The fitted :class:`~pytyche.data.RoundData` (or a :class:`Regime`): checked
            with :meth:`check` (raises on a family/metric/K mismatch).
        metric
            Metric of ``draws`` for the regime check (default ``draws.attrs["metric"]``).
        levels
            Interval levels; default the artifact's.
        sample_dims
            Dimensions that index draws.

        Returns
        -------
        xarray.Dataset
            ``draws`` (calibrated, same shape) and ``lower`` / ``upper`` over a new
            ``level`` dimension; ``attrs["claim_level"] = "calibrated posterior"``.
        """
        if not isinstance(draws, xr.DataArray):
            raise TypeError(f"draws must be an xarray.DataArray, got {type(draws).__name__}")
        missing = [d for d in sample_dims if d not in draws.dims]
        if missing:
            raise ValueError(f"draws lacks the sample dimensions {missing}; has {draws.dims}")
        if data is not None:
            checked = self.check(data, metric if metric is not None else draws.attrs.get("metric"))
            n = checked if n is None else n
        elif n is None:
            raise ValueError("pass n (visitors fitted) or data to apply a calibration")
        else:
            self._warn_range(int(n))
        stacked = draws.stack(__sample__=list(sample_dims)).transpose("__sample__", ...)
        values = self.calibrated_draws(stacked.values, int(n), axis=0)
        calibrated = stacked.copy(data=values).unstack("__sample__").transpose(*draws.dims)
        chosen = tuple(self.levels) if levels is None else tuple(float(v) for v in levels)
        bounds = [self.calibrated_interval(stacked.values, int(n), v, axis=0) for v in chosen]
        other = [d for d in stacked.dims if d != "__sample__"]
        coords = {k: v for k, v in draws.coords.items() if set(v.dims) <= set(other)}
        lower = xr.DataArray(
            np.stack([b[0] for b in bounds]), dims=["level", *other], coords=coords
        )
        upper = xr.DataArray(
            np.stack([b[1] for b in bounds]), dims=["level", *other], coords=coords
        )
        attrs = {
            **draws.attrs,
            "claim_level": ClaimLevel.CALIBRATED.value,
            "calibration_sweep": self.sweep_id,
            "calibration_n": int(n),
        }
        result = xr.Dataset(
            {"draws": calibrated, "lower": lower, "upper": upper},
            coords={"level": list(chosen)},
            attrs=attrs,
        )
        for name in result.data_vars:
            result[name].attrs["claim_level"] = ClaimLevel.CALIBRATED.value
        return result

    # ------------------------------------------------------------ tables & storage
    def table(self) -> Any:
        """Factors and in-sample coverage as a long pandas DataFrame (level, n)."""
        import pandas as pd

        rows = [
            {
                "level": level,
                "n": n,
                "inflation": self.inflation[i, j],
                "coverage_before": self.coverage_before[i, j],
                "coverage_after": self.coverage_after[i, j],
                "replicates": self.num_replicates[j],
            }
            for i, level in enumerate(self.levels)
            for j, n in enumerate(self.scales)
        ]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (arrays as nested lists)."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "method": self.method,
            "family": self.family,
            "metric": self.metric,
            "num_arms": self.num_arms,
            "model": self.model,
            "model_version": self.model_version,
            "sweep_id": self.sweep_id,
            "spec_hash": self.spec_hash,
            "created": self.created,
            "scale_range": list(self.scale_range),
            "levels": list(self.levels),
            "scales": list(self.scales),
            "num_replicates": list(self.num_replicates),
            "quantities": list(self.quantities),
            "fit_config": dict(self.fit_config),
        }
        for name in _ARRAY_FIELDS:
            out[name] = np.asarray(getattr(self, name)).tolist()
        return out

    def save(self, path: str | Path) -> Path:
        """Write the artifact as JSON; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibration:
        """Rebuild from :meth:`to_dict` output (validates keys and schema version)."""
        if not isinstance(payload, dict):
            raise TypeError(f"calibration payload must be a dict, got {type(payload).__name__}")
        version = payload.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"calibration schema_version {version!r} is not supported "
                f"(expected {SCHEMA_VERSION})"
            )
        required = [
            "family", "metric", "num_arms", "model", "model_version", "sweep_id", "spec_hash",
            "created", "levels", "scales", "num_replicates", "quantities", *_ARRAY_FIELDS,
        ]  # fmt: skip
        missing = [k for k in required if k not in payload]
        if missing:
            raise ValueError(f"calibration artifact is missing the keys {missing}")
        return cls(
            family=str(payload["family"]),
            metric=str(payload["metric"]),
            num_arms=int(payload["num_arms"]),
            model=str(payload["model"]),
            model_version=str(payload["model_version"]),
            sweep_id=str(payload["sweep_id"]),
            spec_hash=str(payload["spec_hash"]),
            created=str(payload["created"]),
            levels=tuple(float(v) for v in payload["levels"]),
            scales=tuple(int(v) for v in payload["scales"]),
            inflation=np.asarray(payload["inflation"], float),
            num_replicates=tuple(int(v) for v in payload["num_replicates"]),
            quantities=tuple(str(q) for q in payload["quantities"]),
            coverage_before=np.asarray(payload["coverage_before"], float),
            coverage_after=np.asarray(payload["coverage_after"], float),
            fit_config=dict(payload.get("fit_config", {})),
            method=str(payload.get("method", METHOD)),
        )

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read an artifact written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"calibration artifact {str(path)!r} does not exist")
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON: {error}") from None
        return cls.from_dict(payload)

    def __repr__(self) -> str:
        low, high = self.scale_range
        return (
            f"Calibration(sweep {self.sweep_id!r}: {self.family}/{self.metric}, K={self.num_arms}, "
            f"model {self.model} {self.model_version}, n in [{low:,}, {high:,}], "
            f"levels {list(self.levels)})"
        )


def _regime_of(data: Any, metric: Metric | str | None) -> Regime:
    if isinstance(data, Regime):
        return data
    from pytyche.data import RoundData

    if isinstance(data, RoundData):
        family = MetricFamily(data.family)
        chosen = _NATURAL_METRIC[family] if metric is None else Metric(metric)
        return Regime(family.value, chosen.value, len(data.arms), len(data.frame))
    raise TypeError(
        f"data must be a pytyche RoundData or a calibration Regime, got {type(data).__name__}"
    )
