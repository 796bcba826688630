"""Covariate binning: quantile cutpoints fitted once, reused for new covariates.

Trees split on ``(variable, bin)`` pairs, so the engine only ever sees small unsigned
integers. A covariate with ``c`` cutpoints ``t_0 < … < t_{c-1}`` maps a value ``x`` to the
bin ``#{j : t_j < x}`` in ``0..c``; a split at bin ``s`` (``1 ≤ s ≤ c``) sends a visitor
left when its bin is ``< s``, i.e. when ``x ≤ t_{s-1}``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MAX_CUTPOINTS = 255


class BinSpec(NamedTuple):
    """Cutpoints that map raw covariates to bins; fitted once, reused for new X.

    Attributes
    ----------
    cutpoints
        ``(p, max_cuts)`` float64, each row increasing and padded with ``+inf``.
    num_cuts
        ``(p,)`` int32, the number of real cutpoints of each covariate (≤ 255);
        covariate ``v`` takes bins ``0..num_cuts[v]``.
    is_categorical
        ``(p,)`` bool; categorical covariates are binned by their integer code
        (cutpoints half-way between the observed codes).
    """

    cutpoints: np.ndarray
    num_cuts: np.ndarray
    is_categorical: np.ndarray

    @property
    def num_covariates(self) -> int:
        """The number of covariates ``p``."""
        return int(self.num_cuts.shape[0])


def _as_float_matrix(X: object, name: str) -> np.ndarray:
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != 2:
        msg = f"{name} must be a 2-D array (n_visitors, n_covariates); got shape {array.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"{name} contains NaN or infinite values; impute or encode them first"
        raise ValueError(msg)
    return array


def _quantile_cutpoints(column: np.ndarray, max_cuts: int) -> np.ndarray:
    unique = np.unique(column)
    if unique.size <= max_cuts + 1:
        return (unique[:-1] + unique[1:]) / 2
    # Quantiles of the empirical distribution, placed between observed values so that
    # ties never straddle a cutpoint.
    probs = np.arange(1, max_cuts + 1) / (max_cuts + 1)
    position = np.quantile(column, probs, method="inverted_cdf")
    upper_index = np.minimum(np.searchsorted(unique, position, side="right"), unique.size - 1)
    cuts = (unique[upper_index - 1] + unique[upper_index]) / 2
    return np.unique(cuts)


def fit_bins(
    X: np.ndarray,
    *,
    max_cuts: int = MAX_CUTPOINTS,
    categorical: np.ndarray | list[int] | None = None,
) -> BinSpec:
    """Fit quantile cutpoints for every covariate.

    Parameters
    ----------
    X
        ``(n_visitors, n_covariates)`` numeric covariates (categoricals as integer codes).
    max_cuts
        Maximum number of cutpoints per covariate, ``1..255`` (bins fit in ``uint8``).
    categorical
        Indices of categorical columns; they are binned by code, one bin per observed
        code (at most ``max_cuts + 1`` codes).

    Returns
    -------
    BinSpec
        Cutpoints to pass to `bin_covariates`.
    """
    X = _as_float_matrix(X, "X")
    if not 1 <= int(max_cuts) <= MAX_CUTPOINTS:
        msg = f"max_cuts must be in 1..{MAX_CUTPOINTS}; got {max_cuts}"
        raise ValueError(msg)
    n, p = X.shape
    if n == 0:
        raise ValueError("X must have at least one row to fit cutpoints")
    is_categorical = np.zeros(p, dtype=bool)
    if categorical is not None:
        index = np.asarray(categorical, dtype=int).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= p):
            msg = f"categorical indices must lie in 0..{p - 1}; got {index.tolist()}"
            raise ValueError(msg)
        is_categorical[index] = True
    columns = []
    for v in range(p):
        if is_categorical[v]:
            codes = np.unique(X[:, v])
            if not np.all(codes == np.round(codes)):
                msg = f"categorical column {v} of X must hold integer codes"
                raise ValueError(msg)
            if codes.size > max_cuts + 1:
                msg = f"categorical column {v} of X has {codes.size} codes; at most {max_cuts + 1}"
                raise ValueError(msg)
            columns.append((codes[:-1] + codes[1:]) / 2)
        else:
            columns.append(_quantile_cutpoints(X[:, v], int(max_cuts)))
    width = max(1, max(c.size for c in columns))
    cutpoints = np.full((p, width), np.inf)
    for v, cuts in enumerate(columns):
        cutpoints[v, : cuts.size] = cuts
    num_cuts = np.array([c.size for c in columns], dtype=np.int32)
    return BinSpec(cutpoints=cutpoints, num_cuts=num_cuts, is_categorical=is_categorical)


def bin_covariates(spec: BinSpec, X: np.ndarray) -> np.ndarray:
    """Map raw covariates to bins with fitted cutpoints.

    Parameters
    ----------
    spec
        Cutpoints from `fit_bins`.
    X
        ``(n_visitors, n_covariates)`` covariates with the columns used to fit ``spec``.

    Returns
    -------
    numpy.ndarray
        ``(n_covariates, n_visitors)`` uint8 bins (covariate-major, as the engine reads
        one covariate row per split).
    """
    X = _as_float_matrix(X, "X")
    if X.shape[1] != spec.num_covariates:
        msg = f"X must have {spec.num_covariates} columns (as fitted); got {X.shape[1]}"
        raise ValueError(msg)
    binned = np.empty((X.shape[1], X.shape[0]), dtype=np.uint8)
    for v in range(X.shape[1]):
        cuts = spec.cutpoints[v, : spec.num_cuts[v]]
        binned[v] = np.searchsorted(cuts, X[:, v], side="left")
    return binned
