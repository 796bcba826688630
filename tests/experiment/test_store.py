"""Persistence: store round trip, atomic state, and resume after a killed fit."""

import json

import numpy as np
import pandas as pd
import pytest

import pytyche as pt
import pytyche.experiment.sequential as sequential
from pytyche.contracts import UncalibratedWarning
from pytyche.experiment import load_experiment, plan_to_dict, sequential_experiment

ARMS = ("control", "low_promo", "free_ship")
SIZES = (1_000, 2_000, 2_000)


class CountingGenerator:
    """A simulated generator that records which rounds it was asked for."""

    simulated = True

    def __init__(self):
        self.inner = pt.simulated_experiment_generator(
            template="clustered_realistic", effect_scale=0.5, K=3, seed=4, treatment_names=ARMS
        )
        self.treatments = self.inner.treatments
        self.calls = []

    def __call__(self, round_index, plan):
        self.calls.append(round_index)
        return self.inner(round_index, plan)


def build(store=None, generator=None):
    generator = CountingGenerator() if generator is None else generator
    return sequential_experiment(
        generator, pt.ExplicitSchedule(SIZES), ARMS, seed=11, n_bootstrap=5, store=store
    )


def advance(exp):
    with pytest.warns(UncalibratedWarning):
        return next(exp)


class FitKilledError(RuntimeError):
    pass


def test_store_round_trip(fast_fit, tmp_path):
    exp = build(store=tmp_path / "exp")
    advance(exp)
    next(exp)
    loaded = load_experiment(tmp_path / "exp")
    assert loaded.mode == "simulation"
    assert len(loaded.history) == 2
    for original, restored in zip(exp.history, loaded.history, strict=True):
        assert restored.summary_one_line() == original.summary_one_line()
        assert restored.plan == original.plan
        assert restored.next_recommendation == original.next_recommendation
        pd.testing.assert_frame_equal(restored.data.frame, original.data.frame)
        pd.testing.assert_frame_equal(restored.segment_table(), original.segment_table())
        assert restored.recommendations == original.recommendations
        assert restored.posterior is None
        np.testing.assert_allclose(
            restored.posterior_summary["posterior"]["gate"].values,
            original.posterior_summary["posterior"]["gate"].values,
        )
    assert loaded.next_recommendation == exp.next_recommendation
    assert loaded.summary == exp.summary
    assert loaded.config == exp.config and loaded.fit_config == exp.fit_config
    state = json.loads((tmp_path / "exp" / "state.json").read_text())
    assert state["rounds_completed"] == 2 and state["interrupted"] is None
    readable = json.loads((tmp_path / "exp/rounds/round_001/result.json").read_text())
    assert readable["next_recommendation"] == plan_to_dict(exp.history[1].next_recommendation)
    assert not list((tmp_path / "exp").rglob("*.tmp"))  # atomic writes leave nothing behind


def test_save_writes_an_experiment_that_continues_identically(fast_fit, tmp_path):
    reference = build()
    advance(reference)
    reference_last = next(reference)

    exp = build()
    advance(exp)
    exp.save(tmp_path / "saved")
    with pytest.raises(FileExistsError):
        exp.save(tmp_path / "saved")
    with pytest.raises(RuntimeError, match="no generator"):
        next(load_experiment(tmp_path / "saved"))  # a custom generator is not stored
    resumed = load_experiment(tmp_path / "saved", generator=CountingGenerator())
    with pytest.warns(UncalibratedWarning):
        last = next(resumed)
    assert last.next_recommendation == reference_last.next_recommendation
    assert last.summary_one_line() == reference_last.summary_one_line()


def test_a_fit_killed_after_the_data_write_resumes_to_the_same_plan(
    fast_fit, tmp_path, monkeypatch
):
    uninterrupted = build()
    advance(uninterrupted)
    expected = next(uninterrupted)

    generator = CountingGenerator()
    exp = build(store=tmp_path / "exp", generator=generator)
    advance(exp)

    def killed(data, **kwargs):
        raise FitKilledError("process killed during the fit")

    monkeypatch.setattr(sequential, "fit", killed)
    with pytest.raises(FitKilledError):
        next(exp)
    state = json.loads((tmp_path / "exp" / "state.json").read_text())
    assert state["rounds_completed"] == 1 and state["interrupted"] == 1
    assert (tmp_path / "exp/rounds/round_001/data.parquet").exists()
    assert not (tmp_path / "exp/rounds/round_001/result.pkl").exists()

    monkeypatch.setattr(sequential, "fit", fast_fit)
    resumed_generator = CountingGenerator()
    resumed = load_experiment(tmp_path / "exp", generator=resumed_generator)
    with pytest.raises(ValueError, match="interrupted"):
        resumed.set_next_plan(resumed.next_recommendation)
    with pytest.warns(UncalibratedWarning):
        result = next(resumed)
    assert resumed_generator.calls == []  # the stored round was fitted, not pulled again
    assert result.next_recommendation == expected.next_recommendation
    assert result.summary_one_line() == expected.summary_one_line()
    ids = resumed.cumulative_data.visitor_id
    assert len(ids) == sum(SIZES[:2]) and len(np.unique(ids)) == len(ids)
    with pytest.warns(UncalibratedWarning):
        final = next(load_experiment(tmp_path / "exp", generator=CountingGenerator()))
    assert final.cumulative_visitors == sum(SIZES)


def test_store_refuses_to_mix_modes_or_reuse_a_directory(fast_fit, tmp_path):
    exp = build(store=tmp_path / "exp")
    advance(exp)
    with pytest.raises(FileExistsError, match="load_experiment"):
        build(store=tmp_path / "exp")
    real = pt.dataframe_generator([exp.history[0].data.frame])
    with pytest.raises(ValueError, match="cannot be mixed"):
        load_experiment(tmp_path / "exp", generator=real)
    with pytest.raises(FileNotFoundError, match="not a pytyche experiment store"):
        load_experiment(tmp_path / "nothing")


def test_a_stored_experiment_keeps_operator_plans(fast_fit, tmp_path):
    exp = build(store=tmp_path / "exp")
    first = advance(exp)
    plan = first.next_recommendation.with_cell(
        pt.Cell("hypothesis", pt.ArmForRule("free_ship", "visits_30d < 3"), 0.1),
        take_from="optimized",
    )
    exp.set_next_plan(plan)
    assert load_experiment(tmp_path / "exp").next_recommendation == plan


def test_a_store_written_before_relative_thresholds_keeps_absolute_ones(fast_fit, tmp_path):
    exp = build(store=tmp_path / "exp")
    advance(exp)
    assert exp.config.threshold_units == "relative" and exp.graduation_rule.units == "relative"
    meta_path = tmp_path / "exp" / "experiment.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["threshold_units"], meta["graduation_rule"]["units"]
    meta_path.write_text(json.dumps(meta))
    loaded = load_experiment(tmp_path / "exp")
    # the thresholds keep the meaning they had when the experiment was started
    assert loaded.config.threshold_units == "absolute"
    assert loaded.graduation_rule.units == "absolute"
