"""Tree-mean shifts: the fit is unchanged, the leaf prior is invariant, drifted levels return."""

import jax
import jax.numpy as jnp
import numpy as np

from pytyche.forest.predict import forest_fit
from pytyche.forest.shift import shift_tree_means
from pytyche.forest.trees import Trees, is_leaf, traverse

NUM_REPLICATES = 6000


def _structure() -> Trees:
    """Five trees of max depth 2 with 1, 1, 2, 3 and 4 leaves; 2 channels, 3 basis components."""
    split_bin = np.zeros((5, 8), np.int32)
    split_var = np.zeros((5, 8), np.int32)
    split_bin[2, 1] = 3  # two leaves
    split_bin[3, [1, 2]] = (3, 2)  # three leaves
    split_bin[4, [1, 2, 3]] = (3, 2, 5)  # four leaves
    split_var[3, 2] = 1
    split_var[4, [2, 3]] = (1, 1)
    return Trees(jnp.asarray(split_var), jnp.asarray(split_bin), jnp.zeros((5, 8, 2, 3)))


def _prior_values(key: jax.Array, trees: Trees, sd: jax.Array) -> jax.Array:
    noise = jax.random.normal(key, trees.leaf_value.shape)
    leaf = is_leaf(trees.split_bin)[..., None, None]
    return jnp.where(leaf, noise * sd, 0.0)


def test_the_fit_is_unchanged_and_only_leaves_move():
    trees = _structure()
    sd = jnp.asarray([[0.5, 1.0, 2.0], [0.1, 0.1, 0.3]])
    trees = trees._replace(leaf_value=_prior_values(jax.random.key(1), trees, sd))
    bins = jnp.asarray(np.random.default_rng(0).integers(0, 8, (2, 500)), jnp.uint8)
    basis = jnp.asarray(np.random.default_rng(1).normal(size=(500, 3)), jnp.float32)
    index = traverse(trees, bins)
    moved = shift_tree_means(jax.random.key(2), trees, sd**2)
    np.testing.assert_allclose(
        forest_fit(moved, index, basis), forest_fit(trees, index, basis), atol=2e-5
    )
    leaf = np.asarray(is_leaf(trees.split_bin))
    unused = np.asarray(moved.leaf_value)[~leaf]
    np.testing.assert_array_equal(unused, 0.0)
    assert not np.allclose(moved.leaf_value, trees.leaf_value)


def test_the_leaf_prior_is_invariant():
    """Prior draws stay prior draws: per-leaf variances ``V`` and uncorrelated leaves.

    A move that split the slack evenly over the trees (ignoring their leaf counts), or
    that drew the means without conditioning on their sum, fails the variance check.
    """
    trees = _structure()
    var = jnp.asarray([[0.25, 1.0, 4.0], [0.01, 0.01, 0.09]])
    keys = jax.random.split(jax.random.key(3), (NUM_REPLICATES, 2))

    def one(key_pair):
        before = trees._replace(leaf_value=_prior_values(key_pair[0], trees, jnp.sqrt(var)))
        after = shift_tree_means(key_pair[1], before, var)
        return before.leaf_value, after.leaf_value

    before, after = jax.vmap(one)(keys)
    leaf = np.asarray(is_leaf(trees.split_bin))
    before = np.asarray(before)[:, leaf] / np.sqrt(np.asarray(var))  # (R, leaves, C, K)
    after = np.asarray(after)[:, leaf] / np.sqrt(np.asarray(var))
    # The sum of the trees' levels (what the data see) is kept exactly.
    tree_of_leaf = np.nonzero(leaf)[0]
    counts = np.bincount(tree_of_leaf)
    level = lambda v: np.stack(  # noqa: E731
        [v[:, tree_of_leaf == t].mean(axis=1) for t in range(5)], axis=1
    ).sum(axis=1)
    np.testing.assert_allclose(level(after), level(before), atol=1e-4)
    # Standardised leaves: unit variance (SE √(2/R) ≈ 0.018) and no correlation (SE 1/√R).
    flat = after.reshape(NUM_REPLICATES, after.shape[1], -1)
    variances = flat.var(axis=0)
    assert np.max(np.abs(variances - 1.0)) < 5 * np.sqrt(2 / NUM_REPLICATES)
    for k in range(flat.shape[2]):
        corr = np.corrcoef(flat[:, :, k], rowvar=False)
        off_diagonal = corr[~np.eye(corr.shape[0], dtype=bool)]
        assert np.max(np.abs(off_diagonal)) < 5 / np.sqrt(NUM_REPLICATES)
    assert counts.tolist() == [1, 1, 2, 3, 4]


def test_drifted_stump_levels_return_to_the_prior_scale():
    """Stumps at ±10 whose sum is 0.3 (the runaway seen at 150k visitors) come back at once."""
    num_trees = 50
    values = np.zeros((num_trees, 2, 1, 1))
    values[:, 1, 0, 0] = np.tile([10.0, -10.0], num_trees // 2)
    values[0, 1, 0, 0] += 0.3
    trees = Trees(
        jnp.zeros((num_trees, 2), jnp.int32),
        jnp.zeros((num_trees, 2), jnp.int32),
        jnp.asarray(values, jnp.float32),
    )
    var = jnp.asarray([0.01])
    moved = shift_tree_means(jax.random.key(4), trees, var)
    levels = np.asarray(moved.leaf_value[:, 1, 0, 0])
    np.testing.assert_allclose(levels.sum(), 0.3, atol=1e-4)
    # 50 draws of N(0.3 / 50, 0.01 (1 − 1/50)): the sample sd is within 0.1 ± 0.04.
    assert abs(levels.std() - 0.1) < 0.04
