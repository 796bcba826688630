"""Engine mechanics: traversal, prediction, basis leaves, jit/no-jit, chains via vmap."""

import jax
import jax.numpy as jnp
import numpy as np
from forest_testing import friedman

from pytyche.forest.binning import bin_covariates, fit_bins
from pytyche.forest.predict import forest_fit, predict
from pytyche.forest.sweep import TreePrior, sweep
from pytyche.forest.trees import (
    BinnedCovariates,
    Trees,
    init_forest,
    is_leaf,
    leaf_index_dtype,
    rule_ranges,
    traverse,
)


def _problem(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X, f = friedman(rng, n, p=6)
    spec = fit_bins(X, max_cuts=63)
    data = BinnedCovariates(jnp.asarray(bin_covariates(spec, X)), jnp.asarray(spec.num_cuts))
    residuals = jnp.asarray((f - f.mean() + rng.normal(size=n))[None], jnp.float32)
    return spec, data, residuals, rng


def _run(key, state, data, residuals, num_sweeps, basis=None, **kwargs):
    def body(carry, i):
        state, res = carry
        state, res, info = sweep(
            jax.random.fold_in(key, i),
            state,
            data,
            res,
            noise_var=jnp.ones(1),
            leaf_prior_var=jnp.full(1, 0.1),
            basis=basis,
            prior=TreePrior(0.95, 1.0, 3),
            **kwargs,
        )
        return (state, res), info.accepted

    return jax.lax.scan(body, (state, residuals), jnp.arange(num_sweeps))


def _numpy_predict(trees: Trees, bins: np.ndarray) -> np.ndarray:
    """Brute-force per-visitor, per-tree traversal (independent of the engine)."""
    split_var, split_bin = np.asarray(trees.split_var), np.asarray(trees.split_bin)
    leaf_value = np.asarray(trees.leaf_value)
    out = np.zeros(bins.shape[1])
    for t in range(split_var.shape[0]):
        for i in range(bins.shape[1]):
            node = 1
            while split_bin[t, node] > 0:
                node = 2 * node + int(bins[split_var[t, node], i] >= split_bin[t, node])
            out[i] += leaf_value[t, node, 0, 0]
    return out


def test_traversal_reproduces_leaf_indices_counts_and_fit() -> None:
    _, data, residuals, _ = _problem(1500)
    state = init_forest(30, 1500, max_depth=6)
    (state, final_residuals), accepted = jax.jit(lambda k, s, r: _run(k, s, data, r, 25))(
        jax.random.key(0), state, residuals
    )
    assert state.leaf_index.dtype == leaf_index_dtype(6) == np.uint8
    assert int(jnp.sum(state.trees.split_bin > 0)) > 30  # the trees grew
    assert 0.02 < float(accepted.mean()) < 0.9
    np.testing.assert_array_equal(traverse(state.trees, data.bins), state.leaf_index)
    counts = jax.vmap(lambda i: jnp.zeros(128, jnp.int32).at[i].add(1))(state.leaf_index)
    leaves = is_leaf(state.trees.split_bin)
    np.testing.assert_array_equal(
        np.where(leaves, counts, 0), np.where(leaves, state.node_count, 0)
    )
    assert int(jnp.min(jnp.where(leaves & (counts > 0), counts, 99))) >= 3
    # Residual bookkeeping: targets − fit of the forest.
    fit = forest_fit(state.trees, state.leaf_index)
    np.testing.assert_allclose(final_residuals, residuals - fit, atol=2e-4)


def test_prediction_on_new_x_matches_brute_force_numpy() -> None:
    spec, data, residuals, rng = _problem(800, seed=1)
    init = init_forest(12, 800, max_depth=5)
    draw_keys = jax.random.split(jax.random.key(2), 3)
    run = jax.jit(lambda k, s, r: _run(k, s, data, r, 10)[0][0])
    runs = [run(k, init, residuals) for k in draw_keys]
    draws = Trees(*(jnp.stack(x) for x in zip(*(s.trees for s in runs), strict=True)))
    X_new, _ = friedman(rng, 300, p=6)
    bins_new = bin_covariates(spec, X_new)
    predicted = predict(draws, bins_new, chunk_size=128)  # 3 chunks, last one padded
    assert predicted.shape == (3, 1, 300)
    for d, state in enumerate(runs):
        np.testing.assert_allclose(
            predicted[d, 0], _numpy_predict(state.trees, bins_new), rtol=1e-5, atol=1e-5
        )


def test_basis_prediction_and_vector_leaves() -> None:
    _, data, residuals, rng = _problem(600, seed=3)
    basis = jnp.asarray(np.eye(3)[rng.integers(0, 3, 600)][:, 1:], jnp.float32)
    state = init_forest(8, 600, basis_dim=2)
    (state, res), _ = jax.jit(lambda k, s, r: _run(k, s, data, r, 8, basis=basis))(
        jax.random.key(5), state, residuals
    )
    fit = forest_fit(state.trees, state.leaf_index, basis)
    np.testing.assert_allclose(res, residuals - fit, atol=2e-4)
    draws = Trees(*(x[None] for x in state.trees))
    np.testing.assert_allclose(predict(draws, data.bins, basis)[0], fit, atol=1e-5)
    control = np.asarray(basis).sum(1) == 0
    np.testing.assert_array_equal(np.asarray(fit)[:, control], 0.0)  # control has no τ


def test_jit_and_no_jit_agree() -> None:
    _, data, residuals, _ = _problem(100, seed=4)
    state = init_forest(2, 100, max_depth=3)
    key = jax.random.key(7)
    jitted = jax.jit(lambda k, s, r: _run(k, s, data, r, 2))(
        jax.random.clone(key), state, residuals
    )
    # NaN checks sync after every eager op (minutes here); this test is about jit equality.
    with jax.disable_jit(), jax.debug_nans(False):
        eager = _run(key, state, data, residuals, 2)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        if jnp.issubdtype(a.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_chains_by_vmap_match_separate_runs() -> None:
    _, data, residuals, _ = _problem(200, seed=5)
    state = init_forest(4, 200, max_depth=4)
    keys = jax.random.split(jax.random.key(8), 2)
    run = jax.jit(lambda k, s, r: _run(k, s, data, r, 4)[0])
    stacked = jax.tree.map(lambda x: jnp.stack([x, x]), (state, residuals))
    batched = jax.jit(jax.vmap(lambda k, s, r: _run(k, s, data, r, 4)[0]))(keys, *stacked)
    for c in range(2):
        single = run(jax.random.clone(keys[c]), state, residuals)
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b[c]), rtol=1e-5, atol=1e-5)


def test_rule_ranges_match_an_ancestor_walk() -> None:
    """Every slot's admissible bin range per covariate, against a per-slot NumPy walk up its
    ancestors (independent of the engine's level-by-level computation)."""
    rng = np.random.default_rng(5)
    num_cuts = np.array([3, 9, 30, 1])
    slots, num_trees = 32, 40
    split_var = np.zeros((num_trees, slots), np.int32)
    split_bin = np.zeros((num_trees, slots), np.int32)
    for t in range(num_trees):
        for node in range(1, slots // 2):
            if (node == 1 or split_bin[t, node >> 1] > 0) and rng.uniform() < 0.7:
                split_var[t, node] = rng.integers(num_cuts.size)
                split_bin[t, node] = rng.integers(1, num_cuts[split_var[t, node]] + 1)
    low, high = jax.vmap(rule_ranges, (0, 0, None))(
        jnp.asarray(split_var), jnp.asarray(split_bin), jnp.asarray(num_cuts)
    )
    assert low.shape == high.shape == (num_trees, num_cuts.size, slots)
    for t in range(num_trees):
        for slot in range(1, slots):
            expect_low, expect_high = np.zeros(num_cuts.size, int), num_cuts.copy()
            child = slot
            while child > 1:
                parent = child >> 1
                var, cut = split_var[t, parent], split_bin[t, parent]
                if cut > 0 and child % 2:
                    expect_low[var] = max(expect_low[var], cut)
                elif cut > 0:
                    expect_high[var] = min(expect_high[var], cut - 1)
                child = parent
            np.testing.assert_array_equal(low[t, :, slot], expect_low)
            np.testing.assert_array_equal(high[t, :, slot], expect_high)
