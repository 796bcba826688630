"""`Round`: the snapshot of one round of a sequential experiment, and how it reads.

A :class:`Round` holds what was shipped (the plan and its cells), what happened (the
round's data and each cell's observed outcomes), what the model concluded on all data so
far (posterior, segments, decision evidence per (treatment, segment) pair, drift flags)
and what it recommends next (``next_recommendation``). In simulation it also carries the
comparison with the planted truth. Its text and HTML forms label every number with what
backs it (observed / uncalibrated or calibrated posterior / simulation truth).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pytyche.analysis.convergence import describe_mixing, mixing_table
from pytyche.analysis.decision import RecommendationSummary
from pytyche.analysis.rules import SegmentRule
from pytyche.analysis.segments import Segmentation
from pytyche.analysis.truth_comparison import TruthComparison
from pytyche.contracts import ClaimLevel
from pytyche.data import RoundData
from pytyche.experiment.drift import DriftCheck
from pytyche.experiment.observations import CellObservation
from pytyche.experiment.plan import NextRoundPlan

__all__ = ["GraduatingPair", "Round"]


@dataclass(frozen=True, repr=False)
class GraduatingPair:
    """A (treatment, segment) pair the graduation rule nominates. pytyche never ships it.

    Attributes
    ----------
    treatment : str
        The treatment to consider shipping.
    rule : SegmentRule
        The segment, as found in the latest round.
    round_index : int
        The latest round (0-based).
    rounds_sustained : int
        Consecutive rounds in which the rule held.
    latest_recommendation : RecommendationSummary
        The latest round's decision evidence: expected loss, P(beats control),
        P(meaningful), and ``expected_value_of_one_more_round`` (the expected per-visitor
        regret one more round of the scheduled size would remove).
    matched_rules : tuple of SegmentRule
        The matched segment in each sustained round, oldest first.
    """

    treatment: str
    rule: SegmentRule
    round_index: int
    rounds_sustained: int
    latest_recommendation: RecommendationSummary
    matched_rules: tuple[SegmentRule, ...]

    def __str__(self) -> str:
        r = self.latest_recommendation
        return (
            f"{self.treatment} for [{self.rule}]: effect {r.effect_mean:+.4f}, expected loss "
            f"{r.expected_loss_ship:.4g}, P(beats control) {r.probability_beats_control:.3f}, "
            f"P(meaningful) {r.probability_meaningful:.3f}, expected value of one more round "
            f"{r.expected_value_of_one_more_round:.4g} per visitor; sustained "
            f"{self.rounds_sustained} rounds ({r.claim_level.value})"
        )

    def __repr__(self) -> str:
        return f"GraduatingPair({self})"


@dataclass(frozen=True, eq=False)
class Round:
    """One completed round.

    Attributes
    ----------
    index : int
        0-based round index (``number`` is ``index + 1``).
    n_rounds : int or None
        Rounds in the schedule (None: open-ended).
    plan : NextRoundPlan
        The plan that served the round.
    data : RoundData
        The round's visitors.
    cumulative_visitors : int
        Visitors in all rounds up to and including this one (the fit's data).
    observations : tuple of CellObservation
        Each cell's observed outcomes and lift over Control (observed data).
    posterior : Posterior or None
        The fit on all data so far; kept for the latest round only (older rounds and
        rounds read from a store have ``None``; see ``posterior_summary``).
    posterior_summary : xarray.DataTree
        Draws of the ATE, segment GATEs and segment-mean rewards (plus the fit's scalar
        sites and diagnostics); what the store keeps.
    analysis : Segmentation
        Policy-tree segments with GATEs, intervals, P(arm best) and stability.
    recommendations : tuple of RecommendationSummary
        Decision evidence per (treatment, segment), segment-major.
    graduation : tuple of GraduatingPair
        Pairs the graduation rule nominated at this round.
    drift : DriftCheck or None
        Floor cells vs the previous round's posterior (None in round 1).
    truth_comparison : TruthComparison or None
        Simulation only: the round's policy and estimates against the planted truth.
    next_recommendation : NextRoundPlan
        The recommended plan of the next round.
    schedule_exhausted : bool
        Whether this was the schedule's last round (the recommendation then keeps the
        last round's size).
    interval_claim : ClaimLevel
        What backs the segment intervals (uncalibrated or calibrated posterior).
    seeds : dict
        The derived seeds the round used, by stream name.
    analysis_rows : ndarray of int
        Positions (in the cumulative data) of the visitors the segments were fitted on.
    """

    index: int
    n_rounds: int | None
    plan: NextRoundPlan
    data: RoundData
    cumulative_visitors: int
    observations: tuple[CellObservation, ...]
    posterior: Any
    posterior_summary: Any
    analysis: Segmentation
    recommendations: tuple[RecommendationSummary, ...]
    graduation: tuple[GraduatingPair, ...]
    drift: DriftCheck | None
    truth_comparison: TruthComparison | None
    next_recommendation: NextRoundPlan
    schedule_exhausted: bool
    interval_claim: ClaimLevel
    seeds: dict[str, int]
    analysis_rows: np.ndarray

    # --------------------------------------------------------------- accessors
    @property
    def number(self) -> int:
        """1-based round number."""
        return self.index + 1

    @property
    def cells(self) -> tuple:
        """The cells shipped this round."""
        return self.plan.cells

    @property
    def n_visitors(self) -> int:
        """Visitors in this round."""
        return self.data.n_visitors

    @property
    def segments(self) -> tuple:
        """The round's segments (``analysis.segments``)."""
        return self.analysis.segments

    @property
    def credible_segments(self) -> tuple:
        """Segments with stability score >= 0.80."""
        return tuple(s for s in self.analysis.segments if s.credible)

    def mixing(self) -> pd.DataFrame:
        """Bulk ESS and R-hat of the fit's ATE per arm and of every segment GATE.

        Computed from ``posterior_summary``, so rounds read from a store have it too; see
        :func:`pytyche.analysis.convergence.mixing_table` for the columns.
        """
        draws = {}
        fitted = self.posterior_summary.children.get("fit_posterior")
        if fitted is not None and "ate" in fitted.dataset:
            draws["ate"] = fitted.dataset["ate"]
        gate = self.posterior_summary["posterior"].dataset["gate"]
        draws["gate"] = gate.drop_vars("rule", errors="ignore")
        return mixing_table(draws)

    def observation(self, cell_id: str) -> CellObservation | None:
        """The observed outcomes of cell ``cell_id`` (None if it served nobody)."""
        return next((o for o in self.observations if o.cell_id == cell_id), None)

    def segment_table(self) -> pd.DataFrame:
        """The segments as a table (rule, share, arm, GATEs with intervals, P(best), stability)."""
        return self.analysis.to_frame()

    def recommendation_table(self) -> pd.DataFrame:
        """Decision evidence, one row per (segment, treatment)."""
        rows = [
            {
                "segment": r.segment_id,
                "treatment": r.treatment,
                "effect_mean": r.effect_mean,
                "expected_loss_ship": r.expected_loss_ship,
                "p_beats_control": r.probability_beats_control,
                "p_meaningful": r.probability_meaningful,
                "evor": r.expected_value_of_one_more_round,
                "decision": r.decision.value,
            }
            for r in self.recommendations
        ]
        return pd.DataFrame(rows)

    # ----------------------------------------------------------------- prose
    def _label(self) -> str:
        total = f" of {self.n_rounds}" if self.n_rounds is not None else ""
        return f"round {self.number}{total}"

    def summary_one_line(self) -> str:
        """One line: size, headline lift, segments, graduation, drift, truth (if simulated)."""
        parts = [
            f"{self._label()}: {self.n_visitors:,} visitors ({self.cumulative_visitors:,} "
            "cumulative)"
        ]
        headline = self._headline_observation()
        if headline is not None:
            lo, hi = headline.lift_vs_control_ci
            parts.append(
                f"{headline.cell_id} lift vs control {headline.lift_vs_control:+.3f} "
                f"[{lo:+.3f}, {hi:+.3f}] (observed)"
            )
        parts.append(
            f"{len(self.analysis.segments)} segments, {len(self.credible_segments)} credible "
            f"({self.interval_claim.value})"
        )
        parts.append(f"{len(self.graduation)} graduation candidates")
        if self.drift is None:
            parts.append("drift: n/a (first round)")
        else:
            shifted = self.drift.shifted
            parts.append(f"drift: {len(shifted)} shifted segments" if shifted else "drift: none")
        if self.truth_comparison is not None:
            parts.append(_truth_headline(self.truth_comparison))
        mixing = self.mixing()
        if not mixing["mixed"].all():
            parts.append(f"{int((~mixing['mixed']).sum())} quantities not mixed (see mixing())")
        return "; ".join(parts)

    def _headline_observation(self) -> CellObservation | None:
        """The Optimized cell if it served traffic, else the first non-control cell."""
        ordered = sorted(self.observations, key=lambda o: o.cell_id != "optimized")
        return next((o for o in ordered if o.lift_vs_control_ci != (0.0, 0.0)), None)

    def __repr__(self) -> str:
        lines = [self.summary_one_line()]
        lines.append("cells shipped and what they did (observed, 80% intervals):")
        lines += [f"  {o}" for o in self.observations]
        lines.append(
            f"segments ({self.interval_claim.value}, 80% intervals; credible = stability >= 0.80):"
        )
        lines += ["  " + line for line in _segment_lines(self.analysis)]
        if self.drift is not None:
            lines.append("drift check (Control + Explore cells vs previous posterior):")
            lines += ["  " + s.describe() for s in self.drift.segments]
        if self.graduation:
            lines.append("graduation candidates (never shipped automatically):")
            lines += [f"  {g}" for g in self.graduation]
        if self.truth_comparison is not None:
            lines.append("truth comparison: " + _truth_line(self.truth_comparison))
        lines.append(describe_mixing(self.mixing()))
        lines.append("next recommendation: " + self.next_recommendation.describe())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<h4>Round {self.number}</h4>", f"<p>{html.escape(self.summary_one_line())}</p>"]
        observed = pd.DataFrame(
            [
                {
                    "cell": o.cell_id,
                    "visitors": o.n_visitors,
                    "observed mean": o.observed_mean,
                    "lift vs control": o.lift_vs_control,
                    "80% interval": f"[{o.lift_vs_control_ci[0]:+.4f}, "
                    f"{o.lift_vs_control_ci[1]:+.4f}]",
                }
                for o in self.observations
            ]
        )
        parts.append("<p>Cells (observed)</p>" + observed.to_html(index=False))
        parts.append(
            f"<p>Segments ({html.escape(self.interval_claim.value)})</p>"
            + self.segment_table().to_html(float_format=lambda v: f"{v:.4f}")
        )
        if self.drift is not None:
            items = "".join(f"<li>{html.escape(s.describe())}</li>" for s in self.drift.segments)
            parts.append(f"<p>Drift check</p><ul>{items}</ul>")
        if self.truth_comparison is not None:
            parts.append(f"<p>Truth comparison: {html.escape(_truth_line(self.truth_comparison))}")
        parts.append(
            "<p>Next recommendation</p><pre>"
            + html.escape(self.next_recommendation.describe())
            + "</pre>"
        )
        return "\n".join(parts)


def _segment_lines(segmentation: Segmentation) -> list[str]:
    lines = []
    for s in segmentation.segments:
        gate = ", ".join(
            f"{arm} {s.gate_estimate[arm]:+.4f} [{low:+.4f}, {high:+.4f}]"
            for arm, (low, high) in s.gate_ci.items()
        )
        stability = "n/a" if s.stability_score is None else f"{s.stability_score:.2f}"
        best = ", ".join(f"{a} {p:.2f}" for a, p in s.arm_best_probabilities.items())
        lines.append(
            f"#{s.id} [{s.rule}] share {s.share:.0%} -> {s.recommended_arm}; GATE {gate}; "
            f"P(best) {best}; stability {stability}{' (credible)' if s.credible else ''}"
        )
    return lines


def _truth_line(t: TruthComparison) -> str:
    return t.describe()


def _truth_headline(t: TruthComparison) -> str:
    """Share of personalisation value captured and accuracy vs the covariate oracle."""
    captured = "n/a" if t.personalization_captured is None else f"{t.personalization_captured:.0%}"
    return (
        f"personalisation value captured {captured}, policy accuracy vs covariate oracle "
        f"{t.policy_accuracy:.2f} (simulation truth)"
    )
