"""Grow-from-root warm start: valid forests, exact bookkeeping, faster approach to the fit."""

import jax
import jax.numpy as jnp
import numpy as np
from forest_testing import binned, friedman

from pytyche.forest.gfr import grow_from_root
from pytyche.forest.predict import forest_fit
from pytyche.forest.sweep import TreePrior, sweep
from pytyche.forest.trees import init_forest, is_leaf, traverse


def test_gfr_builds_valid_trees_and_beats_mcmc_from_root() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    X, f = friedman(rng, n, p=5)
    data = binned(X, max_cuts=63)
    y = f - f.mean() + rng.normal(size=n)
    residuals = jnp.asarray(y[None], jnp.float32)
    num_trees = 50
    kwargs = {
        "noise_var": jnp.ones(1),
        "leaf_prior_var": jnp.full(1, (15 / (2 * np.sqrt(num_trees))) ** 2),
        "prior": TreePrior(0.95, 2.0, 5),
    }
    state = init_forest(num_trees, n, max_depth=4)
    gfr = jax.jit(lambda k, s, r: grow_from_root(k, s, data, r, **kwargs))
    mcmc = jax.jit(lambda k, s, r: sweep(k, s, data, r, **kwargs)[:2])
    warm, warm_res = state, residuals
    cold, cold_res = state, residuals
    for i in range(3):
        warm, warm_res = gfr(jax.random.key(i), warm, warm_res)
        cold, cold_res = mcmc(jax.random.key(100 + i), cold, cold_res)
    # Exact bookkeeping: indices, counts and residuals agree with the stored trees.
    np.testing.assert_array_equal(traverse(warm.trees, data.bins), warm.leaf_index)
    counts = jax.vmap(lambda i: jnp.zeros(32, jnp.int32).at[i].add(1))(warm.leaf_index)
    leaves = is_leaf(warm.trees.split_bin)
    np.testing.assert_array_equal(np.where(leaves, counts, 0), np.where(leaves, warm.node_count, 0))
    assert int(jnp.min(jnp.where(leaves, warm.node_count, 99))) >= 5
    np.testing.assert_allclose(
        warm_res, residuals - forest_fit(warm.trees, warm.leaf_index), atol=3e-4
    )
    # The warm start is far closer to the truth than 3 grow/prune sweeps from the root.
    truth = f - f.mean()
    rmse_warm = np.sqrt(np.mean((y - np.asarray(warm_res[0]) - truth) ** 2))
    rmse_cold = np.sqrt(np.mean((y - np.asarray(cold_res[0]) - truth) ** 2))
    assert rmse_warm < 0.6 * rmse_cold, (rmse_warm, rmse_cold)
    # MCMC continues from a GFR forest (the state is a valid sampler state).
    warm, warm_res = mcmc(jax.random.key(7), warm, warm_res)
    np.testing.assert_array_equal(traverse(warm.trees, data.bins), warm.leaf_index)
