"""Shared look of pytyche plots: arm colours, percent labels, wrapped rule text."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pytyche.contracts import ClaimLevel

_ARM_PALETTE = "colorblind"
_CLAIM_COLOURS = {
    ClaimLevel.OBSERVED: "#4d4d4d",
    ClaimLevel.POSTERIOR: "#c0392b",
    ClaimLevel.CALIBRATED: "#1e8449",
    ClaimLevel.SIMULATION_TRUTH: "#7d3c98",
}


def arm_colours(arm_names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """One colour per arm, control first, stable across every pytyche plot."""
    palette = sns.color_palette(_ARM_PALETTE, max(len(arm_names), 3))
    return {name: palette[k] for k, name in enumerate(arm_names)}


def claim_colour(claim_level: ClaimLevel) -> str:
    """Colour of a claim-level label (red for uncalibrated, green for calibrated)."""
    return _CLAIM_COLOURS[ClaimLevel(claim_level)]


def percent(value: float) -> str:
    """``0.125`` -> ``"12.5%"``, ``0.5`` -> ``"50%"``."""
    text = f"{100 * value:.1f}"
    return f"{text.removesuffix('.0')}%"


def wrap(text: str, width: int) -> str:
    """Wrap a rule or description on clause boundaries where possible."""
    clauses = text.split(" and ")
    if len(clauses) > 1 and all(len(c) <= width for c in clauses):
        return " and\n".join(clauses)
    return "\n".join(textwrap.wrap(text, width)) or text


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """The axes to draw on: ``ax`` itself, or the axes of a new pyplot figure.

    pyplot figures display inline in notebooks; callers close them (``plt.close(fig)``).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
        return ax
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def root_figure(ax: Axes) -> Figure:
    """The top-level figure ``ax`` is drawn in (through any subfigures)."""
    figure = ax.figure
    while not isinstance(figure, Figure):
        figure = figure.figure
    return figure


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A new pyplot figure with constrained layout."""
    return plt.figure(figsize=figsize, layout="constrained")
