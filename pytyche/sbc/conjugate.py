"""The conjugate normal SBC problem: an exact posterior to check the SBC pipeline itself.

Model (prior predictive, ``K = num_groups`` arms)::

    θ_k ~ N(μ₀, τ₀²)                         k = 0..K−1
    w ~ Dirichlet(1, …, 1)                   arm shares of the replicate's design
    n_k = ⌊n W_k⌋ − ⌊n W_{k−1}⌋              W the cumulative shares (Σ n_k = n)
    y_i | a_i ~ N(θ_{a_i}, σ²)               i = 1..n

The design (arm counts) varies between replicates, as under adaptive allocation, and is
ancillary: the posterior conditions on it. Only the sufficient statistics are simulated,
``Σ_{i: a_i = k} y_i ~ N(n_k θ_k, n_k σ²)``, which has the same distribution as summing
simulated visitors, and costs O(K) at any n. The posterior is exact (conjugate normal)::

    θ_k | y ~ N(m_k, v_k),  v_k = (1/τ₀² + n_k/σ²)⁻¹,  m_k = v_k (μ₀/τ₀² + Σ_k y / σ²).

Tracked quantities: ``theta_k`` (each arm's mean), ``contrast_k = θ_k − θ_0`` (each
active arm vs control), and ``sample_mean = Σ_k (n_k / n) θ_k``, a **data-dependent**
quantity (its weights come from the replicate's own arm counts, like a segment GATE over the
replicate's visitors); its truth is evaluated at the true θ and the replicate's weights
(Modrák et al. 2023), so its ranks are uniform too.

The fit draws ``θ^(s) = m + c(n) √v ε`` with ``c(n) = posterior_scale ·
(n / reference_n) ** posterior_scale_exponent``: ``c = 1`` is the exact posterior,
``c < 1`` a deliberately overconfident one (e.g. ``posterior_scale = 0.5``), and a negative
exponent makes overconfidence grow with n, as BCF intervals do at scale.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from pytyche._version import __version__
from pytyche.contracts import Metric, MetricFamily
from pytyche.sbc.problem import ProblemRegime, SimulatedBatch, register_sbc_problem

__all__ = [
    "ConjugateNormalConfig",
    "ConjugateNormalProblem",
    "ConjugateParameters",
    "ConjugateStats",
    "conjugate_normal_problem",
    "conjugate_posterior",
]

MODEL_NAME = "conjugate_normal"
_MODEL_KEYS = ("num_groups", "prior_mean", "prior_sd", "noise_sd")
_FIT_KEYS = ("num_draws", "posterior_scale", "posterior_scale_exponent", "reference_n")


@dataclass(frozen=True)
class ConjugateNormalConfig:
    """Model and fit settings of the conjugate normal problem (see the module docstring).

    Attributes
    ----------
    num_groups
        ``K`` arms (>= 2).
    prior_mean, prior_sd
        ``μ₀``, ``τ₀`` of each arm mean's normal prior.
    noise_sd
        ``σ``: outcome noise.
    num_draws
        ``S``: posterior draws per replicate.
    posterior_scale, posterior_scale_exponent, reference_n
        The fit's spread multiplier ``c(n)``; 1, 0 is exact.
    """

    num_groups: int = 3
    prior_mean: float = 0.0
    prior_sd: float = 1.0
    noise_sd: float = 1.0
    num_draws: int = 999
    posterior_scale: float = 1.0
    posterior_scale_exponent: float = 0.0
    reference_n: float = 1_000.0

    def __post_init__(self) -> None:
        for name in ("num_groups", "num_draws"):
            value = getattr(self, name)
            low = 2 if name == "num_groups" else 1
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("prior_sd", "noise_sd", "posterior_scale", "reference_n"):
            value = getattr(self, name)
            if not _is_real(value) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("prior_mean", "posterior_scale_exponent"):
            if not _is_real(getattr(self, name)):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}")

    @classmethod
    def from_tables(
        cls, model_params: Mapping[str, Any], fit_params: Mapping[str, Any]
    ) -> ConjugateNormalConfig:
        """Build from a spec's ``[model.params]`` and ``[fit]`` tables (unknown keys fail)."""
        for table, allowed, given in (
            ("[model.params]", _MODEL_KEYS, model_params),
            ("[fit]", _FIT_KEYS, fit_params),
        ):
            unknown = sorted(set(given) - set(allowed))
            if unknown:
                raise ValueError(
                    f"{table} of model {MODEL_NAME!r} has unknown keys {unknown}; "
                    f"allowed: {list(allowed)}"
                )
        return cls(**dict(model_params), **dict(fit_params))

    def spread(self, n: int) -> float:
        """``c(n)``: the fit's multiplier of the exact posterior standard deviation."""
        return float(self.posterior_scale * (n / self.reference_n) ** self.posterior_scale_exponent)


class ConjugateStats(NamedTuple):
    """Sufficient statistics of one replicate: ``(K,)`` arm counts and outcome sums."""

    counts: jax.Array
    sums: jax.Array


def conjugate_posterior(
    stats: ConjugateStats, config: ConjugateNormalConfig | ConjugateParameters
) -> tuple[jax.Array, jax.Array]:
    """Exact posterior mean and variance of each arm mean, ``(K,)`` each.

    ``config`` provides ``prior_mean``, ``prior_sd`` and ``noise_sd``.
    """
    precision = 1 / config.prior_sd**2 + stats.counts / config.noise_sd**2
    variance = 1 / precision
    mean = variance * (config.prior_mean / config.prior_sd**2 + stats.sums / config.noise_sd**2)
    return mean, variance


def _dirichlet_design(exponentials: jax.Array, n: int | jax.Array) -> jax.Array:
    """``(K,)`` arm counts summing to ``n`` from ``(K,)`` Exp(1) draws (Dirichlet(1) shares)."""
    cumulative = jnp.cumsum(exponentials) / jnp.sum(exponentials)
    edges = jnp.floor(n * cumulative).at[-1].set(n)
    return jnp.diff(edges, prepend=0.0)


def _quantities(theta: jax.Array, counts: jax.Array) -> jax.Array:
    """``(..., Q)``: θ_k, θ_k − θ_0 (k ≥ 1), Σ (n_k / n) θ_k, from ``(..., K)`` θ."""
    weights = counts / jnp.sum(counts)
    sample_mean = jnp.sum(theta * weights, axis=-1, keepdims=True)
    return jnp.concatenate([theta, theta[..., 1:] - theta[..., :1], sample_mean], axis=-1)


class ConjugateParameters(NamedTuple):
    """The numeric parameters of the conjugate normal problem (traced, not compiled in)."""

    prior_mean: float
    prior_sd: float
    noise_sd: float
    posterior_scale: float
    posterior_scale_exponent: float
    reference_n: float


@dataclass(frozen=True)
class ConjugateNormalProblem:
    """The conjugate normal `SBCProblem`.

    A JAX pytree (``traceable = True``): its numeric ``parameters`` are leaves and the
    scale n may be traced, so every sweep of the same ``groups`` and ``draws`` shares one
    compiled program per chunk size, whatever its scales and parameter values.

    Attributes
    ----------
    groups
        ``K`` arms.
    draws
        ``S`` posterior draws per replicate.
    parameters
        `ConjugateParameters`.
    """

    groups: int
    draws: int
    parameters: ConjugateParameters
    traceable: ClassVar[bool] = True

    @property
    def regime(self) -> ProblemRegime:
        return ProblemRegime(
            family=MetricFamily.CONTINUOUS,
            metric=Metric.MEAN_OUTCOME,
            num_arms=self.groups,
            model=MODEL_NAME,
            model_version=__version__,
        )

    def quantity_names(self, n: int) -> tuple[str, ...]:
        return (
            tuple(f"theta_{k}" for k in range(self.groups))
            + tuple(f"contrast_{k}" for k in range(1, self.groups))
            + ("sample_mean",)
        )

    def num_draws(self, n: int) -> int:
        return self.draws

    def simulate(self, keys: jax.Array, n: int | jax.Array) -> SimulatedBatch:
        data, truth = jax.vmap(lambda key: self._simulate_one(key, n))(keys)
        return SimulatedBatch(data, truth)

    def fit(self, keys: jax.Array, data: ConjugateStats) -> jax.Array:
        return jax.vmap(self._fit_one)(keys, data)

    def _simulate_one(self, key: jax.Array, n: int | jax.Array) -> tuple[ConjugateStats, jax.Array]:
        p = self.parameters
        # one normal draw per replicate (each random call compiles a threefry kernel):
        # prior, outcome noise, and two for the design's Exp(1) = (Z₁² + Z₂²) / 2
        normals = jax.random.normal(key, (4, self.groups))
        theta = p.prior_mean + p.prior_sd * normals[0]
        counts = _dirichlet_design((normals[2] ** 2 + normals[3] ** 2) / 2, n)
        sums = counts * theta + p.noise_sd * jnp.sqrt(counts) * normals[1]
        return ConjugateStats(counts, sums), _quantities(theta, counts)

    def _fit_one(self, key: jax.Array, stats: ConjugateStats) -> jax.Array:
        p = self.parameters
        mean, variance = conjugate_posterior(stats, p)
        relative_n = jnp.sum(stats.counts) / p.reference_n
        spread = p.posterior_scale * relative_n**p.posterior_scale_exponent
        eps = jax.random.normal(key, (self.draws, self.groups))
        theta = mean + spread * jnp.sqrt(variance) * eps
        return _quantities(theta, stats.counts)


jax.tree_util.register_dataclass(
    ConjugateNormalProblem, data_fields=["parameters"], meta_fields=["groups", "draws"]
)


def conjugate_normal_problem(config: ConjugateNormalConfig) -> ConjugateNormalProblem:
    """The conjugate normal `SBCProblem` for ``config``."""
    if not isinstance(config, ConjugateNormalConfig):
        raise TypeError(f"config must be a ConjugateNormalConfig, got {type(config).__name__}")
    parameters = ConjugateParameters(
        *(float(getattr(config, name)) for name in ConjugateParameters._fields)
    )
    return ConjugateNormalProblem(config.num_groups, config.num_draws, parameters)


def _from_spec(spec: Any) -> ConjugateNormalProblem:
    if spec.dgp.kind != "prior_predictive":
        raise ValueError(
            f"model {MODEL_NAME!r} supports [dgp] kind = 'prior_predictive' only, "
            f"got {spec.dgp.kind!r}"
        )
    return conjugate_normal_problem(
        ConjugateNormalConfig.from_tables(spec.model_params, spec.fit_params)
    )


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


register_sbc_problem(MODEL_NAME, _from_spec, overwrite=True)
