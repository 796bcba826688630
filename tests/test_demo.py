"""The demo's report is consistent with the experiment it ran.

The BCF fit is replaced by a fast stand-in (per-arm normal posterior of the mean outcome
within device groups) so the test checks the demo's wiring and outputs in seconds; the real
fit is exercised by ``tests/experiment/test_end_to_end.py`` and by ``make demo`` itself.
"""

import numpy as np
import pytest

from pytyche.cli import main
from pytyche.demo import DEMO_TREATMENTS, run_demo
from pytyche.experiment import load_experiment, plan_to_dict


class DeviceMeansPosterior:
    def __init__(self, data, seed):
        codes, _ = data.frame["device"].astype(str).factorize()
        rng = np.random.default_rng(seed)
        y, arm = data.y, data.arm_index
        table = np.empty((32, codes.max() + 1, data.n_arms))
        for g in range(codes.max() + 1):
            for k in range(data.n_arms):
                values = y[(codes == g) & (arm == k)]
                se = np.sqrt(y.var() / (len(values) + 10))
                mean = (values.sum() + 10 * y.mean()) / (len(values) + 10)
                table[:, g, k] = mean + se * rng.standard_normal(32)
        self._draws = np.ascontiguousarray(table[:, codes, :])

    def reward_draws(self, metric=None, *, visitors=None):
        return self._draws if visitors is None else self._draws[:, visitors]


@pytest.fixture
def stand_in_fit(monkeypatch):
    monkeypatch.setattr(
        "pytyche.experiment.sequential.fit",
        lambda data, *, config=None, seed=0, progress=False, check_mixing=True: (
            DeviceMeansPosterior(data, seed)
        ),
    )


def test_demo_reports_the_experiment_it_ran(stand_in_fit, tmp_path):
    lines = []
    exp = run_demo(tmp_path, n_visitors=800, n_bootstrap=3, figures=False, echo=lines.append)
    printed = "\n".join(lines)
    assert [r.n_visitors for r in exp.history] == [800, 1_600, 3_200]
    assert exp.config.treatments == DEMO_TREATMENTS
    for r in exp.history:
        assert r.summary_one_line() in printed
        t = r.truth_comparison
        assert f"round {r.number}: personalisation value captured" in printed
        assert f"policy accuracy vs covariate oracle {t.policy_accuracy:.3f}" in printed
        assert f"covariate oracle {t.rpv_oracle:.4f}" in printed
        assert f"latent oracle {t.rpv_latent_oracle:.4f}" in printed
        assert f"best single arm ({t.best_arm}) {t.rpv_best_arm:.4f}" in printed
    assert "graduation candidates" in printed and exp.summary in printed
    assert "uncalibrated" in printed and "calibration artifacts" in printed
    report = (tmp_path / "demo.md").read_text()
    assert "## Truth comparison (simulation truth)" in report
    assert "| round | value captured | policy | best single arm | covariate oracle |" in report
    stored = load_experiment(tmp_path / "experiment")
    assert plan_to_dict(stored.next_recommendation) == plan_to_dict(exp.next_recommendation)
    # A second run replaces the previous demo's store.
    again = run_demo(tmp_path, n_visitors=800, n_bootstrap=3, figures=False, echo=lines.append)
    assert again.history[-1].summary_one_line() == exp.history[-1].summary_one_line()


def test_demo_command_line(stand_in_fit, tmp_path, capsys, monkeypatch):
    # Rendering is pytyche.viz's to test; here only that the demo asks for the figures.
    requested = []
    monkeypatch.setattr(
        "pytyche.demo.write_figures", lambda exp, directory: requested.append(directory) or []
    )
    argv = ["demo", "--out", str(tmp_path), "--n", "600", "--seed", "1"]
    assert main(argv) == 0
    assert "round 3 of 3" in capsys.readouterr().out
    assert requested == [tmp_path / "figures"]
