"""Every plot on a real sequential experiment (BCF fits each round: slow)."""

import numpy as np
import pytest
from PIL import Image

from pytyche.contracts import UncalibratedWarning
from pytyche.experiment import FixedSchedule
from pytyche.experiment.sequential import sequential_experiment
from pytyche.generators.simulated import simulated_experiment_generator
from pytyche.inference import BCFConfig
from pytyche.viz import (
    experiment_evolution_gif,
    plot_cells,
    plot_policy_tree,
    plot_round_history,
    plot_segment_intervals,
)
from pytyche.viz.policy_tree import LEAF_GID


@pytest.mark.slow
def test_plots_of_a_real_three_round_experiment(tmp_path):
    generator = simulated_experiment_generator("clustered", effect_scale=0.3, K=3, seed=1)
    exp = sequential_experiment(
        generator,
        FixedSchedule(600, 3),
        generator.treatments,
        fit_config=BCFConfig(
            num_mu_trees=20, num_tau_trees=10, num_warmup=30, num_draws=60, max_depth=4
        ),
        n_bootstrap=5,
        max_segment_depth=2,
        seed=0,
    )
    with pytest.warns(UncalibratedWarning):
        next(exp)
    for _ in exp:
        pass
    history = exp.history
    assert len(history) == 3
    fig = plot_round_history(exp)
    lift_ax, share_ax = fig.axes[:2]
    assert [c.get_label() for c in share_ax.containers] == ["control", "explore", "optimized"]
    explore = next(c for c in lift_ax.containers if c.get_label() == "explore").lines[0]
    np.testing.assert_allclose(
        explore.get_ydata(), [r.observation("explore").lift_vs_control for r in history]
    )
    fig.savefig(tmp_path / "history.png")
    latest = exp.latest
    ax = plot_policy_tree(latest)
    assert len([t for t in ax.texts if t.get_gid() == LEAF_GID]) == len(latest.segments)
    ax = plot_policy_tree(latest.next_recommendation)
    assert len([t for t in ax.texts if t.get_gid() == LEAF_GID]) == len(latest.segments)
    plot_cells(latest.next_recommendation).figure.savefig(tmp_path / "cells.png")
    fig = plot_segment_intervals(latest.analysis)
    assert fig.axes[0].get_title(loc="left") == "Intervals: uncalibrated posterior"
    path = experiment_evolution_gif(exp, tmp_path / "evolution.gif", dpi=40)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
