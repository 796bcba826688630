"""The calibration artifact bundled with the package (hurdle BCF, clustered family, K = 3).

It must load, be listed by ``check_setup()``, point at the committed sweep spec it was fitted
from (same spec hash), be reproducible from the committed training result, accept exactly
its regime, and correct coverage on the committed held-out sweep. The slow test reruns a
fresh held-out sweep (new seed) and checks calibrated GATE coverage against nominal.
"""

from __future__ import annotations

import importlib.resources
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pytyche
from pytyche.calibration import (
    Calibration,
    CalibrationRangeWarning,
    evaluate_calibration,
    fit_calibration,
)
from pytyche.calibration.artifact import Regime
from pytyche.data import RoundData
from pytyche.sbc import load_result, load_spec, parse_spec, run_sweep

ROOT = Path(__file__).resolve().parents[2]
NAME = "hurdle-bcf-clustered-cpu-wide"
TRAIN_SPEC = ROOT / "sbc" / "sweeps" / f"{NAME}.toml"
TRAIN_RESULT = ROOT / "sbc" / "results" / f"{NAME}.nc"
HOLDOUT = "hurdle-bcf-clustered-cpu-holdout"
HOLDOUT_SPEC = ROOT / "sbc" / "sweeps" / f"{HOLDOUT}.toml"
HOLDOUT_RESULT = ROOT / "sbc" / "results" / f"{HOLDOUT}.nc"


def bundled() -> Calibration:
    resource = importlib.resources.files("pytyche") / "calibration" / "artifacts" / f"{NAME}.json"
    with importlib.resources.as_file(resource) as path:
        return Calibration.load(path)


def hurdle_data(num_arms: int, n: int = 1200, family: str = "hurdle") -> RoundData:
    rng = np.random.default_rng(0)
    arms = ["control", "low_promo", "free_ship", "loyalty_points"][:num_arms]
    revenue = np.where(rng.random(n) < 0.1, rng.lognormal(3, 0.6, n), 0.0)
    if family == "binary":
        revenue = (revenue > 0).astype(float)
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "arm": np.asarray(arms)[np.arange(n) % num_arms]}
    )
    frame["revenue"] = revenue
    return RoundData.from_frame(frame, arms=arms, outcome="revenue", family=family)


def test_bundled_artifact_loads_and_is_listed():
    calibration = bundled()
    assert (calibration.family, calibration.metric, calibration.num_arms) == (
        "hurdle",
        "revenue_per_visitor",
        3,
    )
    assert calibration.model == "hurdle_bcf"
    assert calibration.sweep_id == NAME
    assert calibration.scale_range == (1_000, 10_000)
    assert all(q.startswith("gate_") for q in calibration.quantities)
    assert f"{NAME}.json" in pytyche.check_setup().bundled_calibrations


def test_bundled_artifact_comes_from_the_committed_spec_and_result():
    calibration = bundled()
    assert calibration.spec_hash == load_spec(TRAIN_SPEC).spec_hash
    refit = fit_calibration(load_result(TRAIN_RESULT), quantities=("gate_*",))
    np.testing.assert_allclose(refit.inflation, calibration.inflation, rtol=1e-12)
    assert refit.scales == calibration.scales
    assert refit.num_replicates == calibration.num_replicates
    # the raw posterior undercovers on this CPU config: every factor widens
    assert np.all(calibration.inflation > 1)


def test_applies_to_accepts_its_regime_in_range_and_refuses_others():
    calibration = bundled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in range: no warning
        assert calibration.applies_to(hurdle_data(3, n=1200))
        assert calibration.applies_to(Regime("hurdle", "revenue_per_visitor", 3, 10_000))
    with pytest.warns(CalibrationRangeWarning, match="outside"):
        assert calibration.applies_to(Regime("hurdle", "revenue_per_visitor", 3, 300))
    assert not calibration.applies_to(hurdle_data(2))
    assert not calibration.applies_to(hurdle_data(4))
    assert not calibration.applies_to(hurdle_data(3, family="binary"))
    assert not calibration.applies_to(hurdle_data(3), metric="conversion_rate")


def test_bundled_artifact_restores_coverage_on_the_committed_held_out_sweep():
    """Held-out sweep (other seed and effect sizes): calibrated 90% GATE coverage ≈ 0.9."""
    holdout = load_result(HOLDOUT_RESULT)
    assert holdout.attrs["spec_hash"] == load_spec(HOLDOUT_SPEC).spec_hash
    table = evaluate_calibration(bundled(), holdout)
    for row in table.itertuples():
        # replicates counted once (their 8 GATEs are dependent): conservative 3.5 MC sd
        tolerance = 3.5 * np.sqrt(row.level * (1 - row.level) / row.replicates)
        assert abs(row.calibrated_coverage - row.level) < tolerance, row
        assert row.raw_coverage <= row.calibrated_coverage, row
    assert np.all(table[table.level == 0.9].raw_coverage < 0.9)


@pytest.mark.slow
def test_fresh_held_out_sweep_is_calibrated(tmp_path):
    """A new held-out sweep (seed 10, 60 replicates at n = 1k and 3k): calibrated coverage of
    the segment GATEs within Monte Carlo error of nominal at every level, raw below it."""
    text = HOLDOUT_SPEC.read_text()
    text = text.replace('id = "hurdle-bcf-clustered-cpu-holdout"', 'id = "fresh-holdout"')
    text = text.replace("seed = 9", "seed = 10").replace(
        "scales = [1_000, 3_000, 10_000]", "scales = [1_000, 3_000]"
    )
    text = text.replace("replicates = [100, 100, 60]", "replicates = 60")
    spec = parse_spec(text)
    assert spec.seed == 10 and spec.scales == (1_000, 3_000)
    result = run_sweep(spec, tmp_path / "fresh.nc").result
    table = evaluate_calibration(bundled(), result)
    print(table.to_string(index=False, float_format="%.3f"))  # the numbers, with pytest -s
    assert len(table) == 8
    for row in table.itertuples():
        tolerance = 3 * np.sqrt(row.level * (1 - row.level) / row.replicates)
        assert abs(row.calibrated_coverage - row.level) < tolerance, row
    ninety = table[table.level == 0.9]
    assert np.all(ninety.raw_coverage < 0.9)


def test_bundled_artifact_records_its_fit_config_and_warns_for_another():
    from pytyche.calibration import CalibrationConfigWarning
    from pytyche.inference import BCFConfig

    calibration = bundled()
    sweep_fit = load_spec(TRAIN_SPEC).to_dict()["fit"]
    assert calibration.fit_config == sweep_fit
    same = BCFConfig(num_mu_trees=30, num_tau_trees=10, num_warmup=100, num_draws=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calibration.check_config(same)
    with pytest.warns(
        CalibrationConfigWarning, match="num_mu_trees: fitted with 30, used with 200"
    ):
        assert not calibration.check_config(BCFConfig())
    assert Calibration.from_dict(calibration.to_dict()).fit_config == calibration.fit_config


def test_an_experiment_with_another_fit_config_warns_at_construction():
    from pytyche.calibration import CalibrationConfigWarning

    arms = ("control", "low_promo", "free_ship")
    generator = pytyche.simulated_experiment_generator(
        "clustered_realistic", K=3, seed=0, treatment_names=arms
    )
    schedule = pytyche.GeometricSchedule(initial=1_000, growth=2.0, n_rounds=2)
    with pytest.warns(CalibrationConfigWarning, match="unmeasured for this fit configuration"):
        pytyche.sequential_experiment(generator, schedule, arms, calibration=bundled())
