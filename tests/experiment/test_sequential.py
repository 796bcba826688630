"""The sequential loop's mechanics: floors, plans, modes, validation and drift.

These tests replace the BCF by the fast group-means posterior of ``conftest.py`` (the loop
only needs ``reward_draws()``); ``test_end_to_end.py`` runs the real fit.
"""

import functools
import itertools
import operator
import warnings

import numpy as np
import pandas as pd
import pytest

import pytyche as pt
from pytyche.contracts import UncalibratedWarning, reveal_truth
from pytyche.experiment import (
    ArmForRule,
    Cell,
    Control,
    Explore,
    NextRoundPlan,
    Optimized,
    check_drift,
    load_experiment,
    sequential_experiment,
)
from pytyche.generators import dataframe_generator

ARMS = ("control", "low_promo", "free_ship")


def generator(template="clustered_realistic", effect_scale=0.5, seed=1, **kwargs):
    return pt.simulated_experiment_generator(
        template=template,
        effect_scale=effect_scale,
        K=3,
        seed=seed,
        treatment_names=ARMS,
        **kwargs,
    )


def experiment(gen=None, sizes=(1_000, 2_000, 2_000), **kwargs):
    gen = generator() if gen is None else gen
    settings = {"seed": 7, "n_bootstrap": 5} | kwargs
    return sequential_experiment(gen, pt.ExplicitSchedule(sizes), ARMS, **settings)


def run_all(exp):
    with pytest.warns(UncalibratedWarning):
        first = next(exp)
    return [first, *exp]


def test_rounds_follow_the_schedule_and_recommend_floored_plans(fast_fit):
    gen = generator()
    exp = experiment(gen)
    rounds = run_all(exp)
    assert [r.index for r in rounds] == [0, 1, 2]
    assert [r.n_visitors for r in rounds] == [1_000, 2_000, 2_000]
    assert [r.cumulative_visitors for r in rounds] == [1_000, 3_000, 5_000]
    assert rounds[0].plan.cell_ids == ("control", "explore")
    assert [c.weight for c in rounds[0].plan.cells] == [0.5, 0.5]
    for previous, current in itertools.pairwise(rounds):
        assert current.plan == previous.next_recommendation
        assert current.plan.cell_ids == ("control", "explore", "optimized")
        assert [c.weight for c in current.plan.cells] == pytest.approx([0.05, 0.05, 0.9])
        assert isinstance(current.plan.cells[2].policy, Optimized)
    assert rounds[0].drift is None and rounds[1].drift is not None
    assert rounds[-1].schedule_exhausted and not rounds[0].schedule_exhausted
    assert exp.finished
    with pytest.raises(StopIteration):
        next(exp)
    assert [h.summary_one_line() for h in exp.history] == [r.summary_one_line() for r in rounds]
    assert exp.history[-1].posterior is not None and exp.history[0].posterior is None
    for r in rounds:
        served = {o.cell_id: o.n_visitors for o in r.observations}
        assert sum(served.values()) == r.n_visitors
        assert set(served) <= set(r.plan.cell_ids)
        assert r.truth_comparison is not None
        expected_accuracy, expected_policy_value = policy_accuracy_from_truth(gen, rounds, r)
        assert r.truth_comparison.policy_accuracy == pytest.approx(expected_accuracy, abs=1e-12)
        assert r.truth_comparison.rpv_policy == pytest.approx(expected_policy_value, rel=1e-12)
        assert r.summary_one_line().startswith(f"round {r.number} of 3")
        assert "uncalibrated posterior" in repr(r)
        assert "<h4>Round" in r._repr_html_()
        assert len(r.recommendations) == 2 * len(r.analysis.segments)


def policy_accuracy_from_truth(gen, rounds, r):
    """Round ``r``'s policy accuracy and policy value, computed here from the planted truth.

    The generator is deterministic per (seed, round, plan), so re-pulling every round up to
    ``r`` gives the truth of the cumulative visitors; the analysed visitors are
    ``r.analysis_rows`` of them, each recommended its policy-tree leaf's arm.
    """
    pulled = [gen(i, rounds[i].plan) for i in range(r.index + 1)]
    for (data, _), earlier in zip(pulled, rounds, strict=False):
        pd.testing.assert_frame_equal(data.frame, earlier.data.frame)
    truth = reveal_truth(functools.reduce(operator.add, [t for _, t in pulled]))
    ids = np.concatenate([data.visitor_id for data, _ in pulled])[r.analysis_rows]
    rpv = truth.rpv[pd.Index(truth.visitor_id).get_indexer(ids)]
    recommended = np.asarray(r.analysis.tree.leaf_arms)[r.analysis.leaf_index]
    chosen = rpv[np.arange(len(rpv)), recommended]
    optimal = chosen >= rpv.max(axis=1) - 1e-9  # ties count as optimal
    return float(optimal.mean()), float(chosen.mean())


def test_floors_hold_every_round_even_when_one_arm_dominates(fast_fit):
    # free_ship multiplies revenue for everyone: the model becomes certain of it.
    exp = experiment(
        generator(
            effect_scale=1.5,
            effect_profiles={c: [(-1.0, -1.0), (1.0, 1.0)] for c in _clusters()},
        ),
        sizes=(1_000, 3_000, 3_000, 3_000),
    )
    rounds = run_all(exp)
    for r in rounds[1:]:
        weights = {c.id: c.weight for c in r.plan.cells}
        assert weights["control"] >= 0.05 and weights["explore"] >= 0.05
        optimized = r.plan.cell("optimized").policy
        assert all(min(s.weights.values()) >= 0.02 - 1e-12 for s in optimized.segments)
        # The floors are served, not only planned: binomial 99.9% lower bound.
        n_control = np.sum(r.data.cell == "control")
        assert n_control >= 0.05 * r.n_visitors - 3.1 * np.sqrt(0.05 * 0.95 * r.n_visitors)
        served = r.data.arm_index[r.data.cell == "explore"]
        assert set(np.unique(served)) == {0, 1, 2}
    last = rounds[-1].next_recommendation.cell("optimized").policy
    assert all(max(s.weights, key=s.weights.get) == "free_ship" for s in last.segments)


def _clusters():
    from pytyche.generators.templates import CLUSTERS

    return CLUSTERS


def test_operator_can_add_a_hypothesis_cell_or_replace_the_plan(fast_fit):
    exp = experiment()
    with pytest.warns(UncalibratedWarning):
        first = next(exp)
    hypothesis = Cell("hypothesis", ArmForRule("free_ship", "visits_30d < 3"), 0.2)
    plan = first.next_recommendation.with_cell(hypothesis, take_from="optimized")
    exp.set_next_plan(plan)
    assert exp.next_recommendation == plan
    second = next(exp)
    assert second.plan == plan
    assert second.observation("hypothesis").n_visitors > 0
    hypothesis_rows = second.data.frame[second.data.cell == "hypothesis"]
    arms = hypothesis_rows["arm"].to_numpy()
    few = hypothesis_rows["visits_30d"].to_numpy() < 3
    assert np.all(arms[few] == "free_ship") and np.all(arms[~few] == "control")

    replacement = NextRoundPlan(
        2_000, (Cell("control", Control(), 0.5), Cell("explore", Explore(), 0.5)), ARMS
    )
    exp.set_next_plan(replacement)
    assert next(exp).plan == replacement


def test_plans_below_the_floors_or_with_other_arms_are_rejected(fast_fit):
    exp = experiment()
    starved = NextRoundPlan(
        1_000, (Cell("control", Control(), 0.01), Cell("explore", Explore(), 0.99)), ARMS
    )
    with pytest.raises(ValueError, match="min_control_weight"):
        exp.set_next_plan(starved)
    no_explore = NextRoundPlan(
        1_000,
        (
            Cell("control", Control(), 0.5),
            Cell("h", ArmForRule("low_promo", "visits_30d < 3"), 0.5),
        ),
        ARMS,
    )
    with pytest.raises(ValueError, match="min_explore_weight"):
        exp.set_next_plan(no_explore)
    other_arms = NextRoundPlan(
        1_000, (Cell("control", Control(), 0.5), Cell("explore", Explore(), 0.5)), ("a", "b")
    )
    with pytest.raises(ValueError, match="differ"):
        exp.set_next_plan(other_arms)


def test_configuration_is_validated_at_construction():
    gen = generator()
    schedule = pt.FixedSchedule(1_000, 2)
    with pytest.raises(ValueError, match="at most 1"):
        sequential_experiment(gen, schedule, ARMS, min_control_weight=0.6, min_explore_weight=0.5)
    with pytest.raises(ValueError, match="max_segment_depth"):
        sequential_experiment(gen, schedule, ARMS, max_segment_depth=9)
    with pytest.raises(ValueError, match="generator's arms"):
        sequential_experiment(gen, schedule, ("control", "x", "y"))
    with pytest.raises(TypeError, match="unexpected arguments"):
        sequential_experiment(gen, schedule, ARMS, max_depth=2)
    with pytest.raises(TypeError, match="schedule"):
        sequential_experiment(gen, [1_000, 2_000], ARMS)
    with pytest.raises(TypeError, match="calibration"):
        sequential_experiment(gen, schedule, ARMS, calibration="artifact.json")
    with pytest.raises(TypeError, match="fit_config"):
        sequential_experiment(gen, schedule, ARMS, fit_config={"num_draws": 10})


def test_simulation_and_real_rounds_cannot_be_mixed(fast_fit):
    exp = experiment()
    with pytest.warns(UncalibratedWarning):
        first = next(exp)
    with pytest.raises(ValueError, match="cannot be mixed"):
        exp.ingest(first.data)

    sim = generator()
    frames = [sim(0, pt.cold_start_plan(ARMS, 1_000))[0].frame]

    class Flipping:
        """Real data in round 0, then simulated rounds: not allowed."""

        def __call__(self, round_index, plan):
            if round_index == 0:
                return dataframe_generator(frames, id_column="visitor_id")(0, plan)
            return sim(round_index, plan)

    flipping = sequential_experiment(
        Flipping(), pt.FixedSchedule(1_000, 2), ARMS, seed=1, n_bootstrap=0
    )
    with pytest.warns(UncalibratedWarning):
        next(flipping)
    assert flipping.mode == "real"
    with pytest.raises(ValueError, match="cannot be mixed"):
        next(flipping)


def test_real_data_rounds_are_ingested_without_truth(fast_fit):
    sim = generator()
    exp = sequential_experiment(None, pt.FixedSchedule(1_000, 2), ARMS, seed=2, n_bootstrap=0)
    with pytest.raises(RuntimeError, match="no generator"):
        next(exp)
    data, _ = sim(0, exp.next_recommendation)
    with pytest.warns(UncalibratedWarning):
        first = exp.ingest(data)
    assert exp.mode == "real" and first.truth_comparison is None
    assert "simulation truth" not in exp.summary
    foreign = data.frame.assign(cell="elsewhere")
    bad = pt.RoundData.from_frame(
        foreign, arms=ARMS, id_column="visitor_id", categorical=["device", "region"]
    )
    with pytest.raises(ValueError, match="not in the plan"):
        exp.ingest(bad)


def test_uncalibrated_warning_is_issued_once_and_summaries_say_so(fast_fit, tmp_path):
    exp = experiment(sizes=(1_000, 1_000), store=tmp_path / "exp")
    with pytest.warns(UncalibratedWarning) as record:
        next(exp)
    assert len([w for w in record if w.category is UncalibratedWarning]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncalibratedWarning)
        second = next(exp)
    summary = exp.summary
    assert "uncalibrated" in summary
    assert all(s.claim_level.value == "uncalibrated posterior" for s in second.analysis.segments)
    assert "Round 2 of 2 is complete" in summary
    # confidence follows its definition (pytyche.experiment.summary) and the summary says it
    credible, graduating = bool(second.credible_segments), bool(exp.graduation_candidates())
    expected = "high" if credible and graduating else "medium" if credible or graduating else "low"
    assert exp.confidence == expected
    assert summary.endswith(f"Confidence: {expected}.")
    # the same text from the stored experiment and from an identical second run
    assert load_experiment(tmp_path / "exp").summary == summary
    rerun = experiment(sizes=(1_000, 1_000))
    with pytest.warns(UncalibratedWarning):
        next(rerun)
    next(rerun)
    assert rerun.summary == summary


def test_graduation_candidates_carry_the_latest_evidence(fast_fit):
    exp = experiment(generator(effect_scale=0.8), sizes=(2_000, 4_000, 4_000))
    run_all(exp)
    candidates = exp.graduation_candidates(sustained_rounds=2)
    assert exp.has_graduation_candidate() == bool(exp.graduation_candidates())
    assert candidates, "a 1.5 effect scale should graduate a pair by round 3"
    for c in candidates:
        evidence = c.latest_recommendation
        assert evidence.probability_beats_control > 0.95
        assert evidence.expected_value_of_one_more_round >= 0
        assert c.rounds_sustained == 2 and c.round_index == 2
    assert len(exp.graduation_candidates(sustained_rounds=1)) >= len(candidates)
    assert exp.confidence in {"high", "medium"}


def run_two_cold_rounds(exp):
    """Round 2 keeps Control/Explore at 50/50 so the drift check has floor traffic."""
    with pytest.warns(UncalibratedWarning):
        next(exp)
    exp.set_next_plan(pt.cold_start_plan(ARMS, exp.next_recommendation.n_visitors))
    return next(exp)


def test_drift_check_flags_a_reversed_segment(fast_fit):
    sizes = (6_000, 8_000)
    stationary = experiment(generator(effect_scale=1.0), sizes=sizes)
    drifting = experiment(generator(template="drift", effect_scale=1.0, drift_round=1), sizes=sizes)
    still = run_two_cold_rounds(stationary)
    moved = run_two_cold_rounds(drifting)
    assert still.drift.shifted == ()
    assert moved.drift.shifted, moved.drift.describe()
    assert "shifted" in drifting.summary


def test_check_drift_detects_a_planted_shift_and_not_its_absence():
    rng = np.random.default_rng(0)
    n = 4_000

    covariates = pd.DataFrame({"visits_30d": rng.integers(0, 10, n)})
    arm = rng.integers(0, 3, n)
    mean = np.where(covariates["visits_30d"] < 5, 1.0, 2.0) + 0.5 * arm
    y = mean + rng.standard_normal(n)
    rules = ["visits_30d < 5", "visits_30d >= 5"]
    predicted = np.array([[1.0, 1.5, 2.0], [2.0, 2.5, 3.0]])
    draws = predicted[None] + 0.01 * rng.standard_normal((100, 2, 3))
    floor = np.ones(n, bool)
    clean = check_drift(covariates, y, arm, floor, rules, draws, ARMS)
    assert clean.shifted == ()
    shifted_draws = draws.copy()
    shifted_draws[:, 1, 2] -= 0.5
    flagged = check_drift(covariates, y, arm, floor, rules, shifted_draws, ARMS)
    assert [s.rule for s in flagged.shifted] == ["visits_30d >= 5"]


def test_a_diverged_fit_stops_the_round_with_a_clear_error(monkeypatch):
    class Diverged:
        def reward_draws(self, metric=None, *, visitors=None):
            draws = np.ones((4, 1_000, 3))
            draws[0, 0, 1] = np.nan
            return draws if visitors is None else draws[:, visitors]

    monkeypatch.setattr("pytyche.experiment.sequential.fit", lambda data, **kwargs: Diverged())
    exp = experiment(sizes=(1_000,))
    with pytest.warns(UncalibratedWarning), pytest.raises(RuntimeError, match="non-finite"):
        next(exp)
    assert exp.history == ()
