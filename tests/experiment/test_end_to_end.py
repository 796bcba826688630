"""End to end: three rounds on clustered_realistic, allocation moves to truth-optimal arms.

The truth-optimal arm of every served visitor is read from the simulation truth by
regenerating the round (the generator is deterministic per (seed, round, plan)); this is
truth comparison, done in the test, never in the loop.
"""

import numpy as np
import pytest

import pytyche as pt
from pytyche.contracts import UncalibratedWarning, reveal_truth
from pytyche.experiment import Optimized, sequential_experiment
from pytyche.inference import BCFConfig

ARMS = ("control", "low_promo", "free_ship")


def generator():
    return pt.simulated_experiment_generator(
        template="clustered_realistic", effect_scale=0.6, K=3, seed=21, treatment_names=ARMS
    )


def optimal_share(gen, round_result):
    """Share of the round's visitors served their truth-optimal arm."""
    data, truth = gen(round_result.index, round_result.plan)
    np.testing.assert_array_equal(data.visitor_id, round_result.data.visitor_id)
    optimal = reveal_truth(truth).optimal_arm
    return float(np.mean(round_result.data.arm_index == optimal))


def run(gen, sizes, **kwargs):
    exp = sequential_experiment(gen, pt.ExplicitSchedule(sizes), ARMS, seed=5, **kwargs)
    with pytest.warns(UncalibratedWarning):
        first = next(exp)
    return exp, [first, *exp]


def check_round_structure(rounds, sizes):
    total = 0
    for r, size in zip(rounds, sizes, strict=True):
        total += size
        assert r.n_visitors == size and r.cumulative_visitors == total
        assert len(r.analysis.segments) >= 1
        assert sum(s.count for s in r.analysis.segments) == len(r.analysis_rows)
        assert len(r.recommendations) == 2 * len(r.analysis.segments)
        assert all(rec.expected_value_of_one_more_round >= 0 for rec in r.recommendations)
        assert r.truth_comparison is not None
        assert r.posterior_summary["posterior"]["gate"].shape[-2:] == (
            len(r.analysis.segments),
            2,
        )
        plan = r.next_recommendation
        assert plan.cell("control").weight == pytest.approx(0.05)
        assert plan.cell("explore").weight == pytest.approx(0.05)
        assert isinstance(plan.cell("optimized").policy, Optimized)


def test_allocation_moves_toward_truth_optimal_arms(fast_fit):
    gen = generator()
    sizes = (2_000, 4_000, 4_000)
    _exp, rounds = run(gen, sizes, n_bootstrap=5)
    check_round_structure(rounds, sizes)
    shares = [optimal_share(gen, r) for r in rounds]
    # Round 1 is Control/Explore: about 0.5 P(control optimal) + 0.5 / 3 = 0.29.
    assert shares[0] < 0.4
    assert shares[2] > shares[0] + 0.15, shares
    truth = rounds[2].truth_comparison
    assert truth.rpv_policy > truth.rpv_uniform


@pytest.mark.slow
def test_three_rounds_with_the_joint_hurdle_bcf():
    gen = generator()
    sizes = (1_500, 3_000, 6_000)
    config = BCFConfig(num_mu_trees=30, num_tau_trees=10, num_warmup=100, num_draws=100)
    exp, rounds = run(gen, sizes, fit_config=config, n_bootstrap=10)
    check_round_structure(rounds, sizes)
    assert rounds[-1].posterior is not None
    assert rounds[-1].posterior_summary["fit_posterior"] is not None
    shares = [optimal_share(gen, r) for r in rounds]
    assert shares[2] > shares[0] + 0.1, shares
    assert exp.confidence in {"high", "medium", "low"}
