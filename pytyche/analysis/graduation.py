"""Graduation: when a (treatment, segment) pair has earned a ship recommendation.

A pair *graduates* when the evidence clears every threshold in each of the last
``sustained_rounds`` consecutive rounds. pytyche never ships by itself: graduation only
nominates a candidate for the operator.

Segments are re-discovered every round, so a pair is followed across rounds by
**matching rules on a reference frame** (normally the latest round's cumulative
covariates): each rule is applied to that frame (:func:`pytyche.analysis.rules.apply_rule`)
and a segment of round r-1 matches the segment of round r when it names the same
treatment and has the largest Jaccard overlap of visitor membership with it, provided
that overlap is at least ``match_jaccard`` (default 0.5, the threshold of the segment
stability score). Matching chains backwards: round r-2 is matched to the round r-1 match.
Because rules are evaluated on one common frame, rounds with different visitors compare
like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from pytyche.analysis.decision import THRESHOLD_UNITS, RecommendationSummary, threshold_scale
from pytyche.analysis.rules import SegmentRule
from pytyche.analysis.segments import Segmentation

__all__ = [
    "ExpectedLossRule",
    "GraduationCandidate",
    "GraduationRule",
    "PairEvidence",
    "RoundEvidence",
    "round_evidence",
]


@dataclass(frozen=True)
class PairEvidence:
    """Evidence of one (treatment, segment) pair in one round."""

    treatment: str
    rule: SegmentRule
    summary: RecommendationSummary


@dataclass(frozen=True)
class RoundEvidence:
    """All pairs' evidence of one round."""

    round_index: int
    pairs: tuple[PairEvidence, ...]


@dataclass(frozen=True)
class GraduationCandidate:
    """A pair that cleared the rule in each of the last ``rounds_sustained`` rounds.

    Attributes
    ----------
    treatment : str
        The treatment to ship.
    rule : SegmentRule
        The segment, as found in the latest round.
    round_index : int
        The latest round.
    rounds_sustained : int
        Consecutive rounds (ending at ``round_index``) in which the rule held.
    summary : RecommendationSummary
        The latest round's evidence.
    matched_rules : tuple of SegmentRule
        The matched segment rules, oldest round first (the last one is ``rule``).
    """

    treatment: str
    rule: SegmentRule
    round_index: int
    rounds_sustained: int
    summary: RecommendationSummary
    matched_rules: tuple[SegmentRule, ...]


@runtime_checkable
class GraduationRule(Protocol):
    """Decides which (treatment, segment) pairs graduate, from the round history."""

    def candidates(
        self, history: Sequence[RoundEvidence], covariates: pd.DataFrame
    ) -> tuple[GraduationCandidate, ...]:
        """Graduating pairs, given rounds oldest first and a frame to match rules on."""
        ...


@dataclass(frozen=True)
class ExpectedLossRule:
    """Graduate when expected loss, P(beats control) and P(meaningful) all clear, sustained.

    In each of the last ``sustained_rounds`` rounds, for the matched segment:
    ``expected_loss_ship < expected_loss_max`` (times the segment's control mean with
    relative ``units``, the default),
    ``probability_beats_control > p_positive_threshold`` and
    ``probability_meaningful > p_better_threshold`` (``P(effect >= min_practical_effect)``,
    with the ``min_practical_effect`` the summaries were computed with).

    Attributes
    ----------
    expected_loss_max : float
        Tolerance on the expected loss of shipping: with ``units="relative"`` (default) a
        fraction of the control's mean in the segment (0.005: 0.5%, the same meaning for
        revenue and for a conversion rate); with ``units="absolute"``, outcome units.
    p_positive_threshold : float
        Threshold on P(beats control).
    p_better_threshold : float
        Threshold on P(effect >= min_practical_effect).
    sustained_rounds : int
        Consecutive rounds the conditions must hold.
    match_jaccard : float
        Minimum Jaccard overlap to match segments across rounds.
    units : {"relative", "absolute"}
        Units of ``expected_loss_max`` (see :mod:`pytyche.analysis.decision`).
    """

    expected_loss_max: float = 0.005
    p_positive_threshold: float = 0.95
    p_better_threshold: float = 0.8
    sustained_rounds: int = 2
    match_jaccard: float = 0.5
    units: str = "relative"

    def __post_init__(self) -> None:
        if not self.expected_loss_max >= 0:
            raise ValueError(f"expected_loss_max must be >= 0, got {self.expected_loss_max}")
        for name in ("p_positive_threshold", "p_better_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not isinstance(self.sustained_rounds, int) or self.sustained_rounds < 1:
            raise ValueError(f"sustained_rounds must be an int >= 1, got {self.sustained_rounds}")
        if not 0.0 < self.match_jaccard <= 1.0:
            raise ValueError(f"match_jaccard must be in (0, 1], got {self.match_jaccard}")
        if self.units not in THRESHOLD_UNITS:
            raise ValueError(f"units must be one of {THRESHOLD_UNITS}, got {self.units!r}")

    def holds(self, summary: RecommendationSummary) -> bool:
        """Whether one round's evidence clears all three thresholds."""
        loss_max = self.expected_loss_max * threshold_scale(self.units, summary.baseline)
        return (
            summary.expected_loss_ship < loss_max
            and summary.probability_beats_control > self.p_positive_threshold
            and summary.probability_meaningful > self.p_better_threshold
        )

    def candidates(
        self, history: Sequence[RoundEvidence], covariates: pd.DataFrame
    ) -> tuple[GraduationCandidate, ...]:
        """Graduating pairs of the latest round (see the module docstring)."""
        if not isinstance(covariates, pd.DataFrame):
            raise TypeError("covariates must be a pandas DataFrame to match segment rules on")
        if len(history) < self.sustained_rounds:
            return ()
        window = list(history)[-self.sustained_rounds :]
        masks: dict[SegmentRule, np.ndarray] = {}

        def membership(rule: SegmentRule) -> np.ndarray:
            if rule not in masks:
                masks[rule] = rule.mask(covariates)
            return masks[rule]

        found = []
        for pair in window[-1].pairs:
            chain = [pair]
            for earlier in reversed(window[:-1]):
                match = _best_match(chain[-1], earlier.pairs, membership, self.match_jaccard)
                if match is None:
                    break
                chain.append(match)
            if len(chain) == self.sustained_rounds and all(self.holds(p.summary) for p in chain):
                found.append(
                    GraduationCandidate(
                        treatment=pair.treatment,
                        rule=pair.rule,
                        round_index=window[-1].round_index,
                        rounds_sustained=self.sustained_rounds,
                        summary=pair.summary,
                        matched_rules=tuple(p.rule for p in reversed(chain)),
                    )
                )
        return tuple(found)


def round_evidence(
    round_index: int,
    segmentation: Segmentation,
    summaries: Sequence[RecommendationSummary],
) -> RoundEvidence:
    """Collect a round's (treatment, segment) evidence for graduation.

    Parameters
    ----------
    round_index : int
        Index of the round.
    segmentation : Segmentation
        The round's segments.
    summaries : sequence of RecommendationSummary
        Evidence per (treatment, segment), e.g. from
        :func:`pytyche.analysis.segments.segment_recommendations`.
    """
    rules = {segment.id: segment.rule for segment in segmentation.segments}
    pairs = []
    for summary in summaries:
        if summary.segment_id not in rules:
            raise ValueError(f"summary names segment {summary.segment_id}, not in segmentation")
        pairs.append(PairEvidence(summary.treatment, rules[summary.segment_id], summary))
    return RoundEvidence(round_index=round_index, pairs=tuple(pairs))


def _best_match(
    pair: PairEvidence,
    candidates: Sequence[PairEvidence],
    membership,
    threshold: float,
) -> PairEvidence | None:
    target = membership(pair.rule)
    best, best_overlap = None, -1.0
    for candidate in candidates:
        if candidate.treatment != pair.treatment:
            continue
        other = membership(candidate.rule)
        union = np.count_nonzero(target | other)
        overlap = np.count_nonzero(target & other) / union if union else 0.0
        if overlap > best_overlap:
            best, best_overlap = candidate, overlap
    return best if best_overlap >= threshold else None
