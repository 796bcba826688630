"""A minimal multi-channel BART front end (Gaussian and probit channels) over the engine.

Channel ``c`` models ``y_c = offset_c + f_c(x) + ε``: Gaussian channels with
``ε ~ N(0, σ_c²)`` and ``σ_c² ~ InvGamma(ν/2, ν λ_c/2)`` (conjugate update, Chipman, George &
McCulloch 2010); probit channels through the Albert & Chib (1993) latent
``z ~ N(offset_c + f_c(x), 1)`` truncated to the sign of the binary outcome. All channels share
one tree structure per tree (`pytyche.forest.sweep`); an ``observed`` mask drops a visitor
from a channel. Hyperparameters follow Chipman et al. (2010) and bartz: leaf prior standard
deviation ``(range(y)/2) / (k √trees)`` for Gaussian channels and ``3 / (k √trees)`` for
probit; ``λ_c = var(y_c)`` (prior harmonic mean of σ²), ``ν = 3``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtri
from scipy.stats import norm

from pytyche.forest.binning import bin_covariates, fit_bins
from pytyche.forest.predict import forest_fit
from pytyche.forest.sweep import TreePrior, sweep
from pytyche.forest.trees import BinnedCovariates, ForestState, init_forest, traverse

OUTCOME_TYPES = ("gaussian", "probit")


@dataclass(frozen=True)
class BartConfig:
    """Settings of `fit_bart`.

    Attributes
    ----------
    num_trees, max_depth, alpha, beta, min_leaf_count
        Forest size and tree prior (``max_depth`` is the deepest leaf, root depth 0).
    k
        Leaf prior scale divisor (Chipman et al. 2010).
    sigma_df
        ``ν`` of the inverse-gamma prior on Gaussian noise variances.
    max_cuts
        Cutpoints per covariate (≤ 255).
    num_burnin, num_draws, num_chains
        MCMC lengths; chains run vectorised with ``vmap``.
    """

    num_trees: int = 200
    max_depth: int = 6
    alpha: float = 0.95
    beta: float = 2.0
    min_leaf_count: int = 5
    k: float = 2.0
    sigma_df: float = 3.0
    max_cuts: int = 255
    num_burnin: int = 200
    num_draws: int = 500
    num_chains: int = 1

    def __post_init__(self) -> None:
        for name in ("num_trees", "num_draws", "num_chains"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1; got {getattr(self, name)}")
        if self.num_burnin < 0 or self.min_leaf_count < 0:
            raise ValueError("num_burnin and min_leaf_count must be ≥ 0")
        if not 0 < self.alpha < 1 or self.beta < 0:
            raise ValueError(f"need 0 < alpha < 1 and beta ≥ 0; got {self.alpha}, {self.beta}")
        if self.k <= 0 or self.sigma_df <= 0:
            raise ValueError("k and sigma_df must be positive")


class BartFit(NamedTuple):
    """Posterior draws from `fit_bart`.

    Attributes
    ----------
    train
        ``(chains, draws, C, n)`` mean function ``offset + f(x)`` at the training visitors
        (the latent mean for probit channels; apply ``Φ`` for probabilities).
    test
        ``(chains, draws, C, n_test)`` the same at ``X_test`` (None without it).
    noise_var
        ``(chains, draws, C)`` σ² draws (1 for probit channels).
    acceptance
        ``(chains, draws)`` fraction of accepted tree moves per sweep.
    """

    train: np.ndarray
    test: np.ndarray | None
    noise_var: np.ndarray
    acceptance: np.ndarray


class _ChainState(NamedTuple):
    forest: ForestState
    residuals: jax.Array
    target: jax.Array
    noise_var: jax.Array


def _validate(
    X: np.ndarray, y: np.ndarray, outcome_types: tuple[str, ...], observed: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    y = y[None, :] if y.ndim == 1 else y
    if y.ndim != 2 or y.shape[1] != np.shape(X)[0]:
        raise ValueError(f"y must be (n,) or (channels, n) with n = {np.shape(X)[0]} rows of X")
    if len(outcome_types) != y.shape[0] or any(t not in OUTCOME_TYPES for t in outcome_types):
        msg = f"outcome_types must name one of {OUTCOME_TYPES} per channel ({y.shape[0]})"
        raise ValueError(msg)
    mask = np.ones(y.shape, bool) if observed is None else np.asarray(observed, bool)
    if mask.shape != y.shape:
        raise ValueError(f"observed must have the shape of y {y.shape}; got {mask.shape}")
    if not np.all(np.isfinite(y[mask])):
        raise ValueError("y contains NaN or infinite values at observed entries")
    for c, kind in enumerate(outcome_types):
        values = y[c][mask[c]]
        if values.size < 2:
            raise ValueError(f"channel {c} of y needs at least 2 observed values")
        if kind == "probit" and not np.all(np.isin(values, (0.0, 1.0))):
            raise ValueError(f"probit channel {c} of y must hold 0/1 values")
    return np.where(mask, y, 0.0), mask


def _hyperparameters(
    y: np.ndarray, mask: np.ndarray, outcome_types: tuple[str, ...], config: BartConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offset, leaf_sd, sigma_scale = [], [], []
    for c, kind in enumerate(outcome_types):
        values = y[c][mask[c]]
        if kind == "probit":
            rate = np.clip(values.mean(), 1 / (values.size + 1), values.size / (values.size + 1))
            offset.append(norm.ppf(rate))
            leaf_sd.append(3.0 / (config.k * np.sqrt(config.num_trees)))
            sigma_scale.append(1.0)
        else:
            offset.append(values.mean())
            half_range = (values.max() - values.min()) / 2
            leaf_sd.append(half_range / (config.k * np.sqrt(config.num_trees)))
            sigma_scale.append(values.var())
    return np.array(offset), np.array(leaf_sd) ** 2, np.array(sigma_scale)


def fit_bart(
    key: jax.Array,
    X: np.ndarray,
    y: np.ndarray,
    *,
    outcome_types: tuple[str, ...] = ("gaussian",),
    observed: np.ndarray | None = None,
    X_test: np.ndarray | None = None,
    config: BartConfig = BartConfig(),
) -> BartFit:
    """Fit (multi-channel) BART and return posterior draws of the mean functions.

    Parameters
    ----------
    key
        PRNG key.
    X
        ``(n, p)`` covariates.
    y
        ``(n,)`` or ``(C, n)`` outcomes (0/1 for probit channels).
    outcome_types
        ``"gaussian"`` or ``"probit"`` per channel.
    observed
        ``(C, n)`` bool, False drops the entry from its channel (its ``y`` is ignored).
    X_test
        ``(n_test, p)`` covariates to predict at.
    config
        `BartConfig`.

    Returns
    -------
    BartFit
    """
    y, mask = _validate(X, y, tuple(outcome_types), observed)
    spec = fit_bins(X, max_cuts=config.max_cuts)
    data = BinnedCovariates(jnp.asarray(bin_covariates(spec, X)), jnp.asarray(spec.num_cuts))
    test_bins = None if X_test is None else jnp.asarray(bin_covariates(spec, X_test))
    offset, leaf_prior_var, sigma_scale = _hyperparameters(y, mask, tuple(outcome_types), config)
    is_probit = jnp.asarray([t == "probit" for t in outcome_types])
    run = _build_chain(
        config, data, test_bins, mask, is_probit, offset, leaf_prior_var, sigma_scale
    )
    keys = jax.random.split(key, config.num_chains)
    train, test, noise_var, acceptance = jax.jit(jax.vmap(run, in_axes=(0, None)))(
        keys, jnp.asarray(y, jnp.float32)
    )
    return BartFit(
        train=np.asarray(train),
        test=None if X_test is None else np.asarray(test),
        noise_var=np.asarray(noise_var),
        acceptance=np.asarray(acceptance),
    )


def _normal_tail(key: jax.Array, lower: jax.Array) -> jax.Array:
    """Draws of ``N(0, 1)`` truncated to ``(lower, ∞)``, elementwise, stable in float32.

    Inverse CDF on the upper tail, ``−Φ⁻¹(u Φ(−lower))``, which is exact and accurate while
    ``Φ(−lower)`` is representable; beyond ``lower = 8`` the tail is sampled as
    ``lower + Exp(1)/lower`` (the exponential approximation of Robert 1995, relative error
    below 1/lower²), reached only by latents 8 sd away from their mean.
    """
    key_uniform, key_exp = jax.random.split(key)
    tiny = jnp.finfo(lower.dtype).tiny
    u = jax.random.uniform(key_uniform, lower.shape, lower.dtype, minval=tiny)
    safe = jnp.minimum(lower, 8.0)
    # Clipping keeps Φ⁻¹ finite when u·Φ(−lower) underflows (a u below ~1e-20 near the
    # switch point); the distortion is confined to events of probability < 1e-30.
    eps = jnp.finfo(lower.dtype).eps
    upper_tail = jnp.clip(jnp.exp(jnp.log(u) + log_ndtr(-safe)), tiny, 1.0 - eps)
    inverse = -ndtri(upper_tail)
    tail = jnp.maximum(lower, 8.0)
    exponential = tail + jax.random.exponential(key_exp, lower.shape, lower.dtype) / tail
    return jnp.where(lower < 8.0, jnp.maximum(inverse, lower), exponential)


def _build_chain(
    config: BartConfig,
    data: BinnedCovariates,
    test_bins: jax.Array | None,
    mask: np.ndarray,
    is_probit: jax.Array,
    offset: np.ndarray,
    leaf_prior_var: np.ndarray,
    sigma_scale: np.ndarray,
):
    """The jit-able function ``(key, y) -> draws`` running one chain."""
    num_channels, n = mask.shape
    weight = None if mask.all() else jnp.asarray(mask, jnp.float32)
    observed = jnp.asarray(mask)
    offset = jnp.asarray(offset, jnp.float32)[:, None]
    leaf_prior_var = jnp.asarray(leaf_prior_var, jnp.float32)
    sigma_scale = jnp.asarray(sigma_scale, jnp.float32)
    prior = TreePrior(config.alpha, config.beta, config.min_leaf_count)
    nu = config.sigma_df
    num_observed = observed.sum(axis=1)

    def step(key: jax.Array, state: _ChainState, y: jax.Array) -> tuple[_ChainState, jax.Array]:
        key_latent, key_forest, key_sigma = jax.random.split(key, 3)
        # Albert–Chib: z | f ~ N(offset + f, 1) truncated to the sign of y.
        mean = state.target - state.residuals
        # e = z − mean is N(0, 1) truncated to e > −mean (y = 1) or e < −mean (y = 0).
        sign = jnp.where(y > 0, 1.0, -1.0)
        latent = mean + sign * _normal_tail(key_latent, -sign * mean)
        target = jnp.where(is_probit[:, None] & observed, latent, state.target)
        residuals = state.residuals + target - state.target
        forest, residuals, info = sweep(
            key_forest,
            state.forest,
            data,
            residuals,
            noise_var=state.noise_var,
            leaf_prior_var=leaf_prior_var,
            prior=prior,
            channel_weight=weight,
        )
        sum_sq = jnp.sum(jnp.where(observed, residuals, 0.0) ** 2, axis=1)
        shape = (nu + num_observed) / 2
        rate = (nu * sigma_scale + sum_sq) / 2
        draw = rate / jax.random.gamma(key_sigma, shape, dtype=residuals.dtype)
        noise_var = jnp.where(is_probit, 1.0, draw)
        new_state = _ChainState(forest, residuals, target, noise_var)
        return new_state, jnp.mean(info.accepted)

    def test_fit(state: _ChainState) -> jax.Array:
        leaf_index = traverse(state.forest.trees, test_bins)
        return offset + forest_fit(state.forest.trees, leaf_index)

    num_test = 0 if test_bins is None else test_bins.shape[1]
    total = config.num_burnin + config.num_draws

    def run(key: jax.Array, y: jax.Array):
        forest = init_forest(
            config.num_trees, n, max_depth=config.max_depth, num_channels=num_channels
        )
        target = jnp.where(observed, y - offset, 0.0) + offset
        target = jnp.where(is_probit[:, None], offset, target)
        state = _ChainState(forest, target - offset, target, jnp.where(is_probit, 1.0, sigma_scale))
        draws = (
            jnp.zeros((config.num_draws, num_channels, n), jnp.float32),
            jnp.zeros((config.num_draws, num_channels, num_test), jnp.float32),
            jnp.zeros((config.num_draws, num_channels), jnp.float32),
            jnp.zeros((config.num_draws,), jnp.float32),
        )

        # One scan over burn-in and kept iterations (one compiled step); kept draws are
        # written in place. Per-iteration keys by fold_in over the iteration index
        # (scanning over a split key array trips the key-reuse checker under vmap).
        def iteration(carry, i: jax.Array):
            state, draws = carry
            state, acceptance = step(jax.random.fold_in(key, i), state, y)
            slot = jnp.maximum(i - config.num_burnin, 0)

            def record(draws):
                train = state.target - state.residuals
                test = draws[1][0] if test_bins is None else test_fit(state)
                new = (train, test, state.noise_var, acceptance)
                return tuple(
                    jax.lax.dynamic_update_index_in_dim(buffer, value, slot, 0)
                    for buffer, value in zip(draws, new, strict=True)
                )

            draws = jax.lax.cond(i >= config.num_burnin, record, lambda d: d, draws)
            return (state, draws), None

        (_, draws), _ = jax.lax.scan(iteration, (state, draws), jnp.arange(total))
        return draws

    return run
