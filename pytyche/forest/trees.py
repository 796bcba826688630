"""Fixed-shape tree arrays (heap layout), the forest state, traversal and rule ranges.

A tree of maximum depth ``D`` lives in arrays of ``S = 2**(D + 1)`` node slots: the root is
slot 1, the children of slot ``i`` are ``2i`` (left) and ``2i + 1`` (right), slot 0 is unused
and a node in slot ``i`` has depth ``floor(log2 i)``. ``split_bin[i] > 0`` marks a decision
node ("go left when the covariate's bin is < split_bin"); every other existing node is a
leaf. Slots under a leaf are unused and keep ``split_bin == 0``, so the leaf flags are
``exists & (split_bin == 0)`` with ``exists[i] = (i == 1) | (split_bin[i // 2] > 0)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

MAX_SUPPORTED_DEPTH = 15


class Trees(NamedTuple):
    """The split structure and leaf values of a stack of trees.

    Attributes
    ----------
    split_var
        ``(..., trees, S)`` int32 covariate index of each decision node (0 elsewhere).
    split_bin
        ``(..., trees, S)`` int32 split bin ``s ≥ 1`` of each decision node (0 elsewhere);
        a visitor goes left when its bin is ``< s``.
    leaf_value
        ``(..., trees, S, channels, basis_dim)`` leaf values (meaningful at leaves only).
        A visitor with basis ``b`` in leaf ``ℓ`` receives ``Σ_k b_k leaf_value[ℓ, c, k]``
        on channel ``c`` (``b = 1`` for a scalar basis).
    """

    split_var: jax.Array
    split_bin: jax.Array
    leaf_value: jax.Array


class ForestState(NamedTuple):
    """Sampler state of one forest (one chain; ``vmap`` over a leading chain axis).

    Attributes
    ----------
    trees
        The current trees, see `Trees`.
    leaf_index
        ``(trees, n)`` the heap slot of the leaf each training visitor falls in, in the
        smallest unsigned dtype that holds ``S - 1`` (uint8 for depth ≤ 7).
    node_count
        ``(trees, S)`` int32 number of training visitors in each existing node.
    """

    trees: Trees
    leaf_index: jax.Array
    node_count: jax.Array


class BinnedCovariates(NamedTuple):
    """Binned training covariates, as the engine reads them.

    Attributes
    ----------
    bins
        ``(p, n)`` uint8 bins from `pytyche.forest.binning.bin_covariates`.
    num_cuts
        ``(p,)`` int32 number of cutpoints of each covariate (valid split bins are
        ``1..num_cuts[v]``).
    """

    bins: jax.Array
    num_cuts: jax.Array


def num_slots(max_depth: int) -> int:
    """The number of heap slots ``S = 2**(max_depth + 1)`` of a tree of that depth."""
    return 2 ** (max_depth + 1)


def max_depth_of(trees: Trees) -> int:
    """The maximum depth ``D`` implied by the arrays' slot axis."""
    return int(np.log2(trees.split_bin.shape[-1])) - 1


def leaf_index_dtype(max_depth: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds every slot index ``< S``."""
    slots = num_slots(max_depth)
    for dtype in (np.uint8, np.uint16, np.uint32):
        if slots - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"max_depth {max_depth} is too large")


def node_depths(max_depth: int) -> np.ndarray:
    """``(S,)`` depth of each slot (slot 0 gets −1)."""
    slots = np.arange(num_slots(max_depth))
    depth = np.full(slots.shape, -1, dtype=np.int32)
    depth[1:] = np.floor(np.log2(slots[1:])).astype(np.int32)
    return depth


def init_forest(
    num_trees: int,
    num_visitors: int,
    *,
    max_depth: int = 6,
    num_channels: int = 1,
    basis_dim: int = 1,
    dtype: jnp.dtype = jnp.float32,
) -> ForestState:
    """Build a forest of root-only trees with zero leaves.

    Parameters
    ----------
    num_trees, num_visitors
        Number of trees and of training visitors ``n``.
    max_depth
        Maximum depth ``D`` of a leaf (root has depth 0), ``0..15``.
    num_channels, basis_dim
        Leaf values have shape ``(channels, basis_dim)``.
    dtype
        Float dtype of the leaf values (float32 default; float64 needs ``jax_enable_x64``).

    Returns
    -------
    ForestState
        Every visitor sits in the root (slot 1) of every tree; the fit is zero.
    """
    for name, value, low in (
        ("num_trees", num_trees, 1),
        ("num_visitors", num_visitors, 0),
        ("num_channels", num_channels, 1),
        ("basis_dim", basis_dim, 1),
    ):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer ≥ {low}; got {value}")
    if not 0 <= max_depth <= MAX_SUPPORTED_DEPTH:
        raise ValueError(f"max_depth must be in 0..{MAX_SUPPORTED_DEPTH}; got {max_depth}")
    slots = num_slots(max_depth)
    trees = Trees(
        split_var=jnp.zeros((num_trees, slots), jnp.int32),
        split_bin=jnp.zeros((num_trees, slots), jnp.int32),
        leaf_value=jnp.zeros((num_trees, slots, num_channels, basis_dim), dtype),
    )
    leaf_index = jnp.ones((num_trees, num_visitors), leaf_index_dtype(max_depth))
    node_count = jnp.zeros((num_trees, slots), jnp.int32).at[:, 1].set(num_visitors)
    return ForestState(trees=trees, leaf_index=leaf_index, node_count=node_count)


def is_internal(split_bin: jax.Array) -> jax.Array:
    """``(..., S)`` bool: the slot holds a decision node."""
    return split_bin > 0


def node_exists(split_bin: jax.Array) -> jax.Array:
    """``(..., S)`` bool: the slot holds a node (decision node or leaf) of the tree."""
    internal = is_internal(split_bin)
    slots = split_bin.shape[-1]
    parent_internal = jnp.take(internal, jnp.arange(slots) // 2, axis=-1)
    return parent_internal.at[..., 1].set(True).at[..., 0].set(False)


def is_leaf(split_bin: jax.Array) -> jax.Array:
    """``(..., S)`` bool: the slot holds a leaf."""
    return node_exists(split_bin) & ~is_internal(split_bin)


def rule_ranges(
    split_var: jax.Array, split_bin: jax.Array, num_cuts: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Bin range of every covariate reachable at every slot of one tree.

    Parameters
    ----------
    split_var, split_bin
        ``(S,)`` one tree.
    num_cuts
        ``(p,)`` cutpoints per covariate.

    Returns
    -------
    low, high
        ``(p, S)`` int32: visitors reaching slot ``i`` have bins in ``low..high`` on each
        covariate, so the admissible new split bins there are ``low + 1..high``
        (``high − low`` of them), as in the BART prior of Chipman et al. (1998). Slots run
        along the last axis, which XLA vectorises: with covariates last (``p`` is small)
        the computation is several times slower on CPU.
    """
    slots = split_bin.shape[-1]
    max_depth = int(np.log2(slots)) - 1
    covariates = jnp.arange(num_cuts.shape[0])[:, None]
    # Top down, one level at a time: a child inherits its parent's ranges, narrowed on the
    # parent's split covariate (below its cut on the left, from its cut on the right).
    # Slices and repeats only: gathering every slot's ancestors is slower.
    low = [jnp.zeros((covariates.shape[0], 2), jnp.int32)]  # slot 0 (unused) and the root
    high = [jnp.broadcast_to(num_cuts.astype(jnp.int32)[:, None], (covariates.shape[0], 2))]
    for depth in range(1, max_depth + 1):
        width = 2 ** (depth - 1)
        low_parent = jnp.repeat(low[-1][:, -width:], 2, axis=1)
        high_parent = jnp.repeat(high[-1][:, -width:], 2, axis=1)
        cut = jnp.repeat(split_bin[width : 2 * width], 2)
        hit = (covariates == jnp.repeat(split_var[width : 2 * width], 2)) & (cut > 0)
        right = jnp.arange(2 * width) % 2 == 1
        low.append(jnp.where(hit & right, jnp.maximum(low_parent, cut), low_parent))
        high.append(jnp.where(hit & ~right, jnp.minimum(high_parent, cut - 1), high_parent))
    return jnp.concatenate(low, axis=1), jnp.concatenate(high, axis=1)


def traverse(trees: Trees, bins: jax.Array) -> jax.Array:
    """Leaf slot of every visitor in every tree.

    Parameters
    ----------
    trees
        ``(trees, S)`` split arrays (leaf values unused).
    bins
        ``(p, n)`` binned covariates.

    Returns
    -------
    jax.Array
        ``(trees, n)`` leaf slots, in the dtype of `leaf_index_dtype`.
    """
    max_depth = int(np.log2(trees.split_bin.shape[-1])) - 1
    dtype = leaf_index_dtype(max_depth)

    def one_tree(split_var: jax.Array, split_bin: jax.Array) -> jax.Array:
        node = jnp.ones(bins.shape[1], jnp.int32)
        for _ in range(max_depth):
            cut = split_bin[node]
            value = jnp.take_along_axis(bins, split_var[node][None, :], axis=0)[0]
            child = 2 * node + (value >= cut).astype(jnp.int32)
            node = jnp.where(cut > 0, child, node)
        return node.astype(dtype)

    return jax.vmap(one_tree)(trees.split_var, trees.split_bin)


def tree_depth(split_bin: jax.Array) -> jax.Array:
    """``(...,)`` depth of the deepest leaf of each tree."""
    depth = jnp.asarray(node_depths(int(np.log2(split_bin.shape[-1])) - 1))
    return jnp.max(jnp.where(is_leaf(split_bin), depth, 0), axis=-1)


def num_leaves(split_bin: jax.Array) -> jax.Array:
    """``(...,)`` number of leaves of each tree."""
    return jnp.sum(is_leaf(split_bin), axis=-1)
