"""The traffic split of a plan: one bar per cell with its share and policy."""

from __future__ import annotations

from collections.abc import Sequence

import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from pytyche.experiment.cells import Cell, validate_cell_weights
from pytyche.experiment.optimized import Optimized
from pytyche.experiment.plan import NextRoundPlan
from pytyche.viz._style import new_axes, percent, wrap

__all__ = ["plot_cells", "policy_summary"]

_INSIDE_FROM = 0.55
"""Bars longer than this share carry their label inside, so it stays within the axes."""
_LINE_WIDTH = 48
_MAX_LINES = 2


def policy_summary(cell: Cell) -> str:
    """A cell's policy in at most two short lines (long descriptions are shortened)."""
    if isinstance(cell.policy, Optimized):
        count = len(cell.policy.segments)
        return f"Thompson sampling within {count} policy-tree segment{'s' * (count != 1)}"
    lines = wrap(cell.policy.describe(), _LINE_WIDTH).split("\n")
    if len(lines) > _MAX_LINES:
        lines = [*lines[: _MAX_LINES - 1], lines[_MAX_LINES - 1].rstrip() + " …"]
    return "\n".join(lines)


def plot_cells(cells_or_plan: NextRoundPlan | Sequence[Cell], ax: Axes | None = None) -> Axes:
    """Horizontal bars of a round's traffic split.

    One bar per cell, in plan order from the top: its length is the cell's weight (share of
    the round's visitors), its tick label the cell id, and its annotation the weight in
    percent followed by the policy's one-line description.

    Parameters
    ----------
    cells_or_plan : NextRoundPlan or sequence of Cell
        A plan (its size and arms go in the title) or its cells.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure by default.

    Returns
    -------
    matplotlib.axes.Axes
        Bars in ``ax.patches`` (one per cell, plan order); annotations in ``ax.texts``.
    """
    if isinstance(cells_or_plan, NextRoundPlan):
        plan: NextRoundPlan | None = cells_or_plan
        cells = cells_or_plan.cells
    else:
        plan = None
        try:
            cells = validate_cell_weights(cells_or_plan)
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"cells_or_plan must be a NextRoundPlan or a valid split of Cells: {error}"
            ) from None
    ax = new_axes(ax, figsize=(8.0, 1.2 + 0.6 * len(cells)))
    positions = range(len(cells))
    colours = sns.color_palette("muted", len(cells))
    weights = [cell.weight for cell in cells]
    ax.barh(positions, weights, color=colours, height=0.6)
    for position, cell in zip(positions, cells, strict=True):
        label = f"{percent(cell.weight)}: {policy_summary(cell)}"
        # Inside the bar only when the label fits in it (≈ 1.4% of the axis per character).
        inside = cell.weight > _INSIDE_FROM and 0.014 * len(label) < cell.weight - 0.02
        ax.text(
            0.01 if inside else cell.weight + 0.01,
            position,
            label,
            va="center",
            ha="left",
            fontsize=9,
            color="white" if inside else "black",
            fontweight="bold" if inside else "normal",
        )
    ax.set_yticks(list(positions), [cell.id for cell in cells])
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xlabel("share of the round's visitors")
    ax.set_ylabel("cell")
    ax.spines[["top", "right"]].set_visible(False)
    if plan is None:
        ax.set_title("Traffic split")
    else:
        ax.set_title(
            f"Traffic split of {plan.n_visitors:,} visitors over arms {', '.join(plan.treatments)}"
        )
    return ax
