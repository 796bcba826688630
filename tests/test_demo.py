"""The demo's report is consistent with the data it generated."""

import numpy as np

from pytyche.cli import main
from pytyche.demo import DEMO_TREATMENTS, run_demo


def test_demo_reports_the_round_it_ran(tmp_path, capsys):
    result = run_demo(tmp_path, n_visitors=2_000, seed=3)
    data = result["data"]
    assert data.arms == DEMO_TREATMENTS
    assert data.n_visitors == 2_000
    assert sum(obs.n_visitors for obs in result["cells"]) == 2_000
    explore = next(obs for obs in result["cells"] if obs.cell_id == "explore")
    np.testing.assert_allclose(explore.observed_mean, data.y[data.cell == "explore"].mean())
    assert not result["srm"].mismatch
    report = (tmp_path / "demo.txt").read_text()
    assert "lift vs control" in report and "calibration artifacts" in report


def test_demo_command_line(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--n", "1000", "--seed", "1"]) == 0
    assert "round 1 data" in capsys.readouterr().out
