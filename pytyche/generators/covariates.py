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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import ndtr

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


CovariateSpec = ContinuousCovariate | CategoricalCovariate | BinaryCovariate


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
