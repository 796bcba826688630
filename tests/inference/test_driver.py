"""The compiled, cached chain runner behind `pytyche.fit`.

It must give NumPyro's draws for the same key, and reusing a compiled program for another
dataset must give exactly what a fresh compile gives (no dataset baked into the program).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from bcf_synthetic import hurdle_experiment
from numpyro.infer import MCMC

from pytyche.inference import BCFConfig, BCFKernel, driver, fit, kernel
from pytyche.models import bcf_model, make_problem

TINY = BCFConfig(num_mu_trees=8, num_tau_trees=4, max_depth=4, num_warmup=6, num_draws=5)
N = 260


@pytest.fixture(scope="module")
def datasets():
    return [hurdle_experiment(seed=s, n=N).data for s in (1, 2)]


def _problem(data):
    return make_problem(data, num_mu_trees=8, num_tau_trees=4)


def test_fit_gives_numpyro_mcmc_draws_for_the_same_seed(datasets):
    """Hurdle, K = 3: fit() == MCMC(BCFKernel).run with the same key, forests included."""
    posterior = fit(datasets[0], config=TINY, seed=3)
    mcmc = MCMC(BCFKernel(bcf_model, TINY), num_warmup=6, num_samples=5, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(3), _problem(datasets[0]), extra_fields=("mu_trees", "tau_trees"))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    assert posterior.fit.shape == (1, 5, 2, N, 3)
    for name, value in mcmc.get_samples(group_by_chain=True).items():
        np.testing.assert_allclose(posterior.sites[name], value, rtol=1e-4)
    np.testing.assert_allclose(posterior.fit, extra["fit"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(posterior.forests.mu_split_var, extra["mu_trees"].split_var)
    np.testing.assert_array_equal(posterior.forests.tau_split_bin, extra["tau_trees"].split_bin)


def test_a_second_dataset_reuses_the_compiled_program(datasets):
    fit(datasets[0], config=TINY, seed=3)  # compiled (or cached by the test above)
    before = driver._compiled.cache_info()
    posterior = fit(datasets[1], config=TINY, seed=3)
    after = driver._compiled.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)
    run = driver.prepare_run(_problem(datasets[1]), TINY)
    key = (bcf_model, driver.program_config(TINY), run.static, 6, 5, 1)
    runner = driver._compiled(*key, driver.DEFAULT_FIELDS + driver.FOREST_FIELDS)
    assert runner._cache_size() == 1  # one trace and compile served both datasets
    first = fit(datasets[0], config=TINY, seed=3)
    assert not np.allclose(posterior.fit.mean(axis=(0, 1)), first.fit.mean(axis=(0, 1)))


def test_vmapped_replicates_match_cached_and_sequential_fits(datasets):
    """A freshly compiled vmap over datasets [A, A, B] with keys [k₀, k₁, k] equals the
    cached program's fits: two sequential chains of A with seed 5 (keys k₀, k₁ = split of
    PRNGKey(5), as NumPyro splits) and one chain of B with seed 3."""
    config = dataclasses.replace(TINY, store_forests=False)
    runs = [
        driver.prepare_run(_problem(d), config) for d in (datasets[0], datasets[0], datasets[1])
    ]
    assert runs[0].static == runs[2].static
    sample = driver.chain_sampler(bcf_model, config, runs[0].static, 6, 5)
    stacked = driver.stack_arrays([r.arrays for r in runs])
    keys = np.concatenate([jax.random.split(jax.random.PRNGKey(5), 2), [jax.random.PRNGKey(3)]])
    batched = jax.jit(jax.vmap(sample))(keys, stacked)
    # TINY keeps the forests: the same single-chain program as the first test's fit.
    sequential = fit(
        datasets[0],
        config=dataclasses.replace(TINY, num_chains=2, chain_method="sequential"),
        seed=5,
    )
    single = fit(datasets[1], config=TINY, seed=3)
    np.testing.assert_allclose(batched.fit[:2], sequential.fit, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batched.fit[2], single.fit[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(sequential.fit[0], sequential.fit[1])  # chains differ


def test_bad_arguments():
    run = driver.prepare_run(_problem(hurdle_experiment(seed=8, n=200).data), TINY)
    with pytest.raises(ValueError, match="fields must contain"):
        driver.chain_sampler(bcf_model, TINY, run.static, 1, 1, fields=("z",))
    with pytest.raises(TypeError, match="problem must be a BCFProblem"):
        driver.prepare_run("data", TINY)


def test_channel_rows_are_bucketed_and_padded_with_n():
    mask = np.zeros(100, bool)
    mask[[3, 50, 97]] = True
    rows = kernel.channel_rows(mask, buckets=10)
    assert rows.dtype == np.int32 and rows.size == 10  # rounded up to ⌈100 / 10⌉
    np.testing.assert_array_equal(rows[:3], [3, 50, 97])
    np.testing.assert_array_equal(rows[3:], 100)
    assert kernel.channel_rows(np.ones(100, bool)) is None
    padded = kernel.pad_rows([rows, rows[:4]], 100)
    assert [r.size for r in padded] == [10, 10]
    np.testing.assert_array_equal(padded[1][4:], 100)
    with pytest.raises(ValueError, match="differ in which channels"):
        kernel.pad_rows([rows, None], 100)


def test_stacking_pads_rows_to_a_common_length(datasets):
    """Replicates whose converters fill different row buckets still stack (and vmap)."""
    arrays = [driver.prepare_run(_problem(d), TINY).arrays for d in datasets]
    short = np.asarray(arrays[1].data["mu_rows"][1])[:-1]
    arrays[1] = arrays[1]._replace(data={**arrays[1].data, "mu_rows": (None, short)})
    stacked = driver.stack_arrays(arrays)
    severity = stacked.data["mu_rows"][1]
    assert stacked.data["mu_rows"][0] is None
    assert severity.shape == (2, np.size(arrays[0].data["mu_rows"][1]))
    np.testing.assert_array_equal(severity[1, : short.size], short)
    assert severity[1, -1] == N  # padded with n
