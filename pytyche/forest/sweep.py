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

Performance layout (after bartz, Petrillo 2024): everything that does not depend on the
residuals — proposals, the "as if grown" leaf indices, counts, ``Σ w b bᵀ`` and the
residual-free parts of leaf posteriors, random draws — is computed for all trees at once;
only the residual sums, the accept step, the leaf draw and the residual update run in the
sequential ``lax.scan`` over trees.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pytyche.forest.leaves import (
    LeafPosteriorTerms,
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
    """``(S,)`` bool: leaves a grow move may pick (see module docstring)."""
    max_depth = int(np.log2(split_bin.shape[-1])) - 1
    depth = jnp.asarray(node_depths(max_depth))
    has_rule = jnp.any(high - low >= 1, axis=-1)
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
    low_at, high_at = low[node], high[node]
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


def count_equal(index: jax.Array, target: jax.Array) -> jax.Array:
    """``(trees,)`` int32 number of entries of ``index`` ``(trees, n)`` equal to ``target``.

    XLA's CPU row reductions of booleans are slow; summing 255-row blocks in uint8 (no
    overflow) and then the block sums in int32 is several times faster.
    """
    num_trees, n = index.shape
    block = 255
    width = -(-n // block)
    padded = jnp.pad(index, ((0, 0), (0, width * block - n)), constant_values=0)
    hits = (padded == target[:, None].astype(index.dtype)).astype(jnp.uint8)
    partial = jnp.sum(hits.reshape(num_trees, block, width), axis=1, dtype=jnp.uint8)
    return jnp.sum(partial, axis=1, dtype=jnp.int32)


class _TreeInputs(NamedTuple):
    """Per-tree inputs of the sequential stage (leading axis: trees)."""

    tree: jax.Array
    leaf_value: jax.Array
    weight_stats: jax.Array | None
    terms: LeafPosteriorTerms | None
    noise: jax.Array
    proposal: Proposal
    log_ratio_base: jax.Array
    log_uniform: jax.Array


class _SharedInputs(NamedTuple):
    """Inputs of the sequential stage shared by all trees."""

    leaf_index: jax.Array
    weighted_basis: jax.Array | None
    weighted_outer: jax.Array | None
    basis: jax.Array | None
    noise_var: jax.Array
    leaf_prior_var: jax.Array


def _fill_move_node(node_stats: jax.Array, node: jax.Array) -> jax.Array:
    """Set the move node's statistics to the sum of its two children's."""
    return node_stats.at[node].set(node_stats[2 * node] + node_stats[2 * node + 1])


def _leaf_statistics(
    residuals: jax.Array, inputs: _TreeInputs, shared: _SharedInputs, index: jax.Array
) -> tuple[jax.Array, jax.Array, LeafPosteriorTerms]:
    """Residual sums ``s`` ``(S, C, K)``, ``B`` and posterior terms of one tree's slots.

    With unit weights and scalar basis ``B`` (the counts) and the posterior terms come
    precomputed; otherwise ``B`` rides in the same scatter as the residual sums, which on CPU
    costs little more than scattering the residuals alone.
    """
    slots, num_channels, basis_dim = inputs.leaf_value.shape
    values = weighted_residuals(residuals, shared.weighted_basis)
    width = values.shape[1]
    if shared.weighted_outer is not None:
        values = jnp.concatenate([values, shared.weighted_outer], axis=1)
    sums = segment_sum(values, index, slots)
    residual_sums = sums[:, :width].reshape(slots, num_channels, basis_dim)
    if shared.weighted_outer is None:
        weight_stats, terms = inputs.weight_stats, inputs.terms
    else:
        weight_stats = sums[:, width:].reshape(slots, num_channels, basis_dim, basis_dim)
        weight_stats = _fill_move_node(weight_stats, inputs.proposal.node)
        terms = posterior_terms(inputs.noise, weight_stats, shared.noise_var, shared.leaf_prior_var)
    # Partial residuals add this tree's own fit back: s = Σ w b r + B μ_old.
    residual_sums = residual_sums + jnp.einsum("sckj,scj->sck", weight_stats, inputs.leaf_value)
    return _fill_move_node(residual_sums, inputs.proposal.node), weight_stats, terms


def _accept_and_draw(
    residuals: jax.Array, inputs: _TreeInputs, shared: _SharedInputs
) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    """Sequential step for one tree: residual sums, MH accept, leaf draw, residual update.

    ``residuals`` are carried visitor-major, ``(n, C)``.
    """
    slots = inputs.leaf_value.shape[0]
    proposal = inputs.proposal
    node = proposal.node
    # Sliced from the closed-over (trees, n) array rather than consumed as scan input,
    # which XLA would otherwise copy whole on every iteration.
    index = jax.lax.dynamic_index_in_dim(shared.leaf_index, inputs.tree, keepdims=False)
    sums, _, terms = _leaf_statistics(residuals, inputs, shared, index)

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

    delta = (inputs.leaf_value - new_value)[index]  # (n, C, K)
    if shared.basis is None:
        residuals = residuals + delta[:, :, 0]
    else:
        residuals = residuals + jnp.einsum("nck,nk->nc", delta, shared.basis)
    return residuals, (new_value, accepted, log_ratio)


def _validate_shapes(
    state: ForestState,
    data: BinnedCovariates,
    residuals: jax.Array,
    basis: jax.Array | None,
    channel_weight: jax.Array | None,
    noise_var: jax.Array,
    leaf_prior_var: jax.Array,
) -> None:
    num_channels, basis_dim = state.trees.leaf_value.shape[-2:]
    n = state.leaf_index.shape[-1]
    if residuals.shape != (num_channels, n):
        raise ValueError(f"residuals must have shape {(num_channels, n)}; got {residuals.shape}")
    if data.bins.ndim != 2 or data.bins.shape[1] != n:
        raise ValueError(f"data.bins must have shape (p, {n}); got {data.bins.shape}")
    if basis is None and basis_dim != 1:
        raise ValueError(f"basis is required for leaves of basis_dim {basis_dim}")
    if basis is not None and basis.shape != (n, basis_dim):
        raise ValueError(f"basis must have shape {(n, basis_dim)}; got {basis.shape}")
    if channel_weight is not None and channel_weight.shape != (num_channels, n):
        msg = f"channel_weight must have shape {(num_channels, n)}; got {channel_weight.shape}"
        raise ValueError(msg)
    if noise_var.shape != (num_channels,):
        raise ValueError(f"noise_var must have shape {(num_channels,)}; got {noise_var.shape}")
    if leaf_prior_var.shape != (num_channels, basis_dim):
        msg = f"leaf_prior_var must broadcast to {(num_channels, basis_dim)}"
        raise ValueError(msg)


def _prepare(
    key: jax.Array,
    state: ForestState,
    data: BinnedCovariates,
    noise_var: jax.Array,
    leaf_prior_var: jax.Array,
    prior: TreePrior,
    basis: jax.Array | None,
    channel_weight: jax.Array | None,
) -> tuple[_TreeInputs, _SharedInputs, jax.Array]:
    """Residual-independent work for all trees at once (see module docstring).

    Returns the per-tree scan inputs, the shared ones (with the "as if grown" leaf indices
    ``(trees, n)``) and the matching node counts ``(trees, S)``.
    """
    num_trees, slots, num_channels, basis_dim = state.trees.leaf_value.shape
    dtype = state.trees.leaf_value.dtype
    key_propose, key_leaves = jax.random.split(key)
    uniforms = jax.random.uniform(key_propose, (num_trees, 6), dtype)
    trees = state.trees

    proposals = jax.vmap(propose, in_axes=(0, 0, 0, 0, None, None))(
        uniforms[:, :5],
        trees.split_var,
        trees.split_bin,
        state.node_count,
        data.num_cuts,
        prior,
    )
    grown_index = jax.vmap(_apply_grow, in_axes=(0, 0, None))(
        proposals, state.leaf_index, data.bins
    )
    rows = jnp.arange(num_trees)
    child_slots = jnp.stack([2 * proposals.node, 2 * proposals.node + 1], axis=-1)
    # Slot 0 is never a node, so padding with 0 never counts (no-move trees are ignored).
    left = count_equal(grown_index, 2 * proposals.node)
    grow_counts = jnp.stack([left, state.node_count[rows, proposals.node] - left], axis=-1)
    current_counts = state.node_count[rows[:, None], child_slots]
    child_counts = jnp.where(proposals.grow[:, None], grow_counts, current_counts)
    enough = jnp.all(child_counts >= prior.min_leaf_count, axis=-1)
    proposals = proposals._replace(allowed=proposals.allowed & (enough | ~proposals.grow))
    log_ratio_base = proposals.log_prior_ratio + jax.vmap(
        log_transition_ratio, in_axes=(0, 0, None)
    )(proposals, child_counts, prior.min_leaf_count)

    # Counts of the "as if grown" trees: children of a grow move get their new counts.
    grown_count = state.node_count.at[rows[:, None], child_slots].set(child_counts)
    noise = jax.random.normal(key_leaves, (num_trees, slots, num_channels, basis_dim), dtype)
    shared = _SharedInputs(grown_index, None, None, basis, noise_var, leaf_prior_var)
    if basis is None and channel_weight is None:
        weight_stats = jnp.broadcast_to(
            grown_count.astype(dtype)[:, :, None, None, None],
            (num_trees, slots, num_channels, 1, 1),
        )
        weight_stats = jax.vmap(_fill_move_node)(weight_stats, proposals.node)
        terms = posterior_terms(noise, weight_stats, noise_var, leaf_prior_var)
    else:
        weight_stats, terms = None, None
        weighted_basis, weighted_outer = visitor_weights(basis, channel_weight, num_channels, dtype)
        shared = shared._replace(weighted_basis=weighted_basis, weighted_outer=weighted_outer)

    # Before a grow, the children slots inherit the leaf value of the node they split.
    old_value = trees.leaf_value
    in_children = (jnp.arange(slots) >> 1)[None, :] == proposals.node[:, None]
    inherit = proposals.grow[:, None] & in_children
    old_value = jnp.where(
        inherit[:, :, None, None], old_value[rows, proposals.node][:, None], old_value
    )
    inputs = _TreeInputs(
        tree=rows,
        leaf_value=old_value,
        weight_stats=weight_stats,
        terms=terms,
        noise=noise,
        proposal=proposals,
        log_ratio_base=log_ratio_base,
        log_uniform=jnp.log(uniforms[:, 5]),
    )
    return inputs, shared, grown_count


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
    channel_weight: jax.Array | None = None,
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
        ``(n, K)`` leaf basis (e.g. one-hot of the active arm, zeros for control), or None
        for the scalar basis 1 (then ``K = 1``).
    channel_weight
        ``(C, n)`` non-negative observation weights, 0 masks a visitor out of a channel
        (e.g. the severity channel for non-converters); None means 1 everywhere.

    Returns
    -------
    state
        The updated forest.
    residuals
        ``(C, n)`` the input residuals with the old fit of this forest added back and the
        new one subtracted, i.e. again the targets minus the fit of every forest.
    info
        Per-tree `SweepInfo`.
    """
    num_channels, basis_dim = state.trees.leaf_value.shape[-2:]
    dtype = state.trees.leaf_value.dtype
    noise_var = jnp.asarray(noise_var, dtype)
    leaf_prior_var = jnp.broadcast_to(
        jnp.asarray(leaf_prior_var, dtype).reshape(num_channels, -1), (num_channels, basis_dim)
    )
    _validate_shapes(state, data, residuals, basis, channel_weight, noise_var, leaf_prior_var)
    prior = TreePrior(*(jnp.asarray(field) for field in prior))
    inputs, shared, grown_count = _prepare(
        key, state, data, noise_var, leaf_prior_var, prior, basis, channel_weight
    )
    # Materialise the parallel stage before the loop: otherwise XLA may fuse parts of it
    # into the sequential loop body and redo them for every tree.
    inputs, shared = jax.lax.optimization_barrier((inputs, shared))
    proposals = inputs.proposal

    def step(carry: jax.Array, tree_inputs: _TreeInputs):
        return _accept_and_draw(carry, tree_inputs, shared)

    residuals_by_visitor, (leaf_value, accepted, log_ratio) = jax.lax.scan(
        step, residuals.T, inputs
    )
    residuals = residuals_by_visitor.T
    grown_index = shared.leaf_index
    new_state = _finish(state, proposals, accepted, grown_index, grown_count, leaf_value)
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
    grown_index: jax.Array,
    grown_count: jax.Array,
    leaf_value: jax.Array,
) -> ForestState:
    """Write accepted moves into the split arrays and prune the leaf indices where needed."""
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
    to_prune = accepted ^ proposals.grow
    node_index = node.astype(grown_index.dtype)[:, None]
    leaf_index = jnp.where(
        to_prune[:, None] & ((grown_index >> 1) == node_index), node_index, grown_index
    )
    slots = grown_count.shape[1]
    stale = to_prune[:, None] & ((jnp.arange(slots) >> 1)[None, :] == node[:, None])
    node_count = jnp.where(stale, 0, grown_count)
    trees = Trees(split_var=split_var, split_bin=split_bin, leaf_value=leaf_value)
    return ForestState(trees=trees, leaf_index=leaf_index, node_count=node_count)
