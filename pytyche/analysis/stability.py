"""Bootstrap replicability of policy-tree segments (the segment ``stability_score``).

A segment found by a tree search may be an artefact of this sample and this posterior
(Garden 1 of Gelman & Loken's forking paths). Its stability score is the share of
bootstrap refits that find it again:

1. **Resample** (Efron 1979) both sources of variation, jointly: visitors with
   replacement (multinomial counts, used as visitor weights, so no rows are copied) and
   posterior draws with replacement (the bootstrap posterior mean is a count-weighted
   average of the draws, one matrix-vector product).
2. **Refit** the policy tree with the same settings and the same covariate bins on the
   bootstrap reward table.
3. **Match**: route every original visitor through the refitted tree. An original
   segment S is *found again* when some refitted leaf L recommends the **same arm** and
   overlaps it with Jaccard index ``|S and L| / |S or L| >= 0.5`` over the original
   visitors.

``stability_score(S)`` is the fraction of the ``n_bootstrap`` refits (default 50) that find
S again, in [0, 1]; segments with a score ``>= 0.80`` are called credible. Requiring the
same arm keeps a large leaf from counting as found again merely because it overlaps a
large refitted leaf that recommends something else.

References
----------
Efron, B. (1979). Bootstrap methods: another look at the jackknife. Ann. Statist. 7(1).
Gelman, A. & Loken, E. (2013). The garden of forking paths. Columbia University.
"""

from __future__ import annotations

import numpy as np

from pytyche.analysis.policy_tree import PolicyTree, fit_policy_tree_encoded

__all__ = ["CREDIBLE_STABILITY", "DEFAULT_JACCARD_THRESHOLD", "jaccard_matrix", "segment_stability"]

CREDIBLE_STABILITY = 0.80
"""Stability score at and above which a segment is called credible."""

DEFAULT_JACCARD_THRESHOLD = 0.5
"""Minimum Jaccard overlap for a refitted leaf to count as the same segment."""


def jaccard_matrix(
    leaves_a: np.ndarray, n_leaves_a: int, leaves_b: np.ndarray, n_leaves_b: int
) -> np.ndarray:
    """Jaccard overlap of every leaf of partition a with every leaf of partition b.

    Parameters
    ----------
    leaves_a, leaves_b : ndarray of int, shape (n,)
        Leaf id of each visitor under the two partitions.
    n_leaves_a, n_leaves_b : int
        Number of leaves of each partition.

    Returns
    -------
    ndarray, shape (n_leaves_a, n_leaves_b)
    """
    joint = np.bincount(leaves_a * n_leaves_b + leaves_b, minlength=n_leaves_a * n_leaves_b)
    intersection = joint.reshape(n_leaves_a, n_leaves_b).astype(float)
    union = intersection.sum(axis=1, keepdims=True) + intersection.sum(axis=0) - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def segment_stability(
    tree: PolicyTree,
    reward_draws: np.ndarray,
    *,
    n_bootstrap: int = 50,
    jaccard_threshold: float = DEFAULT_JACCARD_THRESHOLD,
    seed: int = 0,
) -> np.ndarray:
    """Stability score of every leaf of ``tree`` (see the module docstring).

    Parameters
    ----------
    tree : PolicyTree
        The tree fitted on the posterior mean of ``reward_draws`` (unit visitor weights).
    reward_draws : ndarray, shape (n_draws, n_visitors, K)
        Joint posterior draws of each visitor's metric under each arm.
    n_bootstrap : int
        Number of bootstrap refits (>= 1).
    jaccard_threshold : float
        Minimum Jaccard overlap, in (0, 1].
    seed : int
        Seed of the resampling.

    Returns
    -------
    ndarray, shape (n_leaves,)
        Fraction of refits that find each leaf again.
    """
    if not isinstance(n_bootstrap, int) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be an int >= 1, got {n_bootstrap}")
    if not 0.0 < jaccard_threshold <= 1.0:
        raise ValueError(f"jaccard_threshold must be in (0, 1], got {jaccard_threshold}")
    n_draws, n_visitors, n_arms = reward_draws.shape
    codes = tree.encoding.codes
    original = tree.route_codes(codes)
    original_arms = np.asarray(tree.leaf_arms)
    flat_draws = reward_draws.reshape(n_draws, n_visitors * n_arms)
    rng = np.random.default_rng(seed)
    found = np.zeros(tree.n_leaves)
    for _ in range(n_bootstrap):
        draw_weights = rng.multinomial(n_draws, np.full(n_draws, 1.0 / n_draws)) / n_draws
        reward_mean = (draw_weights.astype(flat_draws.dtype) @ flat_draws).reshape(
            n_visitors, n_arms
        )
        visitor_weights = rng.multinomial(n_visitors, np.full(n_visitors, 1.0 / n_visitors))
        refit = fit_policy_tree_encoded(
            tree.encoding,
            reward_mean,
            tree.arm_names,
            tree.config,
            weights=visitor_weights.astype(float),
        )
        overlap = jaccard_matrix(original, tree.n_leaves, refit.route_codes(codes), refit.n_leaves)
        same_arm = original_arms[:, None] == np.asarray(refit.leaf_arms)[None, :]
        found += np.any((overlap >= jaccard_threshold) & same_arm, axis=1)
    return found / n_bootstrap
