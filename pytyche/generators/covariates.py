"""Covariate specifications and samplers for simulated visitors.

Covariates are drawn through a **Gaussian copula** (Nelsen 2006, *An Introduction to
Copulas*, §2.3): a latent vector z ~ N(0, R) with correlation matrix R, one coordinate per
covariate, is pushed through each covariate's marginal:

- :class:`ContinuousCovariate`: ``loc + scale * z`` (normal), ``exp(loc + scale * z)``
  (log-normal) or ``loc + scale * Φ(z)`` (uniform), optionally floored to integers (counts);
- :class:`CategoricalCovariate`: the level whose cumulative-probability interval contains Φ(z);
- :class:`BinaryCovariate`: 1 when Φ(z) < p.

Each marginal is exact whatever R is; R only sets the dependence. A
:class:`MixtureCovariateModel` first draws a latent cluster per visitor and then the
covariates from that cluster's :class:`CovariateModel`, so covariates are predictive of the
cluster but (with overlapping components) only noisily. The latent cluster is returned apart
from the observed covariates: surfaces may read it, policies and analysis never see it.

Likelihood of observed covariates
---------------------------------
:meth:`CovariateModel.log_likelihood` is the exact log density of a row x under the copula
model, with respect to Lebesgue measure on the continuous covariates and counting measure
on the discrete ones (categorical, binary and integer-floored continuous). A continuous
value fixes its latent coordinate z_j = g_j⁻¹(x_j) (with the Jacobian |dz_j/dx_j|); a
discrete value only confines z_j to an interval [l_j, u_j) (the level's cumulative
probability interval, or the values that floor to the observed count). With C the
continuous and D the discrete coordinates,

    p(x) = φ_R_CC(z_C) · Π_{j in C} |dz_j/dx_j| · P(l_D ≤ Z_D < u_D | Z_C = z_C),

where Z_D | z_C ~ N(R_{DC} R_{CC}⁻¹ z_C, R_{DD} − R_{DC} R_{CC}⁻¹ R_{CD}) (Song, Li &
Yuan 2009). The rectangle probability factorises over the connected blocks of that
conditional covariance: one-dimensional blocks use Φ, two-dimensional blocks the bivariate
normal distribution through Owen's T function (Owen 1956), both exact to rounding;
larger blocks use SciPy's Genz integration (absolute error about 1e-6).
:meth:`MixtureCovariateModel.cluster_probabilities` applies Bayes' rule with the mixture
weights: P(c | x) ∝ w_c p_c(x). This is what makes the covariate-conditional truth
E[Y | X = x] = Σ_c P(c | x) E[Y | X = x, c] exact.

References
----------
Owen, D. B. (1956). Tables for computing bivariate normal probabilities. *Annals of
Mathematical Statistics* 27(4), 1075–1090.

Song, P. X.-K., Li, M. & Yuan, Y. (2009). Joint regression analysis of correlated data
using Gaussian copulas. *Biometrics* 65(1), 60–68.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri, owens_t
from scipy.stats import multivariate_normal

__all__ = [
    "BinaryCovariate",
    "CategoricalCovariate",
    "ContinuousCovariate",
    "CovariateModel",
    "CovariateSpec",
    "MixtureCovariateModel",
]


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"covariate name must be a Python identifier (usable in rules), got {name!r}"
        )


@dataclass(frozen=True)
class ContinuousCovariate:
    """A numeric covariate.

    Parameters
    ----------
    name : str
        Column name.
    distribution : {"normal", "lognormal", "uniform"}
        Marginal family (see the module docstring).
    loc, scale : float
        Location and scale of the marginal (for ``"lognormal"``, of its logarithm; for
        ``"uniform"``, the lower end and the width).
    integer : bool
        Floor the values to integers (counts such as visits).
    """

    name: str
    distribution: Literal["normal", "lognormal", "uniform"] = "normal"
    loc: float = 0.0
    scale: float = 1.0
    integer: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.distribution not in ("normal", "lognormal", "uniform"):
            raise ValueError(
                f"covariate {self.name!r}: distribution must be 'normal', 'lognormal' or "
                f"'uniform', got {self.distribution!r}"
            )
        if not (np.isfinite(self.loc) and np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(
                f"covariate {self.name!r}: loc must be finite and scale positive, got "
                f"loc={self.loc!r}, scale={self.scale!r}"
            )

    def from_latent(self, z: np.ndarray) -> np.ndarray:
        """Map standard-normal latents to this marginal."""
        if self.distribution == "normal":
            values = self.loc + self.scale * z
        elif self.distribution == "lognormal":
            values = np.exp(self.loc + self.scale * z)
        else:
            values = self.loc + self.scale * ndtr(z)
        return np.floor(values).astype(np.int64) if self.integer else values

    @property
    def discrete(self) -> bool:
        """Whether observed values are counts (only an interval of the latent is known)."""
        return self.integer

    def to_latent(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent coordinate of observed values and the log Jacobian (non-integer marginals).

        Returns
        -------
        z : ndarray, shape (n,)
            ``g⁻¹(x)`` where x is in the support, 0 elsewhere.
        log_jacobian : ndarray, shape (n,)
            ``log |dz/dx|``; ``-inf`` where x is outside the support (density 0).
        """
        x = np.asarray(values, dtype=np.float64)
        log_scale = np.log(self.scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.distribution == "normal":
                z = (x - self.loc) / self.scale
                log_jacobian = np.where(np.isfinite(x), -log_scale, -np.inf)
            elif self.distribution == "lognormal":
                inside = np.isfinite(x) & (x > 0)
                log_x = np.log(np.where(inside, x, 1.0))
                z = (log_x - self.loc) / self.scale
                log_jacobian = np.where(inside, -log_scale - log_x, -np.inf)
            else:
                u = (x - self.loc) / self.scale
                inside = np.isfinite(u) & (u > 0) & (u < 1)
                z = ndtri(np.where(inside, u, 0.5))
                log_jacobian = np.where(inside, -log_scale + 0.5 * z**2 + _HALF_LOG_2PI, -np.inf)
        return np.where(np.isfinite(log_jacobian), z, 0.0), log_jacobian

    def latent_interval(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[lower, upper)`` of the latents whose value floors to each observed count.

        Values that are not integers in the support get an empty interval (probability 0).
        """
        k = np.asarray(values, dtype=np.float64)
        valid = np.isfinite(k) & (k == np.floor(np.where(np.isfinite(k), k, 0.0)))
        k = np.where(valid, k, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.distribution == "normal":
                lower, upper = (k - self.loc) / self.scale, (k + 1 - self.loc) / self.scale
            elif self.distribution == "lognormal":
                # exp(.) > 0: a count of 0 covers every latent below log(1); negative counts none
                lower = np.where(
                    k > 0, (np.log(np.maximum(k, 1.0)) - self.loc) / self.scale, -np.inf
                )
                upper = np.where(
                    k >= 0, (np.log(np.maximum(k + 1, 1.0)) - self.loc) / self.scale, -np.inf
                )
            else:
                lower = ndtri(np.clip((k - self.loc) / self.scale, 0.0, 1.0))
                upper = ndtri(np.clip((k + 1 - self.loc) / self.scale, 0.0, 1.0))
        return np.where(valid, lower, 0.0), np.where(valid, upper, 0.0)


@dataclass(frozen=True)
class CategoricalCovariate:
    """A categorical covariate with fixed levels (stored as a pandas ``category`` column).

    Parameters
    ----------
    name : str
        Column name.
    levels : tuple of str
        All levels, in a fixed order (so codes are stable across rounds).
    probabilities : tuple of float
        Probability of each level (sums to 1).
    """

    name: str
    levels: tuple[str, ...]
    probabilities: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_name(self.name)
        levels, probabilities = tuple(self.levels), tuple(float(p) for p in self.probabilities)
        if len(levels) < 2 or len(set(levels)) != len(levels):
            raise ValueError(
                f"covariate {self.name!r}: levels must be at least 2 unique labels, got {levels}"
            )
        if len(probabilities) != len(levels):
            raise ValueError(
                f"covariate {self.name!r}: {len(levels)} levels but "
                f"{len(probabilities)} probabilities"
            )
        if min(probabilities) < 0 or abs(sum(probabilities) - 1.0) > 1e-9:
            raise ValueError(
                f"covariate {self.name!r}: probabilities must be non-negative and sum to 1, "
                f"got {probabilities}"
            )
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "probabilities", probabilities)

    def from_latent(self, z: np.ndarray) -> np.ndarray:
        """Map standard-normal latents to level codes by inverse CDF of Φ(z)."""
        edges = np.cumsum(self.probabilities)[:-1]
        return np.searchsorted(edges, ndtr(z), side="right").astype(np.int8)

    discrete = True
    """Observed levels confine the latent to an interval."""

    def latent_interval(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[lower, upper)`` of the latents mapped to each observed level.

        ``values`` are level labels (or a categorical with these levels); unknown labels get
        an empty interval.
        """
        codes = np.asarray(pd.Categorical(values, categories=list(self.levels)).codes, np.int64)
        cumulative = np.concatenate([[0.0], np.cumsum(self.probabilities)])
        cumulative[-1] = 1.0
        known = codes >= 0
        safe = np.where(known, codes, 0)
        lower = np.where(known, ndtri(cumulative[safe]), 0.0)
        upper = np.where(known, ndtri(cumulative[safe + 1]), 0.0)
        return lower, upper


@dataclass(frozen=True)
class BinaryCovariate:
    """A 0/1 covariate equal to 1 with probability ``probability``."""

    name: str
    probability: float

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not 0.0 < self.probability < 1.0:
            raise ValueError(
                f"covariate {self.name!r}: probability must be in (0, 1), got {self.probability!r}"
            )

    def from_latent(self, z: np.ndarray) -> np.ndarray:
        """1 where Φ(z) < probability, else 0 (int64)."""
        return (ndtr(z) < self.probability).astype(np.int64)

    discrete = True
    """Observed values confine the latent to an interval."""

    def latent_interval(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(-inf, Φ⁻¹(p))`` for 1, ``[Φ⁻¹(p), inf)`` for 0, empty for anything else."""
        x = np.asarray(values, dtype=np.float64)
        edge = float(ndtri(self.probability))
        lower = np.where(x == 1, -np.inf, np.where(x == 0, edge, 0.0))
        upper = np.where(x == 1, edge, np.where(x == 0, np.inf, 0.0))
        return lower, upper


CovariateSpec = ContinuousCovariate | CategoricalCovariate | BinaryCovariate

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True, eq=False)
class CovariateModel:
    """Covariates joined by a Gaussian copula.

    Parameters
    ----------
    specs : tuple of CovariateSpec
        The covariates, in column order.
    correlation : ndarray, shape (p, p), optional
        Correlation matrix of the latent normals (identity when omitted). Must be symmetric
        positive definite with a unit diagonal.
    """

    specs: tuple[CovariateSpec, ...]
    correlation: np.ndarray | None = None

    def __post_init__(self) -> None:
        specs = tuple(self.specs)
        if not specs:
            raise ValueError("specs is empty: expected at least one covariate")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"covariate names must be unique, got {names}")
        object.__setattr__(self, "specs", specs)
        if self.correlation is not None:
            object.__setattr__(self, "correlation", _check_correlation(self.correlation, names))

    @property
    def names(self) -> tuple[str, ...]:
        """Covariate column names."""
        return tuple(s.name for s in self.specs)

    @property
    def categorical(self) -> tuple[str, ...]:
        """Names of the categorical covariates."""
        return tuple(s.name for s in self.specs if isinstance(s, CategoricalCovariate))

    def sample(self, rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, None]:
        """Draw ``n`` visitors' covariates.

        Returns
        -------
        covariates : pandas.DataFrame
            One column per spec.
        clusters : None
            No latent cluster (see :class:`MixtureCovariateModel`).
        """
        return self._frame(self._sample_columns(rng, n)), None

    def log_likelihood(self, covariates: pd.DataFrame) -> np.ndarray:
        """Exact log density of each row (see "Likelihood of observed covariates" above).

        Parameters
        ----------
        covariates : pandas.DataFrame
            One column per covariate of the model (extra columns are ignored).

        Returns
        -------
        ndarray, shape (n,)
            Log density with respect to Lebesgue measure on the continuous covariates and
            counting measure on the discrete ones; ``-inf`` for impossible rows.
        """
        _check_columns(covariates, self.names)
        n, p = len(covariates), len(self.specs)
        correlation = np.eye(p) if self.correlation is None else self.correlation
        continuous = [j for j, spec in enumerate(self.specs) if not spec.discrete]
        discrete = [j for j, spec in enumerate(self.specs) if spec.discrete]
        log_density = np.zeros(n)
        z = np.zeros((n, len(continuous)))
        for column, j in enumerate(continuous):
            spec = self.specs[j]
            z[:, column], log_jacobian = spec.to_latent(covariates[spec.name].to_numpy())
            log_density += log_jacobian
        mean = np.zeros((n, len(discrete)))
        covariance = correlation[np.ix_(discrete, discrete)]
        if continuous:
            block = correlation[np.ix_(continuous, continuous)]
            cholesky = np.linalg.cholesky(block)
            whitened = np.linalg.solve(cholesky, z.T)
            log_density -= 0.5 * np.sum(whitened**2, axis=0) + np.sum(np.log(np.diag(cholesky)))
            log_density -= len(continuous) * _HALF_LOG_2PI
            gain = np.linalg.solve(block, correlation[np.ix_(continuous, discrete)])
            mean = z @ gain
            covariance = covariance - correlation[np.ix_(discrete, continuous)] @ gain
        if discrete:
            bounds = [
                self.specs[j].latent_interval(_values(covariates, self.specs[j])) for j in discrete
            ]
            lower = np.column_stack([b[0] for b in bounds]) - mean
            upper = np.column_stack([b[1] for b in bounds]) - mean
            log_density += log_rectangle_probability(lower, upper, covariance)
        return log_density

    def _sample_columns(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """Raw columns: values for numeric covariates, integer codes for categoricals."""
        # One contiguous row of latents per covariate: z = L ε with L L' = R.
        z = rng.standard_normal((len(self.specs), n))
        if self.correlation is not None:
            z = np.linalg.cholesky(self.correlation) @ z
        return {spec.name: spec.from_latent(z[j]) for j, spec in enumerate(self.specs)}

    def _frame(self, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        frame = {}
        for spec in self.specs:
            values = columns[spec.name]
            if isinstance(spec, CategoricalCovariate):
                values = pd.Categorical.from_codes(values, categories=list(spec.levels))
            frame[spec.name] = values
        return pd.DataFrame(frame)


@dataclass(frozen=True, eq=False)
class MixtureCovariateModel:
    """A mixture of covariate models with a latent cluster per visitor.

    Parameters
    ----------
    clusters : tuple of str
        Cluster names.
    weights : tuple of float
        Mixture weights (sum to 1).
    components : tuple of CovariateModel
        One per cluster, with the same covariate names, kinds and (for categoricals) levels.
    """

    clusters: tuple[str, ...]
    weights: tuple[float, ...]
    components: tuple[CovariateModel, ...]

    def __post_init__(self) -> None:
        clusters, weights = tuple(self.clusters), tuple(float(w) for w in self.weights)
        components = tuple(self.components)
        if len(clusters) < 2 or len(set(clusters)) != len(clusters):
            raise ValueError(f"clusters must be at least 2 unique names, got {clusters}")
        if len(weights) != len(clusters) or len(components) != len(clusters):
            raise ValueError(
                f"{len(clusters)} clusters need as many weights and components, got "
                f"{len(weights)} weights and {len(components)} components"
            )
        if min(weights) <= 0 or abs(sum(weights) - 1.0) > 1e-9:
            raise ValueError(f"weights must be positive and sum to 1, got {weights}")
        first = components[0]
        for name, component in zip(clusters[1:], components[1:], strict=True):
            if component.names != first.names or [type(s) for s in component.specs] != [
                type(s) for s in first.specs
            ]:
                raise ValueError(
                    f"cluster {name!r} has covariates {component.names}, expected the same "
                    f"names and kinds as cluster {clusters[0]!r}: {first.names}"
                )
            for spec, reference in zip(component.specs, first.specs, strict=True):
                if (
                    isinstance(spec, ContinuousCovariate)
                    and isinstance(reference, ContinuousCovariate)
                    and spec.integer != reference.integer
                ):
                    raise ValueError(
                        f"cluster {name!r}: covariate {spec.name!r} has integer={spec.integer}, "
                        f"expected {reference.integer} as in cluster {clusters[0]!r}"
                    )
                if (
                    isinstance(spec, CategoricalCovariate)
                    and isinstance(reference, CategoricalCovariate)
                    and spec.levels != reference.levels
                ):
                    raise ValueError(
                        f"cluster {name!r}: covariate {spec.name!r} has levels {spec.levels}, "
                        f"expected {reference.levels}"
                    )
        object.__setattr__(self, "clusters", clusters)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "components", components)

    @property
    def names(self) -> tuple[str, ...]:
        """Covariate column names."""
        return self.components[0].names

    @property
    def categorical(self) -> tuple[str, ...]:
        """Names of the categorical covariates."""
        return self.components[0].categorical

    def cluster_probabilities(self, covariates: pd.DataFrame) -> np.ndarray:
        """Posterior probability of each latent cluster given a visitor's covariates.

        ``P(c | x) = w_c p_c(x) / Σ_k w_k p_k(x)`` with ``p_c`` the exact copula likelihood
        of cluster c's component (:meth:`CovariateModel.log_likelihood`), not a fitted
        classifier.

        Parameters
        ----------
        covariates : pandas.DataFrame
            Observed covariates, one row per visitor.

        Returns
        -------
        ndarray, shape (n, n_clusters)
            Rows sum to 1; columns in the order of :attr:`clusters`.

        Raises
        ------
        ValueError
            If a row has probability 0 under every component.
        """
        log_joint = np.column_stack(
            [
                np.log(weight) + component.log_likelihood(covariates)
                for weight, component in zip(self.weights, self.components, strict=True)
            ]
        )
        log_evidence = logsumexp(log_joint, axis=1, keepdims=True)
        impossible = np.flatnonzero(~np.isfinite(log_evidence[:, 0]))
        if impossible.size:
            raise ValueError(
                f"covariates: {impossible.size} rows (first at position {impossible[0]}) have "
                "probability 0 under every cluster of the mixture; expected rows the model "
                "could have drawn"
            )
        return np.exp(log_joint - log_evidence)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
        """Draw ``n`` visitors: a cluster each, then covariates from that cluster.

        Returns
        -------
        covariates : pandas.DataFrame
            One column per covariate, rows in visitor order.
        clusters : pandas.Categorical, shape (n,)
            Each visitor's latent cluster.
        """
        cluster_index = rng.choice(len(self.clusters), size=n, p=np.asarray(self.weights))
        columns: dict[str, np.ndarray] = {}
        for c, component in enumerate(self.components):
            rows = np.flatnonzero(cluster_index == c)
            for name, values in component._sample_columns(rng, len(rows)).items():
                if name not in columns:
                    columns[name] = np.empty(n, dtype=values.dtype)
                columns[name][rows] = values
        frame = self.components[0]._frame(columns)
        clusters = pd.Categorical.from_codes(cluster_index, categories=list(self.clusters))
        return frame, clusters


def log_rectangle_probability(
    lower: np.ndarray, upper: np.ndarray, covariance: np.ndarray
) -> np.ndarray:
    """``log P(lower ≤ Z < upper)`` per row for ``Z ~ N(0, covariance)``.

    Parameters
    ----------
    lower, upper : ndarray, shape (n, d)
        Box bounds per row (``±inf`` allowed; ``upper <= lower`` is an empty box).
    covariance : ndarray, shape (d, d)
        Positive definite covariance.

    Returns
    -------
    ndarray, shape (n,)
        Log probabilities (``-inf`` for empty boxes).

    Notes
    -----
    The box probability factorises over the connected blocks of the covariance. Blocks of
    one coordinate use ``log Φ`` differences evaluated in the lower tail (exact even far
    out); blocks of two use the bivariate normal distribution function through Owen's T
    (Owen 1956); larger blocks SciPy's Genz integration, once per distinct box.
    """
    sd = np.sqrt(np.diag(covariance))
    lower, upper = lower / sd, upper / sd
    correlation = covariance / np.outer(sd, sd)
    total = np.zeros(lower.shape[0])
    for block in _connected_blocks(correlation):
        if len(block) == 1:
            total += _log_interval_probability(lower[:, block[0]], upper[:, block[0]])
            continue
        if len(block) == 2:
            probability = _bivariate_box_probability(
                lower[:, block], upper[:, block], correlation[block[0], block[1]]
            )
        else:
            probability = _genz_box_probability(
                lower[:, block], upper[:, block], correlation[np.ix_(block, block)]
            )
        with np.errstate(divide="ignore"):
            total += np.log(np.maximum(probability, 0.0))
    return total


def _connected_blocks(correlation: np.ndarray) -> list[list[int]]:
    """Index sets of the connected components of the non-zero correlation pattern."""
    linked = np.abs(correlation) > 1e-12
    unseen, blocks = set(range(len(correlation))), []
    while unseen:
        frontier, block = [min(unseen)], []
        unseen.discard(frontier[0])
        while frontier:
            j = frontier.pop()
            block.append(j)
            for k in np.flatnonzero(linked[j]):
                if int(k) in unseen:
                    unseen.discard(int(k))
                    frontier.append(int(k))
        blocks.append(sorted(block))
    return blocks


def _log_interval_probability(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``log(Φ(u) − Φ(l))``, reflected into the lower tail so no digits cancel."""
    flip = lower > 0
    low, high = np.where(flip, -upper, lower), np.where(flip, -lower, upper)
    log_high, log_low = log_ndtr(high), log_ndtr(low)
    empty = ~(high > low)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = log_high + np.log1p(-np.exp(np.minimum(log_low - log_high, 0.0)))
    return np.where(empty, -np.inf, value)


_TAIL = 38.0  # Φ(-38) underflows double precision: a bound beyond it is infinite


def _bivariate_box_probability(lower: np.ndarray, upper: np.ndarray, rho: float) -> np.ndarray:
    """P(l ≤ Z < u) for a standard bivariate normal with correlation ``rho``, rows (n, 2)."""
    empty = np.any(~(upper > lower), axis=1)
    # Reflect each coordinate whose box lies above 0 so the corners sit in the lower tail.
    flip = lower > 0
    sign = np.where(flip, -1.0, 1.0)
    low = np.clip(np.where(flip, -upper, lower), -_TAIL, _TAIL)
    high = np.clip(np.where(flip, -lower, upper), -_TAIL, _TAIL)
    r = rho * sign[:, 0] * sign[:, 1]
    probability = (
        bivariate_normal_cdf(high[:, 0], high[:, 1], r)
        - bivariate_normal_cdf(low[:, 0], high[:, 1], r)
        - bivariate_normal_cdf(high[:, 0], low[:, 1], r)
        + bivariate_normal_cdf(low[:, 0], low[:, 1], r)
    )
    return np.where(empty, 0.0, np.maximum(probability, 0.0))


def bivariate_normal_cdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray | float) -> np.ndarray:
    """``P(X < h, Y < k)`` for a standard bivariate normal with correlation ``rho``.

    Owen's (1956) formula ``Φ₂(h, k; ρ) = ½Φ(h) + ½Φ(k) − T(h, a_h) − T(k, a_k) − β`` with
    ``a_h = (k − ρh) / (h √(1 − ρ²))``, ``a_k = (h − ρk) / (k √(1 − ρ²))`` and ``β = ½``
    when ``h k < 0`` (or one is 0 and ``h + k < 0``), else 0; ``Φ₂(0, 0; ρ) = ¼ +
    arcsin(ρ) / 2π``. Finite arguments only (clip infinities to ±38 first).
    """
    h, k = np.asarray(h, dtype=np.float64), np.asarray(k, dtype=np.float64)
    rho = np.broadcast_to(np.asarray(rho, dtype=np.float64), h.shape)
    root = np.sqrt(1.0 - rho**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = np.where(h == 0, np.copysign(np.inf, k - rho * h), (k - rho * h) / (h * root))
        a_k = np.where(k == 0, np.copysign(np.inf, h - rho * k), (h - rho * k) / (k * root))
    both_zero = (h == 0) & (k == 0)
    a_h, a_k = np.where(both_zero, 0.0, a_h), np.where(both_zero, 0.0, a_k)
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    value = 0.5 * ndtr(h) + 0.5 * ndtr(k) - owens_t(h, a_h) - owens_t(k, a_k) - beta
    return np.where(both_zero, 0.25 + np.arcsin(rho) / (2.0 * np.pi), value)


def _genz_box_probability(
    lower: np.ndarray, upper: np.ndarray, correlation: np.ndarray
) -> np.ndarray:
    """Box probability of a standard multivariate normal by Genz integration, per distinct box."""
    boxes, inverse = np.unique(np.concatenate([lower, upper], axis=1), axis=0, return_inverse=True)
    d = lower.shape[1]
    distribution = multivariate_normal(mean=np.zeros(d), cov=correlation)
    values = np.array(
        [
            0.0 if np.any(box[d:] <= box[:d]) else distribution.cdf(box[d:], lower_limit=box[:d])
            for box in boxes
        ]
    )
    return values[np.ravel(inverse)]


def _values(covariates: pd.DataFrame, spec: CovariateSpec) -> np.ndarray:
    column = covariates[spec.name]
    if isinstance(spec, CategoricalCovariate):
        return column.astype(object).to_numpy()
    return column.to_numpy(dtype=np.float64)


def _check_columns(covariates: pd.DataFrame, names: Sequence[str]) -> None:
    if not isinstance(covariates, pd.DataFrame):
        raise TypeError(f"covariates must be a pandas DataFrame, got {type(covariates).__name__}")
    missing = [name for name in names if name not in covariates.columns]
    if missing:
        raise ValueError(f"covariates lack the model's columns {missing}")


def _check_correlation(correlation: np.ndarray, names: Sequence[str]) -> np.ndarray:
    matrix = np.asarray(correlation, dtype=np.float64)
    p = len(names)
    if matrix.shape != (p, p):
        raise ValueError(f"correlation must have shape ({p}, {p}) for covariates {list(names)}")
    if not np.allclose(matrix, matrix.T) or not np.allclose(np.diag(matrix), 1.0):
        raise ValueError("correlation must be symmetric with a unit diagonal")
    if np.linalg.eigvalsh(matrix).min() <= 0:
        raise ValueError("correlation must be positive definite")
    return matrix
