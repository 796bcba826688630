"""plot_round_history and experiment_evolution_gif on real Round objects."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from pytyche.experiment import cold_start_plan
from pytyche.experiment.optimized import Optimized
from pytyche.viz import (
    experiment_evolution_gif,
    plot_cells,
    plot_policy_tree,
    plot_round_history,
)
from pytyche.viz.history import GRADUATION_GID
from pytyche.viz.policy_tree import LEAF_GID, SHARE_GID_PREFIX, SPLIT_GID


def test_history_lifts_allocation_and_graduation(history, tmp_path):
    fig = plot_round_history(history)
    lift_ax, share_ax = fig.axes[:2]
    # Control is the reference (lift exactly 0), so only the other cells get a series.
    series = {c.get_label(): c.lines[0] for c in lift_ax.containers}
    assert list(series) == ["explore", "optimized"]
    for cell, line in series.items():
        expected = [
            np.nan if r.observation(cell) is None else r.observation(cell).lift_vs_control
            for r in history
        ]
        np.testing.assert_allclose(line.get_ydata(), expected)
    assert np.isnan(series["optimized"].get_ydata()[0])  # round 1 ran no Optimized cell
    bars = {c.get_label(): [b.get_height() for b in c] for c in share_ax.containers}
    assert list(bars) == ["control", "explore", "optimized"]
    np.testing.assert_allclose(bars["control"], [0.5, 0.05, 0.05])
    np.testing.assert_allclose(bars["explore"], [0.5, 0.05, 0.05])
    np.testing.assert_allclose(bars["optimized"], [0.0, 0.9, 0.9])
    graduating = [r.number for r in history if r.graduation]
    assert graduating == [2, 3]
    lines = [ln for ax in (lift_ax, share_ax) for ln in ax.lines if ln.get_gid() == GRADUATION_GID]
    assert sorted(ln.get_xdata()[0] for ln in lines) == [2, 2, 3, 3]
    notes = [t.get_text() for t in lift_ax.texts if t.get_text().startswith("graduation")]
    assert len(notes) == 2
    first = history[1].graduation[0]
    assert f"{first.treatment} [" in notes[0]
    assert [t.get_text() for t in share_ax.get_xticklabels()] == ["1", "2", "3"]
    assert share_ax.get_xlabel() == "round"
    assert "revenue" in lift_ax.get_ylabel()
    fig.savefig(tmp_path / "history.png")


def test_gif_has_one_frame_per_round(history, tmp_path):
    path = experiment_evolution_gif(history, tmp_path / "evolution.gif", fps=2, dpi=40)
    assert path == tmp_path / "evolution.gif"
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(history)
        assert gif.info["duration"] == 500
        assert gif.size == (15 * 40, 6 * 40)


def test_gif_and_history_reject_bad_input(history, tmp_path):
    with pytest.raises(ValueError, match="no completed round"):
        experiment_evolution_gif((), tmp_path / "empty.gif")
    with pytest.raises(ValueError, match=r"\.gif"):
        experiment_evolution_gif(history, tmp_path / "evolution.png")
    with pytest.raises(TypeError, match=r"history\[0\] must be a Round"):
        plot_round_history([history[0].plan])


def test_round_and_plan_trees(history):
    latest = history[-1]
    ax = plot_policy_tree(latest)
    assert len([t for t in ax.texts if t.get_gid() == LEAF_GID]) == len(latest.segments)
    plan = latest.next_recommendation
    ax = plot_policy_tree(plan)
    assert [t.get_text() for t in ax.texts if t.get_gid() == SPLIT_GID] == [
        "optimized cell: 90% of traffic"
    ]
    leaves = [t.get_text().replace(" and\n", " and ") for t in ax.texts if t.get_gid() == LEAF_GID]
    assert [leaf.split("\n")[0] for leaf in leaves] == [str(s.rule) for s in latest.segments]
    with pytest.raises(ValueError, match="no Optimized"):
        plot_policy_tree(cold_start_plan(plan.treatments, 100))
    ax = plot_cells(plan)
    assert ax.texts[2].get_text() == "90%: Thompson sampling within 4 policy-tree segments"


def test_round_tree_shows_the_shares_its_plan_ships(history):
    latest = history[-1]
    policy = Optimized.from_segmentation(latest.analysis, epsilon=0.1)
    plan = latest.next_recommendation
    cells = tuple(
        dataclasses.replace(c, policy=policy) if isinstance(c.policy, Optimized) else c
        for c in plan.cells
    )
    shipped = dataclasses.replace(latest, next_recommendation=plan.replace_cells(cells))
    ax = plot_policy_tree(shipped)
    pieces = [p for p in ax.patches if str(p.get_gid()).startswith(SHARE_GID_PREFIX)]
    assert len(pieces) == len(latest.segments) * 3
    for piece in pieces:
        _, leaf, arm = piece.get_gid().split(":")
        weight = policy.segments[int(leaf)].weights[arm]
        assert piece.get_width() == pytest.approx(0.8 * weight)
        assert weight >= 0.1 - 1e-12  # the plan's floor, not the default 0.02
