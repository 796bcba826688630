"""Rank and interval statistics of simulation-based calibration (SBC).

Two layers, following arviz-stats' array → labelled split:

- :func:`summarize_draws` is a pure JAX function run **on the device**, inside the
  vectorised sweep, so only small per-replicate summaries leave it (never the draws);
- the NumPy functions (:func:`rank_histogram`, :func:`chi2_uniformity`, :func:`pit_values`,
  :func:`pit_ecdf_bands`, :func:`coverage_interval`) are the diagnostics computed from them.

Statistics of one replicate and quantity
----------------------------------------
With posterior draws ``θ_1..θ_S`` of a quantity and its true value ``θ*``:

- **rank** (Talts et al. 2018): ``#{l : θ̃_l < θ*}`` among ``L`` thinned draws ``θ̃``
  (every ``S // L``-th draw); uniform on ``{0, …, L}`` when the draws are exact posterior
  draws and ``θ*`` was drawn from the prior the posterior was computed under;
- **central interval** at level γ: the empirical ``(1 − γ)/2`` and ``(1 + γ)/2`` quantiles
  of all ``S`` draws; ``covered`` when it contains ``θ*``, ``width = upper − lower``;
- **error**: posterior mean − ``θ*``;
- **interval ratio** at level γ, the statistic the calibration artifacts are fitted on:
  ``r = (m − θ*) / (m − lower)`` if ``θ* < m`` else ``(θ* − m) / (upper − m)``, with
  ``m`` the posterior median. The interval ``[m − c (m − lower), m + c (upper − m)]``
  (the γ interval inflated about the median by ``c``) contains ``θ*`` exactly when
  ``r ≤ c``. ``r ≤ 1`` is the same event as ``covered``.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018). Validating
Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.

Säilynoja, T., Bürkner, P.-C. & Vehtari, A. (2022). Graphical test for discrete
uniformity and its applications in goodness-of-fit evaluation and multiple sample
comparison. Statistics and Computing 32, 32.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

__all__ = [
    "DrawSummary",
    "PitEcdfBands",
    "UniformityTest",
    "chi2_uniformity",
    "coverage_interval",
    "pit_ecdf_bands",
    "pit_values",
    "rank_histogram",
    "summarize_draws",
]


class DrawSummary(NamedTuple):
    """Per-replicate, per-quantity summaries of posterior draws against the truth.

    Shapes: ``(..., Q)`` or, with levels, ``(..., Q, V)`` for ``V`` nominal levels.
    """

    truth: jax.Array
    rank: jax.Array
    posterior_mean: jax.Array
    posterior_sd: jax.Array
    median: jax.Array
    lower: jax.Array
    upper: jax.Array
    covered: jax.Array
    width: jax.Array
    error: jax.Array
    interval_ratio: jax.Array


def thin_indices(num_draws: int, num_rank_draws: int) -> np.ndarray:
    """Indices of ``num_rank_draws`` evenly spaced draws out of ``num_draws``.

    Raises
    ------
    ValueError
        If fewer draws than rank draws are available.
    """
    if num_rank_draws > num_draws:
        raise ValueError(
            f"num_rank_draws ({num_rank_draws}) exceeds the fit's draws ({num_draws}); "
            "ask the fit for at least as many draws as ranks need"
        )
    stride = num_draws // num_rank_draws
    return np.arange(num_rank_draws) * stride + (stride - 1)


def summarize_draws(
    draws: jax.Array, truth: jax.Array, levels: tuple[float, ...], num_rank_draws: int
) -> DrawSummary:
    """Summarise posterior draws of one replicate against the truth (device side).

    Parameters
    ----------
    draws
        ``(S, Q)`` posterior draws of ``Q`` quantities.
    truth
        ``(Q,)`` true values.
    levels
        Nominal central-interval levels, each in (0, 1).
    num_rank_draws
        ``L``: thinned draws the rank is computed among (rank in ``0..L``).

    Returns
    -------
    DrawSummary
        ``(Q,)`` fields, and ``(Q, V)`` for ``lower``, ``upper``, ``covered``, ``width``
        and ``interval_ratio``. vmap it over replicates.
    """
    levels_array = jnp.asarray(levels, dtype=draws.dtype)
    thinned = draws[thin_indices(draws.shape[0], num_rank_draws)]
    rank = jnp.sum(thinned < truth, axis=0).astype(jnp.int32)
    probabilities = jnp.concatenate([(1 - levels_array) / 2, (1 + levels_array) / 2])
    quantiles = jnp.quantile(draws, probabilities, axis=0)  # (2V, Q)
    num_levels = len(levels)
    lower = quantiles[:num_levels].T
    upper = quantiles[num_levels:].T
    median = jnp.median(draws, axis=0)
    mean = jnp.mean(draws, axis=0)
    t = truth[:, None]
    m = median[:, None]
    below = t < m
    gap = jnp.where(below, m - t, t - m)
    half = jnp.where(below, m - lower, upper - m)
    ratio = jnp.where(
        half > 0, gap / jnp.where(half > 0, half, 1.0), jnp.where(gap > 0, jnp.inf, 0.0)
    )
    return DrawSummary(
        truth=truth,
        rank=rank,
        posterior_mean=mean,
        posterior_sd=jnp.std(draws, axis=0, ddof=1),
        median=median,
        lower=lower,
        upper=upper,
        covered=(lower <= t) & (t <= upper),
        width=upper - lower,
        error=mean - truth,
        interval_ratio=ratio,
    )


class UniformityTest(NamedTuple):
    """Pearson χ² test of a rank histogram against the discrete uniform."""

    statistic: float
    p_value: float
    num_bins: int
    dof: int


def rank_histogram(ranks: np.ndarray, num_rank_draws: int, num_bins: int) -> np.ndarray:
    """Counts of ranks ``0..L`` in ``num_bins`` contiguous bins of (nearly) equal width.

    Parameters
    ----------
    ranks
        Integer ranks in ``0..num_rank_draws``, any shape (flattened).
    num_rank_draws
        ``L``.
    num_bins
        Number of bins (≤ L + 1).
    """
    ranks = np.asarray(ranks).ravel()
    if ranks.size and (ranks.min() < 0 or ranks.max() > num_rank_draws):
        raise ValueError(f"ranks must lie in 0..{num_rank_draws}")
    edges = _bin_edges(num_rank_draws, num_bins)
    return np.histogram(ranks, bins=edges)[0]


def _bin_edges(num_rank_draws: int, num_bins: int) -> np.ndarray:
    if not 1 <= num_bins <= num_rank_draws + 1:
        raise ValueError(f"num_bins must be in 1..{num_rank_draws + 1}, got {num_bins}")
    # integer edges over the L + 1 rank values, half-integers so no rank sits on an edge
    cuts = np.round(np.linspace(0, num_rank_draws + 1, num_bins + 1)).astype(int)
    return cuts - 0.5


def chi2_uniformity(
    ranks: np.ndarray, num_rank_draws: int, num_bins: int | None = None
) -> UniformityTest:
    """Pearson χ² test that ranks are uniform on ``0..L`` (Talts et al. 2018, §4).

    Parameters
    ----------
    ranks
        Integer ranks in ``0..num_rank_draws`` (flattened).
    num_rank_draws
        ``L``.
    num_bins
        Bins of the histogram. Default: the largest count ≤ 20 leaving at least 5 expected
        ranks per bin (the usual validity condition of the χ² approximation).

    Returns
    -------
    UniformityTest
        Expected counts follow each bin's share of the ``L + 1`` rank values, so unequal
        bins are handled exactly.
    """
    ranks = np.asarray(ranks).ravel()
    if ranks.size < 10:
        raise ValueError(f"need at least 10 ranks for a χ² uniformity test, got {ranks.size}")
    if num_bins is None:
        num_bins = int(max(2, min(20, num_rank_draws + 1, ranks.size // 5)))
    counts = rank_histogram(ranks, num_rank_draws, num_bins)
    widths = np.diff(_bin_edges(num_rank_draws, num_bins))
    expected = ranks.size * widths / (num_rank_draws + 1)
    statistic, p_value = stats.chisquare(counts, expected)
    return UniformityTest(float(statistic), float(p_value), num_bins, num_bins - 1)


def pit_values(ranks: np.ndarray, num_rank_draws: int, seed: int = 0) -> np.ndarray:
    """Randomised PIT values ``(rank + v) / (L + 1)``, ``v ~ U(0, 1)``.

    Exactly U(0, 1) when ranks are uniform on ``0..L``, so the continuous PIT-ECDF bands
    apply without a discreteness correction. Seeded: same ranks and seed, same values.
    """
    ranks = np.asarray(ranks, dtype=float)
    jitter = np.random.default_rng(seed).uniform(size=ranks.shape)
    return (ranks + jitter) / (num_rank_draws + 1)


class PitEcdfBands(NamedTuple):
    """PIT ECDFs and their simultaneous band under uniformity.

    ``eval_points``, ``lower``, ``upper``: ``(P,)``; ``ecdf``: ``(P,)`` for one PIT series,
    ``(P, M)`` for ``M`` series; ``inside``: whether each ECDF stays in the band at every
    evaluation point (bool, or ``(M,)``).
    """

    eval_points: np.ndarray
    ecdf: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    inside: bool | np.ndarray


def pit_ecdf_bands(
    pit: np.ndarray, prob: float = 0.95, num_simulations: int = 1000, seed: int = 0
) -> PitEcdfBands:
    """Simultaneous ``prob`` band of the PIT ECDF under uniformity.

    The band is calibrated by the simulation method of Säilynoja, Bürkner & Vehtari (2022),
    with the arviz-stats implementation (:mod:`arviz_stats.ecdf_utils`): the pointwise
    binomial band whose level makes ``prob`` of uniform samples stay inside everywhere. It
    depends only on the number of values, so it is computed once for all series.

    Parameters
    ----------
    pit
        ``(N,)`` PIT values in [0, 1], e.g. from :func:`pit_values`, or ``(N, M)`` for
        ``M`` series of the same length.
    prob
        Simultaneous coverage probability of the band.
    num_simulations
        Uniform samples simulated to calibrate the band.
    seed
        Seed of those simulations.
    """
    from arviz_stats.ecdf_utils import (
        compute_ecdf,
        get_pointwise_confidence_band,
        simulate_confidence_bands,
    )

    values = np.asarray(pit, dtype=float)
    single = values.ndim == 1
    series = values[:, None] if single else values
    if series.ndim != 2 or series.shape[0] < 2 or np.any((series < 0) | (series > 1)):
        raise ValueError(
            "pit must hold at least 2 values in [0, 1] per series, shape (N,) or (N, M)"
        )
    size = series.shape[0]
    points = np.arange(1, size) / size
    pointwise = simulate_confidence_bands(
        size, 1, points, prob, num_simulations, np.random.default_rng(seed)
    )
    lower, upper = get_pointwise_confidence_band(pointwise, size, points)
    ecdf = np.stack([compute_ecdf(column, points) for column in series.T], axis=1)
    inside = np.all((ecdf >= lower[:, None]) & (ecdf <= upper[:, None]), axis=0)
    if single:
        return PitEcdfBands(points, ecdf[:, 0], lower, upper, bool(inside[0]))
    return PitEcdfBands(points, ecdf, lower, upper, inside)


def coverage_interval(
    num_covered: np.ndarray, num_total: np.ndarray, prob: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson ``prob`` interval of a coverage proportion (Monte Carlo error).

    Returns
    -------
    (lower, upper)
        Arrays broadcast from the inputs.
    """
    k = np.asarray(num_covered, dtype=float)
    n = np.asarray(num_total, dtype=float)
    alpha = 1 - prob
    lower = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
    upper = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return lower, upper
