"""Templates plant exactly the structure their docstrings document."""

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from pytyche.contracts import reveal_truth
from pytyche.generators import (
    TEMPLATES,
    HurdleDGP,
    Scenario,
    Segmentation,
    generate_dataset,
    register_template,
    simulated_experiment_generator,
)
from pytyche.generators.core import compute_potential_outcomes, round_streams, sample_design
from pytyche.generators.surfaces import ConstantSurface
from pytyche.generators.templates import CLUSTERS, clustered_realistic, drift

BUILT_IN = (
    "constant",
    "reversal",
    "sparse_benefit",
    "nonlinear",
    "monotone_gradient",
    "interaction_only",
    "clustered",
    "clustered_realistic",
    "null",
    "drift",
)


def truth_of(template, n=6_000, K=3, effect_scale=0.1, seed=3, round_index=0, **kwargs):
    data, truth = generate_dataset(
        template,
        n,
        K=K,
        effect_scale=effect_scale,
        seed=seed,
        round_index=round_index,
        **kwargs,
    )
    return data, reveal_truth(truth)


def spend_lift(truth):
    """Exact log spend lift of each active arm, shape (n, K - 1)."""
    return np.log(truth.mean_spend[:, 1:] / truth.mean_spend[:, :1])


def latent_outcomes(template, n=6_000, K=3, effect_scale=0.1, round_index=0, **kwargs):
    """Cluster labels and cluster-conditional potential outcomes of a cluster template."""
    scenario = TEMPLATES[template](K, effect_scale, **kwargs)
    dgp = scenario.dgp_for_round(round_index)
    design = sample_design(dgp.covariates, round_streams(3, 0)[0], n)
    clusters = design.frame["latent_cluster"].astype(object).to_numpy()
    return clusters, compute_potential_outcomes(dgp, design)


def test_registry_holds_the_built_in_templates():
    assert set(BUILT_IN) <= set(TEMPLATES)
    for name in BUILT_IN:
        assert TEMPLATES[name].__doc__, f"template {name} documents its planted structure"


def test_null_has_zero_true_effect_everywhere():
    for K in (2, 4):
        _, truth = truth_of("null", K=K, effect_scale=0.5)
        for k in range(1, K):
            np.testing.assert_array_equal(truth.rpv[:, k], truth.rpv[:, 0])
            np.testing.assert_array_equal(
                truth.conversion_probability[:, k], truth.conversion_probability[:, 0]
            )
            np.testing.assert_array_equal(truth.mean_spend[:, k], truth.mean_spend[:, 0])
        np.testing.assert_array_equal(truth.cate, 0.0)


@pytest.mark.parametrize("template", BUILT_IN)
def test_zero_effect_scale_plants_no_effect(template):
    _, truth = truth_of(template, n=2_000, effect_scale=0.0)
    np.testing.assert_allclose(truth.cate, 0.0, atol=1e-9)


def test_constant_lifts_spend_identically_for_everyone():
    _, truth = truth_of("constant", K=3, effect_scale=0.2)
    # Arm j multiplies spend by exp(effect_scale * j/(K-1) / 2) for every visitor.
    np.testing.assert_allclose(spend_lift(truth), np.tile([0.05, 0.1], (len(truth), 1)))
    assert np.all(truth.optimal_arm == 2)


def test_reversal_flips_sign_between_new_and_established():
    data, truth = truth_of("reversal", K=3, effect_scale=0.1)
    new = data.frame["tenure_days"].to_numpy() < 90
    np.testing.assert_array_equal(truth.segment_labels == "new_customers", new)
    lift = spend_lift(truth)
    assert np.all(lift[new, 0] > 0) and np.all(lift[~new, 0] < 0)
    assert np.all(lift[new, 1] < 0) and np.all(lift[~new, 1] > 0)
    np.testing.assert_allclose(np.abs(lift[:, 0]), 0.05)  # arm 1: m = 1, spend gets half
    np.testing.assert_allclose(np.abs(lift[:, 1]), 0.0375)  # arm 2: m = 3/4


def test_sparse_benefit_is_zero_outside_the_segment():
    data, truth = truth_of("sparse_benefit", n=20_000, K=3)
    frame = data.frame
    engaged = ((frame["is_member"] == 1) & (frame["visits_30d"] >= 4)).to_numpy()
    assert 0.03 < engaged.mean() < 0.10
    np.testing.assert_array_equal(truth.segment_labels == "engaged_members", engaged)
    np.testing.assert_array_equal(truth.cate[~engaged], 0.0)
    assert np.all(truth.cate[engaged] > 0)


def test_monotone_gradient_increases_with_visits():
    data, truth = truth_of("monotone_gradient", K=2)
    visits = data.frame["visits_30d"].to_numpy()
    lift = spend_lift(truth)[:, 0]
    order = np.argsort(visits, kind="stable")
    assert np.all(np.diff(lift[order]) >= -1e-12)
    assert lift.min() < 0 < lift.max()


def test_interaction_only_signs_follow_device_times_membership():
    data, truth = truth_of("interaction_only", K=2)
    frame = data.frame
    mobile = (frame["device"] == "mobile").to_numpy()
    member = (frame["is_member"] == 1).to_numpy()
    sign = np.where(mobile == member, 1.0, -1.0)
    np.testing.assert_allclose(spend_lift(truth)[:, 0], 0.05 * sign)


def test_nonlinear_best_arm_changes_along_cart_value():
    _data, truth = truth_of("nonlinear", n=20_000, K=3, effect_scale=0.3)
    by_segment = {
        s: np.bincount(truth.optimal_arm[truth.segment_labels == s], minlength=3)
        for s in ("low_cart", "mid_cart", "high_cart")
    }
    leaders = {s: int(np.argmax(counts)) for s, counts in by_segment.items()}
    assert len(set(leaders.values())) >= 2, leaders


def test_clustered_realistic_plants_the_documented_cluster_lifts():
    generator = simulated_experiment_generator("clustered_realistic", K=3, effect_scale=0.1)
    dgp = generator.scenario.dgp_for_round(0)
    design = sample_design(dgp.covariates, round_streams(0, 0)[0], 20_000)
    outcomes = compute_potential_outcomes(dgp, design)
    clusters = design.frame["latent_cluster"].astype(object).to_numpy()
    spend = np.log(outcomes.mean_spend[:, 1:] / outcomes.mean_spend[:, :1])
    planted = {  # (low_promo, free_ship) spend log-lifts in effect_scale units, from the table
        "loyal_regulars": (-1.5, -0.5),
        "bargain_hunters": (-0.5, -0.25),
        "new_visitors": (-0.25, 0.5),
        "big_basket": (-0.5, 1.5),
    }
    for cluster, lifts in planted.items():
        np.testing.assert_allclose(
            spend[clusters == cluster],
            0.1 * np.array([lifts]).repeat((clusters == cluster).sum(), axis=0),
        )
    # Conversion: exact relative lift exp(ℓ) at the cluster's reference probability.
    index = outcomes.conversion_index
    shift = index[:, 1] - index[:, 0]
    bargain = clusters == "bargain_hunters"
    expected = ndtri(0.04 * np.exp(0.3)) - ndtri(0.04)
    np.testing.assert_allclose(shift[bargain], expected)
    assert ndtr(ndtri(0.04) + expected) == pytest.approx(0.04 * np.exp(0.3))


def test_effect_profiles_override_replaces_a_cluster_row():
    profiles = {"new_visitors": [(0.0, 0.0), (0.0, 3.0)]}
    clusters, outcomes = latent_outcomes("clustered_realistic", effect_profiles=profiles)
    new = clusters == "new_visitors"
    np.testing.assert_allclose(spend_lift(outcomes)[new], np.tile([0.0, 0.3], (new.sum(), 1)))
    with pytest.raises(ValueError, match="K-1 = 2 active arms"):
        clustered_realistic(3, 0.1, effect_profiles={"new_visitors": [(0.0, 0.0)]})
    with pytest.raises(ValueError, match="unknown cluster 'whales'"):
        clustered_realistic(3, 0.1, effect_profiles={"whales": [(0.0, 0.0), (0.0, 0.0)]})


def test_drift_changes_exactly_the_stated_segment_at_the_stated_round():
    plan_rounds = (0, 1, 2, 3)
    kwargs = {"K": 3, "effect_scale": 0.1, "seed": 9}
    for round_index in plan_rounds:
        _, base = truth_of("clustered_realistic", round_index=round_index, **kwargs)
        _, drifted = truth_of(
            "drift", round_index=round_index, drift_round=2, drift_segment="new_visitors", **kwargs
        )
        np.testing.assert_array_equal(base.segment_labels, drifted.segment_labels)
        same_control = base.rpv[:, 0] == drifted.rpv[:, 0]
        assert np.all(same_control)  # baselines never drift
        segment = drifted.segment_labels == "new_visitors"
        if round_index < 2:
            np.testing.assert_array_equal(base.rpv, drifted.rpv)
            continue
        # the planted (latent) effects of the drifting cluster reverse, the others stay
        base_latent, drifted_latent = base.latent_values, drifted.latent_values
        np.testing.assert_array_equal(base_latent[~segment], drifted_latent[~segment])
        assert np.all(base_latent[segment, 1:] != drifted_latent[segment, 1:])
        latent_cate = drifted_latent[:, 1:] - drifted_latent[:, :1]
        base_cate = base_latent[:, 1:] - base_latent[:, :1]
        assert np.all(np.sign(latent_cate[segment]) == -np.sign(base_cate[segment]))
        clusters, before = latent_outcomes("clustered_realistic", round_index=round_index)
        _, after = latent_outcomes(
            "drift", round_index=round_index, drift_round=2, drift_segment="new_visitors"
        )
        moved = clusters == "new_visitors"
        np.testing.assert_allclose(spend_lift(after)[moved], -spend_lift(before)[moved])
        np.testing.assert_allclose(spend_lift(after)[~moved], spend_lift(before)[~moved])
        # covariate-conditional: any visitor who might be a new visitor sees the drift
        assert np.mean(np.any(base.rpv[:, 1:] != drifted.rpv[:, 1:], axis=1)) > 0.5


def test_drift_validates_its_arguments():
    with pytest.raises(ValueError, match="drift_segment must be one of"):
        drift(3, 0.1, drift_segment="whales")
    with pytest.raises(ValueError, match="drift_round must be a positive integer"):
        drift(3, 0.1, drift_round=0)
    assert set(CLUSTERS) == set(drift(3, 0.1).regimes[1][1].segments.names)


def test_user_templates_can_be_registered_and_used():
    def flat(K, effect_scale):
        """Template with a constant probit shift and no spend effect."""
        base = TEMPLATES["null"](K, effect_scale).regimes[0][1]
        dgp = HurdleDGP(
            base.covariates,
            ConstantSurface(-1.5),
            ConstantSurface(3.0),
            tuple(ConstantSurface(effect_scale) for _ in range(K - 1)),
            tuple(ConstantSurface(0.0) for _ in range(K - 1)),
            0.5,
            Segmentation.from_rules([("everyone", "True")]),
        )
        return Scenario("flat_test", ((0, dgp),), "constant probit shift")

    register_template("flat_test", flat)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_template("flat_test", flat)
        _, truth = truth_of("flat_test", K=2, effect_scale=0.2)
        np.testing.assert_allclose(truth.conversion_probability[:, 0], ndtr(-1.5))
        np.testing.assert_allclose(truth.conversion_probability[:, 1], ndtr(-1.3))
        np.testing.assert_allclose(truth.mean_spend, np.exp(3.0 + 0.125))
        assert set(truth.segment_effects) == {"everyone"}
    finally:
        TEMPLATES.pop("flat_test")
    with pytest.raises(TypeError, match="template must be callable"):
        register_template("nope", 3)


@pytest.mark.parametrize("template", ["reversal", "monotone_gradient", "interaction_only"])
def test_effect_channels_move_only_the_named_channel(template):
    _, both = truth_of(template, effect_scale=0.3)
    _, conversion = truth_of(template, effect_scale=0.3, effect_channels="conversion")
    _, spend = truth_of(template, effect_scale=0.3, effect_channels="spend")
    np.testing.assert_allclose(conversion.conversion_probability, both.conversion_probability)
    np.testing.assert_allclose(spend_lift(conversion), 0.0, atol=1e-12)
    np.testing.assert_allclose(spend.conversion_probability.std(axis=1), 0.0, atol=1e-12)
    # "spend" moves log spend by the full log-lift, "both" by half of it
    np.testing.assert_allclose(spend_lift(spend), 2.0 * spend_lift(both), atol=1e-12)
    with pytest.raises(ValueError, match="effect_channels must be one of"):
        truth_of(template, effect_channels="revenue")


def test_whale_mixture_sets_the_mean_spend_and_the_draws_follow_it():
    share, multiplier = 0.05, 20.0
    data, truth = truth_of("constant", n=200_000, whale_share=share, whale_multiplier=multiplier)
    _, plain = truth_of("constant", n=200_000)
    factor = 1 - share + share * multiplier
    np.testing.assert_allclose(truth.mean_spend, plain.mean_spend * factor, rtol=1e-12)
    frame = data.frame
    converters = frame["revenue"] > 0
    arm = data.arm_index[converters.to_numpy()]
    expected = truth.mean_spend[converters.to_numpy(), arm]
    observed = frame.loc[converters, "revenue"].to_numpy()
    # the mean of spend / E[spend | x, a] over converters is 1 within its Monte-Carlo error
    ratio = observed / expected
    assert abs(ratio.mean() - 1.0) < 4 * ratio.std() / np.sqrt(ratio.size)
    # whales exist: a whale spends more than 8x its expectation with probability
    # P(N(0, 1) > 0.25) = 0.40, an ordinary converter with P(N(0, 1) > 3.2) < 0.001
    assert np.mean(ratio > 8) > 0.3 * share
    with pytest.raises(ValueError, match="whale_share"):
        truth_of("constant", whale_share=1.0)
    with pytest.raises(ValueError, match="whale_multiplier"):
        truth_of("constant", whale_share=0.1, whale_multiplier=0.0)


def test_whale_free_templates_draw_exactly_as_before():
    data, _ = truth_of("reversal", n=2_000)
    same, _ = truth_of("reversal", n=2_000, whale_share=0.0, whale_multiplier=5.0)
    np.testing.assert_array_equal(data.frame["revenue"], same.frame["revenue"])
