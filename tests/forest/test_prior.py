"""No data ⇒ the sampler's stationary distribution over trees is the tree prior.

With every channel weight 0 the likelihood is flat, so a correct MH ratio leaves the BCF tree
prior invariant. 2000 trees, updated independently, are run for 60 sweeps from the root
(the prior chain mixes in a handful of sweeps); their final shapes are compared with exact
prior draws from an independent recursive NumPy sampler by χ² contingency tests with a
declared false-failure rate of 0.1% each.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import chi2_contingency

from pytyche.forest.sweep import TreePrior, sweep
from pytyche.forest.trees import BinnedCovariates, init_forest, num_leaves, tree_depth

NUM_CUTS = np.array([2, 3])
MAX_DEPTH = 3
ALPHA, BETA = 0.95, 1.0
FALSE_FAILURE_RATE = 1e-3


def _draw_prior_tree(rng: np.random.Generator) -> tuple[int, int, tuple[int, int] | None]:
    """Exact prior draw: (leaves, depth, root rule or None)."""

    def grow(depth: int, low: np.ndarray, high: np.ndarray) -> tuple[int, int, tuple | None]:
        room = high - low
        admissible = np.flatnonzero(room >= 1)
        p_split = ALPHA * (1 + depth) ** -BETA if depth < MAX_DEPTH and admissible.size else 0.0
        if rng.uniform() >= p_split:
            return 1, depth, None
        var = rng.choice(admissible)
        cut = low[var] + 1 + rng.integers(room[var])
        left_high, right_low = high.copy(), low.copy()
        left_high[var], right_low[var] = cut - 1, cut
        left = grow(depth + 1, low, left_high)
        right = grow(depth + 1, right_low, high)
        return left[0] + right[0], max(left[1], right[1]), (int(var), int(cut))

    return grow(0, np.zeros(2, int), NUM_CUTS.copy())


def _chain_trees(num_trees: int, num_sweeps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 12
    bins = np.stack([rng.integers(0, c + 1, n) for c in NUM_CUTS]).astype(np.uint8)
    data = BinnedCovariates(jnp.asarray(bins), jnp.asarray(NUM_CUTS, jnp.int32))
    state = init_forest(num_trees, n, max_depth=MAX_DEPTH)
    residuals = jnp.asarray(rng.normal(size=(1, n)), jnp.float32)
    weight = jnp.zeros((1, n), jnp.float32)
    prior = TreePrior(ALPHA, BETA, 0)

    @jax.jit
    def run(key: jax.Array):
        def body(carry, k):
            state, residuals = carry
            state, residuals, _ = sweep(
                k,
                state,
                data,
                residuals,
                noise_var=jnp.ones(1),
                leaf_prior_var=jnp.ones(1),
                prior=prior,
                channel_weight=weight,
            )
            return (state, residuals), None

        (final, _), _ = jax.lax.scan(body, (state, residuals), jax.random.split(key, num_sweeps))
        return final

    final = run(jax.random.key(11))
    split_bin = final.trees.split_bin
    root = np.where(
        np.asarray(split_bin[:, 1]) > 0,
        np.asarray(final.trees.split_var[:, 1]) * 10 + np.asarray(split_bin[:, 1]),
        -1,
    )
    return np.asarray(num_leaves(split_bin)), np.asarray(tree_depth(split_bin)), root


def _contingency_p_value(chain: np.ndarray, exact: np.ndarray) -> float:
    categories = np.union1d(chain, exact)
    table = np.array([[np.sum(s == c) for c in categories] for s in (chain, exact)])
    return float(chi2_contingency(table).pvalue)


def test_no_data_chain_samples_the_tree_prior() -> None:
    leaves, depth, root = _chain_trees(num_trees=2000, num_sweeps=60)
    rng = np.random.default_rng(5)
    draws = [_draw_prior_tree(rng) for _ in range(40_000)]
    exact_leaves = np.array([d[0] for d in draws])
    exact_depth = np.array([d[1] for d in draws])
    exact_root = np.array([-1 if d[2] is None else d[2][0] * 10 + d[2][1] for d in draws])
    # Shapes: joint (leaves, depth) with rare cells pooled into one category.
    shape_chain = np.minimum(leaves, 7) * 10 + depth
    shape_exact = np.minimum(exact_leaves, 7) * 10 + exact_depth
    assert _contingency_p_value(shape_chain, shape_exact) > FALSE_FAILURE_RATE
    # Root rule: uniform variable, then uniform admissible bin.
    assert _contingency_p_value(root, exact_root) > FALSE_FAILURE_RATE
    # The prior is far from degenerate here, so the test has power.
    assert 0.2 < np.mean(leaves >= 3) < 0.8
