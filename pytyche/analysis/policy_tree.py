"""Policy tree: an optimal shallow tree that maps covariates to an arm.

Given a per-visitor reward table ``reward_mean[i, k]`` (posterior-mean metric of visitor
``i`` under arm ``k``, control included) the tree maximises the welfare
``sum_i w_i reward_mean[i, arm(leaf(i))]`` over trees of depth ``<= max_depth`` whose
leaves all hold at least ``min_segment_share`` of the (weighted) visitors. This is the
policy-learning objective of Athey & Wager (2021) and the exact tree search of
Zhou, Athey & Wager (2023), run here on binned covariates with histograms.

Search
------
Covariates are binned once (:mod:`pytyche.analysis.binning`); a candidate split is a set
of bins of one column. For a region, the d-dimensional histograms of summed rewards and
weights over every d-tuple of columns answer *every* depth-d subtree question:

* depth 0: the region's value is ``max_k`` of its summed rewards;
* depth d: for each column ``j`` and split ``s``, the left child's (d-1)-dimensional
  histograms are the split mask applied to the j-axis of the d-dimensional ones (a prefix
  sum for numeric columns) and the right child's are the region's margins minus the left
  ones; the best depth-(d-1) values of both children follow recursively, vectorised over
  all splits at once.

So the exact depth-2 search costs ``O(p**2 n K)`` to build histograms plus
``O(p**2 S**2 B K)`` to search (p columns, S splits, B bins per column), and the exact
depth-3 search ``O(p**3 n K + p**3 S**2 B K)``. Depth 3 is searched exactly when that work
fits ``exact_depth3_budget``; otherwise a documented **hybrid** is used: the root split is
the root of the optimal depth-2 tree (a one-level look-ahead greedy choice), and each
child gets an exact depth-2 subtree. Deeper trees (4 and 5) apply the same rule
recursively and keep the better of that tree and the best tree one level shallower, so
welfare never decreases with ``max_depth``. The
chosen tree is rebuilt top-down by re-searching each child on its own visitors, which
yields an optimal subtree of the value already found. Ties favour fewer splits and the
lower arm index (control first).

After the search, sibling leaves that choose the same arm are merged (welfare is
unchanged), and every leaf gets a readable rule (:mod:`pytyche.analysis.rules`).

References
----------
Athey, S. & Wager, S. (2021). Policy learning with observational data. Econometrica 89(1).
Zhou, Z., Athey, S. & Wager, S. (2023). Offline multi-action policy learning:
generalization and optimization. Operations Research 71(1).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pytyche.analysis.binning import CovariateEncoding, encode_covariates
from pytyche.analysis.rules import Condition, SegmentRule

__all__ = [
    "PolicyLeaf",
    "PolicySplit",
    "PolicyTree",
    "PolicyTreeConfig",
    "fit_policy_tree",
    "fit_policy_tree_encoded",
]

_MAX_DEPTH = 5


@dataclass(frozen=True)
class PolicyTreeConfig:
    """Settings of the policy-tree search.

    Attributes
    ----------
    max_depth : int
        Maximum tree depth (1 to 5; default 3).
    min_segment_share : float
        Minimum (weighted) share of visitors in every leaf, in (0, 0.5].
    max_bins : int
        Maximum bins per numeric covariate.
    max_subset_levels : int
        Categorical columns with at most this many levels search all 2-way partitions.
    exact_depth3_budget : float
        Work allowance for the exact depth-3 search, in histogram cell updates (estimated
        as ``(K+1) (n p * p(p+1)/2 + p**3 S**2 B)``); above it the hybrid search is used.
        The default 1e7 is roughly one second on one CPU core (e.g. 4 covariates,
        2,000 visitors); the stability bootstrap repeats the fit ``n_bootstrap`` times.
    """

    max_depth: int = 3
    min_segment_share: float = 0.1
    max_bins: int = 32
    max_subset_levels: int = 6
    exact_depth3_budget: float = 1e7

    def __post_init__(self) -> None:
        if not isinstance(self.max_depth, int) or not 1 <= self.max_depth <= _MAX_DEPTH:
            raise ValueError(f"max_depth must be an int in [1, {_MAX_DEPTH}], got {self.max_depth}")
        if not 0.0 < self.min_segment_share <= 0.5:
            raise ValueError(f"min_segment_share must be in (0, 0.5], got {self.min_segment_share}")
        if self.exact_depth3_budget < 0:
            raise ValueError("exact_depth3_budget must be >= 0")


@dataclass(frozen=True)
class PolicyLeaf:
    """A leaf: segment ``leaf_id`` served ``arm`` (index into the arm names)."""

    leaf_id: int
    arm: int


@dataclass(frozen=True)
class PolicySplit:
    """An internal node: candidate split ``split`` of covariate ``column``."""

    column: int
    split: int
    left: PolicyLeaf | PolicySplit
    right: PolicyLeaf | PolicySplit


@dataclass(frozen=True, eq=False)
class PolicyTree:
    """A fitted policy tree.

    Attributes
    ----------
    root : PolicyLeaf or PolicySplit
        The tree.
    encoding : CovariateEncoding
        Covariate bins of the fitting frame (used to route new frames).
    arm_names : tuple of str
        Arm names, control first.
    config : PolicyTreeConfig
        The search settings.
    search : {"exact", "hybrid"}
        Whether the search was exact at every level.
    welfare : float
        Summed (weighted) posterior-mean reward of the tree's policy on the fitting data.
    rules : tuple of SegmentRule
        Rule of each leaf, by leaf id.
    leaf_arms : tuple of int
        Recommended arm of each leaf, by leaf id.
    """

    root: PolicyLeaf | PolicySplit
    encoding: CovariateEncoding
    arm_names: tuple[str, ...]
    config: PolicyTreeConfig
    search: str
    welfare: float
    rules: tuple[SegmentRule, ...]
    leaf_arms: tuple[int, ...]

    @property
    def n_leaves(self) -> int:
        """Number of leaves (segments)."""
        return len(self.rules)

    def route_codes(self, codes: np.ndarray) -> np.ndarray:
        """Leaf id of each row of binned covariates ``codes`` (n, n_columns)."""
        leaves = np.empty(codes.shape[0], dtype=np.int64)
        _route(self.root, self.encoding, codes, np.arange(codes.shape[0]), leaves)
        return leaves

    def route(self, covariates: pd.DataFrame) -> np.ndarray:
        """Leaf (segment) id of each visitor of a frame, shape (n,)."""
        return self.route_codes(self.encoding.encode(covariates))

    def recommend(self, covariates: pd.DataFrame) -> np.ndarray:
        """Recommended arm index of each visitor of a frame, shape (n,)."""
        return np.asarray(self.leaf_arms, dtype=np.int64)[self.route(covariates)]


def fit_policy_tree(
    covariates: pd.DataFrame,
    reward_mean: np.ndarray,
    arm_names: Sequence[str],
    *,
    config: PolicyTreeConfig | None = None,
    categorical: Sequence[str] = (),
    weights: np.ndarray | None = None,
) -> PolicyTree:
    """Fit a policy tree maximising summed reward.

    Parameters
    ----------
    covariates : pandas.DataFrame
        Covariates, one row per visitor (numeric and categorical columns).
    reward_mean : ndarray, shape (n_visitors, K)
        Reward of each visitor under each arm (posterior mean metric, arm 0 = control).
    arm_names : sequence of str
        K arm names, control first.
    config : PolicyTreeConfig, optional
        Search settings (defaults: depth 3, minimum segment share 0.1).
    categorical : sequence of str
        Extra columns to treat as categorical.
    weights : ndarray, shape (n_visitors,), optional
        Non-negative visitor weights (bootstrap counts); default 1.

    Returns
    -------
    PolicyTree
    """
    config = PolicyTreeConfig() if config is None else config
    encoding = encode_covariates(
        covariates,
        categorical=categorical,
        max_bins=config.max_bins,
        max_subset_levels=config.max_subset_levels,
    )
    return fit_policy_tree_encoded(encoding, reward_mean, arm_names, config, weights=weights)


def fit_policy_tree_encoded(
    encoding: CovariateEncoding,
    reward_mean: np.ndarray,
    arm_names: Sequence[str],
    config: PolicyTreeConfig,
    *,
    weights: np.ndarray | None = None,
) -> PolicyTree:
    """Fit a policy tree on already binned covariates (see :func:`fit_policy_tree`)."""
    arm_names = tuple(arm_names)
    n = encoding.codes.shape[0]
    reward_mean = np.asarray(reward_mean, dtype=float)
    if reward_mean.ndim != 2 or reward_mean.shape != (n, len(arm_names)):
        raise ValueError(
            f"reward_mean must have shape (n_visitors, K) = ({n}, {len(arm_names)}), "
            f"got {reward_mean.shape}"
        )
    if len(arm_names) < 2:
        raise ValueError(f"arm_names must name at least 2 arms, got {arm_names}")
    if not np.all(np.isfinite(reward_mean)):
        raise ValueError("reward_mean has NaN or infinite values")
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape != (n,) or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ValueError(f"weights must be finite, non-negative, shape ({n},)")
    # Column-major working copies: each covariate's codes and each channel contiguous.
    stats = np.vstack([(reward_mean * weights[:, None]).T, weights[None, :]])
    codes = np.ascontiguousarray(encoding.codes.T, dtype=np.intp)
    search = _Search(encoding, config, min_count=config.min_segment_share * weights.sum())
    root = _merge_same_arm(search.grow(codes, stats, config.max_depth))
    root, rules, arms = _number_leaves(root, encoding)
    tree = PolicyTree(
        root=root,
        encoding=encoding,
        arm_names=arm_names,
        config=config,
        search="hybrid" if search.used_hybrid else "exact",
        welfare=0.0,
        rules=rules,
        leaf_arms=arms,
    )
    chosen = np.asarray(arms)[tree.route_codes(encoding.codes)]
    welfare = float(np.sum(weights * reward_mean[np.arange(n), chosen]))
    return dataclasses.replace(tree, welfare=welfare)


class _Search:
    """Histogram search over binned covariates (see the module docstring)."""

    def __init__(self, encoding: CovariateEncoding, config: PolicyTreeConfig, min_count: float):
        self.columns = encoding.columns
        self.config = config
        self.min_count = min_count * (1.0 - 1e-12)
        self.features = tuple(j for j, c in enumerate(self.columns) if c.n_splits > 0)
        self.masks = {j: self.columns[j].left_bins.astype(float) for j in self.features}
        self.used_hybrid = False

    def grow(self, codes: np.ndarray, stats: np.ndarray, depth: int) -> PolicyLeaf | PolicySplit:
        """Best tree of at most ``depth`` levels; codes (p, n), stats (K + 1, n)."""
        leaf = PolicyLeaf(-1, int(np.argmax(stats[:-1].sum(axis=1))))
        if depth == 0 or not self.features or stats[-1].sum() < 2 * self.min_count:
            return leaf
        work = self._depth3_work(stats.shape[1], stats.shape[0]) if depth == 3 else 0.0
        exact = depth <= 2 or (depth == 3 and work <= self.config.exact_depth3_budget)
        if not exact:
            self.used_hybrid = True
        tolerance = 1e-10 * (np.abs(stats[:-1]).sum() + 1.0)
        value, split = self._best_root_split(codes, stats, depth if exact else 2, tolerance)
        child_depth = depth - 1
        if exact:
            # Among optimal trees prefer the shallowest: re-search at smaller depths.
            for shallower in range(1, depth):
                value_s, split_s = self._best_root_split(codes, stats, shallower, tolerance)
                if value_s >= value - tolerance:
                    split, child_depth = split_s, shallower - 1
                    break
        if split is None:
            return leaf
        column, index = split
        go_left = self.columns[column].left_bins[index][codes[column]]
        tree = PolicySplit(
            column,
            index,
            self.grow(codes[:, go_left], stats[:, go_left], child_depth),
            self.grow(codes[:, ~go_left], stats[:, ~go_left], child_depth),
        )
        if not exact and depth >= 4:
            # Keep the hybrid monotone in depth: never worse than the best depth-1-less tree.
            shallower_tree = self.grow(codes, stats, depth - 1)
            if _tree_value(shallower_tree, self.columns, codes, stats) >= _tree_value(
                tree, self.columns, codes, stats
            ):
                return shallower_tree
        return tree

    def _depth3_work(self, n: int, channels: int) -> float:
        p = len(self.features)
        bins = max(self.columns[j].n_bins for j in self.features)
        splits = max(self.columns[j].n_splits for j in self.features)
        pairs = p * (p + 1) / 2
        return channels * (n * p * pairs + p * splits * p * p * splits * bins)

    def _best_root_split(
        self, codes: np.ndarray, stats: np.ndarray, depth: int, tolerance: float
    ) -> tuple[float, tuple[int, int] | None]:
        """Best depth-``depth`` value and its root split (None: a single leaf is best)."""
        best_value = stats[:-1].sum(axis=1).max()
        best: tuple[int, int] | None = None
        rest_keys = list(itertools.combinations_with_replacement(self.features, depth - 1))
        for column in self.features:
            hists = {
                rest: _histogram(codes, stats, self.columns, (column, *rest)) for rest in rest_keys
            }
            values = self._split_values(_SymmetricHists(hists, 0, prefix=(column,)), column, 0)
            index = int(np.argmax(values))
            if values[index] > best_value + tolerance:
                best_value, best = float(values[index]), (column, index)
        return best_value, best

    def _split_values(self, hists: _SymmetricHists, column: int, n_batch: int) -> np.ndarray:
        """Best value of each split of ``column`` (axis ``n_batch``) of the batched regions.

        ``hists`` maps d-tuples starting with ``column`` to arrays
        ``(*batch, B_column, B_rest..., C)``; returns ``(*batch, n_splits)``.
        """
        depth = hists.depth
        left_arrays, right_arrays = {}, {}
        for rest in itertools.combinations_with_replacement(self.features, depth - 1):
            left, margin = self._left_sums(hists[(column, *rest)], column, n_batch)
            left_arrays[rest] = left
            right_arrays[rest] = margin - left
        # Region totals split by column: the left totals are the left sums of its 1-D margin.
        first = left_arrays[next(iter(left_arrays))]
        bin_axes = tuple(range(n_batch + 1, first.ndim - 1))
        left_totals = first.sum(axis=bin_axes) if bin_axes else first
        right_totals = np.expand_dims(hists.totals(), n_batch) - left_totals
        left_hists = _SymmetricHists(left_arrays, n_batch + 1, totals=left_totals)
        right_hists = _SymmetricHists(right_arrays, n_batch + 1, totals=right_totals)
        value = self._best_value(left_hists) + self._best_value(right_hists)
        feasible = (left_totals[..., -1] >= self.min_count) & (
            right_totals[..., -1] >= self.min_count
        )
        return np.where(feasible, value, -np.inf)

    def _left_sums(self, full: np.ndarray, column: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Left-child sums of every split of ``column`` along ``axis``, and the axis total."""
        n_bins = full.shape[axis]
        if not self.columns[column].categorical:
            # Numeric splits send a prefix of bins left: prefix sums, O(B) per region.
            prefix = np.cumsum(full, axis=axis)
            left = np.take(prefix, np.arange(n_bins - 1), axis=axis)
            return left, np.take(prefix, [n_bins - 1], axis=axis)
        mask = self.masks[column]
        left = np.moveaxis(np.tensordot(full, mask, axes=([axis], [1])), -1, axis)
        return left, full.sum(axis=axis, keepdims=True)

    def _best_value(self, hists: _SymmetricHists) -> np.ndarray:
        """Best value of a subtree of depth ``hists.depth`` in each batched region."""
        best = hists.totals()[..., :-1].max(axis=-1)
        if hists.depth == 0:
            return best
        for column in self.features:
            values = self._split_values(hists, column, hists.n_batch)
            best = np.maximum(best, values.max(axis=-1))
        return best


class _SymmetricHists:
    """d-dimensional histograms stored once per sorted column tuple.

    ``arrays[key]`` has shape ``(*batch, B_key[0], ..., B_key[d-1], C)``; a lookup with any
    permutation of a stored key returns a transposed view. With ``prefix`` set, stored keys
    omit that leading column tuple (it is implied).
    """

    def __init__(
        self,
        arrays: dict,
        n_batch: int,
        prefix: tuple[int, ...] = (),
        totals: np.ndarray | None = None,
    ):
        self.arrays = arrays
        self.n_batch = n_batch
        self.prefix = prefix
        self.depth = len(prefix) + len(next(iter(arrays)))
        self._totals = totals

    def __getitem__(self, key: tuple[int, ...]) -> np.ndarray:
        prefix, rest = key[: len(self.prefix)], key[len(self.prefix) :]
        if prefix != self.prefix:
            raise KeyError(key)
        order = np.argsort(rest, kind="stable")
        array = self.arrays[tuple(int(rest[i]) for i in order)]
        skip = self.n_batch + len(prefix)
        inverse = np.argsort(order)
        axes = [*range(skip), *(skip + int(i) for i in inverse), array.ndim - 1]
        return array.transpose(axes)

    def totals(self) -> np.ndarray:
        """Summed statistics of each batched region, shape (*batch, C)."""
        if self._totals is None:
            array = next(iter(self.arrays.values()))
            bin_axes = tuple(range(self.n_batch, array.ndim - 1))
            self._totals = array.sum(axis=bin_axes) if bin_axes else array
        return self._totals


def _histogram(
    codes: np.ndarray, stats: np.ndarray, columns: Sequence, key: tuple[int, ...]
) -> np.ndarray:
    """Summed ``stats`` (C, n) per joint bin of the columns in ``key``: (B_key..., C)."""
    shape = tuple(columns[j].n_bins for j in key)
    if not key:
        return stats.sum(axis=1)
    flat = codes[key[0]]
    for j in key[1:]:
        flat = flat * columns[j].n_bins + codes[j]
    size = int(np.prod(shape))
    channels = [np.bincount(flat, weights=weights, minlength=size) for weights in stats]
    return np.stack(channels, axis=-1).reshape(*shape, stats.shape[0])


def _tree_value(
    node: PolicyLeaf | PolicySplit, columns: Sequence, codes: np.ndarray, stats: np.ndarray
) -> float:
    """Summed reward of the visitors (codes (p, n), stats (C, n)) under a subtree."""
    if isinstance(node, PolicyLeaf):
        return float(stats[node.arm].sum())
    go_left = columns[node.column].left_bins[node.split][codes[node.column]]
    return _tree_value(node.left, columns, codes[:, go_left], stats[:, go_left]) + _tree_value(
        node.right, columns, codes[:, ~go_left], stats[:, ~go_left]
    )


def _route(
    node: PolicyLeaf | PolicySplit,
    encoding: CovariateEncoding,
    codes: np.ndarray,
    rows: np.ndarray,
    out: np.ndarray,
) -> None:
    if isinstance(node, PolicyLeaf):
        out[rows] = node.leaf_id
        return
    bins = codes[rows, node.column]
    left_bins = encoding.columns[node.column].left_bins[node.split]
    go_left = (bins >= 0) & left_bins[np.maximum(bins, 0)]
    _route(node.left, encoding, codes, rows[go_left], out)
    _route(node.right, encoding, codes, rows[~go_left], out)


def _merge_same_arm(node: PolicyLeaf | PolicySplit) -> PolicyLeaf | PolicySplit:
    if isinstance(node, PolicyLeaf):
        return node
    left, right = _merge_same_arm(node.left), _merge_same_arm(node.right)
    if isinstance(left, PolicyLeaf) and isinstance(right, PolicyLeaf) and left.arm == right.arm:
        return PolicyLeaf(-1, left.arm)
    return PolicySplit(node.column, node.split, left, right)


def _number_leaves(
    root: PolicyLeaf | PolicySplit, encoding: CovariateEncoding
) -> tuple[PolicyLeaf | PolicySplit, tuple[SegmentRule, ...], tuple[int, ...]]:
    rules: list[SegmentRule] = []
    arms: list[int] = []

    def visit(node: PolicyLeaf | PolicySplit, path: tuple[Condition, ...]):
        if isinstance(node, PolicyLeaf):
            rules.append(SegmentRule.from_path(path))
            arms.append(node.arm)
            return PolicyLeaf(len(rules) - 1, node.arm)
        left_condition, right_condition = encoding.columns[node.column].conditions(node.split)
        left = visit(node.left, (*path, left_condition))
        right = visit(node.right, (*path, right_condition))
        return PolicySplit(node.column, node.split, left, right)

    numbered = visit(root, ())
    return numbered, tuple(rules), tuple(arms)
