"""BART front end: recovery and cross-checks against bartz (an independent JAX BART).

The bartz cross-checks skip when bartz (the ``bench`` extra) is not installed; the
truncated-normal sampler test needs no peer and always runs.
"""

import warnings

import jax
import numpy as np
import pytest
from forest_testing import friedman
from scipy.stats import norm

from pytyche.forest.bart import BartConfig, fit_bart


@pytest.fixture
def bartz():
    """The bartz module; the requesting test skips (before any fit) when it is missing."""
    return pytest.importorskip("bartz", reason="the bartz cross-checks need the bench extra")


def _bartz_fit(bartz, X, y, X_test, **kwargs):
    with warnings.catch_warnings():
        # bartz reports its own progress/deprecations; they are not what is under test.
        warnings.simplefilter("ignore")
        model = bartz.Bart(X.T, y, printevery=None, init_kw={"min_points_per_leaf": 5}, **kwargs)
        return np.asarray(model.predict(X_test.T, kind="mean_samples"))


def test_friedman_recovery_matches_bartz(bartz) -> None:
    """Test RMSE against the true function is within 10% of bartz's (same trees/draws)."""
    rng = np.random.default_rng(1)
    X, f = friedman(rng, 5000)
    y = f + rng.normal(size=5000)
    X_test, f_test = friedman(rng, 1000)
    config = BartConfig(num_trees=200, max_depth=5, num_burnin=200, num_draws=200)
    fit = fit_bart(jax.random.key(0), X, y, X_test=X_test, config=config)
    ours = np.sqrt(np.mean((fit.test[0, :, 0].mean(axis=0) - f_test) ** 2))
    # bartz's maxdepth counts levels (6 ⇒ leaves at depth ≤ 5, our max_depth=5).
    samples = _bartz_fit(
        bartz, X, y, X_test, n_burn=200, n_save=200, num_chains=None, seed=0, maxdepth=6
    )
    theirs = np.sqrt(np.mean((samples.mean(axis=0) - f_test) ** 2))
    assert ours < 1.10 * theirs, (ours, theirs)
    assert ours < 0.6  # noise sd is 1: the fit is far better than the noise
    assert abs(np.sqrt(fit.noise_var.mean()) - 1.0) < 0.05


def _hurdle_data(rng: np.random.Generator, n: int):
    X = rng.uniform(size=(n, 4))
    conversion = 1.2 * (X[:, 0] - 0.5) + np.sin(3 * X[:, 1])
    severity = 1.0 + 2.0 * X[:, 2] * (X[:, 0] > 0.5)
    converted = conversion + rng.normal(size=n) > 0
    spend = severity + 0.5 * rng.normal(size=n)
    return X, np.stack([converted.astype(float), np.where(converted, spend, 0.0)]), converted


@pytest.mark.slow
def test_probit_plus_masked_gaussian_matches_bartz_mixed_multivariate(bartz) -> None:
    """Two channels on one topology agree with bartz's mixed binary/continuous Bart.

    Posterior means of (P(convert), mean spend) at test points are compared; the Monte Carlo
    error of each method is estimated from the spread between its two chains, and the mean
    squared difference between methods must be within 3× the summed MC variances.
    """
    rng = np.random.default_rng(2)
    X, y, converted = _hurdle_data(rng, 3000)
    X_test = rng.uniform(size=(300, 4))
    observed = np.stack([np.ones(3000, bool), converted])
    config = BartConfig(num_trees=100, max_depth=5, num_burnin=500, num_draws=1000, num_chains=2)
    fit = fit_bart(
        jax.random.key(3),
        X,
        y,
        outcome_types=("probit", "gaussian"),
        observed=observed,
        X_test=X_test,
        config=config,
    )
    ours = fit.test.copy()  # (chains, draws, 2, m)
    ours[:, :, 0] = norm.cdf(ours[:, :, 0])
    theirs = _bartz_fit(
        bartz,
        X,
        y,
        X_test,
        outcome_type=["binary", "continuous"],
        missing=~observed,
        num_trees=100,
        n_burn=500,
        n_save=1000,
        num_chains=2,
        seed=1,
        maxdepth=6,
    )
    theirs = theirs.reshape(2, 1000, 2, -1)
    for channel in range(2):
        ours_chains = ours[:, :, channel].mean(axis=1)
        theirs_chains = theirs[:, :, channel].mean(axis=1)
        spread_ours = (ours_chains[0] - ours_chains[1]) ** 2
        spread_theirs = (theirs_chains[0] - theirs_chains[1]) ** 2
        mc_var = (spread_ours + spread_theirs) / 4
        squared_difference = (ours_chains.mean(0) - theirs_chains.mean(0)) ** 2
        ratio = squared_difference.mean() / mc_var.mean()
        print(f"channel {channel}: mean sq diff / MC var = {ratio:.2f}")
        assert ratio < 3.0


@pytest.mark.parametrize("lower", [-3.0, 0.0, 1.5, 6.0, 12.0, 40.0])
def test_albert_chib_tail_sampler_matches_truncated_normal(lower: float) -> None:
    """Truncated-normal latents: support, mean and sd vs scipy, within 5 MC standard errors."""
    from scipy.stats import truncnorm

    from pytyche.forest.bart import _normal_tail

    size = 100_000
    draws = np.asarray(_normal_tail(jax.random.key(1), np.full(size, lower, np.float32)))
    assert np.all(np.isfinite(draws)) and np.all(draws >= lower)
    sd = truncnorm.std(lower, np.inf)
    assert abs(draws.mean() - truncnorm.mean(lower, np.inf)) < 5 * sd / np.sqrt(size)
    assert abs(draws.std() / sd - 1) < 5 * np.sqrt(2 / size) + (0.01 if lower > 8 else 0)
