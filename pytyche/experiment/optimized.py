"""The Optimized policy: route each visitor through the policy tree, then Thompson-sample.

After each fit the policy tree's leaves are the segments (see
:mod:`pytyche.analysis.segments`). The Optimized cell serves a visitor by

1. finding the visitor's segment — the one leaf rule the visitor satisfies (the rules of a
   tree's leaves partition the covariate space: every split is ``x < c`` / ``x >= c`` or
   ``x in S`` / ``x not in S``, so exactly one leaf matches any visitor, new categories
   included);
2. drawing the arm with the segment's Thompson weights: the posterior probability that
   each arm has the highest segment-mean reward, floored at ``epsilon`` per arm
   (:func:`pytyche.analysis.allocation.thompson_weights`).

The policy holds the rules as text and the weights as numbers, so it is immutable,
deterministic given covariates, and round-trips through JSON exactly (a plan can be stored
and handed to an experimentation platform).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pytyche.analysis.allocation import DEFAULT_EPSILON, thompson_weights
from pytyche.analysis.rules import parse_rule
from pytyche.analysis.segments import Segmentation
from pytyche.experiment.cells import CELL_WEIGHT_TOLERANCE

__all__ = ["Optimized", "SegmentAllocation"]


@dataclass(frozen=True)
class SegmentAllocation:
    """One segment of an :class:`Optimized` policy.

    Parameters
    ----------
    rule : str
        The segment's membership rule in the string form of
        :class:`pytyche.analysis.rules.SegmentRule` (e.g. ``"visits_30d < 4"``).
    weights : Mapping[str, float]
        Probability of each arm for visitors of the segment (non-negative, summing to 1).
    """

    rule: str
    weights: Mapping[str, float]

    def __post_init__(self) -> None:
        if not isinstance(self.rule, str) or not self.rule.strip():
            raise ValueError(f"segment rule must be a non-empty string, got {self.rule!r}")
        parse_rule(self.rule)  # raises ValueError naming the rule when it cannot be read
        weights = {str(arm): float(w) for arm, w in dict(self.weights).items()}
        if not weights or any(not math.isfinite(w) or w < 0 for w in weights.values()):
            raise ValueError(
                f"segment {self.rule!r}: weights must be finite and non-negative, got {weights}"
            )
        if abs(math.fsum(weights.values()) - 1.0) > CELL_WEIGHT_TOLERANCE:
            raise ValueError(
                f"segment {self.rule!r}: weights must sum to 1, got {weights} "
                f"(sum {math.fsum(weights.values()):.8g})"
            )
        object.__setattr__(self, "weights", weights)


@dataclass(frozen=True)
class Optimized:
    """Policy of the Optimized cell: policy-tree segment, then Thompson weights.

    Parameters
    ----------
    segments : tuple of SegmentAllocation
        The tree's leaves, in leaf order; their rules must partition the visitors.

    Notes
    -----
    Build it from a fitted segmentation with :meth:`from_segmentation`.
    """

    segments: tuple[SegmentAllocation, ...]

    def __post_init__(self) -> None:
        segments = tuple(self.segments)
        if not segments:
            raise ValueError("Optimized needs at least one segment")
        for position, segment in enumerate(segments):
            if not isinstance(segment, SegmentAllocation):
                raise TypeError(
                    f"segments[{position}] must be a SegmentAllocation, "
                    f"got {type(segment).__name__}"
                )
        object.__setattr__(self, "segments", segments)

    @classmethod
    def from_segmentation(
        cls, segmentation: Segmentation, *, epsilon: float = DEFAULT_EPSILON
    ) -> Optimized:
        """The policy of a fitted segmentation with Thompson weights floored at ``epsilon``."""
        return cls(
            tuple(
                SegmentAllocation(str(segment.rule), thompson_weights(segment, epsilon=epsilon))
                for segment in segmentation.segments
            )
        )

    def segment_index(self, covariates: pd.DataFrame) -> np.ndarray:
        """Segment of each visitor, shape (n_visitors,).

        Raises
        ------
        ValueError
            If a visitor matches no segment or several (the rules do not partition).
        """
        masks = np.stack([parse_rule(s.rule).mask(covariates) for s in self.segments])
        matches = masks.sum(axis=0)
        if np.any(matches != 1):
            row = int(np.argmax(matches != 1))
            raise ValueError(
                f"Optimized policy: visitor row {row} matches {int(matches[row])} segment "
                f"rules; the rules {[s.rule for s in self.segments]} must partition visitors"
            )
        return np.argmax(masks, axis=0)

    def assignment_probabilities(
        self, covariates: pd.DataFrame, arms: tuple[str, ...]
    ) -> np.ndarray:
        """Each visitor's segment weights, shape (n_visitors, K), columns in ``arms`` order."""
        unknown = sorted({a for s in self.segments for a in s.weights} - set(arms))
        if unknown:
            raise ValueError(f"Optimized policy names arms {unknown} not in arms {list(arms)}")
        table = np.array([[s.weights.get(arm, 0.0) for arm in arms] for s in self.segments])
        return table[self.segment_index(covariates)]

    def describe(self) -> str:
        """Readable description, one clause per segment."""
        parts = []
        for segment in self.segments:
            leader = max(segment.weights, key=lambda arm: segment.weights[arm])
            parts.append(f"[{segment.rule}] {leader} {segment.weights[leader]:.0%}")
        return "Thompson by policy-tree segment: " + "; ".join(parts)

    def weights_frame(self, arms: Sequence[str]) -> pd.DataFrame:
        """One row per segment: its rule and the weight of each arm."""
        rows = [{"rule": s.rule, **{a: s.weights.get(a, 0.0) for a in arms}} for s in self.segments]
        return pd.DataFrame(rows)
