"""Operator-facing prose: deterministic templates, no timestamps, no free text generation.

:func:`experiment_summary` writes the latest round in the context of the history as a few
paragraphs (status; what the traffic did; what the model found; graduation; drift;
honesty of the intervals; next step). The same inputs always give the same text.
:func:`confidence_label` condenses the state to ``"high"``, ``"medium"`` or ``"low"``:

* **high** — at least one credible segment and at least one graduation candidate;
* **medium** — credible segments or a graduation candidate, not both;
* **low** — neither.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytyche.analysis.convergence import describe_mixing
from pytyche.contracts import ClaimLevel
from pytyche.experiment.rounds import GraduatingPair, Round

__all__ = ["confidence_label", "experiment_summary"]


def confidence_label(latest: Round | None, candidates: Sequence[GraduatingPair]) -> str:
    """``"high"``, ``"medium"`` or ``"low"`` (see the module docstring)."""
    if latest is None:
        return "low"
    credible = bool(latest.credible_segments)
    graduating = bool(candidates)
    if credible and graduating:
        return "high"
    if credible or graduating:
        return "medium"
    return "low"


def experiment_summary(
    history: Sequence[Round], candidates: Sequence[GraduatingPair], *, simulated: bool
) -> str:
    """Multi-paragraph summary of the latest round in the context of ``history``."""
    if not history:
        return "No round has run yet. Call next(exp) to run round 1 (Control 50% / Explore 50%)."
    latest = history[-1]
    paragraphs = [
        _status(history),
        _traffic(latest),
        _findings(history),
        _graduation(candidates),
        _drift(history),
        _honesty(latest, simulated),
        _next(latest, confidence_label(latest, candidates)),
    ]
    return "\n\n".join(p for p in paragraphs if p)


def _status(history: Sequence[Round]) -> str:
    latest = history[-1]
    total = f" of {latest.n_rounds}" if latest.n_rounds is not None else ""
    sizes = " -> ".join(f"{r.n_visitors:,}" for r in history)
    return (
        f"Round {latest.number}{total} is complete: {latest.cumulative_visitors:,} visitors so "
        f"far (rounds: {sizes}), arms {', '.join(latest.plan.treatments)}. The joint posterior "
        "was refitted on all of them."
    )


def _traffic(latest: Round) -> str:
    sentences = []
    for o in latest.observations:
        if o.lift_vs_control_ci == (0.0, 0.0):
            sentences.append(
                f"the {o.cell_id} cell served {o.n_visitors:,} visitors at "
                f"{o.observed_mean:.4f} per visitor"
            )
        else:
            lo, hi = o.lift_vs_control_ci
            sentences.append(
                f"the {o.cell_id} cell served {o.n_visitors:,} visitors at "
                f"{o.observed_mean:.4f} per visitor, {o.lift_vs_control:+.4f} vs control "
                f"(80% interval [{lo:+.4f}, {hi:+.4f}])"
            )
    return "What the traffic did (observed data): " + "; ".join(sentences) + "."


def _findings(history: Sequence[Round]) -> str:
    latest = history[-1]
    segments = latest.analysis.segments
    credible = latest.credible_segments
    claim = latest.interval_claim.value
    text = [
        f"The policy tree splits visitors into {len(segments)} segment"
        f"{'s' if len(segments) != 1 else ''}, {len(credible)} of them credible (stability "
        f">= 0.80)."
    ]
    for s in segments:
        arm = s.recommended_arm
        if arm in s.gate_estimate:
            lo, hi = s.gate_ci[arm]
            effect = (
                f"GATE of {arm} vs control {s.gate_estimate[arm]:+.4f} (80% {claim} "
                f"interval [{lo:+.4f}, {hi:+.4f}])"
            )
        else:
            effect = "no treatment beats control here"
        stability = "n/a" if s.stability_score is None else f"{s.stability_score:.2f}"
        text.append(
            f"Segment {s.id} ({s.share:.0%} of visitors, {s.rule}) favours {arm}: {effect}, "
            f"P({arm} best) {s.arm_best_probabilities[arm]:.2f}, stability {stability}."
        )
    if len(history) > 1:
        previous = history[-2]
        count = len(previous.analysis.segments)
        text.append(
            f"Last round had {count} segment{'s' if count != 1 else ''}, "
            f"{len(previous.credible_segments)} credible."
        )
    return " ".join(text)


def _graduation(candidates: Sequence[GraduatingPair]) -> str:
    if not candidates:
        return (
            "No (treatment, segment) pair has met the graduation rule for the required "
            "consecutive rounds yet."
        )
    lines = [
        f"{len(candidates)} (treatment, segment) pair{'s' if len(candidates) != 1 else ''} "
        "met the graduation rule; pytyche does not ship them, the decision is yours:"
    ]
    lines += [f"- {c}" for c in candidates]
    return "\n".join(lines)


def _drift(history: Sequence[Round]) -> str:
    latest = history[-1]
    if latest.drift is None:
        return "Drift check: not applicable in the first round (no earlier posterior)."
    shifted = latest.drift.shifted
    if not shifted:
        return (
            "Drift check: every segment's Control and Explore outcomes are consistent with "
            f"the previous round's posterior (family-wise alarm rate {latest.drift.alpha:g})."
        )
    lines = [
        f"Drift check: {len(shifted)} segment{'s' if len(shifted) != 1 else ''} shifted since "
        "the previous round; treat their earlier evidence with caution:"
    ]
    lines += [f"- {s.describe()}" for s in shifted]
    return "\n".join(lines)


def _honesty(latest: Round, simulated: bool) -> str:
    if latest.interval_claim is ClaimLevel.CALIBRATED:
        text = (
            "Segment intervals are calibrated posterior intervals (SBC calibration artifact "
            "applied); decision probabilities use the raw draws."
        )
    else:
        text = (
            "All posterior intervals and probabilities here are uncalibrated: without a "
            "calibration artifact they are typically overconfident at scale, so read them "
            "as optimistic."
        )
    mixing = latest.mixing()
    if mixing["mixed"].all():
        text += f" The chains mixed ({describe_mixing(mixing)[len('mixing: ') :]})."
    else:
        text += (
            " The chains have NOT mixed for every reported quantity, so these intervals and "
            f"probabilities may be wrong, not just optimistic: {describe_mixing(mixing)}."
        )
    if simulated and latest.truth_comparison is not None:
        t = latest.truth_comparison
        if t.personalization_captured is None:
            value = (
                "The simulation truth has no personalisation value to capture (one arm is "
                f"best for every visitor); the policy earns {t.rpv_policy:.4f} per visitor "
                f"against {t.rpv_oracle:.4f} for that arm."
            )
        else:
            value = (
                f"Against the simulation truth the recommended policy captures "
                f"{t.personalization_captured:.0%} of the personalisation value: "
                f"{t.rpv_policy:.4f} per visitor against {t.rpv_best_arm:.4f} for shipping "
                f"{t.best_arm} to everyone and {t.rpv_oracle:.4f} for the covariate oracle "
                "(the best policy of the covariates)."
            )
        text += (
            f" {value} It picks the covariate oracle's arm for {t.policy_accuracy:.0%} of "
            f"visitors; the gap to that oracle is {t.oracle_gap:.4f} per visitor."
        )
    return text


def _next(latest: Round, confidence: str) -> str:
    plan = latest.next_recommendation
    cells = ", ".join(f"{c.id} {c.weight:.0%}" for c in plan.cells)
    end = (
        "The schedule is complete; the recommendation keeps the last round's size if you continue."
        if latest.schedule_exhausted
        else f"Next round: {plan.n_visitors:,} visitors."
    )
    return f"Recommended cells: {cells}. {end} Confidence: {confidence}."
