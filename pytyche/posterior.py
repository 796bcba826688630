"""`Posterior`: per-draw CATEs, GATEs and rewards of a fitted BCF, and its ArviZ export.

Every derived quantity is computed **per joint posterior draw** and only then summarised
(never by plugging posterior means into a non-linear formula). For draw ``t``, visitor ``x``
and arm ``a`` with channel fits ``f^c`` (probit conversion) and ``f^s`` (severity, model
units ``(log y − c) / s``) and severity variance ``σ²`` (model units):

- conversion rate ``p = Φ(f^c)``;
- revenue per converter ``m = exp(c + s f^s + s² σ² / 2)`` (log-normal mean);
- revenue per visitor ``RPV = p · m``;
- ``CATE_a(x) = metric(x, a) − metric(x, 0)``.

The hurdle decomposition of an RPV effect (per draw, averaged over visitors) is
``(p_a − p_0) m_0`` (conversion) ``+ p_a (m_a − m_0)`` (spend); the two add up exactly.

Every returned xarray object has ``chain`` and ``draw`` dimensions and
``attrs["claim_level"] = "uncalibrated posterior"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import ndtr

from pytyche.contracts import ClaimLevel, Metric, MetricFamily
from pytyche.data import PROPENSITY_PREFIX, RoundData
from pytyche.forest.binning import BinSpec, bin_covariates
from pytyche.forest.predict import arm_contributions
from pytyche.forest.trees import Trees, traverse
from pytyche.models.bcf import TAU_INTERCEPT_SITE

__all__ = ["FAMILY_METRICS", "ForestDraws", "Posterior", "PosteriorSpec", "hurdle_metric"]

FAMILY_METRICS = {
    MetricFamily.HURDLE: (
        Metric.REVENUE_PER_VISITOR,
        Metric.CONVERSION_RATE,
        Metric.REVENUE_PER_CONVERTER,
    ),
    MetricFamily.BINARY: (Metric.CONVERSION_RATE,),
    MetricFamily.CONTINUOUS: (Metric.MEAN_OUTCOME,),
}
PREDICT_CHUNK = 16_384
CLAIM = ClaimLevel.POSTERIOR.value


def hurdle_metric(
    metric: Metric,
    conversion_fit: Any,
    severity_fit: Any,
    sigma2: Any,
    outcome_center: Any,
    outcome_scale: Any,
) -> Any:
    """A hurdle metric per joint draw from the two channels' fits (NumPy or JAX arrays).

    Conversion ``Φ(f^c)``; revenue per converter ``exp(c + s f^s + s² σ² / 2)`` (the
    log-normal mean, ``c``, ``s`` the severity standardisation); revenue per visitor their
    product — draw by draw, never from plugged-in posterior means.

    Parameters
    ----------
    metric
        ``conversion_rate``, ``revenue_per_converter`` or ``revenue_per_visitor``.
    conversion_fit, severity_fit
        Channel fits in model units, same shape.
    sigma2
        Severity noise variance (model units), broadcastable to the fits.
    outcome_center, outcome_scale
        ``c`` and ``s``.

    Returns
    -------
    array
        JAX array when ``conversion_fit`` is one (usable under ``jit``), else NumPy.
    """
    xp, cdf = (jnp, jax.scipy.special.ndtr) if isinstance(conversion_fit, jax.Array) else (np, ndtr)
    conversion = cdf(conversion_fit)
    if metric is Metric.CONVERSION_RATE:
        return conversion
    log_mean = outcome_center + outcome_scale * severity_fit + outcome_scale**2 * sigma2 / 2
    spend = xp.exp(log_mean)
    if metric is Metric.REVENUE_PER_CONVERTER:
        return spend
    return conversion * spend


@dataclass(frozen=True)
class PosteriorSpec:
    """What a posterior needs to turn channel fits into metrics and to predict.

    Attributes
    ----------
    family, channels, arms
        Outcome family, channel names, arm names (control first).
    offset
        ``(C,)`` channel offsets (model units).
    outcome_center, outcome_scale
        Standardisation of the Gaussian channel.
    mu_bins, tau_bins
        Cutpoints of the μ (covariates + propensities) and τ (covariates) forests.
    mean_propensity
        ``(K − 1,)`` training-mean propensities of the active arms, used for new visitors
        whose frame has no ``propensity_<arm>`` columns.
    treatment_center
        ``(K − 1,)`` the vector subtracted from the treatment forest's one-hot arm basis
        (``BCFConfig.treatment_coding``): arm ``a``'s fit is ``offset + μ + τᵀ(e_a − c)``.
        Zeros for the indicator coding (and for files written before it existed).
    """

    family: MetricFamily
    channels: tuple[str, ...]
    arms: tuple[str, ...]
    offset: np.ndarray
    outcome_center: float
    outcome_scale: float
    mu_bins: BinSpec
    tau_bins: BinSpec
    mean_propensity: np.ndarray
    treatment_center: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.treatment_center is None:
            zeros = np.zeros(len(self.arms) - 1)
            object.__setattr__(self, "treatment_center", zeros)


@dataclass(frozen=True)
class ForestDraws:
    """Compact trees of every kept draw, ``(chain, draw, G, trees, S, ...)`` arrays.

    ``G`` is the number of channel groups (1 under joint pooling, ``C`` independent).
    """

    mu_split_var: np.ndarray
    mu_split_bin: np.ndarray
    mu_leaf_value: np.ndarray
    tau_split_var: np.ndarray
    tau_split_bin: np.ndarray
    tau_leaf_value: np.ndarray


def _forest_values(
    split_var: np.ndarray, split_bin: np.ndarray, leaf_value: np.ndarray, bins: np.ndarray
) -> np.ndarray:
    """``(D, C, n, B)`` sum over trees of the leaf vectors at new visitors, per draw."""
    draws, groups = split_var.shape[:2]
    per_group, basis = leaf_value.shape[-2:]
    n = bins.shape[1]
    out = np.empty((draws, groups * per_group, n, basis), np.float32)
    flat = Trees(
        jnp.asarray(split_var.reshape(draws * groups, *split_var.shape[2:]), jnp.int32),
        jnp.asarray(split_bin.reshape(draws * groups, *split_bin.shape[2:]), jnp.int32),
        jnp.asarray(leaf_value.reshape(draws * groups, *leaf_value.shape[2:])),
    )
    # Chunks of a power-of-two width, so few distinct shapes are ever compiled.
    width = min(PREDICT_CHUNK, 1 << max(int(np.ceil(np.log2(max(n, 1)))), 4))
    for start in range(0, n, width):
        stop = min(start + width, n)
        chunk = np.zeros((bins.shape[0], width), np.uint8)
        chunk[:, : stop - start] = bins[:, start:stop]
        values = np.asarray(_sum_trees(flat, jnp.asarray(chunk)))  # (D*G, chunk, Cg, B)
        values = values.reshape(draws, groups, width, per_group, basis)
        values = values.transpose(0, 1, 3, 2, 4).reshape(draws, groups * per_group, -1, basis)
        out[:, :, start:stop] = values[:, :, : stop - start]
    return out


@jax.jit
def _sum_trees(draws: Trees, bins: jax.Array) -> jax.Array:
    def one(trees: Trees) -> jax.Array:
        index = traverse(trees, bins)  # (T, n)
        values = jax.vmap(lambda v, i: v[i])(trees.leaf_value, index)  # (T, n, Cg, B)
        return jnp.sum(values, axis=0)

    return jax.lax.map(one, draws)


class Posterior:
    """Posterior draws of a fitted BCF (build it with :func:`pytyche.inference.fit`).

    Parameters
    ----------
    fit
        ``(chain, draw, C, n, K)`` channel fits in model units at every training visitor
        under every arm.
    sites
        Scalar-site draws, name -> ``(chain, draw, ...)``.
    info
        Sampler diagnostics, name -> ``(chain, draw)``.
    spec
        `PosteriorSpec`.
    data
        The training data.
    forests
        Tree draws for prediction at new covariates (None if not stored).
    metric
        Default metric.
    """

    def __init__(
        self,
        *,
        fit: np.ndarray,
        sites: dict[str, np.ndarray],
        info: dict[str, np.ndarray],
        spec: PosteriorSpec,
        data: RoundData,
        forests: ForestDraws | None,
        metric: Metric,
    ) -> None:
        self.fit = fit
        self.sites = sites
        self.info = info
        self.spec = spec
        self.data = data
        self.forests = forests
        self.metric = metric

    # ------------------------------------------------------------ building
    @staticmethod
    def check_metric(family: MetricFamily, metric: Metric | str | None) -> Metric:
        """The metric to report for ``family`` (its first one when None); checks it fits."""
        allowed = FAMILY_METRICS[MetricFamily(family)]
        if metric is None:
            return allowed[0]
        try:
            resolved = Metric(metric)
        except ValueError:
            raise ValueError(
                f"metric must be one of {[m.value for m in Metric]}, got {metric!r}"
            ) from None
        if resolved not in allowed:
            raise ValueError(
                f"metric {resolved.value!r} is not defined for the {family} family; "
                f"expected one of {[m.value for m in allowed]}"
            )
        return resolved

    @classmethod
    def from_mcmc(
        cls, mcmc: Any, data: RoundData, problem: Any, *, metric: Metric | None = None
    ) -> Posterior:
        """Collect the draws of a finished ``numpyro.infer.MCMC`` run with a `BCFKernel`."""
        samples = mcmc.get_samples(group_by_chain=True)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        prepared = mcmc.sampler.prepared(problem)
        return cls._build(
            center=np.asarray(prepared.center, np.float64),
            sites=samples,
            fit=extra["fit"],
            info=extra["info"],
            mu_trees=extra.get("mu_trees"),
            tau_trees=extra.get("tau_trees"),
            data=data,
            problem=problem,
            bins=(prepared.mu_spec, prepared.tau_spec),
            metric=metric,
        )

    @classmethod
    def from_draws(
        cls, draws: Any, data: RoundData, problem: Any, run: Any, *, metric: Metric | None = None
    ) -> Posterior:
        """Build from :func:`pytyche.inference.driver.run_chains` output.

        Parameters
        ----------
        draws
            `ChainDraws` with leading ``(chain, draw)`` axes.
        data, problem
            The training data and its `BCFProblem`.
        run
            The `PreparedRun` the draws came from (for its binnings).
        metric
            Default metric.
        """
        return cls._build(
            center=np.asarray(run.arrays.data["center"], np.float64),
            sites=draws.z,
            fit=draws.fit,
            info=draws.info,
            mu_trees=draws.mu_trees,
            tau_trees=draws.tau_trees,
            data=data,
            problem=problem,
            bins=(run.mu_spec, run.tau_spec),
            metric=metric,
        )

    @classmethod
    def _build(
        cls,
        *,
        sites: dict,
        fit: Any,
        info: Any,
        mu_trees: Any,
        tau_trees: Any,
        data: RoundData,
        problem: Any,
        bins: tuple,
        metric: Metric | None,
        center: np.ndarray,
    ) -> Posterior:
        spec = PosteriorSpec(
            family=problem.family,
            channels=problem.channels,
            arms=problem.arms,
            offset=np.asarray(problem.offset, np.float64),
            outcome_center=problem.outcome_center,
            outcome_scale=problem.outcome_scale,
            mu_bins=bins[0],
            tau_bins=bins[1],
            mean_propensity=problem.propensity.mean(axis=0),
            treatment_center=center,
        )
        forests = None
        if mu_trees is not None:
            forests = ForestDraws(*(np.asarray(a) for a in (*mu_trees, *tau_trees)))
        return cls(
            fit=np.asarray(fit),
            sites={k: np.asarray(v) for k, v in sites.items()},
            info={k: np.asarray(v) for k, v in info._asdict().items()},
            spec=spec,
            data=data,
            forests=forests,
            metric=cls.check_metric(problem.family, metric),
        )

    # ------------------------------------------------------------- metrics
    @property
    def num_chains(self) -> int:
        """Number of chains."""
        return int(self.fit.shape[0])

    @property
    def num_draws(self) -> int:
        """Kept draws per chain."""
        return int(self.fit.shape[1])

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm names, control first."""
        return self.spec.arms

    def _metric(self, metric: Metric | str | None) -> Metric:
        return self.metric if metric is None else self.check_metric(self.spec.family, metric)

    def _metric_values(self, fit: np.ndarray, metric: Metric) -> np.ndarray:
        """``(chain, draw, n, K)`` metric under every arm from fits ``(chain, draw, C, n, K)``."""
        spec = self.spec
        if spec.family is MetricFamily.CONTINUOUS:
            return spec.outcome_center + spec.outcome_scale * fit[:, :, 0].astype(np.float64)
        if spec.family is MetricFamily.BINARY:
            return ndtr(fit[:, :, 0].astype(np.float64))
        return hurdle_metric(
            metric,
            fit[:, :, 0].astype(np.float64),
            fit[:, :, 1].astype(np.float64),
            self.sites["sigma2"].astype(np.float64)[:, :, None, None],
            spec.outcome_center,
            spec.outcome_scale,
        )

    def reward_draws(
        self, metric: Metric | str | None = None, *, visitors: np.ndarray | None = None
    ) -> np.ndarray:
        """``(chain · draw, n, K)`` the metric under every arm at the training visitors.

        Parameters
        ----------
        metric
            Metric name; None uses the posterior's default.
        visitors
            Integer positions of the training visitors to return (None: all). Selecting
            before the float64 metric transform keeps memory at ``draws × len(visitors)``
            (all 350k visitors × 200 draws × 3 arms would take 1.7 GB).
        """
        fit = self.fit
        if visitors is not None:
            index = np.asarray(visitors)
            if index.ndim != 1 or index.dtype.kind not in "iu":
                raise TypeError("visitors must be a 1-d array of integer positions")
            n = fit.shape[3]
            if index.size and (index.min() < -n or index.max() >= n):
                raise IndexError(f"visitors must be positions in 0..{n - 1}")
            fit = fit[:, :, :, index, :]
        values = self._metric_values(fit, self._metric(metric))
        return values.reshape(-1, *values.shape[2:])

    def _labelled(
        self, values: np.ndarray, dims: tuple[str, ...], metric: Metric, name: str
    ) -> xr.DataArray:
        coords = {"chain": np.arange(values.shape[0]), "draw": np.arange(values.shape[1])}
        if "arm" in dims:
            coords["arm"] = list(self.arms[1:])
        array = xr.DataArray(values, dims=dims, coords=coords, name=name)
        array.attrs.update(claim_level=CLAIM, metric=metric.value)
        return array

    def cate(
        self, x: pd.DataFrame | None = None, *, metric: Metric | str | None = None
    ) -> xr.DataArray:
        """Per-draw CATE of every active arm vs control.

        Parameters
        ----------
        x
            New visitors (a DataFrame with the training covariate columns, optionally
            ``propensity_<arm>`` columns); None uses the training visitors.
        metric
            Metric name; None uses the posterior's default.

        Returns
        -------
        xarray.DataArray
            ``(chain, draw, visitor, arm)`` over the K − 1 active arms.
        """
        metric = self._metric(metric)
        fit = self.fit if x is None else self._predict_fit(x)
        values = self._metric_values(fit, metric)
        effect = values[..., 1:] - values[..., :1]
        return self._labelled(effect, ("chain", "draw", "visitor", "arm"), metric, "cate")

    def _mask(self, mask: Any) -> np.ndarray:
        array = np.asarray(mask)
        n = self.data.n_visitors
        if array.dtype != bool or array.shape != (n,):
            raise ValueError(
                f"mask must be a boolean array of shape ({n},) over the training visitors; "
                f"got dtype {array.dtype} and shape {array.shape}"
            )
        if not array.any():
            raise ValueError("mask selects no visitor; expected at least one True")
        return array

    def gate(self, mask: Any, *, metric: Metric | str | None = None) -> xr.DataArray:
        """Per-draw average CATE over the training visitors in ``mask``, ``(chain, draw, arm)``."""
        metric = self._metric(metric)
        selected = self._mask(mask)
        values = self._metric_values(self.fit[:, :, :, selected], metric)
        effect = (values[..., 1:] - values[..., :1]).mean(axis=2)
        return self._labelled(effect, ("chain", "draw", "arm"), metric, "gate")

    def ate(self, *, metric: Metric | str | None = None) -> xr.DataArray:
        """Per-draw average treatment effect over all training visitors, ``(chain, draw, arm)``."""
        gate = self.gate(np.ones(self.data.n_visitors, bool), metric=metric)
        return gate.rename("ate")

    def mixing(self, segments: dict[str, Any] | None = None) -> pd.DataFrame:
        """Bulk ESS and R-hat of the ATE per arm and of the GATE of each segment.

        Parameters
        ----------
        segments
            Segment name -> boolean mask over the training visitors (None: ATEs only).

        Returns
        -------
        pandas.DataFrame
            One row per quantity (``ate[arm]``, ``gate[segment, arm]``): ``ess_bulk``,
            ``rhat``, ``mixed`` (R-hat ≤ 1.05 and bulk ESS ≥ 100); see
            :func:`pytyche.analysis.convergence.mixing_table`.
        """
        from pytyche.analysis.convergence import mixing_table  # analysis imports posterior

        draws = {"ate": self.ate()}
        if segments:
            gates = [self.gate(mask) for mask in segments.values()]
            draws["gate"] = (
                xr.concat(gates, dim="segment")
                .assign_coords(segment=list(segments))
                .transpose("chain", "draw", "segment", "arm")
            )
        return mixing_table(draws)

    def decompose(self, mask: Any = None) -> xr.Dataset:
        """Split each arm's RPV effect into conversion and spend contributions (hurdle only).

        Returns
        -------
        xarray.Dataset
            ``conversion``, ``spend`` and ``total`` (their sum), each ``(chain, draw, arm)``.
        """
        if self.spec.family is not MetricFamily.HURDLE:
            raise ValueError(f"decompose needs the hurdle family, not {self.spec.family.value}")
        selected = np.ones(self.data.n_visitors, bool) if mask is None else self._mask(mask)
        fit = self.fit[:, :, :, selected]
        p = self._metric_values(fit, Metric.CONVERSION_RATE)
        m = self._metric_values(fit, Metric.REVENUE_PER_CONVERTER)
        conversion = ((p[..., 1:] - p[..., :1]) * m[..., :1]).mean(axis=2)
        spend = (p[..., 1:] * (m[..., 1:] - m[..., :1])).mean(axis=2)
        parts = {
            "conversion": self._labelled(
                conversion, ("chain", "draw", "arm"), Metric.REVENUE_PER_VISITOR, "conversion"
            ),
            "spend": self._labelled(
                spend, ("chain", "draw", "arm"), Metric.REVENUE_PER_VISITOR, "spend"
            ),
        }
        parts["total"] = (parts["conversion"] + parts["spend"]).rename("total")
        parts["total"].attrs.update(parts["conversion"].attrs)
        dataset = xr.Dataset(parts)
        dataset.attrs.update(claim_level=CLAIM, metric=Metric.REVENUE_PER_VISITOR.value)
        return dataset

    # ----------------------------------------------------------- prediction
    def _predict_fit(self, x: pd.DataFrame) -> np.ndarray:
        """``(chain, draw, C, n_new, K)`` channel fits at new visitors from the stored trees."""
        if self.forests is None:
            raise ValueError(
                "this posterior has no stored trees (fit with BCFConfig(store_forests=True)) "
                "so it cannot predict at new covariates"
            )
        if not isinstance(x, pd.DataFrame):
            raise TypeError(f"x must be a pandas DataFrame of visitors, got {type(x).__name__}")
        covariates = self.data.encode(x)
        columns = [PROPENSITY_PREFIX + a for a in self.arms[1:]]
        if all(c in x.columns for c in columns):
            propensity = x[columns].to_numpy(dtype=np.float64)
        else:
            propensity = np.broadcast_to(self.spec.mean_propensity, (len(x), len(columns)))
        mu_bins = bin_covariates(self.spec.mu_bins, np.concatenate([covariates, propensity], 1))
        tau_bins = bin_covariates(self.spec.tau_bins, covariates)
        f = self.forests
        chains, draws = f.mu_split_var.shape[:2]

        def flat(a: np.ndarray) -> np.ndarray:
            return a.reshape(chains * draws, *a.shape[2:])

        mu = _forest_values(
            flat(f.mu_split_var), flat(f.mu_split_bin), flat(f.mu_leaf_value), mu_bins
        )[..., 0]  # (D, C, n)
        tau = _forest_values(
            flat(f.tau_split_var), flat(f.tau_split_bin), flat(f.tau_leaf_value), tau_bins
        )  # (D, C, n, K-1)
        if TAU_INTERCEPT_SITE in self.sites:  # the arms' average effects (C, K − 1) per draw
            tau = tau + flat(self.sites[TAU_INTERCEPT_SITE]).astype(np.float32)[:, :, None, :]
        per_arm = arm_contributions(tau, self.spec.treatment_center.astype(np.float32))
        fit = self.spec.offset[None, :, None, None] + mu[..., None] + per_arm
        return fit.reshape(chains, draws, *fit.shape[1:]).astype(np.float32)

    # ---------------------------------------------------------------- ArviZ
    def to_datatree(self) -> xr.DataTree:
        """ArviZ 1.x DataTree: ``posterior``, ``sample_stats``, ``observed_data``."""
        channels = list(self.spec.channels)
        posterior = dict(self.sites)
        dims = {name: ["channel"] for name, v in self.sites.items() if v.ndim == 3}
        dims.update({name: ["channel", "arm"] for name, v in self.sites.items() if v.ndim == 4})
        posterior["ate"] = self.ate().values
        dims["ate"] = ["arm"]
        observed = {
            "outcome": self.data.y,
            "arm_index": self.data.arm_index,
        }
        dims.update(outcome=["visitor"], arm_index=["visitor"])
        tree = arviz.from_dict(
            {"posterior": posterior, "sample_stats": dict(self.info), "observed_data": observed},
            dims=dims,
            coords={"channel": channels, "arm": list(self.arms[1:])},
            attrs={
                "/": {
                    "claim_level": CLAIM,
                    "metric": self.metric.value,
                    "family": self.spec.family.value,
                }
            },
        )
        return tree

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """``arviz.summary`` of the scalar sites and ATEs (ESS, R-hat, intervals)."""
        return arviz.summary(self.to_datatree(), **kwargs)

    # ----------------------------------------------------------- save/load
    def save(self, path: str | Path) -> None:
        """Write the posterior (draws, trees, data, spec) to a NetCDF file."""
        tree = self.to_datatree()
        arrays: dict[str, Any] = {
            "fit": (("chain", "draw", "channel", "visitor", "arm_all"), self.fit)
        }
        if self.forests is not None:
            for name, value in vars(self.forests).items():
                arrays[name] = ([f"{name}_{i}" for i in range(value.ndim)], value)
        spec = self.spec
        for prefix, bins in (("mu_bins", spec.mu_bins), ("tau_bins", spec.tau_bins)):
            arrays[f"{prefix}_cutpoints"] = ([f"{prefix}_p", f"{prefix}_c"], bins.cutpoints)
            arrays[f"{prefix}_num_cuts"] = ([f"{prefix}_p"], bins.num_cuts)
            arrays[f"{prefix}_is_categorical"] = (
                [f"{prefix}_p"],
                bins.is_categorical.astype(np.int8),
            )
        arrays["offset"] = (["channel"], spec.offset)
        arrays["mean_propensity"] = (["arm"], spec.mean_propensity)
        arrays["treatment_center"] = (["arm"], spec.treatment_center)
        tree["bcf_draws"] = xr.DataTree(xr.Dataset(arrays))
        frame = self.data.frame
        columns = {str(c): (["row"], _storable(frame[c])) for c in frame.columns}
        tree["training_data"] = xr.DataTree(xr.Dataset(columns))
        meta = {
            "family": spec.family.value,
            "channels": list(spec.channels),
            "arms": list(spec.arms),
            "outcome_center": spec.outcome_center,
            "outcome_scale": spec.outcome_scale,
            "metric": self.metric.value,
            "data": {
                "covariates": list(self.data.covariates),
                "categories": {
                    k: [_plain(v) for v in vs] for k, vs in self.data.categories.items()
                },
                "outcome": self.data.outcome,
                "arm_column": self.data.arm_column,
                "id_column": self.data.id_column,
                "family": self.data.family.value,
                "columns": [str(c) for c in frame.columns],
            },
        }
        tree.attrs["pytyche_posterior"] = json.dumps(meta)
        tree.to_netcdf(Path(path), engine="h5netcdf")

    @classmethod
    def load(cls, path: str | Path) -> Posterior:
        """Read a posterior written by :meth:`save`."""
        tree = xr.open_datatree(Path(path), engine="h5netcdf").load()
        if "pytyche_posterior" not in tree.attrs:
            raise ValueError(f"{path} is not a pytyche posterior file")
        meta = json.loads(tree.attrs["pytyche_posterior"])
        draws = tree["bcf_draws"].to_dataset()
        posterior = tree["posterior"].to_dataset()
        sites = {k: posterior[k].values for k in posterior.data_vars if k != "ate"}
        info = {k: v.values for k, v in tree["sample_stats"].to_dataset().data_vars.items()}
        bins = {
            prefix: BinSpec(
                draws[f"{prefix}_cutpoints"].values,
                draws[f"{prefix}_num_cuts"].values.astype(np.int32),
                draws[f"{prefix}_is_categorical"].values.astype(bool),
            )
            for prefix in ("mu_bins", "tau_bins")
        }
        spec = PosteriorSpec(
            family=MetricFamily(meta["family"]),
            channels=tuple(meta["channels"]),
            arms=tuple(meta["arms"]),
            offset=draws["offset"].values,
            outcome_center=meta["outcome_center"],
            outcome_scale=meta["outcome_scale"],
            mu_bins=bins["mu_bins"],
            tau_bins=bins["tau_bins"],
            mean_propensity=draws["mean_propensity"].values,
            treatment_center=(
                draws["treatment_center"].values if "treatment_center" in draws else None
            ),
        )
        forests = None
        if "mu_split_var" in draws:
            forests = ForestDraws(
                **{name: draws[name].values for name in ForestDraws.__dataclass_fields__}
            )
        return cls(
            fit=draws["fit"].values,
            sites=sites,
            info=info,
            spec=spec,
            data=_restore_data(tree["training_data"].to_dataset(), meta["data"], spec.arms),
            forests=forests,
            metric=Metric(meta["metric"]),
        )

    def __repr__(self) -> str:
        return (
            f"Posterior(family={self.spec.family.value}, arms={list(self.arms)}, "
            f"chains={self.num_chains}, draws={self.num_draws}, metric={self.metric.value}, "
            f"claim_level={CLAIM!r})"
        )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _storable(column: pd.Series) -> np.ndarray:
    if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object:
        return column.astype(str).to_numpy().astype(str)
    return column.to_numpy()


def _restore_data(columns: xr.Dataset, meta: dict, arms: tuple[str, ...]) -> RoundData:
    frame = pd.DataFrame({name: columns[name].values for name in meta["columns"]})
    categories = {}
    for name, labels in meta["categories"].items():
        as_text = [str(label) for label in labels]
        codes = pd.Categorical(frame[name].astype(str), categories=as_text).codes
        frame[name] = pd.Categorical.from_codes(codes, categories=labels)
        categories[name] = tuple(labels)
    return RoundData(
        frame=frame,
        arms=arms,
        covariates=tuple(meta["covariates"]),
        categories=categories,
        outcome=meta["outcome"],
        arm_column=meta["arm_column"],
        id_column=meta["id_column"],
        family=MetricFamily(meta["family"]),
    )
