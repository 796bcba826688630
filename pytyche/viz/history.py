"""The experiment over rounds: per-cell lift and allocation, and a round-by-round GIF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.animation import PillowWriter
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from pytyche.experiment.cells import Control
from pytyche.experiment.rounds import Round
from pytyche.experiment.sequential import SequentialExperiment
from pytyche.viz._style import new_figure, percent, root_figure, wrap
from pytyche.viz.cells import plot_cells
from pytyche.viz.policy_tree import plot_policy_tree

__all__ = ["GRADUATION_GID", "experiment_evolution_gif", "plot_round_history", "rounds_of"]

GRADUATION_GID = "graduation-event"
"""``gid`` of the vertical line marking a round with graduation candidates."""
_GRADUATION_COLOUR = "#b8860b"
_MAX_PAIRS_SHOWN = 2


def rounds_of(exp_or_history: SequentialExperiment | Sequence[Round]) -> tuple[Round, ...]:
    """The completed rounds of an experiment, or a validated sequence of rounds."""
    if isinstance(exp_or_history, SequentialExperiment):
        rounds = exp_or_history.history
    elif isinstance(exp_or_history, Sequence) and not isinstance(exp_or_history, str):
        rounds = tuple(exp_or_history)
    else:
        raise TypeError(
            "exp_or_history must be a SequentialExperiment or a sequence of Round, got "
            f"{type(exp_or_history).__name__}"
        )
    if not rounds:
        raise ValueError("exp_or_history has no completed round to draw; run a round first")
    for position, item in enumerate(rounds):
        if not isinstance(item, Round):
            raise TypeError(f"history[{position}] must be a Round, got {type(item).__name__}")
    return rounds


def plot_round_history(
    exp_or_history: SequentialExperiment | Sequence[Round], axes: Sequence[Axes] | None = None
) -> Figure:
    """Per-cell observed lift and traffic allocation over rounds, graduation marked.

    Top: each non-Control cell's observed lift over the Control cell, with its interval
    (observed data, :class:`~pytyche.experiment.observations.CellObservation`), one series
    per cell id. Bottom: the traffic split each round shipped, as stacked bars. Rounds in
    which the graduation rule nominated (treatment, segment) pairs are marked by a
    vertical line across both panels and the pairs are named (pytyche never ships them).

    Parameters
    ----------
    exp_or_history : SequentialExperiment or sequence of Round
        The experiment (its ``history``) or its rounds, oldest first.
    axes : pair of matplotlib.axes.Axes, optional
        (lift axes, allocation axes); a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        Lift axes: one errorbar container per cell (label = cell id). Allocation axes: one
        bar container per cell id (label = cell id, one bar per round). Graduation lines
        have ``gid`` :data:`GRADUATION_GID`.
    """
    rounds = rounds_of(exp_or_history)
    if axes is None:
        figure = new_figure(figsize=(max(7.0, 1.6 * len(rounds) + 4.0), 7.0))
        lift_ax, share_ax = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    else:
        if len(axes) != 2 or not all(isinstance(a, Axes) for a in axes):
            raise TypeError("axes must be a pair of matplotlib Axes or None")
        lift_ax, share_ax = axes
        figure = root_figure(lift_ax)
    cell_ids = list(dict.fromkeys(c.id for r in rounds for c in r.plan.cells))
    colours = dict(zip(cell_ids, sns.color_palette("muted", len(cell_ids)), strict=True))
    numbers = np.array([r.number for r in rounds])
    _draw_lifts(lift_ax, rounds, cell_ids, colours, numbers)
    _draw_allocation(share_ax, rounds, cell_ids, colours, numbers)
    _mark_graduation(lift_ax, share_ax, rounds)
    share_ax.set_xticks(numbers, [str(n) for n in numbers])
    share_ax.set_xlabel("round")
    share_ax.set_xlim(numbers[0] - 0.6, numbers[-1] + 0.6)
    return figure


def _draw_lifts(
    ax: Axes, rounds: tuple[Round, ...], cell_ids: list, colours: dict, numbers: np.ndarray
) -> None:
    control_ids = {c.id for r in rounds for c in r.plan.cells if isinstance(c.policy, Control)}
    shown = [cell for cell in cell_ids if cell not in control_ids]
    offsets = np.linspace(-0.15, 0.15, len(shown)) if len(shown) > 1 else [0.0]
    for cell, offset in zip(shown, offsets, strict=True):
        lift = np.full(len(rounds), np.nan)
        low, high = lift.copy(), lift.copy()
        for i, r in enumerate(rounds):
            observation = r.observation(cell)
            if observation is not None:
                lift[i] = observation.lift_vs_control
                low[i], high[i] = observation.lift_vs_control_ci
        if np.all(np.isnan(lift)):
            continue
        ax.errorbar(
            numbers + offset,
            lift,
            yerr=np.vstack([lift - low, high - lift]),
            fmt="o-",
            color=colours[cell],
            capsize=3,
            label=cell,
        )
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    levels = sorted({o.ci_level for r in rounds for o in r.observations})
    outcome = rounds[0].data.outcome
    ax.set_ylabel(f"lift vs control ({outcome})")
    ax.set_title(
        f"Observed lift of each cell over Control ({', '.join(map(percent, levels))} "
        "intervals, observed data)",
        loc="left",
        fontsize=10,
    )
    ax.legend(title="cell", fontsize=8, title_fontsize=8, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)


def _draw_allocation(
    ax: Axes, rounds: tuple[Round, ...], cell_ids: list, colours: dict, numbers: np.ndarray
) -> None:
    bottom = np.zeros(len(rounds))
    for cell in cell_ids:
        weights = np.array(
            [next((c.weight for c in r.plan.cells if c.id == cell), 0.0) for r in rounds]
        )
        ax.bar(numbers, weights, bottom=bottom, color=colours[cell], width=0.6, label=cell)
        for x, weight, base in zip(numbers, weights, bottom, strict=True):
            if weight >= 0.08:
                ax.text(
                    x,
                    base + weight / 2,
                    percent(weight),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white",
                )
        bottom += weights
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("traffic shipped")
    ax.legend(
        title="cell", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    ax.spines[["top", "right"]].set_visible(False)


def _mark_graduation(lift_ax: Axes, share_ax: Axes, rounds: tuple[Round, ...]) -> None:
    marked = False
    for r in rounds:
        if not r.graduation:
            continue
        marked = True
        for ax in (lift_ax, share_ax):
            ax.axvline(
                r.number,
                color=_GRADUATION_COLOUR,
                linewidth=2,
                linestyle=":",
                gid=GRADUATION_GID,
                zorder=0,
            )
        pairs = [f"{p.treatment} [{p.rule}]" for p in r.graduation[:_MAX_PAIRS_SHOWN]]
        if len(r.graduation) > _MAX_PAIRS_SHOWN:
            pairs.append(f"+{len(r.graduation) - _MAX_PAIRS_SHOWN} more")
        lift_ax.annotate(
            "graduation:\n" + "\n".join(wrap(p, 28) for p in pairs),
            xy=(r.number, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -4),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            color=_GRADUATION_COLOUR,
        )
    if marked:
        handles, labels = lift_ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color=_GRADUATION_COLOUR, linestyle=":", linewidth=2))
        labels.append("graduation candidates")
        lift_ax.legend(
            handles, labels, title="cell", fontsize=8, title_fontsize=8, loc="upper left"
        )


def experiment_evolution_gif(
    history: SequentialExperiment | Sequence[Round],
    path: str | Path,
    *,
    fps: float = 0.5,
    dpi: int = 80,
) -> Path:
    """Write an animated GIF with one frame per round: allocation and policy tree.

    Each frame shows the traffic split the round shipped (:func:`plot_cells`) beside the
    policy tree found after it (:func:`plot_policy_tree` of the round's analysis).

    Parameters
    ----------
    history : SequentialExperiment or sequence of Round
        The experiment or its rounds, oldest first (at least one).
    path : str or Path
        Output file; must end in ``.gif``.
    fps : float
        Frames per second (default 0.5: two seconds per round).
    dpi : int
        Resolution of the frames.

    Returns
    -------
    Path
        The written file.
    """
    rounds = rounds_of(history)
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"path must end in .gif, got {str(path)!r}")
    if not (isinstance(fps, int | float) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    # A bare Figure (not pyplot): nothing global is left open, and no display is needed.
    figure = Figure(figsize=(15.0, 6.0), layout="constrained")
    cells_ax, tree_ax = figure.subplots(1, 2, width_ratios=[2, 3])
    writer = PillowWriter(fps=fps)  # type: ignore[arg-type]  # fractional fps work
    with writer.saving(figure, str(path), dpi):
        for r in rounds:
            cells_ax.clear()
            tree_ax.clear()
            plot_cells(r.plan, ax=cells_ax)
            plot_policy_tree(r.analysis, ax=tree_ax)
            total = f" of {r.n_rounds}" if r.n_rounds is not None else ""
            figure.suptitle(
                f"Round {r.number}{total}: {r.n_visitors:,} visitors "
                f"({r.cumulative_visitors:,} cumulative); {len(r.graduation)} graduation "
                "candidates",
                fontsize=12,
            )
            writer.grab_frame()
    return path
