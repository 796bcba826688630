"""Covariate encoding for the policy-tree search: bins, candidate splits, readable cuts.

Every covariate becomes small integer bin codes, and every candidate split is a set of
bins sent to the left child, so the tree search works on histograms only.

* **Numeric columns** with at most ``max_bins`` distinct values get one bin per value;
  otherwise cuts sit at the ``max_bins``-quantiles. Each cut is the *shortest decimal*
  strictly above the largest value below it and not above the smallest value above it
  (e.g. ``4`` between integer values 3 and 4, ``0.25`` between 0.2471 and 0.2533), so
  ``x < cut`` prints exactly and reproduces the bins exactly. Bin ``b`` holds
  ``cut[b-1] <= x < cut[b]``; the split at ``t`` sends bins ``< t`` left (``x < cut[t-1]``).
* **Categorical columns** (pandas ``category`` dtype, ``bool``/``object``/``string``
  dtype, or listed in ``categorical``) use the observed levels in declared order. With
  at most ``max_subset_levels`` levels every 2-way partition is a candidate
  (``2**(L-1) - 1`` splits, the left side being the smaller set), so categorical splits
  are exact; with more levels only one-vs-rest splits are searched. The left child is
  ``x in S`` and the right child ``x not in S``, so levels unseen at fit time go right
  (boolean columns, which have no unseen levels, print ``x in {True}`` instead).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pytyche.analysis.rules import Condition

__all__ = ["ColumnBins", "CovariateEncoding", "encode_covariates"]


@dataclass(frozen=True, eq=False)
class ColumnBins:
    """Binning and candidate splits of one covariate.

    Attributes
    ----------
    name : str
        Column name in the user's frame.
    categorical : bool
        Whether the column is categorical.
    cuts : ndarray, shape (n_bins - 1,)
        Increasing cut values (numeric columns; empty for categoricals).
    levels : tuple
        Category labels, one per bin (categorical columns; empty for numerics).
    left_bins : ndarray of bool, shape (n_splits, n_bins)
        Row ``s``: bins that go to the left child under candidate split ``s``.
    """

    name: str
    categorical: bool
    cuts: np.ndarray
    levels: tuple
    left_bins: np.ndarray

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return self.left_bins.shape[1]

    @property
    def n_splits(self) -> int:
        """Number of candidate splits."""
        return self.left_bins.shape[0]

    def conditions(self, split: int) -> tuple[Condition, Condition]:
        """The (left, right) conditions of candidate split ``split``."""
        left = self.left_bins[split]
        if not self.categorical:
            cut = float(self.cuts[int(left.sum()) - 1])
            return Condition(self.name, "<", cut), Condition(self.name, ">=", cut)
        labels = tuple(level for level, go_left in zip(self.levels, left, strict=True) if go_left)
        if all(isinstance(level, bool | np.bool_) for level in self.levels):
            # A boolean column has no unseen levels: name the other value directly.
            others = tuple(level for level in self.levels if level not in labels)
            return Condition(self.name, "in", labels), Condition(self.name, "in", others)
        return Condition(self.name, "in", labels), Condition(self.name, "not in", labels)

    def encode(self, series: pd.Series) -> np.ndarray:
        """Bin codes of a column of new data, shape (n,); unseen categories get -1."""
        if not self.categorical:
            values = series.to_numpy(dtype=float)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"covariate column {self.name!r} has NaN or infinite values")
            return np.searchsorted(self.cuts, values, side="right").astype(np.int32)
        if series.isna().any():
            raise ValueError(f"covariate column {self.name!r} has missing values")
        lookup = {str(level): code for code, level in enumerate(self.levels)}
        if isinstance(series.dtype, pd.CategoricalDtype):
            by_category = np.array([lookup.get(str(c), -1) for c in series.cat.categories])
            return by_category[series.cat.codes.to_numpy()].astype(np.int32)
        return series.astype(str).map(lookup).fillna(-1).to_numpy(dtype=np.int32)


@dataclass(frozen=True, eq=False)
class CovariateEncoding:
    """Binned covariates of the fitting frame and how to bin new frames.

    Attributes
    ----------
    columns : tuple of ColumnBins
        One entry per covariate, in frame order.
    codes : ndarray of int32, shape (n_visitors, n_columns)
        Bin codes of the fitting frame.
    """

    columns: tuple[ColumnBins, ...]
    codes: np.ndarray

    @property
    def names(self) -> tuple[str, ...]:
        """Covariate names."""
        return tuple(c.name for c in self.columns)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Bin codes of a new frame, shape (n, n_columns)."""
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"covariates must be a pandas DataFrame, got {type(frame).__name__}")
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise ValueError(f"covariates frame lacks the tree's columns {missing}")
        codes = np.empty((len(frame), len(self.columns)), dtype=np.int32)
        for j, column in enumerate(self.columns):
            codes[:, j] = column.encode(frame[column.name])
        return codes


def encode_covariates(
    frame: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    max_bins: int = 32,
    max_subset_levels: int = 6,
) -> CovariateEncoding:
    """Bin a covariate frame for the policy-tree search.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per visitor; numeric and categorical columns, no missing values.
    categorical : sequence of str
        Extra column names to treat as categorical (``category``, ``bool``, ``object``
        and ``string`` columns always are).
    max_bins : int
        Maximum number of bins of a numeric column (2 to 255).
    max_subset_levels : int
        Categorical columns with at most this many levels search all 2-way partitions;
        larger ones search one-vs-rest splits only.

    Returns
    -------
    CovariateEncoding
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"covariates must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.shape[1] == 0 or len(frame) == 0:
        raise ValueError("covariates must have at least one column and one row")
    if not 2 <= max_bins <= 255:
        raise ValueError(f"max_bins must be in [2, 255], got {max_bins}")
    if max_subset_levels < 1:
        raise ValueError(f"max_subset_levels must be >= 1, got {max_subset_levels}")
    unknown = [c for c in categorical if c not in frame.columns]
    if unknown:
        raise ValueError(f"categorical names columns absent from covariates: {unknown}")
    columns = []
    for name in frame.columns:
        if not isinstance(name, str):
            raise TypeError(f"covariate column names must be str, got {name!r}")
        series = frame[name]
        if series.isna().any():
            raise ValueError(
                f"covariate column {name!r} has {int(series.isna().sum())} missing values"
            )
        if name in categorical or not (
            pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        ):
            columns.append(_categorical_bins(name, series, max_subset_levels))
        else:
            values = series.to_numpy(dtype=float)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"covariate column {name!r} has infinite values")
            columns.append(_numeric_bins(name, values, max_bins))
    encoding = CovariateEncoding(tuple(columns), np.empty((0, 0), dtype=np.int32))
    return CovariateEncoding(encoding.columns, encoding.encode(frame))


def _numeric_bins(name: str, values: np.ndarray, max_bins: int) -> ColumnBins:
    distinct = np.unique(values)
    if len(distinct) <= max_bins:
        gap_index = np.arange(len(distinct) - 1)
    else:
        probabilities = np.arange(1, max_bins) / max_bins
        below = np.quantile(values, probabilities, method="inverted_cdf")
        gap_index = np.unique(np.searchsorted(distinct, below, side="left"))
        gap_index = gap_index[gap_index < len(distinct) - 1]
    cuts = np.array([_shortest_cut(distinct[g], distinct[g + 1]) for g in gap_index])
    n_bins = len(cuts) + 1
    left_bins = np.arange(n_bins)[None, :] < np.arange(1, n_bins)[:, None]
    return ColumnBins(name, False, cuts, (), left_bins)


def _categorical_bins(name: str, series: pd.Series, max_subset_levels: int) -> ColumnBins:
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.cat.codes.unique())
        levels = tuple(c for i, c in enumerate(series.cat.categories) if i in present)
    else:
        levels = tuple(pd.unique(series))
        with contextlib.suppress(TypeError):
            levels = tuple(sorted(levels))
    texts = [str(level) for level in levels]
    if len(set(texts)) != len(texts):
        raise ValueError(f"categorical column {name!r} has levels with the same str() form")
    n_levels = len(levels)
    subsets: list[tuple[int, ...]] = []
    if n_levels <= max_subset_levels:
        for size in range(1, n_levels // 2 + 1):
            for subset in itertools.combinations(range(n_levels), size):
                if 2 * size == n_levels and 0 not in subset:
                    continue  # the mirror image of a subset already listed
                subsets.append(subset)
    elif n_levels > 1:
        subsets = [(level,) for level in range(n_levels)]
    left_bins = np.zeros((len(subsets), n_levels), dtype=bool)
    for row, subset in enumerate(subsets):
        left_bins[row, list(subset)] = True
    return ColumnBins(name, True, np.empty(0), levels, left_bins)


def _shortest_cut(lower: float, upper: float) -> float:
    """Shortest decimal ``c`` with ``lower < c <= upper``."""
    for digits in range(-15, 18):
        scale = 10.0**digits
        cut = (math.floor(lower * scale) + 1) / scale
        if lower < cut <= upper:
            return cut
    return float(upper)
