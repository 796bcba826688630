"""One Metropolis–Hastings backfitting sweep over all trees of a forest (grow / prune).

Target, for each tree given the others (Chipman, George & McCulloch 1998, 2010):

    π(T) ∝ p(T) · Π_leaves Π_channels m(ℓ, c) · 1{every leaf holds ≥ min_leaf_count visitors}

with the tree prior ``p(T)``: a node at depth ``d`` splits with probability
``α (1 + d)^−β`` when ``d < max_depth`` and some covariate still has an admissible bin there
(otherwise 0), and its rule is uniform over admissible covariates and then uniform over that
covariate's admissible bins; ``m`` is the conjugate integrated leaf likelihood of
`pytyche.forest.leaves` (channels share the tree, their evidences multiply).

Proposal: with probability ``p_grow(T)`` (½ when both moves exist, else the one that exists)
grow a leaf chosen uniformly among *growable* leaves (depth < max_depth, an admissible rule,
≥ 2·min_leaf_count visitors), with a rule drawn from the prior; otherwise prune a node chosen
uniformly among nodes whose two children are leaves. For a grow ``T → T'`` at node η of depth
``d`` the acceptance ratio is

    [p(d)(1 − p_L)(1 − p_R) / (1 − p(d))] · [p_prune(T') / N(T')] / [p_grow(T) / G(T)] · LR

where ``G`` counts growable leaves, ``N`` prunable nodes, ``p_L, p_R`` are the children's prior
split probabilities and ``LR = m(L) m(R) / m(η)``; the rule's prior and proposal factors
cancel. A prune uses the reciprocal of the reverse grow. A grow whose children would hold
fewer than ``min_leaf_count`` visitors has target 0 and is rejected.

Performance layout: everything per tree that does not read the residuals is done before
the sequential stage, after bartz (Petrillo 2024): the proposals and their prior ratios,
the random draws and the leaf values before the move for all trees at once, and the move's
visitor counts (with the legality and transition ratio that depend on them) in a loop of
one ``(n,)`` reduction per tree (XLA on CPU reduces a ``(trees, n)`` array along its rows
several times slower). Only what needs the residuals — each tree's "as if grown" leaf
indices, leaf statistics, MH accept, leaf draw and residual update — runs in the
sequential ``lax.scan`` over trees. With an indicator basis (``arm``: every basis
vector is 0 or a unit vector, as for BCF's one-hot arms) ``B`` is diagonal and a channel's
statistics are one scatter on the combined index ``leaf·(K + 1) + arm``; ``channel_rows``
restricts a channel to the visitors that inform it (the converters of a hurdle's severity
channel, the treated visitors of a treatment forest).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pytyche.forest.leaves import (
    diagonal_posterior_terms,
    log_evidence,
    posterior_mean,
    posterior_terms,
    segment_sum,
    visitor_weights,
    weighted_residuals,
)
from pytyche.forest.trees import (
    BinnedCovariates,
    ForestState,
    Trees,
    is_internal,
    is_leaf,
    node_depths,
    rule_ranges,
)


class TreePrior(NamedTuple):
    """Tree prior and leaf-size constraint (array-valued fields may be traced).

    Attributes
    ----------
    alpha, beta
        A node at depth ``d`` splits with probability ``alpha (1 + d)^−beta``
        (BCF: μ 0.95, 2; τ 0.25, 3; Hahn, Murray & Carvalho 2020).
    min_leaf_count
        Minimum number of training visitors per leaf (unweighted, all channels).
    """

    alpha: float | jax.Array = 0.95
    beta: float | jax.Array = 2.0
    min_leaf_count: int | jax.Array = 5


DEFAULT_PRIOR = TreePrior()


class SweepInfo(NamedTuple):
    """Per-tree diagnostics of a sweep, each ``(trees,)``.

    Attributes
    ----------
    proposed_grow
        The move was a grow (else a prune).
    allowed
        The move existed and respected ``min_leaf_count``.
    accepted
        The move was accepted.
    log_accept_ratio
        Log MH ratio of the proposed move (in its own direction).
    """

    proposed_grow: jax.Array
    allowed: jax.Array
    accepted: jax.Array
    log_accept_ratio: jax.Array


class Proposal(NamedTuple):
    """A grow or prune proposal for one tree (fields are scalars per tree)."""

    grow: jax.Array
    allowed: jax.Array
    node: jax.Array
    var: jax.Array
    cut: jax.Array
    log_prior_ratio: jax.Array
    num_growable: jax.Array
    num_prunable: jax.Array
    parent_prunable: jax.Array
    p_grow: jax.Array
    child_can_split: jax.Array


def _choose_uniform(uniform: jax.Array, mask: jax.Array) -> jax.Array:
    """Index of a uniformly chosen True entry of ``mask`` (0 when there is none).

    ``uniform`` is a U[0, 1) draw; the ``k``-th True entry is taken with ``k = ⌊u · total⌋``.
    """
    total = jnp.sum(mask)
    k = jnp.minimum(jnp.floor(uniform * total).astype(jnp.int32), jnp.maximum(total - 1, 0))
    return jnp.argmax(jnp.cumsum(mask) > k).astype(jnp.int32)


def split_probability(depth: jax.Array, alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """Prior probability ``α (1 + d)^−β`` that a splittable node at depth ``d`` splits."""
    return alpha * (1.0 + depth) ** (-beta)


def growable_leaves(
    split_bin: jax.Array,
    node_count: jax.Array,
    low: jax.Array,
    high: jax.Array,
    min_leaf_count: jax.Array,
) -> jax.Array:
    """``(S,)`` bool: leaves a grow move may pick (see module docstring); ``low, high``
    ``(p, S)`` from `rule_ranges`."""
    max_depth = int(np.log2(split_bin.shape[-1])) - 1
    depth = jnp.asarray(node_depths(max_depth))
    has_rule = jnp.any(high - low >= 1, axis=0)
    enough = node_count >= 2 * min_leaf_count
    return is_leaf(split_bin) & (depth < max_depth) & has_rule & enough


def prunable_nodes(split_bin: jax.Array) -> jax.Array:
    """``(S,)`` bool: decision nodes whose two children are leaves."""
    slots = split_bin.shape[-1]
    leaf_pairs = is_leaf(split_bin).reshape(slots // 2, 2).all(axis=-1)
    upper = is_internal(split_bin[: slots // 2]) & leaf_pairs
    return jnp.concatenate([upper, jnp.zeros(slots - slots // 2, bool)])


def propose(
    uniforms: jax.Array,
    split_var: jax.Array,
    split_bin: jax.Array,
    node_count: jax.Array,
    num_cuts: jax.Array,
    prior: TreePrior,
) -> Proposal:
    """Draw a grow or prune proposal for one tree and its count-free ratio terms.

    ``uniforms`` are five U[0, 1) draws (move type, leaf, node, covariate, bin): one random
    call for all trees keeps the compiled program small.
    """
    max_depth = int(np.log2(split_bin.shape[-1])) - 1
    depth = jnp.asarray(node_depths(max_depth))
    low, high = rule_ranges(split_var, split_bin, num_cuts)
    growable = growable_leaves(split_bin, node_count, low, high, prior.min_leaf_count)
    prunable = prunable_nodes(split_bin)
    num_growable = jnp.sum(growable)
    num_prunable = jnp.sum(prunable)
    can_grow = num_growable > 0
    can_prune = split_bin[1] > 0
    p_grow = jnp.where(can_grow & can_prune, 0.5, jnp.where(can_grow, 1.0, 0.0))

    u_move, u_leaf, u_node, u_var, u_cut = uniforms
    grow = u_move < p_grow
    node = jnp.where(grow, _choose_uniform(u_leaf, growable), _choose_uniform(u_node, prunable))
    low_at, high_at = low[:, node], high[:, node]
    var_ok = high_at - low_at >= 1
    new_var = _choose_uniform(u_var, var_ok)
    room = jnp.maximum(high_at[new_var] - low_at[new_var], 1)
    new_cut = low_at[new_var] + 1 + jnp.minimum(jnp.floor(u_cut * room).astype(jnp.int32), room - 1)
    var = jnp.where(grow, new_var, split_var[node])
    cut = jnp.where(grow, new_cut, split_bin[node])

    # Children's prior split probabilities: a child can split if it is above max depth and
    # keeps an admissible rule (another covariate, or room left on the split covariate).
    d = jnp.maximum(depth[node], 0)  # node 0 (no move possible) must not give NaNs
    other_vars = jnp.sum(var_ok) > 1
    left_rule = other_vars | (cut - 1 - low_at[var] >= 1)
    right_rule = other_vars | (high_at[var] - cut >= 1)
    child_can_split = jnp.stack([left_rule, right_rule]) & (d + 1 < max_depth)
    p_node = split_probability(d, prior.alpha, prior.beta)
    p_child = split_probability(d + 1, prior.alpha, prior.beta) * child_can_split
    log_prior_ratio = jnp.log(p_node) + jnp.sum(jnp.log1p(-p_child)) - jnp.log1p(-p_node)
    parent_prunable = (node > 1) & prunable[node >> 1]
    return Proposal(
        grow=grow,
        allowed=jnp.where(grow, can_grow, can_prune),
        node=node,
        var=var.astype(jnp.int32),
        cut=cut.astype(jnp.int32),
        log_prior_ratio=log_prior_ratio,
        num_growable=num_growable,
        num_prunable=num_prunable,
        parent_prunable=parent_prunable,
        p_grow=p_grow,
        child_can_split=child_can_split,
    )


def log_transition_ratio(
    proposal: Proposal, child_counts: jax.Array, min_leaf_count: jax.Array
) -> jax.Array:
    """Log ``q(T_big → T_small) / q(T_small → T_big)`` for the proposal's grow direction.

    ``child_counts`` ``(2,)`` are the visitor counts of the two children of the move node.
    """
    child_growable = proposal.child_can_split & (child_counts >= 2 * min_leaf_count)
    merged_growable = jnp.sum(child_counts) >= 2 * min_leaf_count
    num_children_growable = jnp.sum(child_growable)
    # Grow from the current (small) tree.
    grow_big_growable = proposal.num_growable - 1 + num_children_growable
    grow_log = (
        jnp.log(jnp.where(grow_big_growable > 0, 0.5, 1.0))
        - jnp.log(proposal.num_prunable + 1 - proposal.parent_prunable)
        - jnp.log(jnp.maximum(proposal.p_grow, 1e-30))
        + jnp.log(jnp.maximum(proposal.num_growable, 1))
    )
    # Prune of the current (big) tree: the reverse grow starts from the pruned tree.
    small_growable = proposal.num_growable - num_children_growable + merged_growable
    small_can_prune = proposal.node > 1
    p_grow_small = jnp.where(
        (small_growable > 0) & small_can_prune, 0.5, jnp.where(small_growable > 0, 1.0, 0.0)
    )
    prune_log = (
        jnp.log(1.0 - proposal.p_grow)
        - jnp.log(jnp.maximum(proposal.num_prunable, 1))
        - jnp.log(jnp.maximum(p_grow_small, 1e-30))
        + jnp.log(jnp.maximum(small_growable, 1))
    )
    return jnp.where(proposal.grow, grow_log, prune_log)


def _apply_grow(proposal: Proposal, leaf_index: jax.Array, bins: jax.Array) -> jax.Array:
    """Leaf indices of one tree as if its grow proposal were accepted."""
    goes_right = bins[proposal.var] >= proposal.cut
    node = proposal.node.astype(leaf_index.dtype)
    child = 2 * node + goes_right.astype(leaf_index.dtype)
    return jnp.where(proposal.grow & (leaf_index == node), child, leaf_index)


class _Indicator(NamedTuple):
    """Per-channel visitor layout when every basis vector is 0 or a unit vector.

    For channel ``c``: ``rows[c]`` are the visitors it reads (None: all ``n``, in order;
    else ``(m,)`` int32 visitor rows, padded with ``n``), ``weight[c]`` their weights (None:
    1; padding rows 0) and ``slot[c]`` their basis slot (None: the scalar basis 1; else
    ``0`` for the zero vector and ``k`` for the unit vector ``e_k``, ``1 ≤ k ≤ K``).
    Then ``s_ℓck = Σ w r`` and ``B_ℓc = diag(Σ w)`` over the channel's visitors of leaf ``ℓ``
    in slot ``k``: one scatter per channel on the combined index ``ℓ·(K + 1) + slot``.
    With ``center`` ``c`` ``(K,)`` the basis is ``e_slot − c`` instead (slot 0: ``−c``); the
    same scatter, kept for every slot, gives ``s = s_{1:K} − c Σ_k s_k`` and the dense
    ``B = diag(w_{1:K}) − c wᵀ − w cᵀ + (Σ_k w_k) c cᵀ``.
    """

    rows: tuple[jax.Array | None, ...]
    weight: tuple[jax.Array | None, ...]
    slot: tuple[jax.Array | None, ...]
    center: jax.Array | None = None


class _Dense(NamedTuple):
    """Visitor-major factors of a general basis (see `visitor_weights`)."""

    weighted_basis: jax.Array
    weighted_outer: jax.Array
    basis: jax.Array


class _TreeInputs(NamedTuple):
    """Per-tree inputs of the sequential stage (leading axis: trees): the move (its
    legality filled in), its residual-free parts (the "as if grown" counts, prior and
    transition ratio) and the random draws."""

    tree: jax.Array
    proposal: Proposal
    grown_count: jax.Array
    log_ratio_base: jax.Array
    leaf_value: jax.Array
    noise: jax.Array
    log_uniform: jax.Array


class _SharedInputs(NamedTuple):
    """Inputs of the sequential stage shared by all trees."""

    bins: jax.Array
    design: _Indicator | _Dense
    noise_var: jax.Array
    leaf_prior_var: jax.Array
    min_leaf_count: jax.Array


def _fill_move_node(node_stats: jax.Array, node: jax.Array) -> jax.Array:
    """Set the move node's statistics to the sum of its two children's."""
    return node_stats.at[node].set(node_stats[2 * node] + node_stats[2 * node + 1])


def _left_counts(leaf_index: jax.Array, bins: jax.Array, proposals: Proposal) -> jax.Array:
    """``(trees,)`` visitors of each tree's move node whose bin is below the move's cut
    (the left child's count if the move is a grow).

    A tree's leaf indices change only in its own step of the sweep, so the counts of every
    tree can be taken before the sequential stage; one ``(n,)`` row per step of a loop, as
    XLA:CPU reduces a ``(trees, n)`` array along rows several times slower.
    """
    n = leaf_index.shape[-1]

    def count(args: tuple[jax.Array, ...]) -> jax.Array:
        leaf, node, var, cut = args
        in_left = (leaf == node.astype(leaf.dtype)) & (bins[var] < cut.astype(bins.dtype))
        if n < 2**24:
            # A float32 sum is exact below 2**24 and XLA vectorises it far better on CPU.
            return jnp.sum(jnp.where(in_left, 1.0, 0.0)).astype(jnp.int32)
        return jnp.sum(in_left, dtype=jnp.int32)

    return jax.lax.map(count, (leaf_index, proposals.node, proposals.var, proposals.cut))


def _move_counts(
    proposal: Proposal, node_count: jax.Array, left: jax.Array, min_leaf_count: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Visitor counts of the "as if grown" tree, the move's legality and its log base ratio.

    ``left`` is the left child's count should the move be a grow (see `_left_counts`).
    Returns ``(grown_count (S,), allowed, log_ratio_base)``: the prior and transition parts
    of the grow-direction MH ratio (the likelihood part needs the residuals).
    """
    node = proposal.node
    children = jnp.stack([2 * node, 2 * node + 1])
    grow_counts = jnp.stack([left, node_count[node] - left])
    child_counts = jnp.where(proposal.grow, grow_counts, node_count[children])
    enough = jnp.all(child_counts >= min_leaf_count)
    allowed = proposal.allowed & (enough | ~proposal.grow)
    log_ratio_base = proposal.log_prior_ratio + log_transition_ratio(
        proposal, child_counts, min_leaf_count
    )
    return node_count.at[children].set(child_counts), allowed, log_ratio_base


SCATTER_LANES = 32
"""Copies of the output a scatter spreads its updates over (visitor ``i`` adds to copy
``i mod SCATTER_LANES``). When most visitors share a leaf — the usual case for small BCF
trees — successive adds to one bin form a dependency chain that makes a CPU scatter several
times slower than with spread-out indices; the copies break the chain (bartz batches its
reductions the same way)."""


def _scatter(values: jax.Array, index: jax.Array, size: int) -> jax.Array:
    """``segment_sum`` of ``values`` ``(m,)`` or ``(m, V)`` by an in-range ``index``."""
    lane = jnp.arange(index.shape[0], dtype=jnp.int32) % SCATTER_LANES
    spread = lane * size + index.astype(jnp.int32)
    out = jnp.zeros((SCATTER_LANES * size, *values.shape[1:]), values.dtype)
    out = out.at[spread].add(values, mode="promise_in_bounds")
    return out.reshape(SCATTER_LANES, size, *values.shape[1:]).sum(axis=0)


def _indicator_index(design: _Indicator, grown: jax.Array, basis_dim: int) -> list[jax.Array]:
    """Per channel, each of its visitors' combined ``leaf·(K + 1) + slot`` index."""
    out = []
    for rows, slot in zip(design.rows, design.slot, strict=True):
        index = grown if rows is None else jnp.take(grown, rows, mode="clip")
        if slot is not None:
            index = index.astype(jnp.int32) * (basis_dim + 1) + slot
        out.append(index)
    return out


def _indicator_statistics(
    design: _Indicator,
    residuals: tuple[jax.Array, ...],
    index: list[jax.Array],
    grown_count: jax.Array,
    basis_dim: int,
) -> tuple[jax.Array, jax.Array]:
    """``s`` ``(S, C, K)`` and ``B`` of one tree's slots: its diagonal ``(S, C, K)``, or
    with a ``center`` the dense ``(S, C, K, K)`` matrix."""
    slots = grown_count.shape[0]
    centered = design.center is not None
    sums, weights = [], []
    for c, (weight, slot) in enumerate(zip(design.weight, design.slot, strict=True)):
        width = 1 if slot is None else basis_dim + 1
        r = residuals[c] if weight is None else weight * residuals[c]
        if weight is None and slot is None:
            # Unit weights and scalar basis: B is the visitor count, already known.
            s = _scatter(r, index[c], slots)[:, None]
            b = grown_count.astype(r.dtype)[:, None]
        else:
            w = jnp.ones_like(r) if weight is None else weight
            # Both sums in one pass: a complex scatter adds (w r, w) pairs.
            both = _scatter(jax.lax.complex(r, w), index[c], slots * width).reshape(slots, width)
            if centered and slot is not None:
                s, b = _centered_statistics(both.real, both.imag, design.center)
            else:
                both = both[:, width - basis_dim :]
                s, b = both.real, both.imag
        sums.append(s)
        weights.append(b)
    return jnp.stack(sums, axis=1), jnp.stack(weights, axis=1)


def _centered_statistics(
    slot_sums: jax.Array, slot_weights: jax.Array, center: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``s`` ``(S, K)`` and ``B`` ``(S, K, K)`` of the basis ``e_slot − c`` from the per-slot
    sums ``Σ w r`` and ``Σ w`` ``(S, K + 1)`` (slot 0 is the zero vector before centring)."""
    total_sum = jnp.sum(slot_sums, axis=1, keepdims=True)
    total_weight = jnp.sum(slot_weights, axis=1)[:, None, None]
    w = slot_weights[:, 1:]
    s = slot_sums[:, 1:] - center * total_sum
    cross = center[None, :, None] * w[:, None, :]
    b = (
        jax.vmap(jnp.diag)(w)
        - cross
        - jnp.swapaxes(cross, 1, 2)
        + total_weight * (center[:, None] * center[None, :])
    )
    return s, b


def _indicator_update(
    design: _Indicator,
    residuals: tuple[jax.Array, ...],
    index: list[jax.Array],
    delta: jax.Array,
) -> tuple[jax.Array, ...]:
    """Add ``b_iᵀ δ_ℓ(i)c`` (``delta`` ``(S, C, K)``: old minus new leaf values) back; with a
    ``center`` ``b_iᵀ δ = δ_slot − cᵀ δ`` (``δ_0 = 0``), still one gather per visitor."""
    tables = []
    for c, slot in enumerate(design.slot):
        table = delta[:, c, 0]
        if slot is not None:
            zero = jnp.zeros_like(delta[:, c, :1])  # slot 0: the zero basis vector
            table = jnp.concatenate([zero, delta[:, c, :]], axis=1)
            if design.center is not None:
                table = table - (delta[:, c, :] @ design.center)[:, None]
            table = table.reshape(-1)
        tables.append(table)
    # Materialise the small tables: fused into the gather, XLA recomputes them per visitor.
    tables = jax.lax.optimization_barrier(tables)
    return tuple(r + table[i] for r, table, i in zip(residuals, tables, index, strict=True))


def _dense_statistics(
    design: _Dense, residuals: jax.Array, grown: jax.Array, slots: int, basis_dim: int
) -> tuple[jax.Array, jax.Array]:
    """``s`` ``(S, C, K)`` and ``B`` ``(S, C, K, K)``: one row-major scatter of both."""
    num_channels = residuals.shape[1]
    values = weighted_residuals(residuals, design.weighted_basis)
    width = values.shape[1]
    sums = segment_sum(jnp.concatenate([values, design.weighted_outer], axis=1), grown, slots)
    residual_sums = sums[:, :width].reshape(slots, num_channels, basis_dim)
    weight_stats = sums[:, width:].reshape(slots, num_channels, basis_dim, basis_dim)
    return residual_sums, weight_stats


def _tree_step(
    carry: tuple[Any, jax.Array], inputs: _TreeInputs, shared: _SharedInputs
) -> tuple[tuple[Any, jax.Array], tuple[jax.Array, ...]]:
    """Sequential step for one tree: the "as if grown" leaf indices, the leaf statistics,
    MH accept, leaf draw, residual update and the tree's new leaf indices.

    ``carry`` holds the residuals (per-channel vectors for an `_Indicator` design, ``(n, C)``
    for a `_Dense` one) and the ``(trees, n)`` leaf indices, updated in place row by row.
    """
    residuals, leaf_index = carry
    slots, _, basis_dim = inputs.leaf_value.shape
    proposal = inputs.proposal
    node = proposal.node
    grown_count = inputs.grown_count
    design = shared.design
    leaf = jax.lax.dynamic_index_in_dim(leaf_index, inputs.tree, keepdims=False)
    grown = _apply_grow(proposal, leaf, shared.bins)

    if isinstance(design, _Indicator):
        index = _indicator_index(design, grown, basis_dim)
        sums, weight_stats = _indicator_statistics(design, residuals, index, grown_count, basis_dim)
        weight_stats = _fill_move_node(weight_stats, node)
        if design.center is None:
            terms = diagonal_posterior_terms(
                inputs.noise, weight_stats, shared.noise_var, shared.leaf_prior_var
            )
            own_fit = weight_stats * inputs.leaf_value
        else:
            terms = posterior_terms(
                inputs.noise, weight_stats, shared.noise_var, shared.leaf_prior_var
            )
            own_fit = jnp.einsum("sckj,scj->sck", weight_stats, inputs.leaf_value)
    else:
        sums, weight_stats = _dense_statistics(design, residuals, grown, slots, basis_dim)
        weight_stats = _fill_move_node(weight_stats, node)
        terms = posterior_terms(inputs.noise, weight_stats, shared.noise_var, shared.leaf_prior_var)
        own_fit = jnp.einsum("sckj,scj->sck", weight_stats, inputs.leaf_value)
    # Partial residuals add this tree's own fit back: s = Σ w b r + B μ_old.
    sums = _fill_move_node(sums + own_fit, node)

    lrt = jnp.stack([2 * node, 2 * node + 1, node])
    evidence = log_evidence(sums[lrt], terms.covariance[lrt], terms.log_norm[lrt], shared.noise_var)
    log_ratio_grow = inputs.log_ratio_base + evidence[0] + evidence[1] - evidence[2]
    log_ratio = jnp.where(proposal.grow, log_ratio_grow, -log_ratio_grow)
    accepted = proposal.allowed & (inputs.log_uniform < log_ratio)

    new_value = posterior_mean(sums, terms.covariance, shared.noise_var) + terms.noise
    to_prune = accepted ^ proposal.grow
    in_children = (jnp.arange(slots) >> 1) == node
    new_value = jnp.where((to_prune & in_children)[:, None, None], new_value[node], new_value)
    new_value = new_value.astype(inputs.leaf_value.dtype)

    delta = inputs.leaf_value - new_value
    if isinstance(design, _Indicator):
        residuals = _indicator_update(design, residuals, index, delta)
    else:
        residuals = residuals + jnp.einsum("nck,nk->nc", delta[grown], design.basis)

    node_index = node.astype(grown.dtype)
    leaf = jnp.where(to_prune & ((grown >> 1) == node_index), node_index, grown)
    node_count = jnp.where(to_prune & in_children, 0, grown_count)
    leaf_index = jax.lax.dynamic_update_index_in_dim(leaf_index, leaf, inputs.tree, 0)
    return (residuals, leaf_index), (new_value, accepted, log_ratio, node_count)


def _validate_shapes(
    state: ForestState,
    data: BinnedCovariates,
    residuals: jax.Array,
    basis: jax.Array | None,
    arm: jax.Array | None,
    arm_center: jax.Array | None,
    channel_weight: jax.Array | None,
    channel_rows: Sequence[jax.Array | None] | None,
    noise_var: jax.Array,
    leaf_prior_var: jax.Array,
) -> None:
    num_channels, basis_dim = state.trees.leaf_value.shape[-2:]
    n = state.leaf_index.shape[-1]
    if residuals.shape != (num_channels, n):
        raise ValueError(f"residuals must have shape {(num_channels, n)}; got {residuals.shape}")
    if data.bins.ndim != 2 or data.bins.shape[1] != n:
        raise ValueError(f"data.bins must have shape (p, {n}); got {data.bins.shape}")
    if basis is not None and arm is not None:
        raise ValueError("give the leaf basis as basis or as arm, not both")
    if basis is None and arm is None and basis_dim != 1:
        raise ValueError(f"basis or arm is required for leaves of basis_dim {basis_dim}")
    if basis is not None and basis.shape != (n, basis_dim):
        raise ValueError(f"basis must have shape {(n, basis_dim)}; got {basis.shape}")
    if arm is not None and (arm.shape != (n,) or not jnp.issubdtype(arm.dtype, jnp.integer)):
        raise ValueError(f"arm must be an integer array of shape {(n,)}; got {arm.shape}")
    if arm_center is not None and (arm is None or jnp.shape(arm_center) != (basis_dim,)):
        raise ValueError(f"arm_center needs arm and must have shape {(basis_dim,)}")
    if channel_weight is not None and channel_weight.shape != (num_channels, n):
        msg = f"channel_weight must have shape {(num_channels, n)}; got {channel_weight.shape}"
        raise ValueError(msg)
    if channel_rows is not None:
        if basis is not None:
            raise ValueError("channel_rows needs an indicator basis (arm or none), not basis")
        if len(channel_rows) != num_channels or any(
            rows is not None and (rows.ndim != 1 or not jnp.issubdtype(rows.dtype, jnp.integer))
            for rows in channel_rows
        ):
            raise ValueError(
                f"channel_rows must hold {num_channels} entries, each None or a 1-D integer array"
            )
    if noise_var.shape != (num_channels,):
        raise ValueError(f"noise_var must have shape {(num_channels,)}; got {noise_var.shape}")
    if leaf_prior_var.shape != (num_channels, basis_dim):
        msg = f"leaf_prior_var must broadcast to {(num_channels, basis_dim)}"
        raise ValueError(msg)


def _indicator_design(
    residuals: jax.Array,
    arm: jax.Array | None,
    channel_weight: jax.Array | None,
    channel_rows: Sequence[jax.Array | None] | None,
) -> tuple[_Indicator, tuple[jax.Array, ...]]:
    """The `_Indicator` layout and the per-channel residual vectors it reads."""
    num_channels, n = residuals.shape
    rows_out, weights, slots, carry = [], [], [], []
    for c in range(num_channels):
        rows = None if channel_rows is None else channel_rows[c]
        if rows is None:
            weight = None if channel_weight is None else channel_weight[c]
            slot = arm
            r = residuals[c]
        else:
            rows = rows.astype(jnp.int32)
            if channel_weight is None:
                weight = (rows < n).astype(residuals.dtype)
            else:
                weight = channel_weight[c].at[rows].get(mode="fill", fill_value=0)
            slot = None if arm is None else arm.at[rows].get(mode="fill", fill_value=0)
            r = residuals[c].at[rows].get(mode="fill", fill_value=0)
        rows_out.append(rows)
        weights.append(weight)
        slots.append(None if slot is None else slot.astype(jnp.int32))
        carry.append(r)
    return _Indicator(tuple(rows_out), tuple(weights), tuple(slots)), tuple(carry)


def _prepare(
    key: jax.Array,
    state: ForestState,
    data: BinnedCovariates,
    prior: TreePrior,
) -> _TreeInputs:
    """Residual-independent per-tree work done before the sequential stage: proposals,
    their visitor counts and count-dependent ratio terms, random draws and the leaf values
    before the move (see module docstring)."""
    num_trees, slots, num_channels, basis_dim = state.trees.leaf_value.shape
    dtype = state.trees.leaf_value.dtype
    key_propose, key_leaves = jax.random.split(key)
    # Drawn flat and reshaped (same values): XLA:CPU generates multi-axis shapes with
    # small trailing axes several times slower.
    uniforms = jax.random.uniform(key_propose, (num_trees * 6,), dtype).reshape(num_trees, 6)
    trees = state.trees
    proposals = jax.vmap(propose, in_axes=(0, 0, 0, 0, None, None))(
        uniforms[:, :5],
        trees.split_var,
        trees.split_bin,
        state.node_count,
        data.num_cuts,
        prior,
    )
    shape = (num_trees, slots, num_channels, basis_dim)
    noise = jax.random.normal(key_leaves, (int(np.prod(shape)),), dtype).reshape(shape)
    # Before a grow, the children slots inherit the leaf value of the node they split.
    rows = jnp.arange(num_trees)
    in_children = (jnp.arange(slots) >> 1)[None, :] == proposals.node[:, None]
    inherit = proposals.grow[:, None] & in_children
    old_value = jnp.where(
        inherit[:, :, None, None], trees.leaf_value[rows, proposals.node][:, None], trees.leaf_value
    )
    left = _left_counts(state.leaf_index, data.bins, proposals)
    grown_count, allowed, log_ratio_base = jax.vmap(_move_counts, in_axes=(0, 0, 0, None))(
        proposals, state.node_count, left, prior.min_leaf_count
    )
    return _TreeInputs(
        tree=rows,
        proposal=proposals._replace(allowed=allowed),
        grown_count=grown_count,
        log_ratio_base=log_ratio_base,
        leaf_value=old_value,
        noise=noise,
        log_uniform=jnp.log(uniforms[:, 5]),
    )


def sweep(
    key: jax.Array,
    state: ForestState,
    data: BinnedCovariates,
    residuals: jax.Array,
    *,
    noise_var: jax.Array,
    leaf_prior_var: jax.Array,
    prior: TreePrior = DEFAULT_PRIOR,
    basis: jax.Array | None = None,
    arm: jax.Array | None = None,
    arm_center: jax.Array | None = None,
    channel_weight: jax.Array | None = None,
    channel_rows: Sequence[jax.Array | None] | None = None,
) -> tuple[ForestState, jax.Array, SweepInfo]:
    """Update every tree once (grow/prune MH, then a conjugate draw of all its leaves).

    Parameters
    ----------
    key
        PRNG key.
    state
        Forest state (one chain).
    data
        Binned training covariates.
    residuals
        ``(C, n)`` full residuals: the channel targets minus the fit of *every* forest in
        the model, this one included. Masked-out entries may hold any finite value.
    noise_var
        ``(C,)`` per-channel noise variance ``σ²`` (1 for a probit latent).
    leaf_prior_var
        ``(C,)`` or ``(C, K)`` prior variance of each leaf component.
    prior
        Tree prior and minimum leaf size.
    basis
        ``(n, K)`` leaf basis, or None for the scalar basis 1 (then ``K = 1``).
    arm
        ``(n,)`` integer, an indicator basis given by index: visitor ``i`` has the basis
        ``e_arm[i]`` (``1 ≤ arm ≤ K``) or the zero vector (``arm = 0``, e.g. control), i.e.
        ``basis = one_hot(arm)[:, 1:]``. Same draws as that ``basis`` up to float rounding,
        several times faster; exclusive with ``basis``.
    arm_center
        ``(K,)`` with ``arm``: the basis is ``one_hot(arm)[:, 1:] − arm_center`` instead
        (BCF's centred treatment coding, e.g. the mean propensities of the active arms).
        The statistics stay one scatter per channel; ``B`` is then dense.
    channel_weight
        ``(C, n)`` non-negative observation weights, 0 masks a visitor out of a channel
        (e.g. the severity channel for non-converters); None means 1 everywhere.
    channel_rows
        Per channel, None or the ``(m,)`` integer rows of the only visitors that inform
        it (padded with ``n``): every other visitor must have zero weight or a zero basis
        vector there. The sweep then reads and updates only those rows of that channel;
        the others keep their input residuals. Needs an indicator basis (``arm`` or none);
        with ``arm_center`` no basis vector is zero, so the other visitors must have zero
        weight.

    Returns
    -------
    state
        The updated forest.
    residuals
        ``(C, n)`` the input residuals with the old fit of this forest added back and the
        new one subtracted, i.e. again the targets minus the fit of every forest (on the
        channels given rows, at those rows only).
    info
        Per-tree `SweepInfo`.
    """
    num_channels, basis_dim = state.trees.leaf_value.shape[-2:]
    dtype = state.trees.leaf_value.dtype
    noise_var = jnp.asarray(noise_var, dtype)
    leaf_prior_var = jnp.broadcast_to(
        jnp.asarray(leaf_prior_var, dtype).reshape(num_channels, -1), (num_channels, basis_dim)
    )
    _validate_shapes(
        state,
        data,
        residuals,
        basis,
        arm,
        arm_center,
        channel_weight,
        channel_rows,
        noise_var,
        leaf_prior_var,
    )
    prior = TreePrior(*(jnp.asarray(field) for field in prior))
    inputs = _prepare(key, state, data, prior)
    if basis is None:
        design, carry = _indicator_design(residuals, arm, channel_weight, channel_rows)
        if arm_center is not None:
            design = design._replace(center=jnp.asarray(arm_center, dtype))
    else:
        weighted_basis, weighted_outer = visitor_weights(basis, channel_weight, num_channels, dtype)
        design = _Dense(weighted_basis, weighted_outer, basis.astype(dtype))
        carry = residuals.T
    shared = _SharedInputs(data.bins, design, noise_var, leaf_prior_var, prior.min_leaf_count)
    # Materialise the parallel stage before the loop: otherwise XLA may fuse parts of it
    # into the sequential loop body and redo them for every tree.
    inputs, shared = jax.lax.optimization_barrier((inputs, shared))

    def step(carry: Any, tree_inputs: _TreeInputs):
        return _tree_step(carry, tree_inputs, shared)

    (carry, leaf_index), (leaf_value, accepted, log_ratio, node_count) = jax.lax.scan(
        step, (carry, state.leaf_index), inputs
    )
    if isinstance(design, _Dense):
        residuals = carry.T
    else:
        for c, (rows, r) in enumerate(zip(design.rows, carry, strict=True)):
            if rows is None:
                residuals = residuals.at[c].set(r)
            else:
                residuals = residuals.at[c, rows].set(r, mode="drop")
    proposals = inputs.proposal
    new_state = _finish(state, proposals, accepted, leaf_index, node_count, leaf_value)
    info = SweepInfo(
        proposed_grow=proposals.grow,
        allowed=proposals.allowed,
        accepted=accepted,
        log_accept_ratio=log_ratio,
    )
    return new_state, residuals, info


def _finish(
    state: ForestState,
    proposals: Proposal,
    accepted: jax.Array,
    leaf_index: jax.Array,
    node_count: jax.Array,
    leaf_value: jax.Array,
) -> ForestState:
    """Write accepted moves into the split arrays."""
    rows = jnp.arange(accepted.shape[0])
    node = proposals.node
    grew = accepted & proposals.grow
    pruned = accepted & ~proposals.grow
    split_var = state.trees.split_var.at[rows, node].set(
        jnp.where(grew, proposals.var, jnp.where(pruned, 0, state.trees.split_var[rows, node]))
    )
    split_bin = state.trees.split_bin.at[rows, node].set(
        jnp.where(grew, proposals.cut, jnp.where(pruned, 0, state.trees.split_bin[rows, node]))
    )
    trees = Trees(split_var=split_var, split_bin=split_bin, leaf_value=leaf_value)
    return ForestState(trees=trees, leaf_index=leaf_index, node_count=node_count)
