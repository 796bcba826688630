"""The treatment-scale move: its slice sampler and its exact normal conditional.

For the default model (``tau_scale ~ HalfNormal(s_τ)``) the move's target in the signed new
scale ``b`` is a normal whose mean and variance follow from the channel sums by hand
(derivation below); many independent moves from one state must follow it. The slice
sampler is checked alone on a skewed, non-normal density. Goodness-of-fit tests declare a
false-failure rate of 0.1% each.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from bcf_synthetic import hurdle_experiment
from scipy import stats as scipy_stats
from scipy.special import log_ndtr

from pytyche.inference import BCFConfig
from pytyche.inference.expansion import (
    ScaleMoveInputs,
    probit_scale_move,
    scale_move,
    slice_sample,
)
from pytyche.inference.kernel import prepare_data
from pytyche.inference.sites import log_joint
from pytyche.models import bcf_model, make_problem
from pytyche.models.likelihood import ForestStats

FALSE_FAILURE_RATE = 1e-3
DRAWS = 4_000


def test_slice_sampler_targets_a_skewed_density():
    """Gamma(2.5) by repeated slice updates (a chain per key): KS against the exact CDF."""
    log_density = lambda x: jnp.where(x > 0, 1.5 * jnp.log(x) - x, -jnp.inf)  # noqa: E731

    def chain(key):
        def step(x, k):
            x = slice_sample(k, log_density, x, jnp.float32(2.0))
            return x, x

        _, xs = jax.lax.scan(step, jnp.float32(1.0), jax.random.split(key, 20))
        return xs[-1]  # 20 updates from a fixed start: the slice chain has forgotten it

    draws = np.asarray(jax.vmap(chain)(jax.random.split(jax.random.PRNGKey(0), DRAWS)))
    assert scipy_stats.kstest(draws, scipy_stats.gamma(2.5).cdf).pvalue > FALSE_FAILURE_RATE


def test_slice_sampler_with_a_narrow_bracket_steps_out():
    """A bracket of 0.3 sd (at most 8 steps out): the chain still targets N(30, 1)."""
    log_density = lambda x: -0.5 * (x - 30.0) ** 2  # noqa: E731

    def chain(key):
        def step(x, k):
            x = slice_sample(k, log_density, x, jnp.float32(0.3))
            return x, x

        _, xs = jax.lax.scan(step, jnp.float32(29.0), jax.random.split(key, 200))
        return xs[-1]

    draws = np.asarray(jax.vmap(chain)(jax.random.split(jax.random.PRNGKey(1), DRAWS)))
    assert scipy_stats.kstest(draws, scipy_stats.norm(30.0, 1.0).cdf).pvalue > FALSE_FAILURE_RATE


def _setup():
    planted = hurdle_experiment(seed=3, n=600, num_arms=3)
    problem = make_problem(planted.data, num_mu_trees=10, num_tau_trees=5)
    data = prepare_data(bcf_model, problem, BCFConfig(num_mu_trees=10, num_tau_trees=5))
    assert data.layout.tau_scale == "tau_scale"
    values = {k: jnp.asarray(v, jnp.float32) for k, v in data.init_values.items()}
    values["tau_scale"] = jnp.asarray([0.3, 0.7], jnp.float32)
    values["sigma2"] = jnp.asarray(0.8, jnp.float32)
    stats = ForestStats(
        mu_leaf_sum_sq=jnp.asarray([0.5, 0.9]),
        mu_leaf_count=jnp.asarray([30.0, 30.0]),
        tau_leaf_sum_sq=jnp.asarray([0.2, 0.6]),
        tau_leaf_count=jnp.asarray([14.0, 14.0]),
        residual_sum_sq=jnp.asarray([610.0, 95.0]),
        residual_count=jnp.asarray([600.0, 120.0]),
    )
    inputs = ScaleMoveInputs(
        residual_sq=stats.residual_sum_sq,
        residual_tau=jnp.asarray([-1.5, 2.0]),
        tau_sq=jnp.asarray([9.0, 14.0]),
        noise_var=jnp.asarray([1.0, 0.8]),
        in_model=jnp.asarray([False, True]),
    )
    return problem, values, stats, inputs


def test_default_model_move_draws_the_exact_normal_conditional():
    """b = g s ~ N(m, v) with 1/v = S_ττ/(s² σ²) + 1/s_τ², m = v (S_rτ + S_ττ)/(s σ²).

    The data term of r' = r + (1 − b/s) τ is −½ [(b/s)² S_ττ − 2 (b/s)(S_rτ + S_ττ)] / σ²
    plus a constant; the HalfNormal(s_τ) prior at |b| adds −b² / (2 s_τ²), and the leaves'
    normalising constants cancel the move's Jacobian.
    """
    problem, values, stats, inputs = _setup()
    prior = jnp.asarray(problem.tau_total_sd, jnp.float32)

    def one(key):
        # a chain of moves from one state (slice sampling is a Markov kernel, not an
        # independent draw); the conditional of b is the same at every state of the orbit
        def step(carry, k):
            values, stats, inputs = carry
            new_values, new_stats, factors = scale_move(
                k,
                lambda v, s: log_joint(bcf_model, problem, s, v),
                "tau_scale",
                values,
                stats,
                inputs,
                prior,
            )
            # τ' = g τ and r' = r + (1 − g) τ
            moved = inputs._replace(
                residual_sq=new_stats.residual_sum_sq,
                residual_tau=factors * (inputs.residual_tau + (1 - factors) * inputs.tau_sq),
                tau_sq=factors**2 * inputs.tau_sq,
            )
            return (new_values, new_stats, moved), factors * values["tau_scale"]

        _, signed = jax.lax.scan(step, (values, stats, inputs), jax.random.split(key, 6))
        return signed[-1], signed[0]

    last, first = jax.vmap(one)(jax.random.split(jax.random.PRNGKey(2), DRAWS))
    signed = last
    signed = np.asarray(signed, np.float64)
    s = np.asarray(values["tau_scale"], np.float64)
    s_tt, s_rt = np.asarray(inputs.tau_sq), np.asarray(inputs.residual_tau)
    noise = np.asarray(inputs.noise_var, np.float64)
    precision = s_tt / (s**2 * noise) + 1 / np.asarray(prior, np.float64) ** 2
    mean = (s_rt + s_tt) / (s * noise) / precision
    for c in range(2):
        exact = scipy_stats.norm(mean[c], precision[c] ** -0.5)
        assert scipy_stats.kstest(signed[:, c], exact.cdf).pvalue > FALSE_FAILURE_RATE
    # one move's bookkeeping: the site is |b|, leaf sums of squares and residuals move with g
    new_values, new_stats, factors = scale_move(
        jax.random.PRNGKey(5),
        lambda v, s: log_joint(bcf_model, problem, s, v),
        "tau_scale",
        values,
        stats,
        inputs,
        prior,
    )
    g = np.asarray(factors, np.float64)
    assert np.all(g != 1.0) and np.any(np.asarray(first) != 0)
    np.testing.assert_allclose(np.asarray(new_values["tau_scale"]), np.abs(g) * s, rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(new_stats.tau_leaf_sum_sq), g**2 * np.asarray(stats.tau_leaf_sum_sq), rtol=1e-4
    )
    change = (1 - g) * (2 * s_rt + (1 - g) * s_tt)
    np.testing.assert_allclose(
        np.asarray(new_stats.residual_sum_sq),
        np.asarray(stats.residual_sum_sq) + change,
        rtol=1e-4,
    )


def test_probit_move_draws_the_marginal_conditional():
    """Latents integrated out: ``b ~ HalfNormal-prior(|b|) × Π Φ(s_i (f_i + (b/s − 1) τ_i))``.

    The leaves' normalising constants cancel the Jacobian as above; the density of the
    signed scale is evaluated by quadrature on a grid and the chain's end points are
    compared with it by KS.
    """
    problem, values, stats, _ = _setup()
    rng = np.random.default_rng(7)
    n = 600
    tau0 = rng.normal(0.0, 0.3, n)  # the treatment part of the fit at s = 0.3
    base = rng.normal(-1.0, 0.3, n)  # the rest of the fit
    positive = rng.random(n) < 0.2
    prior = float(np.asarray(problem.tau_total_sd).reshape(-1)[0])
    s0 = float(values["tau_scale"][0])

    def one(key):
        def step(carry, k):
            values, stats, tau, signed = carry  # signed: the scale with τ0's orientation
            new_values, new_stats, g = probit_scale_move(
                k,
                0,
                lambda v, st: log_joint(bcf_model, problem, st, v),
                "tau_scale",
                values,
                stats,
                jnp.asarray(base, jnp.float32) + tau,
                tau,
                jnp.asarray(positive),
                jnp.ones(n, jnp.float32),
                jnp.float32(0.3),
                jnp.float32(prior),
            )
            return (new_values, new_stats, g * tau, g * signed), g * signed

        carry = (values, stats, jnp.asarray(tau0, jnp.float32), jnp.float32(s0))
        return jax.lax.scan(step, carry, jax.random.split(key, 8))[1][-1]

    signed = np.asarray(jax.vmap(one)(jax.random.split(jax.random.PRNGKey(3), DRAWS)))
    grid = np.linspace(-3, 3, 12001)
    sign = np.where(positive, 1.0, -1.0)
    log_p = np.array(
        [np.sum(log_ndtr(sign * (base + b / s0 * tau0))) - b**2 / (2 * prior**2) for b in grid]
    )
    density = np.exp(log_p - log_p.max())
    cdf = np.cumsum(density) / density.sum()
    result = scipy_stats.kstest(signed, lambda x: np.interp(x, grid, cdf))
    assert result.pvalue > FALSE_FAILURE_RATE
