"""Conjugate leaves: single-leaf posteriors, channel masks and one-hot basis isolation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from forest_testing import binned, friedman
from jax import enable_x64

from pytyche.forest.leaves import (
    segment_sum,
    visitor_weights,
    weight_statistics,
    weighted_residuals,
)
from pytyche.forest.sweep import TreePrior, sweep
from pytyche.forest.trees import BinnedCovariates, init_forest, is_leaf

NUM_DRAWS = 4000


def _root_only_draws(residuals, basis, weight, noise_var, leaf_prior_var) -> np.ndarray:
    """Leaf draws of one root-only tree (max_depth 0) repeatedly resampled."""
    num_channels, n = residuals.shape
    basis_dim = 1 if basis is None else basis.shape[1]
    state = init_forest(
        1, n, max_depth=0, num_channels=num_channels, basis_dim=basis_dim, dtype=jnp.float64
    )
    data = BinnedCovariates(jnp.zeros((1, n), jnp.uint8), jnp.zeros(1, jnp.int32))

    @jax.jit
    def run(key):
        def body(carry, k):
            state, res = carry
            state, res, _ = sweep(
                k,
                state,
                data,
                res,
                noise_var=noise_var,
                leaf_prior_var=leaf_prior_var,
                basis=basis,
                channel_weight=weight,
                prior=TreePrior(0.95, 2.0, 0),
            )
            return (state, res), state.trees.leaf_value[0, 1]

        return jax.lax.scan(body, (state, residuals), jax.random.split(key, NUM_DRAWS))[1]

    draws = run(jax.random.key(0))
    assert draws.dtype == residuals.dtype  # float64 end to end when selected
    return np.asarray(draws)


def _analytic_posterior(r, b, w, noise_var, leaf_prior_var):
    """Closed-form N(m, Σ) for r_i ~ N(b_iᵀ μ, σ²/w_i), μ ~ N(0, diag(v)) (NumPy)."""
    precision = np.diag(1 / leaf_prior_var) + (b.T * w) @ b / noise_var
    cov = np.linalg.inv(precision)
    return cov @ (b.T @ (w * r)) / noise_var, cov


def _assert_matches(draws: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    sd = np.sqrt(np.diag(cov))
    # Draws are i.i.d. (the partial residual of a single tree does not depend on its leaf),
    # so the sample mean has sd/√N error and the sample variance relative sd √(2/N).
    np.testing.assert_array_less(np.abs(draws.mean(0) - mean), 4.5 * sd / np.sqrt(NUM_DRAWS))
    np.testing.assert_array_less(np.abs(draws.var(0) / sd**2 - 1), 4.5 * np.sqrt(2 / NUM_DRAWS))
    if mean.size > 1:
        corr = np.corrcoef(draws.T)[0, 1]
        assert abs(corr - cov[0, 1] / (sd[0] * sd[1])) < 4.5 / np.sqrt(NUM_DRAWS)


def test_scalar_leaf_posterior_is_conjugate_normal() -> None:
    rng = np.random.default_rng(0)
    n = 40
    r = rng.normal(1.5, 2.0, n)
    with enable_x64(True):
        draws = _root_only_draws(
            jnp.asarray(r[None]), None, None, jnp.array([4.0]), jnp.array([0.3])
        )
    mean, cov = _analytic_posterior(r, np.ones((n, 1)), np.ones(n), 4.0, np.array([0.3]))
    _assert_matches(draws[:, 0], mean, cov)


def test_two_channel_weighted_vector_leaf_posterior() -> None:
    rng = np.random.default_rng(1)
    n = 60
    r = rng.normal(0.5, 1.0, (2, n))
    b = rng.normal(size=(n, 2))
    w = rng.uniform(0.2, 2.0, (2, n)) * (rng.uniform(size=(2, n)) < 0.7)
    noise_var = np.array([1.5, 0.7])
    leaf_prior_var = np.array([[0.5, 2.0], [1.0, 0.2]])
    with enable_x64(True):
        draws = _root_only_draws(
            jnp.asarray(r),
            jnp.asarray(b),
            jnp.asarray(w),
            jnp.asarray(noise_var),
            jnp.asarray(leaf_prior_var),
        )
    for c in range(2):
        mean, cov = _analytic_posterior(r[c], b, w[c], noise_var[c], leaf_prior_var[c])
        _assert_matches(draws[:, c], mean, cov)


def _hurdle_like(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    X, f = friedman(rng, n, p=5)
    converted = rng.uniform(size=n) < 0.4
    residuals = np.stack([f - f.mean() + rng.normal(size=n), np.log1p(f) + rng.normal(size=n)])
    return binned(X), residuals, converted


def _two_channel_chain(data, residuals, key, num_trees, num_sweeps, leaf_prior_var, **kwargs):
    """Sweeps of a two-channel forest from root-only trees (``leaf_prior_var`` ``(2, K)``):
    ``((state, residuals), accepted per sweep)``."""
    basis_dim = leaf_prior_var.shape[1]

    def body(carry, k):
        state, res = carry
        state, res, info = sweep(
            k,
            state,
            data,
            res,
            noise_var=jnp.array([1.0, 0.5]),
            leaf_prior_var=leaf_prior_var,
            **kwargs,
        )
        return (state, res), info.accepted

    state = init_forest(num_trees, residuals.shape[1], num_channels=2, basis_dim=basis_dim)
    start = (state, jnp.asarray(residuals, jnp.float32))
    return jax.lax.scan(body, start, jax.random.split(key, num_sweeps))


def test_masked_out_severity_values_change_nothing() -> None:
    data, residuals, converted = _hurdle_like(2)
    weight = jnp.asarray(np.stack([np.ones_like(converted), converted]), jnp.float32)
    garbage = residuals.copy()
    garbage[1, ~converted] = np.random.default_rng(9).normal(1e3, 1e3, (~converted).sum())

    @jax.jit
    def run(res):
        chain = _two_channel_chain(
            data, res, jax.random.key(4), 20, 5, jnp.full((2, 1), 0.05), channel_weight=weight
        )
        return chain[0]

    state_a, res_a = run(jnp.asarray(residuals, jnp.float32))
    state_b, res_b = run(jnp.asarray(garbage, jnp.float32))
    res_a, res_b = np.asarray(res_a), np.asarray(res_b)
    for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(res_a[:, converted], res_b[:, converted])
    np.testing.assert_array_equal(res_a[0], res_b[0])
    assert int(jnp.sum(state_a.trees.split_bin > 0)) > 0  # trees did grow


def test_one_hot_basis_isolates_arms() -> None:
    rng = np.random.default_rng(3)
    n, slots = 300, 16
    arm = rng.integers(0, 3, n)  # 0 = control, 1..2 active arms
    basis = np.eye(3)[arm][:, 1:]
    leaf_index = jnp.asarray(rng.integers(1, slots, n), jnp.uint8)
    weight = jnp.asarray(rng.uniform(0.5, 1.5, (2, n)), jnp.float32)
    stats = weight_statistics(
        leaf_index, slots, jnp.asarray(basis, jnp.float32), weight, 2, jnp.float32
    )
    assert np.all(np.asarray(stats[..., 0, 1]) == 0)
    residuals = rng.normal(size=(2, n))
    perturbed = residuals.copy()
    perturbed[:, arm == 1] += rng.normal(50, 10, (2, (arm == 1).sum()))

    weighted_basis, _ = visitor_weights(jnp.asarray(basis, jnp.float32), weight, 2, jnp.float32)

    def sums(res):
        values = weighted_residuals(jnp.asarray(res.T, jnp.float32), weighted_basis)
        return np.asarray(segment_sum(values, leaf_index, slots)).reshape(slots, 2, 2)

    base, moved = sums(residuals), sums(perturbed)
    np.testing.assert_array_equal(base[..., 1], moved[..., 1])  # arm 2 untouched
    assert np.all(base[1:, :, 0] != moved[1:, :, 0])  # arm 1 sees its own visitors

    # Leaf draws at a fixed (root-only) topology: arm 2 components are bit-identical.
    @jax.jit
    def draws(res):
        state = init_forest(3, n, max_depth=0, num_channels=2, basis_dim=2)
        data = BinnedCovariates(jnp.zeros((1, n), jnp.uint8), jnp.zeros(1, jnp.int32))
        state, _, _ = sweep(
            jax.random.key(1),
            state,
            data,
            res,
            noise_var=jnp.ones(2),
            leaf_prior_var=jnp.ones((2, 2)),
            basis=jnp.asarray(basis, jnp.float32),
            channel_weight=weight,
        )
        return state.trees.leaf_value[:, 1]

    base_draws = np.asarray(draws(jnp.asarray(residuals, jnp.float32)))
    moved_draws = np.asarray(draws(jnp.asarray(perturbed, jnp.float32)))
    np.testing.assert_array_equal(base_draws[..., 1], moved_draws[..., 1])
    assert np.all(base_draws[..., 0] != moved_draws[..., 0])


@pytest.mark.parametrize("bad", ["noise_var", "basis", "channel_weight", "residuals"])
def test_sweep_rejects_misshapen_inputs(bad: str) -> None:
    n = 10
    kwargs = {
        "noise_var": jnp.ones(1),
        "leaf_prior_var": jnp.ones(1),
        "basis": None,
        "channel_weight": None,
    }
    residuals = jnp.zeros((1, n))
    if bad == "residuals":
        residuals = jnp.zeros((2, n))
    else:
        kwargs[bad] = jnp.ones((3, 3))
    data = BinnedCovariates(jnp.zeros((1, n), jnp.uint8), jnp.ones(1, jnp.int32))
    with pytest.raises(ValueError, match=bad):
        sweep(jax.random.key(0), init_forest(2, n), data, residuals, **kwargs)


def _hurdle_sweeps(seed: int, basis_dim: int, **kwargs):
    """20 sweeps of a 15-tree, two-channel forest on hurdle-like data (900 visitors)."""
    data, residuals, _ = _hurdle_like(seed, n=900)
    leaf_prior_var = jnp.full((2, basis_dim), 0.3)
    run = jax.jit(
        lambda key: _two_channel_chain(data, residuals, key, 15, 20, leaf_prior_var, **kwargs)
    )
    return run(jax.random.key(seed))


def _rows(mask: np.ndarray, padding: int) -> jax.Array:
    """The rows where ``mask`` holds, padded with ``n`` (as ``channel_rows`` expects)."""
    rows = np.concatenate([np.flatnonzero(mask), np.full(padding, mask.size)])
    return jnp.asarray(rows, jnp.int32)


@pytest.mark.parametrize("treatment", [False, True, "centered"])
def test_arm_index_and_channel_rows_match_the_dense_basis(treatment: bool | str) -> None:
    """The indicator path (arm index, per-channel rows, optionally a centre subtracted from
    the one-hot basis) is an independent implementation of the dense one (basis matrix, 0/1
    weights): same moves, same draws up to float32 rounding, same residuals where the
    channel is informed."""
    converted = _hurdle_like(5, n=900)[2]
    arm = np.random.default_rng(6).integers(0, 3, converted.size)
    weight = jnp.asarray(np.stack([np.ones(converted.size), converted]), jnp.float32)
    if treatment == "centered":
        center = np.array([0.3, 0.45])
        informed = [np.ones_like(converted), converted]
        dense = {"basis": jnp.asarray(np.eye(3)[arm][:, 1:] - center, jnp.float32)}
        indicator = {"arm": jnp.asarray(arm, jnp.int32), "arm_center": jnp.asarray(center)}
    elif treatment:
        informed = [arm > 0, (arm > 0) & converted]
        dense = {"basis": jnp.asarray(np.eye(3)[arm][:, 1:], jnp.float32)}
        indicator = {"arm": jnp.asarray(arm, jnp.int32)}
    else:
        informed = [np.ones_like(converted), converted]
        dense, indicator = {}, {}
    basis_dim = 2 if treatment else 1
    dense_out, dense_acc = _hurdle_sweeps(5, basis_dim, channel_weight=weight, **dense)
    rows = (None if informed[0].all() else _rows(informed[0], 7), _rows(informed[1], 11))
    fast_out, fast_acc = _hurdle_sweeps(5, basis_dim, channel_rows=rows, **indicator)
    (dense_state, dense_res), (fast_state, fast_res) = dense_out, fast_out
    assert int(np.sum(dense_acc)) > 20  # the chains moved
    np.testing.assert_array_equal(np.asarray(dense_acc), np.asarray(fast_acc))
    np.testing.assert_array_equal(dense_state.trees.split_bin, fast_state.trees.split_bin)
    np.testing.assert_array_equal(dense_state.leaf_index, fast_state.leaf_index)
    np.testing.assert_array_equal(dense_state.node_count, fast_state.node_count)
    leaf = np.asarray(is_leaf(dense_state.trees.split_bin))  # values elsewhere are unused
    np.testing.assert_allclose(
        np.asarray(dense_state.trees.leaf_value)[leaf],
        np.asarray(fast_state.trees.leaf_value)[leaf],
        rtol=1e-4,
        atol=1e-4,
    )
    for c, mask in enumerate(informed):
        np.testing.assert_allclose(
            np.asarray(dense_res)[c, mask], np.asarray(fast_res)[c, mask], rtol=1e-4, atol=1e-4
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arm": jnp.zeros(10, jnp.int32), "basis": jnp.ones((10, 1))}, "not both"),
        ({"arm": jnp.zeros(10)}, "arm must be an integer array"),
        ({"channel_rows": (None, None)}, "channel_rows must hold 1 entries"),
        ({"channel_rows": (jnp.zeros(3),)}, "channel_rows must hold 1 entries"),
        ({"channel_rows": (jnp.zeros(3, jnp.int32),), "basis": jnp.ones((10, 1))}, "indicator"),
        ({"arm_center": jnp.zeros(1)}, "arm_center needs arm"),
    ],
)
def test_sweep_rejects_bad_indicator_inputs(kwargs: dict, message: str) -> None:
    n = 10
    data = BinnedCovariates(jnp.zeros((1, n), jnp.uint8), jnp.ones(1, jnp.int32))
    with pytest.raises(ValueError, match=message):
        sweep(
            jax.random.key(0),
            init_forest(2, n),
            data,
            jnp.zeros((1, n)),
            noise_var=jnp.ones(1),
            leaf_prior_var=jnp.ones(1),
            **kwargs,
        )
