"""Shared builders for the forest-engine tests."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from pytyche.forest.binning import bin_covariates, fit_bins
from pytyche.forest.trees import BinnedCovariates


def friedman(rng: np.random.Generator, n: int, p: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Friedman (1991) test function on U(0, 1)^p covariates: ``(X (n, p), f (n,))``."""
    X = rng.uniform(size=(n, p))
    f = (
        10 * np.sin(np.pi * X[:, 0] * X[:, 1])
        + 20 * (X[:, 2] - 0.5) ** 2
        + 10 * X[:, 3]
        + 5 * X[:, 4]
    )
    return X, f


def binned(X: np.ndarray, max_cuts: int = 255) -> BinnedCovariates:
    """Fit cutpoints on ``X`` and return the engine's binned view of it."""
    spec = fit_bins(X, max_cuts=max_cuts)
    return BinnedCovariates(jnp.asarray(bin_covariates(spec, X)), jnp.asarray(spec.num_cuts))
