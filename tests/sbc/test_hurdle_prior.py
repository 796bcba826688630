"""The ``hurdle_bcf_prior`` SBC problem: its prior simulator, fixed standardisation, a sweep.

The tree simulator is checked twice: against an exact enumeration of the truncated tree
prior (an independent implementation: every tree of a tiny design with its probability),
and against the grow/prune sampler run without data, whose stationary law is the prior
it targets, with a leaf-size constraint in force (``tests/forest/test_prior.py`` checks
the sampler without one). Goodness-of-fit tests declare a false-failure rate of 0.1% each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from pytyche.contracts import Metric, MetricFamily
from pytyche.forest.sweep import TreePrior, sweep
from pytyche.forest.trees import BinnedCovariates, init_forest
from pytyche.inference.config import BCFConfig
from pytyche.models.problem import make_problem
from pytyche.models.registry import get_model
from pytyche.sbc import load_spec, parse_spec, rank_uniformity, run_sweep
from pytyche.sbc.hurdle_bcf import quantity_draws
from pytyche.sbc.hurdle_prior import (
    HurdlePriorProblem,
    _prior_trace,
    _quantity_weights,
    draw_tree,
    prior_problem,
    replicate_truth,
    simulate_prior_replicate,
)
from pytyche.sbc.runner import replicate_keys, resolve_problem

FALSE_FAILURE_RATE = 1e-3
SPEC = Path(__file__).resolve().parents[2] / "sbc" / "sweeps" / "hurdle-bcf-prior-predictive.toml"
TINY_FIT = BCFConfig(
    num_mu_trees=6,
    num_tau_trees=3,
    max_depth=3,
    max_cuts_mu=16,
    max_cuts_tau=16,
    num_warmup=5,
    num_draws=10,
    store_forests=False,
)

# A tiny design for the tree prior: 2 covariates with 2 and 3 cutpoints, 16 visitors.
NUM_CUTS = np.array([2, 3])
BINS = np.random.default_rng(2).integers(0, NUM_CUTS[:, None] + 1, size=(2, 16)).astype(np.uint8)
TREE_PRIOR = TreePrior(0.95, 1.0, 3)
TREE_DEPTH = 2


def _enumerate_trees(bins: np.ndarray) -> dict:
    """Every tree of the truncated prior (``TREE_PRIOR``, depth ≤ ``TREE_DEPTH``) -> probability.

    A tree is ``"leaf"`` or ``(var, cut, left, right)``; a node at depth ``d`` splits with
    probability ``α (1 + d)^−β`` if it has an admissible rule (uniform covariate, then
    uniform bin), and trees with a node below the minimum leaf size are removed.
    """
    alpha, beta, min_count = TREE_PRIOR

    def subtrees(depth: int, low: np.ndarray, high: np.ndarray, members: np.ndarray) -> list:
        room = high - low
        admissible = np.flatnonzero(room >= 1)
        p_split = alpha * (1 + depth) ** -beta if depth < TREE_DEPTH and admissible.size else 0.0
        out = [(1.0 - p_split, "leaf")]
        for var in admissible:
            for cut in range(low[var] + 1, high[var] + 1):
                right = bins[var, members] >= cut
                if min(right.sum(), (~right).sum()) < min_count:
                    continue
                left_high, right_low = high.copy(), low.copy()
                left_high[var], right_low[var] = cut - 1, cut
                rule = p_split / admissible.size / room[var]
                for p_left, left in subtrees(depth + 1, low, left_high, members[~right]):
                    for p_right, right_tree in subtrees(depth + 1, right_low, high, members[right]):
                        out.append((rule * p_left * p_right, (int(var), cut, left, right_tree)))
        return out

    trees = subtrees(0, np.zeros(2, int), NUM_CUTS.copy(), np.arange(bins.shape[1]))
    total = sum(p for p, _ in trees)
    return {tree: p / total for p, tree in trees}


def _tree_key(split_var: np.ndarray, split_bin: np.ndarray, node: int = 1) -> object:
    if split_bin[node] == 0:
        return "leaf"
    return (
        int(split_var[node]),
        int(split_bin[node]),
        _tree_key(split_var, split_bin, 2 * node),
        _tree_key(split_var, split_bin, 2 * node + 1),
    )


def _goodness_of_fit(keys: list, probabilities: dict) -> float:
    """χ² p-value of observed tree frequencies; cells expected < 5 pooled into one."""
    counts: dict = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    assert set(counts) <= set(probabilities), "a drawn tree has prior probability 0"
    size = len(keys)
    big = [k for k, p in probabilities.items() if p * size >= 5]
    observed = [counts.get(k, 0) for k in big] + [size - sum(counts.get(k, 0) for k in big)]
    expected = [probabilities[k] * size for k in big]
    expected.append(size - sum(expected))
    return float(stats.chisquare(observed, expected).pvalue)


# ------------------------------------------------------------------ the tree prior
def test_draw_tree_matches_the_exact_truncated_prior() -> None:
    probabilities = _enumerate_trees(BINS)
    rng = np.random.default_rng(11)
    draws = [draw_tree(rng, BINS, NUM_CUTS, TREE_PRIOR, TREE_DEPTH) for _ in range(20_000)]
    keys = [_tree_key(d.split_var, d.split_bin) for d in draws]
    assert _goodness_of_fit(keys, probabilities) > FALSE_FAILURE_RATE
    # The truncation binds (some draws are rejected) and the prior is far from degenerate.
    assert np.mean([d.attempts > 1 for d in draws]) > 0.05
    deep = [k != "leaf" and k[2] != "leaf" for k in keys]
    p_deep = sum(p for k, p in probabilities.items() if k != "leaf" and k[2] != "leaf")
    assert 0.05 < p_deep < 0.95  # the design has trees of depth 2 with real probability
    sd = np.sqrt(p_deep * (1 - p_deep) / len(keys))
    assert abs(np.mean(deep) - p_deep) < stats.norm.isf(FALSE_FAILURE_RATE / 2) * sd
    # Leaf indices are the heap traversal of the visitors.
    for d in draws[:50]:
        node = np.ones(BINS.shape[1], int)
        for _ in range(TREE_DEPTH):
            cut = d.split_bin[node]
            child = 2 * node + (BINS[d.split_var[node], np.arange(BINS.shape[1])] >= cut)
            node = np.where(cut > 0, child, node)
        np.testing.assert_array_equal(node, d.leaf_index)
        assert np.bincount(d.leaf_index)[np.unique(d.leaf_index)].min() >= TREE_PRIOR[2]


def test_no_data_sampler_targets_the_simulated_tree_prior() -> None:
    """With zero channel weights the grow/prune chain's trees follow `draw_tree`."""
    num_trees, num_sweeps = 2000, 60
    data = BinnedCovariates(jnp.asarray(BINS), jnp.asarray(NUM_CUTS, jnp.int32))
    state = init_forest(num_trees, BINS.shape[1], max_depth=TREE_DEPTH)
    residuals = jnp.zeros((1, BINS.shape[1]), jnp.float32)
    weight = jnp.zeros((1, BINS.shape[1]), jnp.float32)

    @jax.jit
    def run(key: jax.Array) -> object:
        def body(carry: tuple, k: jax.Array) -> tuple:
            forest, r = carry
            forest, r, _ = sweep(
                k,
                forest,
                data,
                r,
                noise_var=jnp.ones(1),
                leaf_prior_var=jnp.ones(1),
                prior=TREE_PRIOR,
                channel_weight=weight,
            )
            return (forest, r), None

        (final, _), _ = jax.lax.scan(body, (state, residuals), jax.random.split(key, num_sweeps))
        return final.trees

    trees = run(jax.random.key(4))
    split_var, split_bin = np.asarray(trees.split_var), np.asarray(trees.split_bin)
    chain = [_tree_key(split_var[t], split_bin[t]) for t in range(num_trees)]
    assert _goodness_of_fit(chain, _enumerate_trees(BINS)) > FALSE_FAILURE_RATE


# ------------------------------------------------------------------ scalar sites
@pytest.mark.parametrize(
    ("model", "reference"),
    [("bcf", stats.halfnorm(scale=0.5)), ("half_cauchy_tau", stats.halfcauchy(scale=0.5))],
)
def test_scalar_sites_are_the_model_functions_prior(model: str, reference: object) -> None:
    problem = HurdlePriorProblem(num_arms=3, num_covariates=1, model=model, config=TINY_FIT)
    rng = np.random.default_rng(0)
    covariates = rng.normal(size=(12, 2))
    design = prior_problem(problem, covariates, np.arange(12, dtype=np.int32) % 3)
    draws = [_prior_trace(get_model(model), design, seed) for seed in range(1500)]
    tau_scale = np.array([sites["tau_scale"] for sites, _ in draws])
    for channel in range(2):
        assert stats.kstest(tau_scale[:, channel], reference.cdf).pvalue > FALSE_FAILURE_RATE
    sigma2 = np.array([sites["sigma2"] for sites, _ in draws])
    assert stats.kstest(sigma2, stats.invgamma(1.5, scale=1.5).cdf).pvalue > FALSE_FAILURE_RATE
    # The returned variances are the ones the sites imply (τ leaves: tau_scale² / m_τ).
    sites, variances = draws[0]
    np.testing.assert_allclose(variances.tau_leaf_var, sites["tau_scale"] ** 2 / 3, rtol=1e-6)
    np.testing.assert_allclose(variances.noise_var, [1.0, sites["sigma2"]], rtol=1e-6)


# ------------------------------------------------------------------ simulation & fit inputs
def test_fit_uses_the_simulations_standardisation() -> None:
    problem = HurdlePriorProblem(num_arms=3, num_covariates=2, model="bcf", config=TINY_FIT)
    replicate = simulate_prior_replicate(problem, 5, 200)
    fitted, data = replicate.problem, replicate.data
    converted = data.y > 0
    np.testing.assert_allclose(fitted.offset, [stats.norm.ppf(0.3), 0.0])
    assert (fitted.outcome_center, fitted.outcome_scale) == (3.0, 0.5)
    np.testing.assert_array_equal(fitted.targets[0], converted.astype(float))
    # The severity targets are exactly the simulated standardised log spends.
    np.testing.assert_allclose(
        fitted.targets[1][converted], replicate.latent_severity[converted], rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(fitted.weights[1], converted.astype(float))
    # The default make_problem standardises by the data, which is what had to be fixed.
    default = make_problem(data, MetricFamily.HURDLE, num_mu_trees=6, num_tau_trees=3)
    assert default.outcome_center != pytest.approx(3.0)
    assert default.offset[0] == pytest.approx(stats.norm.ppf(converted.mean()))
    # Everything that is not a standardisation constant is make_problem's.
    for field in ("covariates", "propensity", "arm_index", "weights", "mu_total_sd"):
        np.testing.assert_array_equal(getattr(fitted, field), getattr(default, field))


def test_truth_is_the_fits_functional_at_the_drawn_parameters() -> None:
    problem = HurdlePriorProblem(num_arms=3, num_covariates=2, model="bcf", config=TINY_FIT)
    replicate = simulate_prior_replicate(problem, 8, 150)
    draw = replicate.draw
    weights = _quantity_weights(replicate.data, problem.num_probes)
    fit = jnp.asarray(draw.fit[None], jnp.float32)
    sigma2 = jnp.asarray([draw.sites["sigma2"]], jnp.float32)
    expected = [
        quantity_draws(fit, sigma2, 3.0, 0.5, jnp.asarray(weights), Metric.REVENUE_PER_VISITOR),
        quantity_draws(fit, sigma2, 3.0, 0.5, jnp.asarray(weights[:1]), Metric.CONVERSION_RATE),
    ]
    truth = replicate_truth(problem, replicate)
    names = problem.quantity_names(150)
    assert truth.shape == (len(names),)
    effects = np.concatenate([np.asarray(e)[0] for e in expected])
    np.testing.assert_allclose(truth[: effects.size], effects, rtol=2e-4, atol=1e-6)
    active = problem.arms[1:]
    assert names[effects.size :] == (
        "mu_leaf_var_conversion",
        "mu_leaf_var_severity",
        "tau_scale_conversion",
        "tau_scale_severity",
        *[f"tau_intercept_{c}_{a}" for c in ("conversion", "severity") for a in active],
        "sigma2",
    )
    sites = np.concatenate(
        [np.ravel(draw.sites[s]) for s in ("mu_leaf_var", "tau_scale", "tau_intercept")]
    )
    np.testing.assert_allclose(truth[effects.size :], [*sites, draw.sites["sigma2"]])
    assert len(draw.mu_trees) == 6 and len(draw.tau_trees) == 3


def test_simulate_prepares_a_stacked_batch_with_the_fits_bins() -> None:
    problem = HurdlePriorProblem(num_arms=3, num_covariates=2, model="bcf", config=TINY_FIT)
    keys = replicate_keys(0, 120, np.arange(2))
    batch = problem.simulate(keys, 120)  # checks the fit's bins equal the simulation's
    assert batch.truth.shape == (2, len(problem.quantity_names(120)))
    assert batch.data.weights.shape == (2, 4, 120)
    assert np.all(np.isfinite(np.asarray(batch.truth)))
    with pytest.raises(ValueError, match="scales must be >= 100"):
        problem.simulate(keys, 50)


# ------------------------------------------------------------------ the spec
def test_the_sweep_spec_parses_and_builds() -> None:
    spec = load_spec(SPEC)
    problem = resolve_problem(spec)
    assert isinstance(problem, HurdlePriorProblem)
    assert spec.dgp.kind == "prior_predictive"
    assert problem.config.num_mu_trees == 20 and problem.config.num_tau_trees == 10
    assert problem.num_draws(300) // spec.num_rank_draws >= 200  # thinned for slow scales
    assert len(problem.quantity_names(300)) == 19  # 10 effects + 9 site elements


def test_a_generator_dgp_and_a_missing_num_arms_are_refused() -> None:
    text = SPEC.read_text()
    generator = text.replace(
        'kind = "prior_predictive"',
        'kind = "generator"\ntemplate = "clustered"\nnum_arms = 3\nmetric = "revenue_per_visitor"',
    )
    with pytest.raises(ValueError, match="kind = 'prior_predictive'"):
        resolve_problem(parse_spec(generator))
    with pytest.raises(ValueError, match="num_arms .* is required"):
        resolve_problem(parse_spec(text.replace("num_arms = 3", "")))


def test_bad_values_are_refused_with_the_key_named() -> None:
    text = SPEC.read_text()
    for old, new, message in [
        ("conversion_rate = 0.3", "conversion_rate = 1.5", "conversion_rate"),
        ("spend_scale = 1.0", "spend_scale = -1.0", "spend_scale"),
        ("num_probes = 1", "num_probe = 1", "unknown keys"),
        ("num_draws = 2_400", "num_draws = 2_400\nnum_chains = 2", "unknown keys"),
        ("num_draws = 2_400", 'num_draws = 2_400\npooling = "independent"', "joint"),
        ('model = "bcf"', 'model = "no_such_model"', "unknown model"),
    ]:
        spec = parse_spec(text.replace(old, new))
        with pytest.raises(ValueError, match=message):
            resolve_problem(spec)


# ------------------------------------------------------------------ a small sweep
SMALL_SWEEP = """
[sweep]
id = "tiny-prior-predictive"
seed = 17
scales = [100]
replicates = 120
chunk_size = 40
num_rank_draws = 9
quantities = ["*"]

[dgp]
kind = "prior_predictive"

[model]
name = "hurdle_bcf_prior"
[model.params]
num_arms = 3
num_covariates = 2

[fit]
num_mu_trees = 8
num_tau_trees = 4
max_depth = 4
num_warmup = 300
num_draws = 1_800
"""


@pytest.mark.slow
def test_small_prior_predictive_sweep_has_uniform_ranks(tmp_path: Path) -> None:
    """SBC proper at n = 100: every quantity's ranks pass χ² (Bonferroni over quantities)."""
    spec = parse_spec(SMALL_SWEEP)
    outcome = run_sweep(spec, tmp_path / "tiny.nc")
    table = rank_uniformity(outcome.result)
    assert len(table) == 15
    assert table["p_value"].min() > FALSE_FAILURE_RATE / len(table), table.to_string()


def test_replicate_is_redrawn_not_truncated_when_make_problem_would_refuse() -> None:
    """A conversion rate near 0 gives degenerate datasets: they are redrawn from scratch."""
    problem = dataclasses.replace(
        HurdlePriorProblem(num_arms=3, num_covariates=1, model="bcf", config=TINY_FIT),
        conversion_rate=0.002,
    )
    replicate = simulate_prior_replicate(problem, 1, 100)
    converted = replicate.data.y > 0
    assert converted.sum() >= 2 and not converted.all()
    attempts = [simulate_prior_replicate(problem, s, 100).attempts for s in range(10)]
    assert max(attempts) > 1


def test_a_truth_that_overflows_float32_stops_with_an_error() -> None:
    problem = HurdlePriorProblem(num_arms=3, num_covariates=2, model="bcf", config=TINY_FIT)
    replicate = simulate_prior_replicate(problem, 8, 150)
    assert np.all(np.isfinite(replicate_truth(problem, replicate)))
    # the RPV holds exp(c + s f + s² σ² / 2): σ² = 1000 at s = 0.5 is exp(125) > float32's max
    sites = dict(replicate.draw.sites, sigma2=np.float64(1000.0))
    heavy = replicate._replace(draw=replicate.draw._replace(sites=sites))
    with pytest.raises(FloatingPointError, match="overflow float32.*spend_scale"):
        replicate_truth(problem, heavy)
