"""Power, sample size and MDE: statsmodels reference values, inverse consistency, simulation."""

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from pytyche.classic import (
    EffectEstimate,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    proportion_test,
    sample_size_means,
    sample_size_proportions,
    simulated_power,
    welch_t_test,
)


@pytest.mark.parametrize(
    ("effect", "n", "ratio", "alpha"), [(0.3, 150, 1.0, 0.05), (-0.1, 900, 2.5, 0.01)]
)
def test_power_means_matches_statsmodels(effect, n, ratio, alpha):
    ours = power_means(effect, 2.0, n, ratio=ratio, alpha=alpha)
    reference = NormalIndPower().power(abs(effect) / 2.0, n, alpha, ratio=ratio)
    assert ours == pytest.approx(reference, rel=1e-10)


def test_power_proportions_matches_statsmodels():
    ours = power_proportions(0.10, 0.13, 1_500, ratio=1.5)
    reference = power_proportions_2indep(0.03, 0.10, 1_500, ratio=1.5, alpha=0.05)
    assert ours == pytest.approx(reference.power, rel=1e-10)


def test_cuped_factor_is_a_variance_rescaling():
    """Reducing the variance by r is the same as multiplying the sample by 1/(1 − r)."""
    reduced = power_means(0.2, 1.0, 300, variance_reduction=0.36)
    enlarged = power_means(0.2, 1.0, 300 / 0.64)
    assert reduced == pytest.approx(enlarged, rel=1e-12)
    plain = sample_size_means(0.2, 1.0)
    with_cuped = sample_size_means(0.2, 1.0, variance_reduction=0.36)
    assert with_cuped == pytest.approx(0.64 * plain, abs=2)


@pytest.mark.parametrize("ratio", [1.0, 3.0])
@pytest.mark.parametrize("target", [0.5, 0.8, 0.95])
def test_means_inverses_are_consistent(ratio, target):
    n = sample_size_means(0.25, 1.5, power=target, ratio=ratio)
    assert power_means(0.25, 1.5, n, ratio=ratio) >= target
    assert power_means(0.25, 1.5, n - 1, ratio=ratio) < target
    mde = mde_means(1.5, n, power=target, ratio=ratio)
    assert power_means(mde, 1.5, n, ratio=ratio) == pytest.approx(target, abs=1e-9)
    assert mde <= 0.25  # n was rounded up, so a smaller effect is detectable
    assert mde_means(1.5, n - 1, power=target, ratio=ratio) > 0.25


@pytest.mark.parametrize("target", [0.6, 0.8, 0.9])
def test_proportion_inverses_are_consistent(target):
    n = sample_size_proportions(0.05, 0.06, power=target, variance_reduction=0.1)
    assert power_proportions(0.05, 0.06, n, variance_reduction=0.1) >= target
    assert power_proportions(0.05, 0.06, n - 1, variance_reduction=0.1) < target
    lift = mde_proportions(0.05, n, power=target, variance_reduction=0.1)
    assert power_proportions(0.05, 0.05 + lift, n, variance_reduction=0.1) == pytest.approx(
        target, abs=1e-9
    )
    assert lift <= 0.01 + 1e-9


def test_textbook_sample_size():
    """δ/σ = 0.2, α = 0.05, power 0.8: the classic answer is 393 per arm (z approximation)."""
    assert sample_size_means(0.2, 1.0) == 393


def _normal_arms(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0.3, 1.0, size=n), rng.normal(0.0, 1.0, size=n)


def test_analytic_power_matches_simulated_welch_power():
    """Simulated Welch power vs the analytic curve, n_simulations = 1 500 per size.

    Tolerance: 4 binomial standard errors sqrt(p(1 − p)/1500) (≤ 0.052) plus 0.01 for the
    normal-versus-t approximation at these sizes (the t critical value at ≥ 98 df is within
    1.5% of z).
    """
    curve = simulated_power(
        _normal_arms,
        lambda arms: welch_t_test(*arms),
        [50, 150, 300],
        n_simulations=1_500,
        seed=7,
    )
    for row in curve.itertuples():
        analytic = power_means(0.3, 1.0, row.n)
        mc_se = np.sqrt(analytic * (1 - analytic) / row.n_simulations)
        assert row.power == pytest.approx(analytic, abs=4 * mc_se + 0.01)
        assert row.mc_se == pytest.approx(np.sqrt(row.power * (1 - row.power) / 1_500))


def test_analytic_power_matches_simulated_proportion_power():
    def simulate(rng: np.random.Generator, n: int) -> tuple[int, int]:
        return int(rng.binomial(n, 0.13)), int(rng.binomial(n, 0.10))

    def test(counts: tuple[int, int]) -> EffectEstimate:
        return proportion_test(counts[0], n_per_arm, counts[1], n_per_arm)

    n_per_arm = 1_200
    curve = simulated_power(simulate, test, [n_per_arm], n_simulations=3_000, seed=3)
    analytic = power_proportions(0.10, 0.13, n_per_arm)
    mc_se = np.sqrt(analytic * (1 - analytic) / 3_000)
    assert curve.loc[0, "power"] == pytest.approx(analytic, abs=4 * mc_se)


def test_simulated_power_is_reproducible_and_null_rate_is_alpha():
    def simulate(rng, n):
        return rng.normal(size=n), rng.normal(size=n)

    def test(arms):
        return welch_t_test(*arms).p_value

    first = simulated_power(simulate, test, [40, 80], n_simulations=400, seed=1)
    second = simulated_power(simulate, test, [80], n_simulations=400, seed=1)
    assert first.loc[0, "power"] == pytest.approx(0.05, abs=4 * np.sqrt(0.05 * 0.95 / 400))
    # Streams are per size: the n = 80 estimate does not depend on the other sizes requested.
    assert first.loc[1, "power"] == second.loc[0, "power"]
    again = simulated_power(simulate, test, [40, 80], n_simulations=400, seed=1)
    assert first.equals(again)


def test_validation_messages():
    with pytest.raises(ValueError, match="sd must be a finite positive"):
        power_means(0.1, -1.0, 100)
    with pytest.raises(ValueError, match="variance_reduction must lie in"):
        power_means(0.1, 1.0, 100, variance_reduction=1.0)
    with pytest.raises(ValueError, match="effect must be a finite non-zero"):
        sample_size_means(0.0, 1.0)
    with pytest.raises(ValueError, match="p_treatment must differ"):
        sample_size_proportions(0.1, 0.1)
    with pytest.raises(ValueError, match="too small to reach power"):
        mde_proportions(0.5, 3, power=0.99)
    with pytest.raises(TypeError, match="simulate must be a callable"):
        simulated_power(None, lambda d: 0.5, [10])
    with pytest.raises(ValueError, match="power must exceed alpha"):
        mde_means(1.0, 100, power=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("n", [30, 100, 400, 1_000])
def test_analytic_power_matches_vectorised_simulation(n):
    """20 000 simulated z-tests per size (vectorised); tolerance 4 binomial SE.

    With a z-test on known-variance data the normal approximation is exact, so the only
    error left is Monte Carlo error.
    """
    rng = np.random.default_rng(n)
    n_sims, effect, sd = 20_000, 0.15, 1.0
    treated = rng.normal(effect, sd, size=(n_sims, n)).mean(axis=1)
    control = rng.normal(0.0, sd, size=(n_sims, 2 * n)).mean(axis=1)
    z = (treated - control) / (sd * np.sqrt(1 / n + 1 / (2 * n)))
    simulated = np.mean(np.abs(z) > 1.959963984540054)
    analytic = power_means(effect, sd, n, ratio=2.0)
    assert simulated == pytest.approx(analytic, abs=4 * np.sqrt(analytic * (1 - analytic) / n_sims))
