"""BCFKernel under numpyro.infer.MCMC; fit() entry checks; configuration errors."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from bcf_synthetic import binary_experiment, continuous_experiment, hurdle_experiment
from numpyro.infer import MCMC

from pytyche.data import RoundData
from pytyche.inference import BCFConfig, BCFKernel, PerformanceWarning, fit
from pytyche.inference import fitting as fit_module
from pytyche.models import bcf_model, make_problem

TINY = BCFConfig(num_mu_trees=10, num_tau_trees=5, max_depth=4, num_warmup=10, num_draws=10)


def _run(problem, method: str):
    mcmc = MCMC(
        BCFKernel(bcf_model, TINY),
        num_warmup=10,
        num_samples=10,
        num_chains=2,
        chain_method=method,
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(4), problem, extra_fields=("info",))
    return mcmc.get_samples(group_by_chain=True), mcmc.get_extra_fields(group_by_chain=True)


def test_vectorized_chains_equal_sequential_chains():
    """Binary family, K = 4: same keys give the same draws, vmapped or one by one.

    The trees' shapes (leaves and depth per iteration) agree exactly; continuous values
    agree to float32 rounding, which a vmapped reduction may order differently (relative
    differences up to 1e-4 measured on this machine's CPU).
    """
    planted = binary_experiment(seed=0, n=400, num_arms=4)
    problem = make_problem(planted.data, num_mu_trees=10, num_tau_trees=5)
    vectorized, vec_extra = _run(problem, "vectorized")
    sequential, seq_extra = _run(problem, "sequential")
    assert vec_extra["fit"].shape == (2, 10, 1, 400, 4)
    for name in vectorized:
        np.testing.assert_allclose(vectorized[name], sequential[name], rtol=5e-4, atol=1e-6)
    np.testing.assert_allclose(vec_extra["fit"], seq_extra["fit"], rtol=5e-4, atol=1e-5)
    for field in ("mu_mean_leaves", "tau_mean_leaves", "mu_mean_depth", "tau_mean_depth"):
        np.testing.assert_array_equal(
            getattr(vec_extra["info"], field), getattr(seq_extra["info"], field)
        )
    assert not np.allclose(vec_extra["fit"][0], vec_extra["fit"][1])  # chains differ


@pytest.mark.slow
def test_variant_model_fitted_by_name_recovers_continuous_effects():
    """Continuous family, K = 3, the half-Cauchy τ-scale variant from models/."""
    planted = continuous_experiment(seed=2, n=800, num_arms=3, noise=0.5)
    config = BCFConfig(num_mu_trees=20, num_tau_trees=10, num_warmup=100, num_draws=100)
    posterior = fit(planted.data, config=config, seed=0, model="half_cauchy_tau")
    assert set(posterior.sites) == {"mu_leaf_var", "tau_scale", "sigma2"}
    draws = posterior.ate().values.reshape(-1, 2)
    low, high = np.quantile(draws, [0.005, 0.995], axis=0)
    truth = planted.cate.mean(axis=0)
    assert np.all((low < truth) & (truth < high)), (low, truth, high)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_mu_trees": 0}, "num_mu_trees"),
        ({"max_depth": 16}, "max_depth"),
        ({"alpha_tau": 1.5}, "alpha_tau"),
        ({"beta_mu": -1.0}, "beta_mu"),
        ({"max_cuts_mu": 256}, "max_cuts_mu"),
        ({"pooling": "shared"}, "pooling"),
        ({"chain_method": "threads"}, "chain_method"),
        ({"num_draws": 2.5}, "num_draws"),
        ({"num_gfr": 5, "num_warmup": 4}, "num_gfr"),
        ({"treatment_coding": "one_hot"}, "treatment_coding"),
    ],
)
def test_config_out_of_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BCFConfig(**kwargs)


def test_bad_inputs_have_clear_errors():
    planted = hurdle_experiment(seed=0, n=200)
    with pytest.raises(ValueError, match="family"):
        fit(planted.data, family="poisson")
    with pytest.raises(TypeError, match="RoundData"):
        fit(planted.frame)
    with pytest.raises(TypeError, match="BCFConfig"):
        fit(planted.data, config={"num_mu_trees": 10})
    with pytest.raises(ValueError, match="metric"):
        fit(planted.data, metric="mean_outcome")
    with pytest.raises(ValueError, match="unknown model"):
        fit(planted.data, model="no_such_model")
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0], "arm": ["a"] * 3, "revenue": [0.0, 1.0, 0.0]})
    with pytest.raises(ValueError, match="at least 2 arms"):
        RoundData.from_frame(frame, arms=["a"])
    with pytest.raises(TypeError, match="BCFProblem"):
        BCFKernel().init(jax.random.PRNGKey(0), 1, None, (planted.data,), {})


def test_large_cpu_fit_warns_once_per_process():
    fit_module._warn_large_cpu_fit.cache_clear()
    with pytest.warns(PerformanceWarning, match="CPU"):
        fit_module._warn_large_cpu_fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_module._warn_large_cpu_fit()  # a second call is silent


def test_hurdle_needs_zeros_and_positives():
    planted = hurdle_experiment(seed=0, n=200)
    all_positive = planted.frame.assign(revenue=planted.frame["revenue"] + 1.0)
    data = RoundData.from_frame(all_positive, arms=planted.data.arms, family="hurdle")
    with pytest.raises(ValueError, match="both zero and positive"):
        make_problem(data)


def test_one_sided_normal_latents_are_finite_and_truncated():
    """Albert–Chib latents stay finite and on the right side even for extreme fits."""
    from scipy import stats

    from pytyche.inference.kernel import _one_sided_normal

    mean = jax.numpy.array([-30.0, -6.0, -1.0, 0.0, 2.0, 30.0] * 2)
    positive = jax.numpy.array([True] * 6 + [False] * 6)
    keys = jax.random.split(jax.random.PRNGKey(0), 20_000)
    noise = np.asarray(jax.vmap(lambda k: _one_sided_normal(k, mean, positive))(keys))
    latent = np.asarray(mean) + noise
    assert np.isfinite(noise).all()
    assert (latent[:, :6] >= 0).all() and (latent[:, 6:] <= 0).all()
    # Truncated-normal mean of N(−1, 1) given > 0 (scipy's reference), 4 MC sds.
    reference = stats.truncnorm(1.0, np.inf)
    assert abs(noise[:, 2].mean() - reference.mean()) < 4 * reference.std() / np.sqrt(20_000)
