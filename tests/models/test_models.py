"""Model functions, the sufficient-statistic likelihood, site classification, registry."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest
from scipy import integrate, stats

from pytyche.data import RoundData
from pytyche.inference import BCFConfig
from pytyche.inference.kernel import prepare_data
from pytyche.inference.sites import inspect_model, normal_prior_variance, update_sites
from pytyche.models import (
    ForestStats,
    ZeroMeanNormalStats,
    available_models,
    bcf_model,
    bcf_variances,
    get_model,
    make_problem,
    register_model,
)


def _data(seed: int = 0, n: int = 300, family: str = "hurdle") -> RoundData:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 3, n)
    revenue = np.where(rng.uniform(size=n) < 0.3, np.exp(rng.normal(2, 0.5, n)), 0.0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "arm": np.array(["c", "t1", "t2"])[arm], "revenue": revenue}
    )
    return RoundData.from_frame(frame, arms=["c", "t1", "t2"], family=family)


def test_zero_mean_normal_stats_matches_normal_log_density():
    values = np.random.default_rng(0).normal(0, 1.7, size=50)
    observed = jnp.array([np.sum(values**2), values.size])
    log_prob = ZeroMeanNormalStats(jnp.asarray(1.7**2)).log_prob(observed)
    expected = stats.norm(0, 1.7).logpdf(values).sum()
    np.testing.assert_allclose(float(log_prob), expected, rtol=1e-5)


def test_problem_standardises_severity_among_converters():
    data = _data()
    problem = make_problem(data)
    converted = data.y > 0
    severity = problem.targets[1, converted]
    np.testing.assert_allclose([severity.mean(), severity.std()], [0.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(problem.weights[1], converted.astype(float))
    assert problem.offset[0] == pytest.approx(stats.norm.ppf(converted.mean()))
    assert problem.propensity.shape == (300, 2)
    assert problem.channels == ("conversion", "severity")


def test_default_model_site_classification():
    problem = make_problem(_data())
    values = {
        "mu_leaf_var": jnp.array([0.01, 0.02]),
        "tau_scale": jnp.array([0.3, 0.2]),
        "sigma2": jnp.asarray(0.7),
    }
    layout = inspect_model(bcf_model, problem, values)
    assert dict(layout.conjugate) == {"mu_leaf_var": "mu_leaves", "sigma2": "residuals"}
    assert layout.metropolis == ("tau_scale",)


def _scaled_model(problem, stats=None):
    """σ² enters the likelihood as 4·v (still conjugate); μ leaf var also used elsewhere."""
    with numpyro.plate("channel", problem.num_channels, dim=-1):
        mu_leaf_var = numpyro.sample("mu_leaf_var", dist.InverseGamma(3.0, 0.02))
        tau_scale = numpyro.sample("tau_scale", dist.HalfNormal(0.5))
    numpyro.sample("coupled", dist.Normal(0.0, 1.0), obs=jnp.sum(mu_leaf_var))
    variances = bcf_variances(problem, None, mu_leaf_var, tau_scale)
    from pytyche.models.likelihood import ForestVariances, forest_likelihood

    scaled = ForestVariances(
        variances.mu_leaf_var, variances.tau_leaf_var, variances.noise_var * 4.0
    )
    forest_likelihood(stats, scaled, problem.gaussian_channel)
    return scaled


def test_conjugacy_detection_handles_scaling_and_coupling():
    problem = make_problem(_data(family="continuous"))
    values = {
        "mu_leaf_var": jnp.array([0.01]),
        "tau_scale": jnp.array([0.3]),
        "sigma2": jnp.asarray(0.7),
    }
    layout = inspect_model(_scaled_model, problem, values)
    assert dict(layout.conjugate) == {"sigma2": "residuals"}
    assert set(layout.metropolis) == {"mu_leaf_var", "tau_scale"}


def test_conjugate_update_draws_the_inverse_gamma_posterior():
    """σ² | residuals ~ IG(a + m/2, b + Σr²/(2·4)) for the 4·σ² likelihood."""
    problem = make_problem(_data(family="continuous"))
    values = {
        "mu_leaf_var": jnp.array([0.01]),
        "tau_scale": jnp.array([0.3]),
        "sigma2": jnp.asarray(0.7),
    }
    layout = inspect_model(_scaled_model, problem, values)
    ones = jnp.ones(1)
    forest_stats = ForestStats(ones, ones, ones, ones, jnp.array([40.0]), jnp.array([30.0]))

    def draw(key):
        new, _, _ = update_sites(
            key,
            _scaled_model,
            problem,
            layout._replace(metropolis=()),
            {},
            forest_stats,
            values,
            {},
            jnp.asarray(0.0),
            0,
        )
        return new["sigma2"]

    draws = np.asarray(jax.vmap(draw)(jax.random.split(jax.random.PRNGKey(0), 20_000)))
    posterior = stats.invgamma(1.5 + 15.0, scale=1.5 + 40.0 / 8.0)
    # 20k draws: the mean's Monte Carlo sd is sd/√20000; allow 4 of them.
    assert abs(draws.mean() - posterior.mean()) < 4 * posterior.std() / np.sqrt(20_000)
    assert stats.kstest(draws, posterior.cdf).pvalue > 1e-3


def test_metropolis_update_targets_the_model_conditional():
    """tau_scale | leaves: half-normal prior × N(0, s²/m_τ) leaves, by quadrature."""
    problem = make_problem(_data(family="continuous"), num_tau_trees=10)
    values = {
        "mu_leaf_var": jnp.array([0.01]),
        "tau_scale": jnp.array([0.3]),
        "sigma2": jnp.asarray(0.7),
        "tau_intercept": jnp.zeros((1, problem.num_arms - 1)),
    }
    layout = inspect_model(bcf_model, problem, values)
    assert layout.metropolis == ("tau_scale",)
    assert layout.tau_intercept == "tau_intercept"  # updated by the kernel, not Metropolis
    supports = {"tau_scale": dist.HalfNormal(1.0).support}
    ones = jnp.ones(1)
    sum_sq, count = 0.05, 20.0
    forest_stats = ForestStats(ones, ones, jnp.array([sum_sq]), jnp.array([count]), ones, ones)

    @jax.jit
    def chain(key):
        def step(carry, k):
            state, steps = carry
            state, steps, _ = update_sites(
                k,
                bcf_model,
                problem,
                layout,
                supports,
                forest_stats,
                state,
                steps,
                jnp.asarray(0.0),
                1,
            )
            return (state, steps), state["tau_scale"][0]

        steps = {"tau_scale": jnp.asarray(np.log(0.5))}
        _, trace = jax.lax.scan(step, (values, steps), jax.random.split(key, 40_000))
        return trace

    draws = np.asarray(chain(jax.random.PRNGKey(1)))[2_000:]

    def density(s):
        var = s**2 / 10
        return stats.halfnorm(scale=0.5).pdf(s) * var ** (-count / 2) * np.exp(-sum_sq / 2 / var)

    norm_const = integrate.quad(density, 0, 3)[0]
    mean = integrate.quad(lambda s: s * density(s), 0, 3)[0] / norm_const
    sd = np.sqrt(integrate.quad(lambda s: s**2 * density(s), 0, 3)[0] / norm_const - mean**2)
    # Autocorrelated draws: effective size ≥ 2000 assumed, 4 MC sds.
    assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(2_000), (draws.mean(), mean)
    assert abs(draws.std() - sd) < 0.1 * sd


def test_registry():
    assert get_model("bcf") is bcf_model
    variant = get_model("half_cauchy_tau")
    assert variant is not bcf_model
    assert {"bcf", "half_cauchy_tau"} <= set(available_models())
    with pytest.raises(ValueError, match="unknown model"):
        get_model("no_such_model")
    with pytest.raises(ValueError, match="already registered"):
        register_model("bcf", lambda problem, stats=None: None)
    with pytest.raises(ValueError, match="identifier"):
        register_model("not a name", bcf_model)


def test_variant_has_half_cauchy_tau_prior():
    """``tau_scale ~ HalfCauchy(s_τ)`` per channel, with the default model's ``s_τ``.

    ``models/half_cauchy_tau.py`` documents the scale as ``problem.tau_total_sd``, which
    ``pytyche.models.problem`` sets to 0.5 on both hurdle channels (probit and Gaussian);
    the default model's half-normal uses the same scale.
    """
    problem = make_problem(_data())
    np.testing.assert_array_equal(problem.tau_total_sd, [0.5, 0.5])

    def tau_scale_prior(model):
        trace = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(problem)
        base = trace["tau_scale"]["fn"]
        while hasattr(base, "base_dist"):
            base = base.base_dist
        return base

    base = tau_scale_prior(get_model("half_cauchy_tau"))
    assert isinstance(base, dist.HalfCauchy)
    np.testing.assert_allclose(np.broadcast_to(base.scale, (2,)), problem.tau_total_sd)
    default = tau_scale_prior(bcf_model)
    assert isinstance(default, dist.HalfNormal)
    np.testing.assert_allclose(base.scale, default.scale)


def test_fixed_tau_scale_variant_has_no_tau_scale_site():
    """StochTree-style fixed treatment leaf scale: no tau_scale site, and every treatment
    leaf's prior variance is the prior scale squared over the number of τ trees."""
    problem = make_problem(_data())
    model = get_model("fixed_tau_scale")
    trace = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(problem)
    assert "tau_scale" not in trace
    variances = numpyro.handlers.seed(model, 0)(problem)
    np.testing.assert_allclose(
        np.asarray(variances.tau_leaf_var),
        np.asarray(problem.tau_total_sd) ** 2 / problem.num_tau_trees,
        rtol=1e-6,
    )


def test_no_tau_intercept_variant_and_a_non_normal_intercept_prior():
    """The ablation has no average-effect site (the kernel then has none to update); a
    model whose ``tau_intercept`` prior is not a zero-mean normal is refused by name."""
    problem = make_problem(_data())
    trace = numpyro.handlers.trace(
        numpyro.handlers.seed(get_model("no_tau_intercept"), 0)
    ).get_trace(problem)
    assert "tau_intercept" not in trace and "tau_scale" in trace
    data = prepare_data(get_model("no_tau_intercept"), problem, BCFConfig())
    assert data.layout.tau_intercept is None and data.intercept_prior_var is None
    default = numpyro.handlers.trace(numpyro.handlers.seed(bcf_model, 0)).get_trace(problem)
    shape = (problem.num_channels, problem.num_arms - 1)
    np.testing.assert_allclose(
        normal_prior_variance(default["tau_intercept"], shape),
        np.broadcast_to(np.asarray(problem.tau_total_sd)[:, None] ** 2, shape),
        rtol=1e-6,
    )
    shifted = dict(default["tau_intercept"], fn=dist.Normal(1.0, 1.0).expand(shape).to_event(2))
    with pytest.raises(ValueError, match="'tau_intercept' must have a zero-mean Normal"):
        normal_prior_variance(shifted, shape)
