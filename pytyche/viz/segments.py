"""Segment evidence: GATE intervals, arm-best probabilities and stability per segment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pytyche.analysis.segments import Segment, Segmentation
from pytyche.contracts import ClaimLevel
from pytyche.viz._style import arm_colours, claim_colour, new_figure, percent, root_figure, wrap

__all__ = ["plot_segment_intervals", "segment_label"]

_RULE_WIDTH = 34


def segment_label(segment: Segment) -> str:
    """Tick label of a segment: id, wrapped rule, traffic share and recommended arm."""
    return (
        f"S{segment.id}: {wrap(str(segment.rule), _RULE_WIDTH)}\n"
        f"{percent(segment.share)} of visitors, serve {segment.recommended_arm}"
    )


def plot_segment_intervals(
    segments: Segmentation | Sequence[Segment], axes: Sequence[Axes] | None = None
) -> Figure:
    """Per segment and treatment: GATE with its interval, P(arm best) and stability.

    Left panel: each treatment's GATE versus control (posterior mean, dot) with its
    ``ci_level`` interval (bar), one row per segment; the axis label names the interval's
    claim level ("uncalibrated posterior" intervals may under-cover at scale, see
    :class:`~pytyche.contracts.ClaimLevel`). Right panel: the posterior probability that
    each arm (control included) is best in the segment, as a stacked bar, annotated with
    the segment's bootstrap stability score and whether it is credible (score >= 0.8).

    Parameters
    ----------
    segments : Segmentation or sequence of Segment
        Segments of one fit (:func:`pytyche.analysis.segments.fit_segments`).
    axes : pair of matplotlib.axes.Axes, optional
        (interval axes, probability axes); a new two-panel figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        Left axes: one errorbar container per treatment (label = treatment, one point per
        segment). Right axes: one bar container per arm (label = arm, one bar per segment).
    """
    segments = _validate_segments(segments)
    if axes is None:
        figure = new_figure(figsize=(11.0, 1.4 + 1.0 * len(segments)))
        interval_ax, probability_ax = figure.subplots(
            1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]}
        )
    else:
        if len(axes) != 2 or not all(isinstance(a, Axes) for a in axes):
            raise TypeError("axes must be a pair of matplotlib Axes or None")
        interval_ax, probability_ax = axes
        figure = root_figure(interval_ax)
    arm_names = tuple(segments[0].arm_best_probabilities)
    colours = arm_colours(arm_names)
    rows = np.arange(len(segments))
    _draw_intervals(interval_ax, segments, arm_names[1:], colours, rows)
    _draw_best_probabilities(probability_ax, segments, arm_names, colours, rows)
    interval_ax.set_yticks(rows, [segment_label(s) for s in segments], fontsize=8)
    interval_ax.set_ylim(len(segments) - 0.5, -0.5)
    return figure


def _validate_segments(segments: Segmentation | Sequence[Segment]) -> tuple[Segment, ...]:
    if isinstance(segments, Segmentation):
        return segments.segments
    if isinstance(segments, Segment) or not isinstance(segments, Sequence):
        raise TypeError(
            f"segments must be a Segmentation or a sequence of Segment, got "
            f"{type(segments).__name__}"
        )
    segments = tuple(segments)
    if not segments or not all(isinstance(s, Segment) for s in segments):
        raise ValueError("segments must hold at least one Segment, and only Segments")
    arms = {tuple(s.arm_best_probabilities) for s in segments}
    if len(arms) != 1:
        raise ValueError(f"segments must share their arms, got {sorted(arms)}")
    return segments


def _draw_intervals(
    ax: Axes,
    segments: tuple[Segment, ...],
    treatments: tuple[str, ...],
    colours: dict,
    rows: np.ndarray,
) -> None:
    offsets = np.linspace(-0.18, 0.18, len(treatments)) if len(treatments) > 1 else [0.0]
    for treatment, offset in zip(treatments, offsets, strict=True):
        estimate = np.array([s.gate_estimate[treatment] for s in segments])
        low = np.array([s.gate_ci[treatment][0] for s in segments])
        high = np.array([s.gate_ci[treatment][1] for s in segments])
        ax.errorbar(
            estimate,
            rows + offset,
            xerr=np.vstack([estimate - low, high - estimate]),
            fmt="o",
            color=colours[treatment],
            capsize=3,
            label=treatment,
        )
    ax.axvline(0.0, color="grey", linewidth=0.8, linestyle="--")
    levels = sorted({s.ci_level for s in segments})
    claims = list(dict.fromkeys(ClaimLevel(s.claim_level) for s in segments))
    level_text = ", ".join(percent(level) for level in levels)
    ax.set_xlabel(f"GATE vs control ({level_text} interval)")
    ax.set_title(
        "Intervals: " + " / ".join(claim.value for claim in claims),
        color=claim_colour(claims[0]) if len(claims) == 1 else "black",
        fontsize=10,
        loc="left",
    )
    ax.legend(title="treatment", fontsize=8, title_fontsize=8, loc="best")
    ax.spines[["top", "right"]].set_visible(False)


def _draw_best_probabilities(
    ax: Axes,
    segments: tuple[Segment, ...],
    arm_names: tuple[str, ...],
    colours: dict,
    rows: np.ndarray,
) -> None:
    left = np.zeros(len(segments))
    for arm in arm_names:
        probability = np.array([s.arm_best_probabilities[arm] for s in segments])
        ax.barh(rows, probability, left=left, color=colours[arm], height=0.5, label=arm)
        left += probability
    for row, segment in zip(rows, segments, strict=True):
        ax.text(1.02, row, _stability_text(segment), va="center", ha="left", fontsize=8)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("P(arm is best in segment)")
    ax.legend(
        title="arm",
        fontsize=8,
        title_fontsize=8,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=len(arm_names),
        frameon=False,
    )
    ax.tick_params(axis="y", left=False)
    ax.spines[["top", "right"]].set_visible(False)


def _stability_text(segment: Segment) -> str:
    if segment.stability_score is None:
        return "stability\nnot run"
    verdict = "credible" if segment.credible else "not credible"
    return f"stability {segment.stability_score:.2f}\n{verdict}"
