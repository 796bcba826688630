"""The probit level move: its exact marginal conditional, and the kernel's bookkeeping.

Repeated moves along one direction form a chain on the shift ``x``; its draws must follow
the density ``Σ log Φ(s (f + x d)) − x lin − ½ x² quad`` computed by quadrature. In the
kernel the move shifts leaves and residuals together: after it, every tracked fit must
equal the fit recomputed from the trees. Goodness-of-fit tests declare a false-failure rate
of 0.1%.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from bcf_synthetic import hurdle_experiment
from scipy import stats as scipy_stats
from scipy.special import log_ndtr

from pytyche.forest.predict import forest_fit
from pytyche.inference import BCFConfig, BCFKernel
from pytyche.inference.levels import LevelPrior, level_move, level_widths, probit_information
from pytyche.models import bcf_model, make_problem

FALSE_FAILURE_RATE = 1e-3
DRAWS = 3_000


def test_probit_information_matches_the_closed_form_at_one_half():
    assert np.isclose(probit_information(0.5), (1 / np.sqrt(2 * np.pi)) ** 2 / 0.25)
    assert 0.18 < probit_information(0.04) < 0.2


def test_repeated_moves_follow_the_marginal_conditional():
    rng = np.random.default_rng(0)
    n = 400
    fit0 = rng.normal(-1.2, 0.4, n)
    positive = rng.random(n) < 0.12
    d = np.where(rng.random(n) < 0.5, 0.6, -0.4)  # a centred treatment basis
    linear, quadratic = 1.5, 4.0
    widths = level_widths(d[None], np.ones(n), positive.mean())

    def move(key, x):
        prior = LevelPrior(jnp.asarray([linear + x * quadratic]), jnp.asarray([quadratic]))
        deltas, _ = level_move(
            key,
            jnp.asarray(fit0 + x * d, jnp.float32),
            jnp.asarray(positive),
            jnp.ones(n, jnp.float32),
            jnp.asarray(d[None], jnp.float32),
            prior,
            jnp.asarray(widths, jnp.float32),
        )
        return x + deltas[0]

    def chain(key):
        def step(x, k):
            x = move(k, x)
            return x, x

        return jax.lax.scan(step, jnp.float32(2.0), jax.random.split(key, 15))[0]

    draws = np.asarray(jax.vmap(chain)(jax.random.split(jax.random.key(1), DRAWS)))
    grid = np.linspace(-3, 3, 6001)
    sign = np.where(positive, 1.0, -1.0)
    log_p = np.array(
        [
            np.sum(log_ndtr(sign * (fit0 + x * d))) - x * linear - 0.5 * x**2 * quadratic
            for x in grid
        ]
    )
    density = np.exp(log_p - log_p.max())
    cdf = np.cumsum(density) / density.sum()
    assert scipy_stats.kstest(draws, lambda x: np.interp(x, grid, cdf)).pvalue > FALSE_FAILURE_RATE
    # The prior terms matter: without them the mean would differ by several MC errors.
    mean = np.sum(grid * density) / density.sum()
    assert abs(draws.mean() - mean) < 4 * draws.std() / np.sqrt(DRAWS)


def _channel0_fit(forest, basis=None):
    """Channel 0's fit of a forest's first group, recomputed from its trees."""
    trees = forest.trees
    trees = trees._replace(
        split_var=trees.split_var[0],
        split_bin=trees.split_bin[0],
        leaf_value=trees.leaf_value[0, :, :, :1],
    )
    return forest_fit(trees, forest.leaf_index[0], basis)[0]


def test_kernel_keeps_the_tracked_fit_equal_to_the_trees():
    """Hurdle K = 3, joint pooling: after iterations, ``z − r = offset + μ + τ + βᵀb``."""
    planted = hurdle_experiment(seed=3, n=600, base_rate=0.1)
    problem = make_problem(planted.data, num_mu_trees=8, num_tau_trees=4)
    config = BCFConfig(num_mu_trees=8, num_tau_trees=4, max_depth=3, num_warmup=5, num_draws=5)
    kernel = BCFKernel(bcf_model, config)
    state = kernel.init(jax.random.key(2), 5, None, (problem,), {})
    step = jax.jit(lambda s: kernel.sample(s, (problem,), {}))
    for _ in range(6):
        state = step(state)
    data = kernel.prepared(problem)
    mu = _channel0_fit(state.mu_forest)
    tau = _channel0_fit(state.tau_forest, data.basis)
    intercept = data.basis @ state.z["tau_intercept"][0]  # the arms' average effects
    tracked = state.targets[0] - state.residuals[0]
    np.testing.assert_allclose(tracked, data.offset[0] + mu + tau + intercept, atol=2e-4)
    np.testing.assert_allclose(state.mu_fit[0], mu, atol=2e-4)
    # the move is part of this (default) kernel's step: the problem has a probit channel
    assert config.marginal_probit_moves and data.level_widths is not None
