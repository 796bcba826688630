"""Responder segments: policy-tree leaves with their posterior evidence.

:func:`fit_segments` fits the policy tree on the posterior-mean reward table and
describes each leaf as a :class:`Segment`. Per segment S, arm k and joint draw d:

* segment-mean reward ``m[d, S, k] = mean_{i in S} reward[d, i, k]``
  (:func:`segment_mean_draws`, computed draw by draw, never copying the draws);
* GATE draw ``m[d, S, k] - m[d, S, 0]`` (the segment average of the CATE);
  ``gate_estimate`` is its posterior mean and ``gate_ci`` its central interval at
  ``ci_level`` (80 % by default; equal-tailed posterior quantiles labelled
  :attr:`ClaimLevel.POSTERIOR`, or the interval of an attached calibrator labelled
  with the calibrator's claim level);
* ``arm_best_probabilities[k] = P_d(argmax_j m[d, S, j] = k)``;
* ``stability_score`` and ``credible`` from :mod:`pytyche.analysis.stability`.

Each segment's printed rule is checked to select exactly the leaf's visitors of the
fitting frame (``RuntimeError`` otherwise), so a rule can be quoted as the segment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from pytyche.analysis.decision import (
    DecisionThresholds,
    RecommendationSummary,
    recommendation_summary,
)
from pytyche.analysis.policy_tree import PolicyTree, PolicyTreeConfig, fit_policy_tree
from pytyche.analysis.rules import SegmentRule
from pytyche.analysis.stability import CREDIBLE_STABILITY, segment_stability
from pytyche.contracts import ClaimLevel, ensure_not_truth

__all__ = [
    "GateIntervalCalibrator",
    "Segment",
    "Segmentation",
    "arm_best_probabilities",
    "fit_segments",
    "segment_mean_draws",
    "segment_recommendations",
    "validate_reward_draws",
]


@runtime_checkable
class GateIntervalCalibrator(Protocol):
    """What a calibration artifact offers to recalibrate segment GATE intervals."""

    @property
    def claim_level(self) -> ClaimLevel:
        """Label of the intervals it returns (normally ``ClaimLevel.CALIBRATED``)."""
        ...

    def interval(
        self, gate_draws: np.ndarray, level: float, n_visitors: int
    ) -> tuple[float, float]:
        """Interval at nominal ``level`` from GATE draws (n_draws,) at scale ``n_visitors``."""
        ...


@dataclass(frozen=True)
class Segment:
    """One policy-tree leaf with its decision evidence.

    Attributes
    ----------
    id : int
        Leaf id (position in :attr:`Segmentation.segments`).
    rule : SegmentRule
        Readable membership rule (``str(rule)``, e.g. ``visits_30d < 4 and device in {mobile}``).
    share : float
        Share of the fitting visitors in the segment.
    count : int
        Number of fitting visitors in the segment.
    recommended_arm : str
        Arm the tree serves in the segment.
    gate_estimate : Mapping[str, float]
        Posterior mean GATE of each treatment vs control (outcome units).
    gate_ci : Mapping[str, tuple[float, float]]
        Interval of each treatment's GATE at ``ci_level``.
    ci_level : float
        Nominal level of ``gate_ci``.
    claim_level : ClaimLevel
        What backs ``gate_ci`` (uncalibrated or calibrated posterior).
    arm_best_probabilities : Mapping[str, float]
        P(arm has the highest segment-mean reward), every arm, control included.
    stability_score : float or None
        Bootstrap replicability in [0, 1]; None when no bootstrap was run.
    credible : bool
        ``stability_score >= 0.80``.
    """

    id: int
    rule: SegmentRule
    share: float
    count: int
    recommended_arm: str
    gate_estimate: Mapping[str, float]
    gate_ci: Mapping[str, tuple[float, float]]
    ci_level: float
    claim_level: ClaimLevel
    arm_best_probabilities: Mapping[str, float]
    stability_score: float | None
    credible: bool


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Result of :func:`fit_segments`.

    Attributes
    ----------
    tree : PolicyTree
        The fitted policy tree (route new visitors with ``tree.route(frame)``).
    segments : tuple of Segment
        One per leaf, by leaf id.
    leaf_index : ndarray of int, shape (n_visitors,)
        Segment id of each fitting visitor.
    """

    tree: PolicyTree
    segments: tuple[Segment, ...]
    leaf_index: np.ndarray

    @property
    def arm_names(self) -> tuple[str, ...]:
        """Arm names, control first."""
        return self.tree.arm_names

    def to_frame(self) -> pd.DataFrame:
        """One row per segment: rule, share, arm, GATEs with intervals, P(best), stability."""
        rows = []
        for segment in self.segments:
            row: dict[str, object] = {
                "segment": segment.id,
                "rule": str(segment.rule),
                "share": segment.share,
                "count": segment.count,
                "recommended_arm": segment.recommended_arm,
            }
            for name in self.arm_names[1:]:
                low, high = segment.gate_ci[name]
                row[f"gate_{name}"] = segment.gate_estimate[name]
                row[f"gate_{name}_low"] = low
                row[f"gate_{name}_high"] = high
            for name, probability in segment.arm_best_probabilities.items():
                row[f"p_best_{name}"] = probability
            row["stability_score"] = segment.stability_score
            row["credible"] = segment.credible
            row["claim_level"] = segment.claim_level.value
            rows.append(row)
        return pd.DataFrame(rows).set_index("segment")


def validate_reward_draws(reward_draws: np.ndarray, arm_names: Sequence[str]) -> np.ndarray:
    """Check a (n_draws, n_visitors, K) reward-draw array; returns it as a float array."""
    ensure_not_truth(reward_draws, "reward_draws")
    draws = np.asarray(reward_draws)
    if draws.dtype.kind not in "fiu":
        raise TypeError(f"reward_draws must be a numeric array, got dtype {draws.dtype}")
    if draws.ndim != 3:
        raise ValueError(
            f"reward_draws must have shape (n_draws, n_visitors, K), got {draws.shape}"
        )
    if draws.shape[2] != len(arm_names) or len(arm_names) < 2:
        raise ValueError(
            f"reward_draws has {draws.shape[2]} arms on its last axis but arm_names has "
            f"{len(arm_names)} ({tuple(arm_names)}); expected K >= 2 matching names"
        )
    if draws.shape[0] < 2 or draws.shape[1] < 1:
        raise ValueError(f"reward_draws needs >= 2 draws and >= 1 visitor, got {draws.shape}")
    return draws if draws.dtype.kind == "f" else draws.astype(float)


def segment_mean_draws(
    reward_draws: np.ndarray, leaf_index: np.ndarray, n_segments: int
) -> np.ndarray:
    """Segment-mean reward per joint draw.

    Parameters
    ----------
    reward_draws : ndarray, shape (n_draws, n_visitors, K)
        Metric of each visitor under each arm per joint posterior draw.
    leaf_index : ndarray of int, shape (n_visitors,)
        Segment id of each visitor, in ``[0, n_segments)``.
    n_segments : int
        Number of segments.

    Returns
    -------
    ndarray, shape (n_draws, n_segments, K)
        ``mean_{i in S} reward[d, i, k]``; NaN for an empty segment.
    """
    n_draws, n_visitors, n_arms = reward_draws.shape
    leaf_index = np.asarray(leaf_index)
    if leaf_index.shape != (n_visitors,):
        raise ValueError(f"leaf_index must have shape ({n_visitors},), got {leaf_index.shape}")
    indicator = np.zeros((n_visitors, n_segments))
    indicator[np.arange(n_visitors), leaf_index] = 1.0
    counts = indicator.sum(axis=0)
    out = np.empty((n_draws, n_segments, n_arms))
    for d in range(n_draws):  # per-draw reduction: memory O(n K), not O(draws n K)
        out[d] = indicator.T @ reward_draws[d]
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= counts[None, :, None]
    return out


def arm_best_probabilities(segment_draws: np.ndarray) -> np.ndarray:
    """P(arm has the highest segment-mean reward) from (n_draws, S, K) draws -> (S, K)."""
    n_arms = segment_draws.shape[-1]
    best = np.argmax(segment_draws, axis=-1)
    return (best[..., None] == np.arange(n_arms)).mean(axis=0)


def fit_segments(
    covariates: pd.DataFrame,
    reward_draws: np.ndarray,
    arm_names: Sequence[str],
    *,
    config: PolicyTreeConfig | None = None,
    categorical: Sequence[str] = (),
    ci_level: float = 0.8,
    n_bootstrap: int = 50,
    seed: int = 0,
    calibrator: GateIntervalCalibrator | None = None,
) -> Segmentation:
    """Policy-tree segments with GATEs, arm-best probabilities and stability.

    Parameters
    ----------
    covariates : pandas.DataFrame
        One row per visitor, aligned with axis 1 of ``reward_draws``.
    reward_draws : ndarray, shape (n_draws, n_visitors, K)
        Joint posterior draws of each visitor's metric under each arm (arm 0 = control).
    arm_names : sequence of str
        K arm names, control first.
    config : PolicyTreeConfig, optional
        Tree settings (default depth 3, minimum segment share 0.1).
    categorical : sequence of str
        Extra columns to treat as categorical.
    ci_level : float
        Nominal level of ``gate_ci`` (default 0.8).
    n_bootstrap : int
        Bootstrap refits for the stability score (0: skip, scores None).
    seed : int
        Seed of the bootstrap.
    calibrator : GateIntervalCalibrator, optional
        Calibration artifact for the GATE intervals.

    Returns
    -------
    Segmentation
    """
    arm_names = tuple(arm_names)
    draws = validate_reward_draws(reward_draws, arm_names)
    if not isinstance(covariates, pd.DataFrame):
        raise TypeError(f"covariates must be a pandas DataFrame, got {type(covariates).__name__}")
    if len(covariates) != draws.shape[1]:
        raise ValueError(
            f"covariates must have one row per visitor of reward_draws ({draws.shape[1]}), "
            f"got {len(covariates)} rows"
        )
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level}")
    if not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be an int >= 0, got {n_bootstrap}")
    reward_mean = draws.mean(axis=0)
    if not np.all(np.isfinite(reward_mean)):
        raise ValueError("reward_draws has NaN or infinite values")
    tree = fit_policy_tree(
        covariates, reward_mean, arm_names, config=config, categorical=categorical
    )
    leaf_index = tree.route_codes(tree.encoding.codes)
    _verify_rules(tree, covariates, leaf_index)
    stability = (
        segment_stability(tree, draws, n_bootstrap=n_bootstrap, seed=seed)
        if n_bootstrap > 0
        else None
    )
    means = segment_mean_draws(draws, leaf_index, tree.n_leaves)
    best = arm_best_probabilities(means)
    counts = np.bincount(leaf_index, minlength=tree.n_leaves)
    segments = tuple(
        _describe_leaf(
            tree,
            leaf,
            means[:, leaf, :],
            best[leaf],
            int(counts[leaf]),
            None if stability is None else float(stability[leaf]),
            ci_level,
            calibrator,
        )
        for leaf in range(tree.n_leaves)
    )
    return Segmentation(tree=tree, segments=segments, leaf_index=leaf_index)


def segment_recommendations(
    segmentation: Segmentation,
    reward_draws: np.ndarray,
    *,
    min_practical_effect: float = 0.02,
    thresholds: DecisionThresholds | None = None,
    information_ratio: float = 1.0,
    seed: int = 0,
    units: str = "relative",
) -> tuple[RecommendationSummary, ...]:
    """Decision evidence for every (treatment, segment) pair, segment-major order.

    ``reward_draws`` must be the array the segmentation was fitted on (same visitors).
    With ``units="relative"`` (default) ``min_practical_effect`` and the thresholds'
    ``expected_loss_max`` are fractions of the control's posterior mean in each segment
    (0.02: a 2% lift); ``units="absolute"`` reads them in outcome units
    (:mod:`pytyche.analysis.decision`).
    """
    draws = validate_reward_draws(reward_draws, segmentation.arm_names)
    n_segments = len(segmentation.segments)
    means = segment_mean_draws(draws, segmentation.leaf_index, n_segments)
    summaries = []
    for segment in segmentation.segments:
        for k, treatment in enumerate(segmentation.arm_names[1:], start=1):
            gate = means[:, segment.id, k] - means[:, segment.id, 0]
            summaries.append(
                recommendation_summary(
                    gate,
                    treatment=treatment,
                    segment_id=segment.id,
                    min_practical_effect=min_practical_effect,
                    thresholds=thresholds,
                    information_ratio=information_ratio,
                    seed=seed,
                    baseline=float(means[:, segment.id, 0].mean()),
                    units=units,
                )
            )
    return tuple(summaries)


def _verify_rules(tree: PolicyTree, covariates: pd.DataFrame, leaf_index: np.ndarray) -> None:
    """Every printed rule must select exactly its leaf's visitors (a cheap invariant check)."""
    for leaf, rule in enumerate(tree.rules):
        if not np.array_equal(rule.mask(covariates), leaf_index == leaf):
            raise RuntimeError(f"segment rule {str(rule)!r} does not reproduce leaf {leaf}")


def _describe_leaf(
    tree: PolicyTree,
    leaf: int,
    means: np.ndarray,
    best: np.ndarray,
    count: int,
    stability: float | None,
    ci_level: float,
    calibrator: GateIntervalCalibrator | None,
) -> Segment:
    names = tree.arm_names
    tail = (1.0 - ci_level) / 2.0
    estimates, intervals = {}, {}
    for k, name in enumerate(names[1:], start=1):
        gate = means[:, k] - means[:, 0]
        estimates[name] = float(gate.mean())
        if calibrator is None:
            low, high = np.quantile(gate, [tail, 1.0 - tail])
        else:
            low, high = calibrator.interval(gate, ci_level, count)
        intervals[name] = (float(low), float(high))
    return Segment(
        id=leaf,
        rule=tree.rules[leaf],
        share=count / tree.encoding.codes.shape[0],
        count=count,
        recommended_arm=names[tree.leaf_arms[leaf]],
        gate_estimate=estimates,
        gate_ci=intervals,
        ci_level=ci_level,
        claim_level=ClaimLevel.POSTERIOR if calibrator is None else calibrator.claim_level,
        arm_best_probabilities={name: float(p) for name, p in zip(names, best, strict=True)},
        stability_score=stability,
        credible=stability is not None and stability >= CREDIBLE_STABILITY,
    )
