"""Truth comparison: known values on a hand-built truth, alignment, labels."""

import numpy as np
import pandas as pd
import pytest

from pytyche.analysis import (
    PolicyTreeConfig,
    compare_segmentation_to_truth,
    compare_to_truth,
    fit_segments,
)
from pytyche.contracts import ClaimLevel, Truth, TruthData

ARMS = ("control", "a", "b")


def make_truth(rpv: np.ndarray, ids=None, latent=None) -> Truth:
    n = rpv.shape[0]
    return Truth(
        TruthData(
            arms=ARMS,
            visitor_id=np.arange(n) if ids is None else np.asarray(ids),
            conversion_probability=np.full(rpv.shape, 0.5),
            mean_spend=2 * rpv,
            rpv=rpv,
            latent_rpv=latent,
        )
    )


RPV = np.array(
    [
        [1.0, 2.0, 0.0],  # best: a
        [1.0, 0.0, 3.0],  # best: b
        [2.0, 1.0, 1.0],  # best: control
        [1.0, 1.0, 0.5],  # tie control / a
    ]
)


def test_known_values():
    recommended = np.array([1, 0, 0, 1])
    cate = RPV[:, 1:] - RPV[:, :1] + np.array([[0.1, -0.1]] * 4)
    result = compare_to_truth(
        make_truth(RPV),
        arm_names=ARMS,
        recommended_arm=recommended,
        cate_estimate=cate,
        segment_index=np.array([0, 0, 1, 1]),
        # true GATEs: segment 0 -> (0.0, 0.5); segment 1 -> (-0.5, -0.75)
        gate_intervals=np.array([[[-0.1, 0.1], [0.6, 0.9]], [[-1.0, 0.0], [-0.7, 0.0]]]),
    )
    assert result.policy_accuracy == pytest.approx(3 / 4)  # the tie counts as optimal
    assert result.rpv_policy == pytest.approx((2 + 1 + 2 + 1) / 4)
    assert result.rpv_oracle == pytest.approx((2 + 3 + 2 + 1) / 4)
    assert result.rpv_uniform == pytest.approx(RPV.mean())
    assert result.oracle_gap == pytest.approx(result.rpv_oracle - result.rpv_policy)
    assert result.cate_rmse == pytest.approx(0.1)
    assert result.gate_coverage == pytest.approx(2 / 4)
    assert result.n_gate_intervals == 4
    assert result.claim_level == ClaimLevel.SIMULATION_TRUTH
    # arm means (1.25, 1.0, 1.125): control is the best single arm
    assert result.best_arm == "control" and result.rpv_best_arm == pytest.approx(1.25)
    assert result.personalization_captured == pytest.approx((1.5 - 1.25) / (2.0 - 1.25))
    # no latent clusters: the latent oracle is the covariate oracle
    assert result.rpv_latent_oracle == result.rpv_oracle
    assert result.latent_policy_accuracy == result.policy_accuracy


def test_latent_oracle_is_a_diagnosis_beside_the_covariate_oracle():
    # visitor 0 might be either of two clusters with these values; the covariate truth is
    # their average, which is what the policy is scored against
    latent = np.array([[0.0, 4.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 3.0]])
    covariate = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 3.0]])
    recommended = np.array([1, 1, 2, 0])
    result = compare_to_truth(
        make_truth(covariate, latent=latent),
        arm_names=ARMS,
        recommended_arm=recommended,
        cate_estimate=np.zeros((4, 2)),
    )
    assert result.rpv_oracle == pytest.approx((2 + 2 + 3 + 3) / 4)
    assert result.rpv_latent_oracle == pytest.approx((4 + 2 + 3 + 3) / 4)
    assert result.policy_accuracy == pytest.approx(3 / 4)
    assert result.latent_policy_accuracy == pytest.approx(2 / 4)
    assert result.rpv_policy == pytest.approx((2 + 2 + 3 + 0) / 4)
    # arm means (0.5, 1.0, 1.5): free of latent knowledge, arm "b" is the best single arm
    assert result.best_arm == "b" and result.rpv_best_arm == pytest.approx(1.5)
    assert result.personalization_captured == pytest.approx((1.75 - 1.5) / (2.5 - 1.5))
    assert "latent oracle 3.0000" in result.describe()


def test_value_captured_is_negative_below_the_best_arm_and_none_without_room():
    rpv = np.array([[1.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    worse = compare_to_truth(
        make_truth(rpv),
        arm_names=ARMS,
        recommended_arm=np.array([0, 0]),
        cate_estimate=np.zeros((2, 2)),
    )
    # policy 1.0, best single arm b 1.5, covariate oracle 2.5
    assert worse.personalization_captured == pytest.approx(-0.5)
    flat = np.array([[1.0, 2.0, 0.5], [0.0, 1.0, 0.2]])  # arm a best for everyone
    shipped = compare_to_truth(
        make_truth(flat),
        arm_names=ARMS,
        recommended_arm=np.array([1, 1]),
        cate_estimate=np.zeros((2, 2)),
    )
    assert shipped.personalization_captured is None
    assert shipped.oracle_gap == 0.0 and shipped.best_arm == "a"
    assert "n/a (no personalisation value" in shipped.describe()


def test_a_template_without_latent_clusters_has_identical_oracles():
    from pytyche.generators import generate_dataset

    data, truth = generate_dataset("reversal", 3_000, K=3, effect_scale=0.2, seed=5)
    rng = np.random.default_rng(0)
    result = compare_to_truth(
        truth,
        arm_names=data.arms,
        recommended_arm=rng.integers(0, 3, data.n_visitors),
        cate_estimate=np.zeros((data.n_visitors, 2)),
    )
    assert result.rpv_latent_oracle == result.rpv_oracle
    assert result.latent_policy_accuracy == result.policy_accuracy
    assert 0.2 < result.policy_accuracy < 0.5  # a random policy: about a third optimal


def test_rows_are_aligned_by_visitor_id():
    truth = make_truth(RPV, ids=["w", "x", "y", "z"])
    order = np.array([3, 1, 0, 2])
    result = compare_to_truth(
        truth,
        arm_names=ARMS,
        recommended_arm=np.argmax(RPV, axis=1)[order],
        cate_estimate=(RPV[:, 1:] - RPV[:, :1])[order],
        visitor_id=np.array(["w", "x", "y", "z"])[order],
    )
    assert result.policy_accuracy == 1.0 and result.oracle_gap == 0.0 and result.cate_rmse == 0.0
    assert result.gate_coverage is None
    with pytest.raises(ValueError, match="absent from the truth"):
        compare_to_truth(
            truth,
            arm_names=ARMS,
            recommended_arm=np.zeros(1, dtype=int),
            cate_estimate=np.zeros((1, 2)),
            visitor_id=np.array(["nobody"]),
        )


def test_segmentation_against_a_planted_truth():
    rng = np.random.default_rng(0)
    n = 1200
    frame = pd.DataFrame({"x": rng.integers(0, 10, n)})
    rpv = np.zeros((n, 3))
    rpv[:, 1] = np.where(frame["x"] < 5, 0.3, -0.3)
    draws = rpv[None] + 0.2 * rng.normal(size=(80, n, 3))
    segmentation = fit_segments(
        frame, draws, ARMS, config=PolicyTreeConfig(max_depth=2), n_bootstrap=0
    )
    result = compare_segmentation_to_truth(make_truth(rpv), segmentation, draws)
    assert result.policy_accuracy == 1.0
    assert result.oracle_gap == pytest.approx(0.0)
    assert result.rpv_oracle == pytest.approx(0.3 * np.mean(frame["x"] < 5))
    share = np.mean(frame["x"] < 5)
    assert result.rpv_uniform == pytest.approx(0.3 * (2 * share - 1) / 3)
    # Per-visitor posterior-mean CATE error: sd of a difference of two means of 80 draws.
    expected_rmse = 0.2 * np.sqrt(2 / 80)
    assert result.cate_rmse == pytest.approx(expected_rmse, rel=0.1)


def test_bad_inputs():
    with pytest.raises(TypeError, match="Truth"):
        compare_to_truth(
            RPV, arm_names=ARMS, recommended_arm=np.zeros(4, int), cate_estimate=np.zeros((4, 2))
        )
    with pytest.raises(ValueError, match="arm_names"):
        compare_to_truth(
            make_truth(RPV),
            arm_names=("control", "x", "y"),
            recommended_arm=np.zeros(4, int),
            cate_estimate=np.zeros((4, 2)),
        )
    with pytest.raises(ValueError, match="recommended_arm"):
        compare_to_truth(
            make_truth(RPV),
            arm_names=ARMS,
            recommended_arm=np.full(4, 3),
            cate_estimate=np.zeros((4, 2)),
        )
