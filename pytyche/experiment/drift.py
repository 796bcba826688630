"""Drift check: did a segment's response shift since the posterior that planned the round?

The Control and Explore cells are randomised independently of the model, so their visitors
give an unconfounded look at every arm in every segment each round — this is what the
floors are for. For each segment S of the previous round (its rule applied to the new
round's floor-cell visitors) with at least ``min_nonzero`` non-zero outcomes among them,
and each arm k with at least ``min_visitors`` such visitors:

* observed: mean outcome ``ybar_Sk`` of the n_Sk visitors, sampling variance
  ``max(s_Sk**2, s_S**2) / n_Sk`` — the larger of the arm's and the segment's (all arms
  pooled) outcome variance, because revenue is zero-inflated and heavy-tailed: an arm
  with few converters in the sample understates its own variance, and one whose
  conversions collapsed has almost none;
* predicted: the previous posterior's segment-mean reward draws ``m[d, S, k]``, with mean
  ``mu_Sk`` and variance ``v_Sk`` over draws;
* ``z_Sk = (ybar_Sk - mu_Sk) / sqrt(s_Sk**2 / n_Sk + v_Sk)``.

Under no drift (and a well-specified posterior) each ``z`` is approximately standard normal
and the arms' ``z`` are independent (disjoint visitors), so ``sum_k z_Sk**2`` is
approximately chi-square with one degree of freedom per tested arm. A segment is flagged
as **shifted** when its p-value is below ``alpha / n_segments`` (Bonferroni over segments,
family-wise rate ``alpha``). The check is only as good as the posterior's intervals: an
uncalibrated, overconfident posterior understates ``v`` and raises the false-alarm rate,
which the predictive variance term ``s**2 / n`` (dominant at these sizes) keeps small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pytyche.analysis.rules import parse_rule
from pytyche.contracts import ClaimLevel

__all__ = ["DriftCheck", "SegmentDrift", "check_drift"]


@dataclass(frozen=True)
class SegmentDrift:
    """Drift evidence of one segment.

    Attributes
    ----------
    rule : str
        The segment rule (from the round whose posterior made the prediction).
    arms : tuple of str
        Arms tested (enough floor-cell visitors).
    n_visitors : tuple of int
        Floor-cell visitors per tested arm.
    observed_mean, predicted_mean : tuple of float
        Observed mean outcome and posterior-predicted segment mean per tested arm.
    z : tuple of float
        Standardised differences per tested arm.
    statistic : float
        ``sum z**2``.
    p_value : float
        Chi-square tail probability (1.0 when no arm was testable).
    shifted : bool
        Whether the segment is flagged.
    """

    rule: str
    arms: tuple[str, ...]
    n_visitors: tuple[int, ...]
    observed_mean: tuple[float, ...]
    predicted_mean: tuple[float, ...]
    z: tuple[float, ...]
    statistic: float
    p_value: float
    shifted: bool

    def describe(self) -> str:
        """One line: the segment, the largest standardised shift and the verdict."""
        if not self.arms:
            return f"[{self.rule}] not testable (too few Control/Explore converters)"
        k = int(np.argmax(np.abs(self.z)))
        verdict = "SHIFTED" if self.shifted else "consistent"
        return (
            f"[{self.rule}] {verdict}: p={self.p_value:.3g}; largest shift {self.arms[k]} "
            f"observed {self.observed_mean[k]:.4f} vs predicted {self.predicted_mean[k]:.4f} "
            f"(z={self.z[k]:+.2f})"
        )


@dataclass(frozen=True)
class DriftCheck:
    """Drift evidence of one round, every segment of the previous round.

    Attributes
    ----------
    segments : tuple of SegmentDrift
    alpha : float
        Family-wise false-alarm rate of the flags.
    claim_level : ClaimLevel
        Observed data against an uncalibrated or calibrated posterior prediction.
    """

    segments: tuple[SegmentDrift, ...]
    alpha: float
    claim_level: ClaimLevel = ClaimLevel.POSTERIOR

    @property
    def shifted(self) -> tuple[SegmentDrift, ...]:
        """The flagged segments."""
        return tuple(s for s in self.segments if s.shifted)

    def describe(self) -> str:
        """One line per segment."""
        return "\n".join(s.describe() for s in self.segments)


def check_drift(
    covariates: pd.DataFrame,
    outcome: np.ndarray,
    arm_index: np.ndarray,
    in_floor_cells: np.ndarray,
    rules: Sequence[str],
    segment_reward_draws: np.ndarray,
    arms: Sequence[str],
    *,
    alpha: float = 0.01,
    min_visitors: int = 100,
    min_nonzero: int = 30,
    claim_level: ClaimLevel = ClaimLevel.POSTERIOR,
) -> DriftCheck:
    """Compare a round's floor-cell outcomes per segment with the previous posterior.

    Parameters
    ----------
    covariates : pandas.DataFrame
        The new round's visitors, one row each.
    outcome : ndarray, shape (n,)
        Their outcomes.
    arm_index : ndarray of int, shape (n,)
        Their arms (0 = control).
    in_floor_cells : ndarray of bool, shape (n,)
        Whether each visitor was served by a Control or Explore cell.
    rules : sequence of str
        The previous round's segment rules.
    segment_reward_draws : ndarray, shape (n_draws, n_segments, K)
        The previous posterior's segment-mean reward per draw.
    arms : sequence of str
        Arm names, control first.
    alpha : float
        Family-wise false-alarm rate in (0, 1).
    min_visitors : int
        Minimum floor-cell visitors for an arm of a segment to be tested.
    min_nonzero : int
        Minimum floor-cell visitors of a segment with a non-zero outcome (e.g. converters).
    claim_level : ClaimLevel
        Label of the posterior prediction.

    Returns
    -------
    DriftCheck
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    draws = np.asarray(segment_reward_draws, dtype=float)
    if draws.ndim != 3 or draws.shape[1:] != (len(rules), len(arms)):
        raise ValueError(
            f"segment_reward_draws must have shape (n_draws, {len(rules)}, {len(arms)}), "
            f"got {draws.shape}"
        )
    predicted, predicted_var = draws.mean(axis=0), draws.var(axis=0)
    floor = np.asarray(in_floor_cells, dtype=bool)
    threshold = alpha / max(len(rules), 1)
    results = []
    for j, rule in enumerate(rules):
        member = parse_rule(rule).mask(covariates) & floor
        tested, counts, observed, expected, zs = [], [], [], [], []
        pooled = outcome[member]
        testable = np.count_nonzero(pooled) >= min_nonzero and len(pooled) > 1
        for k, arm in enumerate(arms):
            y = outcome[member & (arm_index == k)]
            if not testable or len(y) < min_visitors:
                continue
            variance = max(np.var(y, ddof=1), np.var(pooled, ddof=1))
            scale = np.sqrt(variance / len(y) + predicted_var[j, k])
            if scale <= 0:
                continue
            tested.append(arm)
            counts.append(len(y))
            observed.append(float(y.mean()))
            expected.append(float(predicted[j, k]))
            zs.append(float((y.mean() - predicted[j, k]) / scale))
        statistic = float(np.sum(np.square(zs)))
        p_value = float(stats.chi2.sf(statistic, len(zs))) if zs else 1.0
        results.append(
            SegmentDrift(
                rule=rule,
                arms=tuple(tested),
                n_visitors=tuple(counts),
                observed_mean=tuple(observed),
                predicted_mean=tuple(expected),
                z=tuple(zs),
                statistic=statistic,
                p_value=p_value,
                shifted=bool(zs) and p_value < threshold,
            )
        )
    return DriftCheck(segments=tuple(results), alpha=alpha, claim_level=claim_level)
