"""Decision evidence against closed forms for normal posteriors."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from pytyche.analysis import (
    Decision,
    expected_loss,
    expected_value_of_one_more_round,
    expected_value_of_one_more_round_draws,
    recommendation_summary,
)
from pytyche.contracts import ClaimLevel

N_DRAWS = 200_000


def two_normal_posteriors(mu_treatment, sd_treatment, mu_control, sd_control, seed=0):
    """Draws of delta = treatment - control from two independent normal posteriors."""
    rng = np.random.default_rng(seed)
    treatment = rng.normal(mu_treatment, sd_treatment, N_DRAWS)
    control = rng.normal(mu_control, sd_control, N_DRAWS)
    return treatment - control


@pytest.mark.parametrize(
    ("mu_t", "sd_t", "mu_c", "sd_c"),
    [(1.02, 0.03, 1.00, 0.02), (0.50, 0.01, 0.52, 0.015), (2.0, 0.1, 2.0, 0.1)],
)
def test_expected_loss_and_p_beats_match_closed_forms(mu_t, sd_t, mu_c, sd_c):
    delta = two_normal_posteriors(mu_t, sd_t, mu_c, sd_c)
    mu, sigma = mu_t - mu_c, math.hypot(sd_t, sd_c)
    z = mu / sigma
    # E[max(delta, 0)] = mu Phi(z) + sigma phi(z); E[max(-delta, 0)] = -mu Phi(-z) + sigma phi(z)
    loss_not_ship_exact = mu * stats.norm.cdf(z) + sigma * stats.norm.pdf(z)
    loss_ship_exact = -mu * stats.norm.cdf(-z) + sigma * stats.norm.pdf(z)
    p_beats_exact = stats.norm.cdf(z)
    loss_ship, loss_not_ship = expected_loss(delta)
    se_ship = np.maximum(-delta, 0).std() / math.sqrt(N_DRAWS)
    se_not_ship = np.maximum(delta, 0).std() / math.sqrt(N_DRAWS)
    se_p = math.sqrt(p_beats_exact * (1 - p_beats_exact) / N_DRAWS)
    assert abs(loss_ship - loss_ship_exact) < 4 * se_ship
    assert abs(loss_not_ship - loss_not_ship_exact) < 4 * se_not_ship
    summary = recommendation_summary(delta, treatment="a", min_practical_effect=0.01)
    assert abs(summary.probability_beats_control - p_beats_exact) < 4 * se_p
    p_meaningful_exact = stats.norm.sf((0.01 - mu) / sigma)
    se_m = math.sqrt(p_meaningful_exact * (1 - p_meaningful_exact) / N_DRAWS)
    assert abs(summary.probability_meaningful - p_meaningful_exact) < 4 * se_m + 1e-12


@pytest.mark.parametrize(("mu", "sd", "rho"), [(0.0, 0.1, 1.0), (0.05, 0.1, 1.0), (-0.2, 0.1, 0.5)])
def test_evor_matches_preposterior_integral(mu, sd, rho):
    """The closed form equals E[max(mu', 0)] - max(mu, 0), mu' ~ N(mu, sd^2 rho / (1 + rho))."""
    s = sd * math.sqrt(rho / (1 + rho))
    value_after, _ = integrate.quad(
        lambda m: m * stats.norm.pdf(m, mu, s), 0.0, max(mu, 0.0) + 14 * s, epsabs=0, epsrel=1e-11
    )
    expected = value_after - max(mu, 0.0)
    got = expected_value_of_one_more_round(mu, sd, information_ratio=rho)
    assert got == pytest.approx(expected, rel=1e-7, abs=1e-12)
    z = abs(mu) / s
    assert got == pytest.approx(s * (stats.norm.pdf(z) - z * stats.norm.cdf(-z)), rel=1e-12)


def test_evor_at_zero_mean_and_degenerate_posterior():
    sd = 0.3
    assert expected_value_of_one_more_round(0.0, sd) == pytest.approx(
        sd / math.sqrt(2) / math.sqrt(2 * math.pi)
    )
    assert expected_value_of_one_more_round(0.4, 0.0) == 0.0
    assert expected_value_of_one_more_round_draws(np.full(10, 0.4)) == 0.0


def test_evor_matches_a_simulated_preposterior():
    """Simulate the next round under the normal model and update conjugately."""
    mu, sd, rho, n = 0.03, 0.05, 1.0, 400_000
    rng = np.random.default_rng(7)
    delta = rng.normal(mu, sd, n)
    estimate = delta + rng.normal(0, sd / math.sqrt(rho), n)
    updated = (mu + rho * estimate) / (1 + rho)
    value = np.maximum(updated, 0)
    simulated = value.mean() - max(mu, 0)
    se = value.std() / math.sqrt(n)
    assert abs(expected_value_of_one_more_round(mu, sd, information_ratio=rho) - simulated) < 4 * se


@pytest.mark.parametrize(("mu", "rho"), [(0.0, 1.0), (0.04, 1.0), (-0.03, 2.0)])
def test_draw_based_evor_agrees_with_normal_formula_on_normal_draws(mu, rho):
    sd, n_draws, n_outcomes = 0.05, 2000, 8000
    # Normal quantiles as draws: the inner (prior) Monte Carlo error is negligible.
    draws = mu + sd * stats.norm.ppf((np.arange(n_draws) + 0.5) / n_draws)
    closed = expected_value_of_one_more_round(mu, float(draws.std()), information_ratio=rho)
    got = expected_value_of_one_more_round_draws(
        draws, information_ratio=rho, n_outcomes=n_outcomes, seed=0
    )
    # Outer Monte Carlo error: sd(max(mu', 0)) <= sqrt(E[mu'^2]) = sqrt(s^2 + mu^2).
    s = sd * math.sqrt(rho / (1 + rho))
    se = math.sqrt(s**2 + mu**2) / math.sqrt(n_outcomes)
    assert abs(got - closed) < 4 * se


def test_decision_labels():
    rng = np.random.default_rng(1)
    ship = recommendation_summary(rng.normal(0.10, 0.01, 4000), treatment="a")
    assert ship.decision == Decision.SHIP
    harmful = recommendation_summary(rng.normal(-0.10, 0.01, 4000), treatment="a")
    assert harmful.decision == Decision.STOP and "harmful" in harmful.reason
    futile = recommendation_summary(rng.normal(0.001, 0.002, 4000), treatment="a")
    assert futile.decision == Decision.STOP and "futile" in futile.reason
    unsure = recommendation_summary(rng.normal(0.03, 0.05, 4000), treatment="a")
    assert unsure.decision == Decision.CONTINUE
    assert unsure.claim_level == ClaimLevel.POSTERIOR


def test_summary_is_never_nan_even_for_degenerate_draws():
    summary = recommendation_summary(np.zeros(50), treatment="a", segment_id=3)
    values = [v for v in summary.__dict__.values() if isinstance(v, float)]
    assert values and all(math.isfinite(v) for v in values)
    assert summary.segment_id == 3


@pytest.mark.parametrize(
    ("draws", "match"),
    [(np.array([1.0]), "at least 2"), (np.array([0.1, np.nan]), "NaN"), (np.ones((3, 2)), "1-D")],
)
def test_bad_draws_raise(draws, match):
    with pytest.raises(ValueError, match=match):
        recommendation_summary(draws, treatment="a")
    with pytest.raises(ValueError, match="information_ratio"):
        expected_value_of_one_more_round(0.0, 1.0, information_ratio=0.0)
