"""Rank, interval and uniformity statistics against brute-force NumPy and known nulls."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from pytyche.sbc.ranks import (
    chi2_uniformity,
    coverage_interval,
    pit_ecdf_bands,
    pit_values,
    rank_histogram,
    summarize_draws,
    thin_indices,
)

LEVELS = (0.5, 0.8, 0.9, 0.95)
# jitted once: op-by-op execution would compile every primitive separately
summarize = jax.jit(summarize_draws, static_argnums=(2, 3))


def test_summarize_draws_matches_numpy():
    rng = np.random.default_rng(0)
    draws = (rng.normal(size=(400, 3)) * [1.0, 2.0, 0.5]).astype(np.float32)
    truth = np.array([0.3, -50.0, 0.1], np.float32)
    summary = summarize(jnp.asarray(draws), jnp.asarray(truth), LEVELS, 99)
    thinned = draws[thin_indices(400, 99)]
    assert thinned.shape == (99, 3)
    np.testing.assert_array_equal(summary.rank, (thinned < truth).sum(0))
    assert summary.rank[1] == 0  # truth far below every draw
    lower = np.quantile(draws, [(1 - g) / 2 for g in LEVELS], axis=0).T
    upper = np.quantile(draws, [(1 + g) / 2 for g in LEVELS], axis=0).T
    np.testing.assert_allclose(summary.lower, lower, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summary.upper, upper, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        summary.covered, (lower <= truth[:, None]) & (truth[:, None] <= upper)
    )
    np.testing.assert_allclose(summary.width, upper - lower, rtol=1e-5)
    np.testing.assert_allclose(summary.error, draws.mean(0) - truth, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summary.posterior_sd, draws.std(0, ddof=1), rtol=1e-4)


def test_interval_ratio_is_the_inflation_needed_for_coverage():
    rng = np.random.default_rng(1)
    draws = jnp.asarray(rng.gamma(2.0, size=(999, 50)).astype(np.float32))  # skewed
    truth = jnp.asarray(rng.gamma(2.0, size=50).astype(np.float32))
    s = summarize(draws, truth, LEVELS, 99)
    ratio = np.asarray(s.interval_ratio)
    # ratio <= 1 is exactly "covered"
    np.testing.assert_array_equal(ratio <= 1 + 1e-6, np.asarray(s.covered))
    # inflating each interval about the median by its ratio puts the truth on its boundary
    median = np.asarray(s.median)[:, None]
    t = np.asarray(truth)[:, None]
    lo = median - ratio * (median - np.asarray(s.lower))
    hi = median + ratio * (np.asarray(s.upper) - median)
    on_boundary = np.where(t < median, lo, hi)
    np.testing.assert_allclose(on_boundary, np.broadcast_to(t, on_boundary.shape), atol=1e-4)


def test_thin_indices_and_too_few_draws():
    np.testing.assert_array_equal(thin_indices(10, 5), [1, 3, 5, 7, 9])
    with pytest.raises(ValueError, match="num_rank_draws"):
        thin_indices(10, 11)


def test_chi2_accepts_uniform_and_rejects_skewed_ranks():
    rng = np.random.default_rng(2)
    uniform = rng.integers(0, 100, size=2000)
    assert chi2_uniformity(uniform, 99).p_value > 0.01
    # ranks of an overconfident posterior pile up at the ends (∪ shape)
    truth_z = rng.normal(size=2000)
    draws = 0.5 * rng.normal(size=(2000, 99))
    skewed = (draws < truth_z[:, None]).sum(1)
    assert chi2_uniformity(skewed, 99).p_value < 1e-10


def test_chi2_matches_scipy_with_unequal_bins():
    ranks = np.random.default_rng(3).integers(0, 10, size=500)  # 10 values, 3 bins: 3/4/3
    test = chi2_uniformity(ranks, 9, num_bins=3)
    counts = rank_histogram(ranks, 9, 3)
    assert counts.sum() == 500
    expected = 500 * np.diff(np.round(np.linspace(0, 10, 4))) / 10
    reference = stats.chisquare(counts, expected)
    assert test.statistic == pytest.approx(reference.statistic)
    assert test.p_value == pytest.approx(reference.pvalue)
    with pytest.raises(ValueError, match="ranks must lie"):
        rank_histogram(np.array([0, 11]), 9, 3)


def test_pit_values_uniform_under_uniform_ranks():
    ranks = np.random.default_rng(4).integers(0, 20, size=4000)
    pit = pit_values(ranks, 19, seed=1)
    assert stats.kstest(pit, "uniform").pvalue > 0.01
    np.testing.assert_array_equal(pit, pit_values(ranks, 19, seed=1))


def test_pit_ecdf_band_contains_uniform_and_excludes_shifted():
    rng = np.random.default_rng(5)
    inside = pit_ecdf_bands(rng.uniform(size=300), seed=0)
    assert inside.inside
    assert np.all(inside.lower <= inside.upper)
    shifted = pit_ecdf_bands(rng.beta(2.0, 1.0, size=300), seed=0)
    assert not shifted.inside


def test_coverage_interval_contains_the_proportion():
    low, high = coverage_interval(np.array([0, 45, 100]), np.array([100, 100, 100]))
    assert low[0] == 0.0 and high[2] == 1.0
    assert low[1] < 0.45 < high[1]
    assert high[1] - low[1] == pytest.approx(0.2, abs=0.03)  # ≈ 4 · sqrt(.25/100)


def test_summarize_draws_vmaps_over_replicates():
    draws = jax.random.normal(jax.random.key(0), (5, 200, 2))
    truth = jnp.zeros((5, 2))
    batched = jax.jit(jax.vmap(summarize_draws, in_axes=(0, 0, None, None)), static_argnums=(2, 3))(
        draws, truth, LEVELS, 50
    )
    single = summarize(draws[3], truth[3], LEVELS, 50)
    np.testing.assert_allclose(batched.lower[3], single.lower, rtol=1e-6)
    assert batched.covered.shape == (5, 2, 4)


def test_pit_ecdf_bands_for_several_series_share_one_band():
    rng = np.random.default_rng(6)
    series = np.column_stack([rng.uniform(size=200), rng.beta(3.0, 1.0, size=200)])
    both = pit_ecdf_bands(series, seed=0)
    assert both.ecdf.shape == (199, 2)
    np.testing.assert_array_equal(both.inside, [True, False])
    alone = pit_ecdf_bands(series[:, 0], seed=0)
    np.testing.assert_array_equal(alone.lower, both.lower)
    np.testing.assert_array_equal(alone.ecdf, both.ecdf[:, 0])
