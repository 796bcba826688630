"""Thompson-sampling allocation weights per segment, with a floor.

Thompson sampling (Thompson 1933; Russo et al. 2018) serves each arm with the posterior
probability that it is the best arm. For a segment S and joint posterior draw ``d`` the
best arm is ``argmax_k mean_{i in S} reward[d, i, k]`` (see
:func:`pytyche.analysis.segments.arm_best_probabilities`).

The floor keeps every arm explored: weights are the probabilities raised to at least
``epsilon`` and renormalised *so that the floor still holds after renormalising*. This is a
"water-filling" solution: find the set F of floored arms such that
``w_k = epsilon`` for k in F and ``w_k = p_k (1 - |F| epsilon) / sum_{j not in F} p_j``
for the others, all of them ``>= epsilon``. F grows monotonically from the arms with the
smallest probabilities, so at most K passes are needed. Arms keep their order of
preference, and the weights sum to one exactly (up to rounding).

References
----------
Thompson, W. R. (1933). On the likelihood that one unknown probability exceeds another in
view of the evidence of two samples. Biometrika 25(3/4).
Russo, D., Van Roy, B., Kazerouni, A., Osband, I. & Wen, Z. (2018). A tutorial on Thompson
sampling. Foundations and Trends in Machine Learning 11(1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pytyche.analysis.segments import Segment

__all__ = ["DEFAULT_EPSILON", "floored_weights", "thompson_allocation", "thompson_weights"]

DEFAULT_EPSILON = 0.02
"""Default minimum weight of every arm in every segment."""


def floored_weights(probabilities: np.ndarray, epsilon: float = DEFAULT_EPSILON) -> np.ndarray:
    """Probabilities floored at ``epsilon`` and renormalised, the floor holding after.

    Parameters
    ----------
    probabilities : ndarray, shape (..., K)
        Non-negative weights per arm (e.g. P(arm is best)); each row must have a positive sum.
    epsilon : float
        Minimum weight per arm, ``0 <= epsilon <= 1 / K``.

    Returns
    -------
    ndarray, shape (..., K)
        Rows summing to one with every entry ``>= epsilon``.
    """
    p = np.asarray(probabilities, dtype=float)
    if p.ndim < 1 or p.shape[-1] < 1:
        raise ValueError(f"probabilities must have an arm axis, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative")
    n_arms = p.shape[-1]
    if not 0.0 <= epsilon <= 1.0 / n_arms:
        raise ValueError(f"epsilon must be in [0, 1/K] = [0, {1.0 / n_arms:.4g}], got {epsilon}")
    totals = p.sum(axis=-1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("every row of probabilities must have a positive sum")
    p = p / totals
    floored = np.zeros(p.shape, dtype=bool)
    for _ in range(n_arms + 1):  # each pass floors >= 1 arm or stops
        free_mass = np.where(floored, 0.0, p).sum(axis=-1, keepdims=True)
        budget = 1.0 - epsilon * floored.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(free_mass > 0, p * budget / free_mass, budget)
        newly = ~floored & (scaled < epsilon)
        if not newly.any():
            break
        floored |= newly
    free_count = (~floored).sum(axis=-1, keepdims=True)
    # A row with no free mass left (all floored or all-zero free arms) shares the rest evenly.
    even = np.where(free_count > 0, budget / np.maximum(free_count, 1), 0.0)
    weights = np.where(floored, epsilon, np.where(free_mass > 0, scaled, even))
    return weights / weights.sum(axis=-1, keepdims=True)


def thompson_weights(segment: Segment, *, epsilon: float = DEFAULT_EPSILON) -> Mapping[str, float]:
    """Thompson allocation of one segment: arm name -> weight.

    Parameters
    ----------
    segment : Segment
        A segment with ``arm_best_probabilities`` (P(arm is best) per arm, all arms).
    epsilon : float
        Minimum weight per arm (default 0.02).

    Returns
    -------
    dict
        Weights per arm name, summing to one, each at least ``epsilon``.
    """
    names = tuple(segment.arm_best_probabilities)
    probabilities = np.array([segment.arm_best_probabilities[name] for name in names])
    weights = floored_weights(probabilities, epsilon)
    return {name: float(w) for name, w in zip(names, weights, strict=True)}


def thompson_allocation(
    segments: Sequence[Segment], *, epsilon: float = DEFAULT_EPSILON
) -> dict[int, Mapping[str, float]]:
    """Thompson weights of every segment: segment id -> (arm name -> weight)."""
    return {segment.id: thompson_weights(segment, epsilon=epsilon) for segment in segments}
