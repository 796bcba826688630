"""Comparison of a round's recommendations with simulation truth (rehearsals only).

This is the one analysis module allowed to unseal a :class:`pytyche.contracts.Truth`, and
every number it returns is labelled :attr:`ClaimLevel.SIMULATION_TRUTH`.

The yardstick is what an estimator could know. With ``v[i, k] = E[metric | X = x_i, arm k]``
the **covariate-conditional** truth (for latent-cluster scenarios the cluster effects
averaged with the exact ``P(c | x)``; see :mod:`pytyche.generators.core`) and ``a_i`` the
recommended arm:

* ``rpv_policy`` = ``mean_i v[i, a_i]``;
* ``rpv_oracle`` = ``mean_i max_k v[i, k]``: the **covariate oracle**, the best any policy
  of the covariates can do;
* ``rpv_best_arm`` = ``max_k mean_i v[i, k]``: shipping the single best arm to everyone
  (``best_arm`` names it); ``rpv_uniform`` = ``mean_i mean_k v[i, k]``;
* ``personalization_captured`` = ``(rpv_policy − rpv_best_arm) / (rpv_oracle −
  rpv_best_arm)``: the **share of the personalisation value captured** (1 = the covariate
  oracle, 0 = no better than one arm for everyone, negative = worse; None when no policy
  beats the best single arm, e.g. a homogeneous effect);
* ``policy_accuracy`` = share of visitors whose recommended arm is covariate-oracle optimal
  (``v[i, a_i] >= max_k v[i, k]`` up to rounding, so ties count as optimal);
  ``oracle_gap`` = ``rpv_oracle − rpv_policy``;
* ``cate_rmse`` = root mean square error of the CATE estimates against ``v[:, k] − v[:, 0]``,
  pooled over visitors and treatments (n x (K-1));
* ``gate_coverage`` = share of segment GATE intervals (segments x treatments) that contain
  the segment's true GATE ``mean_{i in S} (v[i, k] − v[i, 0])``.

Diagnosis only, from the latent-cluster-conditional values ``E[metric | x_i, c_i]`` that no
covariate-based estimator can identify: ``rpv_latent_oracle`` (the **latent oracle**) and
``latent_policy_accuracy``. Their distance from the covariate oracle is value nothing can
close; for scenarios without latent clusters the two oracles are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pytyche.analysis.segments import Segmentation, validate_reward_draws
from pytyche.contracts import ClaimLevel, Truth, TruthData, reveal_truth

__all__ = ["TruthComparison", "compare_segmentation_to_truth", "compare_to_truth"]


@dataclass(frozen=True)
class TruthComparison:
    """How a round's recommendations fare against simulation truth.

    All values are covariate-conditional unless named ``latent`` (see the module docstring).

    Attributes
    ----------
    policy_accuracy : float
        Share of visitors whose recommended arm is optimal for the covariate oracle.
    rpv_policy : float
        True mean metric per visitor under the recommended policy.
    rpv_oracle : float
        True mean metric per visitor under the covariate oracle ``argmax_k E[Y(k) | x]``.
    rpv_best_arm : float
        True mean metric per visitor when the single best arm is shipped to everyone.
    best_arm : str
        That arm.
    rpv_uniform : float
        True mean metric per visitor under uniform allocation.
    oracle_gap : float
        ``rpv_oracle - rpv_policy`` (>= 0), the gap to the covariate oracle.
    personalization_captured : float or None
        ``(rpv_policy - rpv_best_arm) / (rpv_oracle - rpv_best_arm)``: share of the
        personalisation value captured; None when the covariate oracle is no better than
        the best single arm.
    rpv_latent_oracle : float
        Diagnosis: mean metric under the latent oracle, which knows each visitor's latent
        cluster (equals ``rpv_oracle`` without latent clusters).
    latent_policy_accuracy : float
        Diagnosis: share of visitors whose recommended arm is latent-oracle optimal.
    cate_rmse : float
        Pooled CATE root mean square error (metric units).
    gate_coverage : float or None
        Share of segment GATE intervals covering the true GATE (None without intervals).
    n_gate_intervals : int
        Number of intervals behind ``gate_coverage``.
    metric : str
        The metric the truth is expressed in.
    claim_level : ClaimLevel
        Always ``SIMULATION_TRUTH``.
    """

    policy_accuracy: float
    rpv_policy: float
    rpv_oracle: float
    rpv_best_arm: float
    best_arm: str
    rpv_uniform: float
    oracle_gap: float
    personalization_captured: float | None
    rpv_latent_oracle: float
    latent_policy_accuracy: float
    cate_rmse: float
    gate_coverage: float | None
    n_gate_intervals: int
    metric: str
    claim_level: ClaimLevel = ClaimLevel.SIMULATION_TRUTH

    def describe(self) -> str:
        """One line for summaries: value captured, the oracles, accuracy, coverage."""
        captured = (
            "n/a (no personalisation value: one arm is best for everyone)"
            if self.personalization_captured is None
            else f"{self.personalization_captured:.0%}"
        )
        coverage = "n/a" if self.gate_coverage is None else f"{self.gate_coverage:.2f}"
        return (
            f"personalisation value captured {captured}; {self.metric} per visitor: policy "
            f"{self.rpv_policy:.4f}, covariate oracle {self.rpv_oracle:.4f}, best single arm "
            f"({self.best_arm}) {self.rpv_best_arm:.4f}, uniform {self.rpv_uniform:.4f}, "
            f"latent oracle {self.rpv_latent_oracle:.4f} (not attainable from covariates); "
            f"policy accuracy vs covariate oracle {self.policy_accuracy:.3f}; CATE RMSE "
            f"{self.cate_rmse:.4f}; GATE interval coverage {coverage} "
            f"({self.claim_level.value})"
        )


def compare_to_truth(
    truth: Truth,
    *,
    arm_names: Sequence[str],
    recommended_arm: np.ndarray,
    cate_estimate: np.ndarray,
    segment_index: np.ndarray | None = None,
    gate_intervals: np.ndarray | None = None,
    visitor_id: np.ndarray | None = None,
) -> TruthComparison:
    """Score recommendations and estimates against simulation truth.

    Parameters
    ----------
    truth : Truth
        Sealed simulation truth of the visitors.
    arm_names : sequence of str
        K arm names, control first; must equal the truth's arms.
    recommended_arm : ndarray of int, shape (n,)
        Recommended arm index per visitor.
    cate_estimate : ndarray, shape (n, K - 1)
        Estimated effect of each treatment vs control per visitor.
    segment_index : ndarray of int, shape (n,), optional
        Segment of each visitor (needed with ``gate_intervals``).
    gate_intervals : ndarray, shape (n_segments, K - 1, 2), optional
        (lower, upper) GATE interval per segment and treatment.
    visitor_id : ndarray, shape (n,), optional
        Visitor ids of the rows; the truth is aligned to them. Without it, rows must be
        in the truth's order.

    Returns
    -------
    TruthComparison
    """
    data = _aligned_truth(truth, visitor_id)
    arm_names = tuple(arm_names)
    if arm_names != tuple(data.arms):
        raise ValueError(f"arm_names {arm_names} differ from the truth's arms {data.arms}")
    n, n_arms = data.rpv.shape
    recommended = np.asarray(recommended_arm)
    if recommended.shape != (n,) or np.any((recommended < 0) | (recommended >= n_arms)):
        raise ValueError(f"recommended_arm must be ({n},) arm indices in [0, {n_arms})")
    cate = np.asarray(cate_estimate, dtype=float)
    if cate.shape != (n, n_arms - 1):
        raise ValueError(f"cate_estimate must have shape ({n}, {n_arms - 1}), got {cate.shape}")
    rpv = np.asarray(data.rpv, dtype=float)
    latent = np.asarray(data.latent_values, dtype=float)
    policy, oracle, accuracy = _policy_value(rpv, recommended)
    _, latent_oracle, latent_accuracy = _policy_value(latent, recommended)
    arm_means = rpv.mean(axis=0)
    best = int(np.argmax(arm_means))
    coverage, n_intervals = _gate_coverage(data, segment_index, gate_intervals)
    return TruthComparison(
        policy_accuracy=accuracy,
        rpv_policy=policy,
        rpv_oracle=oracle,
        rpv_best_arm=float(arm_means[best]),
        best_arm=arm_names[best],
        rpv_uniform=float(rpv.mean()),
        oracle_gap=oracle - policy,
        personalization_captured=_share_captured(policy, oracle, float(arm_means[best])),
        rpv_latent_oracle=latent_oracle,
        latent_policy_accuracy=latent_accuracy,
        cate_rmse=float(np.sqrt(np.mean((cate - data.cate) ** 2))),
        gate_coverage=coverage,
        n_gate_intervals=n_intervals,
        metric=str(data.metric),
    )


def _policy_value(values: np.ndarray, recommended: np.ndarray) -> tuple[float, float, float]:
    """(policy value, oracle value, share of visitors served an oracle-optimal arm)."""
    chosen = values[np.arange(len(recommended)), recommended]
    best = values.max(axis=1)
    tolerance = 1e-12 * np.maximum(np.abs(best), 1.0)
    return float(chosen.mean()), float(best.mean()), float(np.mean(chosen >= best - tolerance))


def _share_captured(policy: float, oracle: float, best_arm: float) -> float | None:
    """``(policy − best arm) / (oracle − best arm)``; None when the denominator is ~0."""
    room = oracle - best_arm
    if room <= 1e-9 * max(abs(oracle), 1.0):
        return None
    return (policy - best_arm) / room


def compare_segmentation_to_truth(
    truth: Truth,
    segmentation: Segmentation,
    reward_draws: np.ndarray,
    *,
    visitor_id: np.ndarray | None = None,
) -> TruthComparison:
    """:func:`compare_to_truth` for a fitted segmentation and its reward draws.

    The recommended arm is the tree's leaf arm, the CATE estimate the posterior mean of
    ``reward[:, :, k] - reward[:, :, 0]``, the intervals the segments' ``gate_ci``.
    """
    draws = validate_reward_draws(reward_draws, segmentation.arm_names)
    reward_mean = draws.mean(axis=0)
    treatments = segmentation.arm_names[1:]
    intervals = np.array(
        [[segment.gate_ci[name] for name in treatments] for segment in segmentation.segments]
    )
    return compare_to_truth(
        truth,
        arm_names=segmentation.arm_names,
        recommended_arm=np.asarray(segmentation.tree.leaf_arms)[segmentation.leaf_index],
        cate_estimate=reward_mean[:, 1:] - reward_mean[:, :1],
        segment_index=segmentation.leaf_index,
        gate_intervals=intervals,
        visitor_id=visitor_id,
    )


def _aligned_truth(truth: Truth, visitor_id: np.ndarray | None) -> TruthData:
    if not isinstance(truth, Truth):
        raise TypeError(f"truth must be a pytyche.contracts.Truth, got {type(truth).__name__}")
    data = reveal_truth(truth)
    if visitor_id is None:
        return data
    ids = np.asarray(visitor_id)
    positions = pd.Index(data.visitor_id).get_indexer(ids)
    if np.any(positions < 0):
        missing = ids[positions < 0][:5].tolist()
        raise ValueError(f"visitor_id has ids absent from the truth, e.g. {missing}")
    return data.take(positions)


def _gate_coverage(
    data: TruthData, segment_index: np.ndarray | None, gate_intervals: np.ndarray | None
) -> tuple[float | None, int]:
    if gate_intervals is None:
        return None, 0
    if segment_index is None:
        raise ValueError("gate_intervals needs segment_index (the segment of each visitor)")
    intervals = np.asarray(gate_intervals, dtype=float)
    n_treatments = data.rpv.shape[1] - 1
    if intervals.ndim != 3 or intervals.shape[1:] != (n_treatments, 2):
        raise ValueError(
            f"gate_intervals must have shape (n_segments, {n_treatments}, 2), got {intervals.shape}"
        )
    index = np.asarray(segment_index)
    n_segments = intervals.shape[0]
    if index.shape != (len(data.visitor_id),) or index.min() < 0 or index.max() >= n_segments:
        raise ValueError(
            f"segment_index must be ({len(data.visitor_id)},) ids in [0, {n_segments})"
        )
    counts = np.bincount(index, minlength=n_segments)
    true_gate = np.stack(
        [
            np.bincount(index, weights=data.cate[:, k], minlength=n_segments)
            for k in range(n_treatments)
        ],
        axis=1,
    )
    present = counts > 0
    true_gate = true_gate[present] / counts[present, None]
    inside = (intervals[present, :, 0] <= true_gate) & (true_gate <= intervals[present, :, 1])
    return float(inside.mean()), int(inside.size)
