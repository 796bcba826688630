"""Simulated generators: planted truth is recovered, rounds are reproducible, assignment is
recorded honestly, truth stays sealed, and bad input fails clearly."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import ndtr

from pytyche.contracts import MetricFamily, Truth, TruthGuardError, reveal_truth
from pytyche.data import RoundData, concat_rounds
from pytyche.experiment import ArmForRule, Cell, Control, Explore, NextRoundPlan, cold_start_plan
from pytyche.generators import (
    TEMPLATES,
    generate_dataset,
    simulated_experiment_generator,
    templates,
)
from pytyche.generators.core import VISITOR_ID_STRIDE

TREATMENTS = ["control", "low_promo", "free_ship"]
ALPHA = 1e-3
"""Declared false-failure rate of each χ² test (the seeds are fixed, so runs are repeatable)."""
N_SE = 4.0
"""Tolerance, in Monte Carlo standard errors, for empirical-vs-truth comparisons."""


def tutorial_generator(**overrides):
    kwargs = {
        "template": "clustered_realistic",
        "metric": "revenue_per_visitor",
        "effect_scale": 0.1,
        "K": 3,
        "seed": 42,
        "treatment_names": TREATMENTS,
    }
    kwargs.update(overrides)
    return simulated_experiment_generator(**kwargs)


@pytest.fixture(scope="module")
def large_round():
    generator = tutorial_generator()
    data, truth = generator(0, cold_start_plan(TREATMENTS, 300_000))
    return data, reveal_truth(truth)


# ------------------------------------------------------------------ the tutorial's call
def test_tutorial_generator_produces_a_validated_hurdle_round(large_round):
    data, truth = large_round
    assert isinstance(data, RoundData)
    assert data.arms == tuple(TREATMENTS) and data.family is MetricFamily.HURDLE
    assert data.covariates == (
        "visits_30d",
        "tenure_days",
        "cart_value",
        "device",
        "region",
        "is_member",
    )
    assert set(data.categories) == {"device", "region"}
    assert list(data.categories["device"]) == ["mobile", "desktop", "tablet"]
    assert data.outcome == "revenue" and data.id_column == "visitor_id"
    assert data.n_visitors == 300_000 and len(truth) == 300_000
    np.testing.assert_array_equal(truth.visitor_id, data.visitor_id)
    assert set(data.cell) == {"control", "explore"}
    # Scale realism: conversion a few percent, heavy-tailed spend, RPV of a few dollars.
    y = data.y
    assert 0.03 < np.mean(y > 0) < 0.06
    assert 2.0 < y.mean() < 5.0
    spend = y[y > 0]
    assert np.quantile(spend, 0.99) > 8 * np.median(spend)


def test_empirical_cluster_arm_means_match_planted_truth(large_round):
    """Observed means match the latent truth within clusters, the covariate truth within x."""
    data, truth = large_round
    y, arm = data.y, data.arm_index
    converted = (y > 0).astype(float)
    device = data.frame["device"].astype(object).to_numpy()
    checked = 0
    for k in range(3):
        for cluster in np.unique(truth.segment_labels):
            # outcomes are drawn given the latent cluster: its visitors follow the latent truth
            rows = (truth.segment_labels == cluster) & (arm == k)
            assert rows.sum() > 5_000
            se = y[rows].std(ddof=1) / np.sqrt(rows.sum())
            assert abs(y[rows].mean() - truth.latent_values[rows, k].mean()) < N_SE * se
            checked += 1
        for level in np.unique(device):
            # a group defined by covariates follows the covariate-conditional truth
            rows = (device == level) & (arm == k)
            for observed, expected in (
                (converted[rows], truth.conversion_probability[rows, k]),
                (y[rows], truth.rpv[rows, k]),
            ):
                se = observed.std(ddof=1) / np.sqrt(rows.sum())
                assert abs(observed.mean() - expected.mean()) < N_SE * se, (level, k)
                checked += 1
            # converters' spend against E[spend | convert, x], same visitors
            paid = rows & (y > 0)
            se = y[paid].std(ddof=1) / np.sqrt(paid.sum())
            assert abs(y[paid].mean() - truth.mean_spend[paid, k].mean()) < N_SE * se
    assert checked == 3 * (4 + 2 * 3)


# clustered_realistic's documented best arm per cluster at K = 3
K3_BEST_ARM = {"loyal_regulars": 0, "bargain_hunters": 1, "new_visitors": 2, "big_basket": 2}


def test_the_best_arm_differs_by_cluster_as_documented(large_round):
    _, truth = large_round
    best = {name: int(np.argmax(effects)) for name, effects in truth.segment_effects.items()}
    assert best == K3_BEST_ARM
    latent_best = {n: int(np.argmax(e)) for n, e in truth.latent_segment_effects.items()}
    assert latent_best == best
    for name, effects in truth.latent_segment_effects.items():
        rows = truth.segment_labels == name
        np.testing.assert_allclose(truth.segment_effects[name], truth.rpv[rows].mean(axis=0))
        # Planted relative lifts at effect_scale 0.1 are of order 10-30%: findable, not huge.
        relative = effects[1:] / effects[0] - 1
        assert np.all(np.abs(relative) < 0.4) and np.max(np.abs(relative)) > 0.1
    # what covariates can identify mixes the clusters: big_basket's free_ship GATE is about
    # 2.4 given the cluster but about 1.8 given x
    gap = {
        name: np.max(np.abs(np.diff(truth.segment_effects[name] - effects)))
        for name, effects in truth.latent_segment_effects.items()
    }
    assert gap["big_basket"] > 0.3, gap
    np.testing.assert_array_equal(truth.optimal_arm, np.argmax(truth.rpv, axis=1))


# ------------------------------------------------------------------ metrics
def test_conversion_rate_metric_observes_zero_one_conversions():
    data, truth = tutorial_generator(metric="conversion_rate")(
        0, cold_start_plan(TREATMENTS, 5_000)
    )
    revealed = reveal_truth(truth)
    assert data.outcome == "converted" and data.family is MetricFamily.BINARY
    assert set(np.unique(data.y)) == {0.0, 1.0}
    np.testing.assert_array_equal(revealed.rpv, revealed.conversion_probability)
    assert revealed.metric == "conversion_rate"


def test_revenue_per_converter_metric_reports_mean_spend():
    data, truth = tutorial_generator(metric="revenue_per_converter")(
        0, cold_start_plan(TREATMENTS, 5_000)
    )
    revealed = reveal_truth(truth)
    assert data.outcome == "revenue" and data.family is MetricFamily.HURDLE
    np.testing.assert_array_equal(revealed.rpv, revealed.mean_spend)


def test_metric_and_outcomes_share_the_same_draws():
    plan = cold_start_plan(TREATMENTS, 5_000)
    revenue, _ = tutorial_generator()(3, plan)
    conversions, _ = tutorial_generator(metric="conversion_rate")(3, plan)
    np.testing.assert_array_equal(conversions.y, (revenue.y > 0).astype(float))


# ------------------------------------------------------------------ reproducibility
def test_same_seed_and_round_give_identical_frames_and_truth():
    plan = cold_start_plan(TREATMENTS, 20_000)
    first_data, first_truth = tutorial_generator()(1, plan)
    second_data, second_truth = tutorial_generator()(1, plan)
    pd.testing.assert_frame_equal(first_data.frame, second_data.frame)
    a, b = reveal_truth(first_truth), reveal_truth(second_truth)
    np.testing.assert_array_equal(a.rpv, b.rpv)
    np.testing.assert_array_equal(a.segment_labels, b.segment_labels)


def test_different_rounds_and_seeds_give_different_visitors():
    plan = cold_start_plan(TREATMENTS, 20_000)
    generator = tutorial_generator()
    round_0, _ = generator(0, plan)
    round_1, _ = generator(1, plan)
    assert not set(round_0.visitor_id) & set(round_1.visitor_id)
    assert np.all(round_1.visitor_id // VISITOR_ID_STRIDE == 1)
    assert not np.array_equal(round_0.frame["cart_value"], round_1.frame["cart_value"])
    other_seed, _ = tutorial_generator(seed=43)(0, plan)
    assert not np.array_equal(round_0.frame["cart_value"], other_seed.frame["cart_value"])
    combined = concat_rounds([round_0, round_1])  # ids unique across rounds
    assert combined.n_visitors == 40_000


def test_visitors_do_not_depend_on_the_plan():
    generator = tutorial_generator()
    cold, cold_truth = generator(2, cold_start_plan(TREATMENTS, 10_000))
    explore_plan = NextRoundPlan(10_000, (Cell("explore", Explore(), 1.0),), tuple(TREATMENTS))
    explore, explore_truth = generator(2, explore_plan)
    covariates = list(cold.covariates)
    pd.testing.assert_frame_equal(cold.frame[covariates], explore.frame[covariates])
    np.testing.assert_array_equal(reveal_truth(cold_truth).rpv, reveal_truth(explore_truth).rpv)


# ------------------------------------------------------------------ assignment
def test_recorded_propensities_equal_the_plan_and_arm_counts_match_them():
    plan = NextRoundPlan(
        60_000,
        (
            Cell("control", Control(), 0.2),
            Cell("explore", Explore(), 0.3),
            Cell("new_free_ship", ArmForRule("free_ship", "tenure_days < 90"), 0.5),
        ),
        tuple(TREATMENTS),
    )
    data, _ = tutorial_generator()(0, plan)
    frame = data.frame
    new = (frame["tenure_days"] < 90).to_numpy()
    assert 0.1 < new.mean() < 0.9
    expected = np.empty((len(frame), 3))
    expected[:, 0] = 0.2 + 0.1 + np.where(new, 0.0, 0.5)
    expected[:, 1] = 0.1
    expected[:, 2] = 0.1 + np.where(new, 0.5, 0.0)
    np.testing.assert_allclose(data.propensity, expected, rtol=0, atol=1e-12)
    counts = np.bincount(data.arm_index, minlength=3)
    assert stats.chisquare(counts, data.propensity.sum(axis=0)).pvalue > ALPHA
    for segment in (new, ~new):  # also within the rule's two sides
        counts = np.bincount(data.arm_index[segment], minlength=3)
        assert stats.chisquare(counts, data.propensity[segment].sum(axis=0)).pvalue > ALPHA
    cells = frame["cell"].value_counts()
    observed = [cells["control"], cells["explore"], cells["new_free_ship"]]
    assert stats.chisquare(observed, 60_000 * np.array([0.2, 0.3, 0.5])).pvalue > ALPHA
    served = frame["cell"].to_numpy()
    assert np.all(data.arm_index[served == "control"] == 0)
    rule_cell = served == "new_free_ship"
    np.testing.assert_array_equal(data.arm_index[rule_cell], np.where(new[rule_cell], 2, 0))


# ------------------------------------------------------------------ the truth guard
def test_truth_cannot_be_read_without_the_accessor():
    data, truth = tutorial_generator()(0, cold_start_plan(TREATMENTS, 2_000))
    assert isinstance(truth, Truth)
    for attempt in (
        lambda: truth.rpv,
        lambda: truth.segment_effects,
        lambda: truth["rpv"],
        lambda: np.asarray(truth),
        lambda: list(truth),
    ):
        with pytest.raises(TruthGuardError):
            attempt()
    with pytest.raises(TruthGuardError):
        RoundData.from_frame(truth, arms=TREATMENTS)
    # The observed frame carries no truth: no latent cluster, no potential outcomes.
    assert set(data.frame.columns) == {
        "visitor_id",
        "round",
        *data.covariates,
        "cell",
        "arm",
        *(f"propensity_{a}" for a in TREATMENTS),
        "revenue",
    }
    assert len(truth) == 2_000  # size is not truth


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"template": "clusterd"}, ValueError, "unknown template 'clusterd'; available"),
        ({"template": 3}, TypeError, "template must be a template name"),
        ({"K": 1, "treatment_names": None}, ValueError, "K must be at least 2"),
        ({"K": 2.5, "treatment_names": None}, TypeError, "K must be an integer"),
        ({"K": 4}, ValueError, "treatment_names has 3 names .* but K=4"),
        ({"treatment_names": ["control", "a", "a"]}, ValueError, "unique non-empty"),
        ({"treatment_names": "control"}, TypeError, "sequence of str"),
        ({"metric": "revenue"}, ValueError, "metric must be one of"),
        ({"metric": "mean_outcome"}, ValueError, "metric must be one of"),
        ({"effect_scale": -0.1}, ValueError, "effect_scale must be finite and >= 0"),
        ({"effect_scale": float("inf")}, ValueError, "effect_scale must be finite"),
        ({"seed": -1}, ValueError, "seed must be non-negative"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
        ({"no_such_option": 1}, TypeError, "template 'clustered_realistic' rejected"),
        ({"effect_scale": 20.0}, ValueError, "effect_scale is too large"),
        ({"template": "constant", "effect_scale": 5.0}, ValueError, "lower effect_scale"),
    ],
)
def test_bad_generator_arguments_fail_clearly(kwargs, error, message):
    with pytest.raises(error, match=message):
        tutorial_generator(**kwargs)


def test_bad_rounds_and_plans_fail_clearly():
    generator = tutorial_generator()
    plan = cold_start_plan(TREATMENTS, 100)
    with pytest.raises(ValueError, match="round_index must be non-negative"):
        generator(-1, plan)
    with pytest.raises(TypeError, match="round_index must be an integer"):
        generator(1.0, plan)
    with pytest.raises(ValueError, match="differ from the generator's arms"):
        generator(0, cold_start_plan(["control", "a", "b"], 100))
    with pytest.raises(TypeError, match="plan must be a NextRoundPlan"):
        generator(0, {"n_visitors": 100})
    with pytest.raises(ValueError, match="n_visitors must be positive"):
        generate_dataset("constant", 0)


def test_defaults_k_and_names():
    assert tutorial_generator(K=None, treatment_names=None).treatments == tuple(TREATMENTS)
    generic = simulated_experiment_generator("constant", K=4)
    assert generic.treatments == ("control", "treatment_1", "treatment_2", "treatment_3")
    assert simulated_experiment_generator("null", treatment_names=["a", "b"]).treatments == (
        "a",
        "b",
    )
    assert "clustered_realistic" in repr(tutorial_generator())
    assert tutorial_generator().simulated is True


def test_generate_dataset_randomises_uniformly_by_default():
    data, truth = generate_dataset("constant", 30_000, K=3, seed=5)
    np.testing.assert_allclose(data.propensity, 1 / 3)
    counts = np.bincount(data.arm_index, minlength=3)
    assert stats.chisquare(counts).pvalue > ALPHA
    assert len(truth) == 30_000


# ------------------------------------------------- documented planted effects per template
EFFECT_SCALE = 0.1
"""``generate_dataset``'s default: one unit of planted log-lift is 0.1."""


def _log_lifts(effects: dict, segment: str) -> np.ndarray:
    """Log RPV lift of each active arm over control in a planted segment, shape (K-1,)."""
    values = np.asarray(effects[segment])
    return np.log(values[1:] / values[0])


def _spend_lifts(revealed) -> np.ndarray:
    """Per visitor, log of each active arm's mean spend over control's, shape (n, K-1).

    The storefront templates move log spend by ℓ_j(x)/2 (``effect_channels="both"``) with
    a fixed log-normal σ, so this is exactly half the documented log-lift ℓ_j(x).
    """
    return np.log(revealed.mean_spend[:, 1:] / revealed.mean_spend[:, :1])


def _arm_weights(K: int) -> np.ndarray:
    """j/(K-1) for the active arms j = 1..K-1."""
    return np.arange(1, K) / (K - 1)


def _alternating_magnitudes(K: int) -> tuple[np.ndarray, np.ndarray]:
    """(s_j, m_j): +1 for odd arms and -1 for even ones; m_j from 1 down to about 1/2."""
    j = np.arange(1, K)
    return np.where(j % 2 == 1, 1.0, -1.0), 1.0 - (j - 1) / (2.0 * (K - 1))


def _members(revealed, segment: str) -> np.ndarray:
    return revealed.segment_labels == segment


def _check_constant(revealed, frame, K):
    ell = EFFECT_SCALE * _arm_weights(K)
    np.testing.assert_allclose(
        _spend_lifts(revealed), np.broadcast_to(ell / 2, (len(frame), K - 1))
    )
    lifts = _log_lifts(revealed.segment_effects, "all")
    assert np.all(lifts > 0) and np.all(np.diff(lifts) > 0)
    assert np.all(revealed.optimal_arm == K - 1)  # the last arm is best everywhere


def _check_null(revealed, frame, K):
    for values in (revealed.rpv, revealed.conversion_probability, revealed.mean_spend):
        np.testing.assert_array_equal(values, np.repeat(values[:, :1], K, axis=1))


def _check_reversal(revealed, frame, K):
    signs, magnitudes = _alternating_magnitudes(K)
    new = frame["tenure_days"].to_numpy() < 90
    np.testing.assert_array_equal(_members(revealed, "new_customers"), new)
    direction = np.where(new, 1.0, -1.0)[:, None] * signs
    np.testing.assert_allclose(_spend_lifts(revealed), direction * magnitudes * EFFECT_SCALE / 2)
    for segment, sign in (("new_customers", 1.0), ("established", -1.0)):
        lifts = _log_lifts(revealed.segment_effects, segment)
        np.testing.assert_array_equal(np.sign(lifts), sign * signs)
        assert np.all(np.diff(np.abs(lifts)) < 0)  # m_j falls: no two arms tie


def _check_sparse_benefit(revealed, frame, K):
    engaged = (frame["is_member"].to_numpy() == 1) & (frame["visits_30d"].to_numpy() >= 4)
    np.testing.assert_array_equal(_members(revealed, "engaged_members"), engaged)
    assert 0.02 < engaged.mean() < 0.12  # "about 6% of visitors"
    ell = 2 * EFFECT_SCALE * _arm_weights(K)
    np.testing.assert_allclose(
        _spend_lifts(revealed)[engaged], np.broadcast_to(ell / 2, (engaged.sum(), K - 1))
    )
    rpv = revealed.rpv[~engaged]
    np.testing.assert_array_equal(rpv, np.repeat(rpv[:, :1], K, axis=1))  # exactly zero
    lifts = _log_lifts(revealed.segment_effects, "engaged_members")
    assert np.all(lifts > 0) and np.all(np.diff(lifts) > 0)
    np.testing.assert_array_equal(_log_lifts(revealed.segment_effects, "no_effect"), 0.0)


def _standardized_log(frame, column: str, center: float, scale: float) -> np.ndarray:
    """(log1p(x) - center) / scale: the templates' standardisation of a count or amount."""
    return (np.log1p(frame[column].to_numpy(dtype=float)) - center) / scale


def _check_nonlinear(revealed, frame, K):
    z_cart = _standardized_log(frame, "cart_value", templates._CART_CENTER, templates._CART_SCALE)
    z_visits = _standardized_log(
        frame, "visits_30d", templates._VISITS_CENTER, templates._VISITS_SCALE
    )
    phases = np.pi * (np.arange(1, K) - 1) / (K - 1)
    ell = (
        EFFECT_SCALE
        * np.sin(1.5 * z_cart[:, None] + phases)
        * (1 + 0.5 * np.tanh(z_visits))[:, None]
    )
    np.testing.assert_allclose(_spend_lifts(revealed), ell / 2, atol=1e-12)
    if K == 3:
        # "the best arm changes twice along cart_value" (in the bulk: 5%-95% quantiles)
        cart = frame["cart_value"].to_numpy()
        low, high = np.quantile(cart, [0.05, 0.95])
        bulk = np.flatnonzero((cart >= low) & (cart <= high))
        best = revealed.optimal_arm[bulk[np.argsort(cart[bulk])]]
        assert np.count_nonzero(np.diff(best)) == 2


def _check_monotone_gradient(revealed, frame, K):
    visits = frame["visits_30d"].to_numpy()
    z_visits = _standardized_log(
        frame, "visits_30d", templates._VISITS_CENTER, templates._VISITS_SCALE
    )
    ell = 2 * EFFECT_SCALE * _arm_weights(K) * (2 * ndtr(z_visits) - 1)[:, None]
    np.testing.assert_allclose(_spend_lifts(revealed), ell / 2, atol=1e-12)
    order = np.argsort(visits, kind="stable")
    assert np.all(np.diff(_spend_lifts(revealed)[order], axis=0) >= -1e-12)  # rises with visits
    segments = ["visits_0_1", "visits_2_3", "visits_4_6", "visits_7_plus"]
    lifts = np.array([_log_lifts(revealed.segment_effects, s) for s in segments])
    assert np.all(np.diff(lifts, axis=0) > 0)  # every arm gains more with engagement
    assert np.all(lifts[0] < 0) and np.all(lifts[2:] > 0)  # harm for rare, benefit for frequent
    assert np.all(np.diff(lifts[-1]) > 0) and np.all(np.diff(lifts[0]) < 0)  # scaled by j/(K-1)


def _check_interaction_only(revealed, frame, K):
    signs, magnitudes = _alternating_magnitudes(K)
    mobile = np.where(frame["device"].astype(str).to_numpy() == "mobile", 1.0, -1.0)
    member = np.where(frame["is_member"].to_numpy() == 1, 1.0, -1.0)
    ell = (mobile * member)[:, None] * signs * magnitudes * EFFECT_SCALE
    np.testing.assert_allclose(_spend_lifts(revealed), ell / 2)
    for segment, sign in (
        ("mobile_member", 1.0),
        ("mobile_guest", -1.0),
        ("other_member", -1.0),
        ("other_guest", 1.0),
    ):
        lifts = _log_lifts(revealed.segment_effects, segment)
        np.testing.assert_array_equal(np.sign(lifts), sign * signs)


# The docstring's effect table of the cluster templates: (conversion, spend) log-lifts in
# effect_scale units per cluster, for arms 1-4; later arms reuse it, halved per full cycle.
CLUSTER_TABLE = {
    "loyal_regulars": [(-0.5, -1.5), (-0.5, -0.5), (1.0, 0.5), (0.25, 0.5)],
    "bargain_hunters": [(3.0, -0.5), (0.5, -0.25), (-0.25, -0.5), (0.5, 0.25)],
    "new_visitors": [(1.0, -0.25), (2.0, 0.5), (-0.5, -0.25), (0.25, -0.5)],
    "big_basket": [(-0.25, -0.5), (1.0, 1.5), (0.5, 0.25), (-0.5, 2.0)],
}


def _documented_cluster_lifts(cluster: str, K: int) -> np.ndarray:
    """Documented log RPV lift (conversion + spend) of each active arm, in effect units."""
    table = CLUSTER_TABLE[cluster]
    return np.array([sum(table[(j - 1) % 4]) / (1 + (j - 1) // 4) for j in range(1, K)])


def _check_cluster_signs(revealed, K, *, exact: bool):
    """Cluster-conditional (latent) effects follow the table: signs, best arm, (sizes)."""
    effects = revealed.latent_segment_effects
    assert set(effects) == set(CLUSTER_TABLE)
    for cluster in CLUSTER_TABLE:
        documented = EFFECT_SCALE * _documented_cluster_lifts(cluster, K)
        lifts = _log_lifts(effects, cluster)
        np.testing.assert_array_equal(np.sign(lifts), np.sign(documented))
        assert np.argmax(effects[cluster]) == np.argmax(np.concatenate([[0.0], documented]))
        if exact:  # cluster-constant baselines: the lifts are the table's exactly
            np.testing.assert_allclose(lifts, documented, atol=1e-9)


def _check_clustered(revealed, frame, K):
    _check_cluster_signs(revealed, K, exact=True)


def _check_clustered_realistic(revealed, frame, K):
    _check_cluster_signs(revealed, K, exact=False)
    if K == 3:  # the docstring's K = 3 optimum, named
        best = {c: int(np.argmax(v)) for c, v in revealed.latent_segment_effects.items()}
        assert best == K3_BEST_ARM


def _check_drift(revealed, frame, K):
    # round 0 is exactly clustered_realistic; from drift_round = 2 bargain_hunters reverse
    _, reference = generate_dataset("clustered_realistic", len(frame), K=K, seed=11)
    reference = reveal_truth(reference)
    np.testing.assert_array_equal(revealed.rpv, reference.rpv)
    _check_cluster_signs(revealed, K, exact=False)
    _, later = generate_dataset("drift", len(frame), K=K, seed=11, round_index=2)
    later, before = reveal_truth(later).latent_segment_effects, revealed.latent_segment_effects
    for cluster in CLUSTER_TABLE:
        flip = -1.0 if cluster == "bargain_hunters" else 1.0
        np.testing.assert_array_equal(
            np.sign(_log_lifts(later, cluster)), flip * np.sign(_log_lifts(before, cluster))
        )


PLANTED_CHECKS = {
    "constant": _check_constant,
    "null": _check_null,
    "reversal": _check_reversal,
    "sparse_benefit": _check_sparse_benefit,
    "nonlinear": _check_nonlinear,
    "monotone_gradient": _check_monotone_gradient,
    "interaction_only": _check_interaction_only,
    "clustered": _check_clustered,
    "clustered_realistic": _check_clustered_realistic,
    "drift": _check_drift,
}
"""Per built-in template, a check of the effects its docstring plants (K arms, scale 0.1)."""


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_registered_template_runs_for_several_k(name):
    """Shapes, valid probabilities, and each template's documented effects for K = 2, 3, 5.

    The truth is exact (expected values, no Monte Carlo noise), so the documented per-visitor
    log-lifts are compared to rounding (storefront templates, through the spend channel)
    and the documented signs, orderings and best arms of the named segments exactly.
    """
    assert name in PLANTED_CHECKS, f"template {name} has no check of its documented effects"
    for K in (2, 3, 5):
        data, truth = generate_dataset(name, 3_000, K=K, seed=11)
        revealed = reveal_truth(truth)
        assert revealed.rpv.shape == (3_000, K) and data.n_arms == K
        assert np.all(revealed.conversion_probability > 0)
        assert np.all(revealed.conversion_probability < 1)
        assert np.all(revealed.mean_spend > 0)
        assert set(revealed.segment_effects) <= set(np.unique(revealed.segment_labels))
        np.testing.assert_array_equal(revealed.visitor_id, data.visitor_id)
        PLANTED_CHECKS[name](revealed, data.frame, K)


@pytest.mark.slow
def test_cluster_arm_z_scores_are_standard_normal_across_seeds():
    """Over many seeds, (observed - truth) / SE per (cluster, arm) follows N(0, 1).

    A stricter check than the 4-SE test: a bias of a few percent in conversion or RPV
    would shift the mean z by several tenths and fail the one-sample t and KS tests.
    """
    z_scores = []
    for seed in range(40):
        generator = tutorial_generator(seed=seed)
        data, truth = generator(0, cold_start_plan(TREATMENTS, 100_000))
        revealed = reveal_truth(truth)
        y, arm = data.y, data.arm_index
        for cluster in np.unique(revealed.segment_labels):
            for k in range(3):
                rows = (revealed.segment_labels == cluster) & (arm == k)
                for observed, expected in (
                    ((y[rows] > 0).astype(float), revealed.conversion_probability[rows, k]),
                    (y[rows], revealed.rpv[rows, k]),
                ):
                    se = observed.std(ddof=1) / np.sqrt(rows.sum())
                    z_scores.append((observed.mean() - expected.mean()) / se)
    z_scores = np.array(z_scores)
    assert len(z_scores) == 40 * 24
    assert stats.kstest(z_scores, stats.norm.cdf).pvalue > ALPHA
    # Conversion and RPV z-scores of one group are correlated; sqrt(2 / n) bounds the SE of
    # the mean even for perfectly correlated pairs.
    assert abs(z_scores.mean()) < 4 * np.sqrt(2 / len(z_scores))


def test_generators_rebuild_from_their_config_and_survive_pickling():
    generator = tutorial_generator(template="drift", drift_round=1)
    config = json.loads(json.dumps(generator.config))
    assert config["drift_round"] == 1 and config["treatment_names"] == TREATMENTS
    rebuilt = simulated_experiment_generator(**config)
    restored = pickle.loads(pickle.dumps(generator))
    plan = cold_start_plan(TREATMENTS, 3_000)
    expected, expected_truth = generator(1, plan)
    for other in (rebuilt, restored):
        data, truth = other(1, plan)
        pd.testing.assert_frame_equal(data.frame, expected.frame)
        np.testing.assert_array_equal(reveal_truth(truth).rpv, reveal_truth(expected_truth).rpv)
