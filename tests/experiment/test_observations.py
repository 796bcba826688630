"""Tests of per-cell observations against scipy's independent t machinery."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pytyche.contracts import ClaimLevel
from pytyche.data import DataValidationError, RoundData
from pytyche.experiment.observations import observe_cells

ARMS = ("control", "a", "b")


def make_round(seed=0, n=3_000):
    rng = np.random.default_rng(seed)
    cell = rng.choice(["control", "explore", "optimized"], n, p=[0.3, 0.3, 0.4])
    arm = np.where(cell == "control", "control", rng.choice(ARMS, n))
    revenue = np.where(rng.random(n) < 0.2, rng.lognormal(2, 1, n), 0.0)
    revenue[cell == "optimized"] *= 1.3
    frame = pd.DataFrame({"x": rng.normal(size=n), "arm": arm, "cell": cell, "revenue": revenue})
    return RoundData.from_frame(frame, arms=ARMS), frame


def test_observations_match_scipy_welch_and_t_intervals():
    data, frame = make_round()
    observations = {o.cell_id: o for o in observe_cells(data, ci_level=0.8)}
    assert list(observations) == list(dict.fromkeys(frame["cell"]))
    control = frame.loc[frame.cell == "control", "revenue"].to_numpy()
    for cell_id, obs in observations.items():
        y = frame.loc[frame.cell == cell_id, "revenue"].to_numpy()
        assert obs.n_visitors == len(y)
        assert obs.claim_level is ClaimLevel.OBSERVED
        np.testing.assert_allclose(obs.observed_mean, y.mean())
        t_ci = stats.t.interval(0.8, len(y) - 1, loc=y.mean(), scale=stats.sem(y))
        np.testing.assert_allclose(obs.observed_mean_ci, t_ci, rtol=1e-10)
        if cell_id == "control":
            assert obs.lift_vs_control == 0.0 and obs.lift_vs_control_ci == (0.0, 0.0)
            continue
        welch = stats.ttest_ind(y, control, equal_var=False)
        np.testing.assert_allclose(obs.lift_vs_control, y.mean() - control.mean())
        lo, hi = welch.confidence_interval(0.8)
        np.testing.assert_allclose(obs.lift_vs_control_ci, (lo, hi), rtol=1e-8)


def test_observations_need_cells_and_a_control_cell():
    data, frame = make_round()
    with pytest.raises(DataValidationError, match="control_cell 'holdout'"):
        observe_cells(data, control_cell="holdout")
    no_cells = RoundData.from_frame(frame.drop(columns=["cell"]), arms=ARMS)
    with pytest.raises(DataValidationError, match="'cell' column"):
        observe_cells(no_cells)
    with pytest.raises(ValueError, match="ci_level"):
        observe_cells(data, ci_level=1.5)
