"""Fitting a calibration artifact from an SBC sweep result.

The correction is an **inflation factor** ``c(γ, n)`` per nominal level γ and scale n: the
calibrated γ interval of a quantity is its raw central γ interval stretched about the
posterior median ``m``::

    [m − c (m − lower_γ),  m + c (upper_γ − m)]

(asymmetric posteriors keep their asymmetry). The SBC runner records, per replicate and
quantity, the interval ratio ``r_γ`` (:mod:`pytyche.sbc.ranks`): the calibrated interval
contains the truth exactly when ``r_γ ≤ c``. So the factor giving empirical coverage γ at
scale n is the empirical γ-quantile of ``r_γ`` over that scale's replicates and selected
quantities (the "inverted CDF" quantile: the smallest c whose in-sample coverage is ≥ γ).
This is a quantile recalibration of the posterior's error distribution in the spirit of
Cai, Greengard, Goodrich & Gelman (2026), restricted to central intervals.

Monotone in the level
---------------------
Calibrated intervals must be nested (a 95% interval contains the 90% one). Raw quantiles
are monotone in γ only up to Monte Carlo noise, so the *effective z*, ``c(γ) z_γ`` with
``z_γ = Φ⁻¹((1 + γ) / 2)``, is made non-decreasing in γ by the pool-adjacent-violators
algorithm and ``c`` recomputed from it. For a near-normal posterior the raw γ half-width is
proportional to ``z_γ``, so non-decreasing effective z means nested intervals; linear
interpolation in log n (a convex combination) preserves it between grid scales.

Data-dependent quantities (segment GATEs)
-----------------------------------------
A segment GATE reported by pytyche is the average of the CATE over the segment's visitors
**in the fitted data**. Its SBC truth is the same functional at the true parameters and the
replicate's own visitors (the sample-conditional GATE), not the population GATE: SBC ranks
of a data-dependent test quantity ``f(θ, y)`` are uniform when truth and draws share the
data argument (Modrák et al. 2023). Using the population GATE would add covariate-sampling
variance the posterior does not describe, and the fitted correction would then inflate
intervals for a different estimand. The correction is therefore a statement about the
coverage of the sample-conditional estimand that the posterior targets; problems must return
it as the truth (see :class:`pytyche.sbc.problem.SimulatedBatch`).

References
----------
Cai, Greengard, Goodrich & Gelman (2026). Approximate posterior recalibration.
arXiv:2603.20068.

Modrák, M., Moon, A. H., Kim, S., Bürkner, P. & others (2023). Simulation-based
calibration checking for Bayesian computation: the choice of test quantities shapes
sensitivity. Bayesian Analysis.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from pytyche.calibration.artifact import Calibration

__all__ = ["evaluate_calibration", "fit_calibration", "inflation_factors", "isotonic_increasing"]

_REQUIRED_VARIABLES = ("interval_ratio", "covered")
_REQUIRED_ATTRS = (
    "sweep_id",
    "spec_hash",
    "family",
    "metric",
    "num_arms",
    "model",
    "model_version",
)


def isotonic_increasing(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares non-decreasing fit (pool-adjacent-violators), ``(V,)``."""
    values = np.asarray(values, float)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, float)
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            right, left = blocks.pop(), blocks.pop()
            total = left[1] + right[1]
            mean = (left[0] * left[1] + right[0] * right[1]) / total
            blocks.append([mean, total, left[2] + right[2]])
    return np.concatenate([np.full(int(length), mean) for mean, _, length in blocks])


def inflation_factors(ratios: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Monotone inflation factors ``c(γ)`` from interval ratios at one scale.

    Parameters
    ----------
    ratios
        ``(N, V)`` interval ratios of ``N`` (replicate, quantity) pairs at ``V`` levels.
    levels
        ``(V,)`` increasing nominal levels.

    Returns
    -------
    ndarray
        ``(V,)`` factors: the γ-quantiles of the ratios, made monotone in effective z.
    """
    gamma = np.asarray(levels, float)
    raw = np.array(
        [np.quantile(ratios[:, v], level, method="inverted_cdf") for v, level in enumerate(gamma)]
    )
    if not np.all(np.isfinite(raw)):
        raise ValueError(
            "interval ratios are infinite at the quantile: the posterior intervals have zero "
            "width for too many replicates to calibrate (check the fit's draws)"
        )
    z = norm.ppf((1 + gamma) / 2)
    return isotonic_increasing(raw * z) / z


def fit_calibration(
    result: xr.Dataset,
    *,
    quantities: Sequence[str] = ("*",),
    created: str | None = None,
) -> Calibration:
    """Fit a :class:`Calibration` from an SBC sweep result.

    Parameters
    ----------
    result
        Output of :func:`pytyche.sbc.run_sweep` (or :func:`pytyche.sbc.load_result`).
    quantities
        Glob patterns of the quantities to fit on (pooled), e.g. ``("gate_*",)``.
    created
        ISO timestamp to record; default now (UTC).

    Returns
    -------
    Calibration
        Inflation factors per (level, scale) with the sweep's regime and provenance and
        the in-sample coverage before and after correction.
    """
    _check_result(result)
    names = [str(q) for q in result["quantity"].values]
    selected = [q for q in names if any(fnmatch.fnmatch(q, p) for p in quantities)]
    if not selected:
        raise ValueError(f"quantities {list(quantities)} match none of the result's {names}")
    subset = result.sel(quantity=selected)
    levels = tuple(float(v) for v in subset["level"].values)
    scales = tuple(int(n) for n in np.unique(subset["n"].values))
    factors = np.empty((len(levels), len(scales)))
    before = np.empty_like(factors)
    after = np.empty_like(factors)
    counts = []
    for j, n in enumerate(scales):
        at_scale = subset.isel(replicate=np.flatnonzero(subset["n"].values == n))
        ratios = at_scale["interval_ratio"].transpose("replicate", "quantity", "level").values
        ratios = ratios.reshape(-1, len(levels))
        factors[:, j] = inflation_factors(ratios, levels)
        before[:, j] = np.mean(ratios <= 1.0, axis=0)
        after[:, j] = np.mean(ratios <= factors[:, j], axis=0)
        counts.append(int(at_scale.sizes["replicate"]))
    attrs = result.attrs
    return Calibration(
        family=str(attrs["family"]),
        metric=str(attrs["metric"]),
        num_arms=int(attrs["num_arms"]),
        model=str(attrs["model"]),
        model_version=str(attrs["model_version"]),
        sweep_id=str(attrs["sweep_id"]),
        spec_hash=str(attrs["spec_hash"]),
        created=created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        levels=levels,
        scales=scales,
        inflation=factors,
        num_replicates=tuple(counts),
        quantities=tuple(selected),
        coverage_before=before,
        fit_config=json.loads(attrs.get("spec_json", "{}")).get("fit", {}),
        coverage_after=after,
    )


def evaluate_calibration(
    calibration: Calibration, result: xr.Dataset, *, quantities: Sequence[str] | None = None
) -> pd.DataFrame:
    """Raw and calibrated coverage of a (held-out) SBC result, per scale n and level.

    The calibrated γ interval of a replicate covers the truth exactly when its interval
    ratio is at most ``c(γ, n)`` (module docstring), so no draws are needed.

    Parameters
    ----------
    calibration
        The artifact to evaluate.
    result
        An SBC result with the same levels, ideally from a different seed (held out).
    quantities
        Glob patterns; default the quantities the artifact was fitted on.

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``level``, ``raw_coverage``, ``calibrated_coverage``, ``mc_low``,
        ``mc_high`` (Clopper–Pearson 95% of the calibrated coverage, counting replicates
        only — quantities of one replicate are dependent), ``replicates``, ``in_range``.
    """
    from pytyche.sbc.ranks import coverage_interval

    _check_result(result)
    patterns = calibration.quantities if quantities is None else tuple(quantities)
    names = [str(q) for q in result["quantity"].values]
    selected = [q for q in names if any(fnmatch.fnmatch(q, p) for p in patterns)]
    if not selected:
        raise ValueError(f"quantities {list(patterns)} match none of the result's {names}")
    levels = np.asarray(result["level"].values, float)
    missing = [v for v in levels if not np.any(np.isclose(v, calibration.levels))]
    if missing:
        raise ValueError(f"result levels {missing} are not calibrated ({calibration.levels})")
    ratio_array = result["interval_ratio"].sel(quantity=selected)
    ratios = ratio_array.transpose("replicate", "quantity", "level").values
    scales = result["n"].values
    rows = []
    low, high = calibration.scale_range
    for n in np.unique(scales):
        at_n = ratios[scales == n]
        factors = calibration.factor(int(n), levels)
        for v, level in enumerate(levels):
            calibrated = float(np.mean(at_n[..., v] <= factors[v]))
            replicates = at_n.shape[0]
            mc = coverage_interval(np.array(round(calibrated * replicates)), np.array(replicates))
            rows.append(
                {
                    "n": int(n),
                    "level": float(level),
                    "raw_coverage": float(np.mean(at_n[..., v] <= 1.0)),
                    "calibrated_coverage": calibrated,
                    "mc_low": float(mc[0]),
                    "mc_high": float(mc[1]),
                    "replicates": replicates,
                    "in_range": bool(low <= n <= high),
                }
            )
    return pd.DataFrame(rows)


def _check_result(result: xr.Dataset) -> None:
    if not isinstance(result, xr.Dataset):
        raise TypeError(f"result must be an SBC result xarray.Dataset, got {type(result).__name__}")
    missing = [v for v in _REQUIRED_VARIABLES if v not in result]
    missing += [f"attrs[{a!r}]" for a in _REQUIRED_ATTRS if a not in result.attrs]
    if missing:
        raise ValueError(f"result is not an SBC sweep result: missing {missing}")
