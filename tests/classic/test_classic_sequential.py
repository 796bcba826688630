"""Always-valid inference: the false-positive rate stays ≤ α under continuous peeking."""

import numpy as np
import pytest
from scipy import stats

from pytyche.classic import always_valid_inference, welch_t_test

N_STREAMS = 1_500
N_VISITORS = 1_500
ALPHA = 0.05
# Declared tolerance: 3 binomial standard errors of a rejection rate α over N_STREAMS.
TOLERANCE = 3 * np.sqrt(ALPHA * (1 - ALPHA) / N_STREAMS)


@pytest.fixture(scope="module")
def null_streams() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2026)
    outcomes = rng.standard_t(df=5, size=(N_STREAMS, N_VISITORS)) * 2.0 + 7.0  # heavy-ish tails
    arms = rng.integers(0, 2, size=(N_STREAMS, N_VISITORS))
    return outcomes, arms


def test_false_positive_rate_under_continuous_peeking(null_streams):
    outcomes, arms = null_streams
    result = always_valid_inference(outcomes, arms, mixture_sd=0.3, alpha=ALPHA)
    # Peeking after every visitor and stopping at the first p < α:
    false_positive_rate = result.rejected().mean()
    assert false_positive_rate <= ALPHA + TOLERANCE
    # The confidence sequence covers the true difference (0) at all times just as often.
    always_covered = ((result.ci_lower <= 0) & (result.ci_upper >= 0)).all(axis=-1)
    assert 1 - always_covered.mean() <= ALPHA + TOLERANCE


def test_naive_peeking_with_fixed_horizon_p_values_inflates_errors(null_streams):
    """The same streams monitored with ordinary z p-values reject far more often than α."""
    outcomes, arms = null_streams
    result = always_valid_inference(outcomes, arms, mixture_sd=0.3, alpha=ALPHA)
    naive_p = 2 * stats.norm.sf(np.abs(result.estimate / result.se))
    naive_rate = np.nanmin(np.where(np.isnan(naive_p), 1.0, naive_p), axis=-1) < ALPHA
    assert naive_rate.mean() > 3 * ALPHA


def test_power_against_a_real_effect():
    rng = np.random.default_rng(5)
    outcomes = rng.normal(size=(400, 4_000))
    arms = rng.integers(0, 2, size=(400, 4_000))
    result = always_valid_inference(outcomes + 0.15 * arms, arms, mixture_sd=0.2)
    assert result.rejected().mean() > 0.8
    covered = ((result.ci_lower <= 0.15) & (result.ci_upper >= 0.15)).all(axis=-1)
    assert covered.mean() >= 1 - ALPHA - 3 * np.sqrt(ALPHA * (1 - ALPHA) / 400)


def test_single_stream_path_properties():
    rng = np.random.default_rng(1)
    arms = rng.integers(0, 2, size=3_000)
    outcomes = rng.normal(size=3_000) + 0.2 * arms
    result = always_valid_inference(outcomes, arms, mixture_sd=0.2, min_samples=30)
    table = result.to_frame()
    assert len(table) == 3_000
    assert np.all(np.diff(result.p_value) <= 0)  # never increases
    assert np.all(result.p_value[(result.n_treatment < 30) | (result.n_control < 30)] == 1.0)
    final = welch_t_test(outcomes[arms == 1], outcomes[arms == 0])
    assert result.estimate[-1] == pytest.approx(final.estimate, rel=1e-9)
    assert result.se[-1] == pytest.approx(final.se, rel=1e-9)
    # The always-valid interval is wider than the fixed-horizon one: the price of peeking.
    assert result.ci_upper[-1] - result.ci_lower[-1] > final.ci[1] - final.ci[0]
    assert "always-valid p" in repr(result)


def test_validation_messages():
    with pytest.raises(ValueError, match="same shape"):
        always_valid_inference(np.zeros(10), np.zeros(9), mixture_sd=1.0)
    with pytest.raises(ValueError, match="arms must contain only 0"):
        always_valid_inference(np.zeros(10), np.full(10, 2), mixture_sd=1.0)
    with pytest.raises(ValueError, match="mixture_sd"):
        always_valid_inference(np.zeros(10), np.zeros(10), mixture_sd=0.0)
    with pytest.raises(ValueError, match="outcomes contain NaN"):
        always_valid_inference(np.full(10, np.nan), np.zeros(10), mixture_sd=1.0)
    with pytest.raises(ValueError, match="to_frame needs a single stream"):
        always_valid_inference(np.zeros((2, 10)), np.zeros((2, 10)), mixture_sd=1.0).to_frame()


@pytest.mark.slow
def test_false_positive_rate_with_many_long_streams():
    """10 000 null streams of 5 000 visitors (normal and skewed outcomes), tolerance 3 SE."""
    n_streams, n_visitors = 10_000, 5_000
    tolerance = 3 * np.sqrt(ALPHA * (1 - ALPHA) / n_streams)
    rng = np.random.default_rng(99)
    for draw in (rng.standard_normal, lambda size: rng.exponential(size=size)):
        rejected = []
        for _ in range(n_streams // 1_000):
            outcomes = draw(size=(1_000, n_visitors))
            arms = rng.integers(0, 2, size=(1_000, n_visitors))
            result = always_valid_inference(outcomes, arms, mixture_sd=0.1, alpha=ALPHA)
            rejected.append(result.rejected())
        assert np.concatenate(rejected).mean() <= ALPHA + tolerance
