"""Segments from reward draws: GATEs, arm-best probabilities, stability."""

import itertools

import numpy as np
import pandas as pd
import pytest

from pytyche.analysis import (
    PolicyTreeConfig,
    apply_rule,
    fit_segments,
    segment_mean_draws,
    segment_recommendations,
    thompson_allocation,
)
from pytyche.analysis.stability import jaccard_matrix
from pytyche.contracts import ClaimLevel

ARMS = ("control", "a", "b")
PLANTED = {
    "visits_30d < 4 and device in {mobile}": (0.0, 1.0, 0.2),
    "visits_30d < 4 and device not in {mobile}": (0.0, 0.1, 1.0),
    "visits_30d >= 4 and region in {north}": (1.0, 0.0, 0.0),
    "visits_30d >= 4 and region not in {north}": (0.0, 0.5, 0.8),
}


def covariates(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "visits_30d": rng.integers(0, 10, n),
            "device": pd.Categorical(rng.choice(["mobile", "desktop", "tablet"], n)),
            "region": pd.Categorical(rng.choice(["north", "south", "east"], n)),
            "age": rng.integers(18, 70, n),
        }
    )


def planted_draws(frame: pd.DataFrame, n_draws: int, noise: float, seed: int) -> np.ndarray:
    rewards = np.zeros((len(frame), 3))
    for rule, values in PLANTED.items():
        rewards[apply_rule(frame, rule)] = values
    rng = np.random.default_rng(seed)
    return rewards[None] + noise * rng.normal(size=(n_draws, len(frame), 3))


def test_segment_mean_draws_match_a_direct_computation():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(7, 50, 3))
    leaves = rng.integers(0, 4, 50)
    got = segment_mean_draws(draws, leaves, 4)
    for s in range(4):
        np.testing.assert_allclose(got[:, s, :], draws[:, leaves == s, :].mean(axis=1))


def test_planted_segments_have_known_gates_and_are_stable():
    frame = covariates(2000, seed=1)
    draws = planted_draws(frame, n_draws=100, noise=0.5, seed=2)
    config = PolicyTreeConfig(max_depth=2)
    result = fit_segments(frame, draws, ARMS, config=config, n_bootstrap=20, seed=0)
    assert {str(s.rule) for s in result.segments} == set(PLANTED)
    means = draws.mean(axis=0)
    for segment in result.segments:
        members = apply_rule(frame, segment.rule)
        np.testing.assert_array_equal(members, result.leaf_index == segment.id)
        assert segment.count == members.sum()
        assert segment.share == pytest.approx(members.mean())
        assert segment.share >= 0.1
        per_draw = draws[:, members, :].mean(axis=1)
        for k, name in enumerate(ARMS[1:], start=1):
            gate = per_draw[:, k] - per_draw[:, 0]
            assert segment.gate_estimate[name] == pytest.approx(gate.mean())
            assert segment.gate_ci[name] == pytest.approx(tuple(np.quantile(gate, [0.1, 0.9])))
            # Posterior mean GATE is the planted GATE up to the noise of the mean.
            planted = np.subtract(*np.array(PLANTED[str(segment.rule)])[[k, 0]])
            se = 0.5 * np.sqrt(2 / members.sum() / draws.shape[0])
            assert abs(segment.gate_estimate[name] - planted) < 5 * se
        best = np.argmax(per_draw, axis=1)
        for k, name in enumerate(ARMS):
            assert segment.arm_best_probabilities[name] == pytest.approx(np.mean(best == k))
        assert segment.recommended_arm == ARMS[int(np.argmax(means[members].sum(axis=0)))]
        assert segment.claim_level == ClaimLevel.POSTERIOR
        assert segment.stability_score >= 0.8 and segment.credible


def test_pure_noise_segments_are_unstable_and_not_credible():
    frame = covariates(1500, seed=3)
    draws = np.random.default_rng(4).normal(size=(60, 1500, 3))
    result = fit_segments(
        frame, draws, ARMS, config=PolicyTreeConfig(max_depth=2), n_bootstrap=30, seed=1
    )
    assert len(result.segments) >= 2
    assert all(s.stability_score < 0.5 for s in result.segments)
    assert not any(s.credible for s in result.segments)


@pytest.mark.slow
def test_pure_noise_segments_are_unstable_at_default_settings():
    frame = covariates(2000, seed=5)
    draws = np.random.default_rng(6).normal(size=(100, 2000, 3))
    result = fit_segments(frame, draws, ARMS)
    assert all(s.stability_score < 0.5 for s in result.segments)
    assert not any(s.credible for s in result.segments)


class WideningCalibrator:
    """Test double of a calibration artifact: doubles the half-width of the raw interval."""

    claim_level = ClaimLevel.CALIBRATED

    def interval(self, gate_draws, level, n_visitors):
        low, high = np.quantile(gate_draws, [(1 - level) / 2, (1 + level) / 2])
        centre, half = (low + high) / 2, (high - low) / 2
        return centre - 2 * half, centre + 2 * half


def test_calibrator_intervals_are_used_and_labelled():
    frame = covariates(800, seed=7)
    draws = planted_draws(frame, n_draws=40, noise=0.3, seed=8)
    raw = fit_segments(frame, draws, ARMS, config=PolicyTreeConfig(max_depth=2), n_bootstrap=0)
    calibrated = fit_segments(
        frame,
        draws,
        ARMS,
        config=PolicyTreeConfig(max_depth=2),
        n_bootstrap=0,
        calibrator=WideningCalibrator(),
    )
    for before, after in zip(raw.segments, calibrated.segments, strict=True):
        assert after.claim_level == ClaimLevel.CALIBRATED
        assert before.stability_score is None and not before.credible
        for name in ARMS[1:]:
            width_before = before.gate_ci[name][1] - before.gate_ci[name][0]
            width_after = after.gate_ci[name][1] - after.gate_ci[name][0]
            assert width_after == pytest.approx(2 * width_before)


def test_segment_recommendations_cover_every_pair():
    """Each (segment, treatment) summary is computed from that segment's mean-reward draws.

    A per-draw arm shift (sd 0.1) shared by all visitors makes the segment GATEs uncertain,
    so some P(beats control) lie strictly between 0 and 1 and some expected losses are
    positive. P(beats), P(meaningful) and the two expected losses must equal their
    definitions (``pytyche.analysis.decision``) evaluated on ``delta[d] = mean_{i in S}
    (reward[d, i, k] - reward[d, i, 0])`` computed here directly.
    """
    frame = covariates(800, seed=9)
    shift = 0.1 * np.random.default_rng(11).normal(size=(40, 1, 3))
    draws = planted_draws(frame, n_draws=40, noise=0.3, seed=10) + 5.0 + shift  # control ≈ 5
    result = fit_segments(frame, draws, ARMS, config=PolicyTreeConfig(max_depth=2), n_bootstrap=0)
    summaries = segment_recommendations(result, draws)
    assert len(summaries) == len(result.segments) * (len(ARMS) - 1)
    pairs = [(s.id, arm) for s in result.segments for arm in ARMS[1:]]
    assert [(s.segment_id, s.treatment) for s in summaries] == pairs  # segment-major
    for summary in summaries:
        segment = result.segments[summary.segment_id]
        members = result.leaf_index == summary.segment_id
        k = ARMS.index(summary.treatment)
        delta = draws[:, members, k].mean(axis=1) - draws[:, members, 0].mean(axis=1)
        control = draws[:, members, 0].mean()
        assert summary.n_draws == 40
        assert summary.effect_mean == pytest.approx(delta.mean())
        assert summary.effect_mean == pytest.approx(segment.gate_estimate[summary.treatment])
        assert summary.probability_beats_control == np.mean(delta > 0)
        assert summary.probability_meaningful == np.mean(delta >= 0.02 * control)
        assert summary.expected_loss_ship == pytest.approx(np.mean(np.maximum(-delta, 0.0)))
        assert summary.expected_loss_not_ship == pytest.approx(np.mean(np.maximum(delta, 0.0)))
        assert summary.baseline == pytest.approx(control)
        assert summary.min_practical_effect == pytest.approx(0.02 * control)
    # the checks above are not all on degenerate 0/1 probabilities and zero losses
    assert any(0 < s.probability_beats_control < 1 for s in summaries)
    assert any(s.expected_loss_ship > 0.01 for s in summaries)
    absolute = segment_recommendations(result, draws, units="absolute")
    assert {s.min_practical_effect for s in absolute} == {0.02}


def test_jaccard_matrix_known_values():
    a = np.array([0, 0, 0, 1, 1, 1])
    b = np.array([0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(jaccard_matrix(a, 2, b, 2), [[2 / 3, 1 / 6], [0.0, 3 / 4]])


@pytest.mark.parametrize(
    ("draws", "arms", "match"),
    [
        (np.zeros((5, 10)), ARMS, "shape"),
        (np.zeros((5, 10, 2)), ARMS, "arm"),
        (np.zeros((1, 10, 3)), ARMS, ">= 2 draws"),
        (np.full((3, 10, 3), np.nan), ARMS, "NaN"),
        (np.zeros((3, 9, 3)), ARMS, "one row per visitor"),
    ],
)
def test_bad_input_raises(draws, arms, match):
    with pytest.raises(ValueError, match=match):
        fit_segments(covariates(10, 0), draws, arms, n_bootstrap=0)


def test_table_and_thompson_allocation_of_a_segmentation():
    frame = covariates(1000, seed=11)
    draws = planted_draws(frame, n_draws=60, noise=2.0, seed=12)
    result = fit_segments(frame, draws, ARMS, config=PolicyTreeConfig(max_depth=2), n_bootstrap=0)
    table = result.to_frame()
    assert list(table["rule"]) == [str(s.rule) for s in result.segments]
    np.testing.assert_allclose(table["share"].sum(), 1.0)
    assert {"gate_a", "gate_b_low", "p_best_control", "stability_score"} <= set(table.columns)
    allocation = thompson_allocation(result.segments, epsilon=0.05)
    for segment in result.segments:
        weights = allocation[segment.id]
        assert sum(weights.values()) == pytest.approx(1.0)
        assert min(weights.values()) >= 0.05 - 1e-12
        # Arms keep the order of their probability of being best.
        by_probability = sorted(ARMS, key=segment.arm_best_probabilities.get)
        assert all(weights[a] <= weights[b] + 1e-12 for a, b in itertools.pairwise(by_probability))
