"""The treatment forest's scale move: a parameter-expanded Gibbs update of ``tau_scale``.

With ``m_τ`` treatment trees, BCF gives every treatment leaf the prior
``N(0, tau_scale² / m_τ)``. Updating ``tau_scale`` given the leaves (centred) mixes
badly: with a few hundred leaf values the leaves pin the scale down, and the scale pins
the leaves, so both crawl (bulk ESS of 5–7 per 800 draws measured on a sign-reversal
scenario at n = 20,000). BCF (Hahn, Murray & Carvalho 2020, §5.2) and StochTree avoid
this by parameter expansion: ``τ(x) = b · τ̃(x)`` with the multiplier ``b`` drawn from its
(normal) full conditional.

Here the same idea is a move on the joint state (Liu & Sabatti 2000, generalised Gibbs):
for channel ``c`` draw a factor ``g ≠ 0`` and set every treatment leaf of the channel to
``g ×`` its value, ``tau_scale_c`` to ``|g| tau_scale_c`` and the residuals to
``r + (1 − g) τ``. Over the multiplicative group with its Haar measure ``dg / |g|`` the
factor's conditional density is ``π(T_g θ) |J_g| / |g|``, and with ``L`` leaf values the
Jacobian ``|g|^(L+1)`` cancels the leaves' normalising constants. In ``b = g ·
tau_scale_c`` (the new signed scale) the target is

    ``p(b) ∝ p_model(tau_scale_c = |b| | rest) · exp(−½ Σ_i w_i (r_i + (1 − b/s) τ_i)² / v_c)``

— the model's own prior of the site times the channel's Gaussian data term (``v_c = 1``
on a probit channel, its latent ``z``; ``σ²`` on the Gaussian channel, already in the
model's potential). For the default ``HalfNormal(s_τ)`` prior this is exactly normal;
for any other prior a researcher writes in a model function it is still the right
target, so it is sampled by slice sampling (Neal 2003) on the model's potential, with a
width that depends only on the orbit of the move (``Σ w τ² / s²`` is invariant) so the
move stays reversible. ``g < 0`` flips the sign of every leaf of the channel: the prior
is symmetric, so that is a legal state and the conditional is one normal, not two halves.

The move needs a latent site that scales the treatment leaves' standard deviation
(``tau_leaf_var ∝ site²``, found by :func:`pytyche.inference.sites.inspect_model`);
a model without one skips it.

References
----------
Liu, J. S. & Sabatti, C. (2000). Generalised Gibbs sampler and multigrid Monte Carlo for
Bayesian computation. Biometrika 87(2).

Neal, R. M. (2003). Slice sampling. Annals of Statistics 31(3).

Hahn, P. R., Murray, J. S. & Carvalho, C. M. (2020). Bayesian regression tree models for
causal inference. Bayesian Analysis 15(3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from pytyche.models.likelihood import ForestStats

__all__ = ["ScaleMoveInputs", "probit_scale_move", "scale_move", "slice_sample"]

MAX_STEPS_OUT = 8
MAX_SHRINKS = 40


class ScaleMoveInputs(NamedTuple):
    """Per-channel sums the move reads (all ``(C,)``, the channel's informative rows).

    Attributes
    ----------
    residual_sq
        ``Σ w r²``: weighted squared residuals after the treatment sweep.
    residual_tau
        ``Σ w r τ``: residuals times the treatment fit at the observed arm.
    tau_sq
        ``Σ w τ²``.
    noise_var
        Observation noise variance per channel (1 on probit channels).
    in_model
        Whether the model's potential already holds the channel's residual term (the
        Gaussian channel, through ``residual_sum_sq``).
    """

    residual_sq: jax.Array
    residual_tau: jax.Array
    tau_sq: jax.Array
    noise_var: jax.Array
    in_model: jax.Array


def slice_sample(
    key: jax.Array, log_density: Callable[[jax.Array], jax.Array], x0: jax.Array, width: jax.Array
) -> jax.Array:
    """One univariate slice-sampling update with stepping out and shrinkage (Neal 2003).

    Parameters
    ----------
    key
        PRNG key.
    log_density
        Unnormalised log density of a scalar; NaN counts as ``−inf``.
    x0
        Current point (scalar).
    width
        Initial bracket width; it must not depend on ``x0`` within the target's support
        (otherwise the update is not reversible).

    Returns
    -------
    jax.Array
        The new point (``x0`` in the negligible event that shrinkage does not end within
        ``MAX_SHRINKS`` halvings).
    """
    key_level, key_place, key_split, key_shrink = jax.random.split(key, 4)

    def log_f(x: jax.Array) -> jax.Array:
        return jnp.nan_to_num(log_density(x), nan=-jnp.inf)

    level = log_f(x0) - jax.random.exponential(key_level, dtype=x0.dtype)
    left = x0 - width * jax.random.uniform(key_place, dtype=x0.dtype)
    right = left + width
    steps_left = jnp.floor(MAX_STEPS_OUT * jax.random.uniform(key_split)).astype(jnp.int32)
    steps_right = MAX_STEPS_OUT - 1 - steps_left

    def out_left(carry):
        edge, steps = carry
        return edge - width, steps - 1

    def out_right(carry):
        edge, steps = carry
        return edge + width, steps - 1

    left, _ = jax.lax.while_loop(
        lambda c: (c[1] > 0) & (log_f(c[0]) > level), out_left, (left, steps_left)
    )
    right, _ = jax.lax.while_loop(
        lambda c: (c[1] > 0) & (log_f(c[0]) > level), out_right, (right, steps_right)
    )

    def shrink(carry):
        left, right, _, _, i = carry
        u = jax.random.uniform(jax.random.fold_in(key_shrink, i), dtype=x0.dtype)
        x = left + u * (right - left)
        inside = log_f(x) > level
        left = jnp.where(~inside & (x < x0), x, left)
        right = jnp.where(~inside & (x >= x0), x, right)
        return left, right, x, inside, i + 1

    _, _, x, done, _ = jax.lax.while_loop(
        lambda c: ~c[3] & (c[4] < MAX_SHRINKS),
        shrink,
        (left, right, x0, jnp.zeros((), bool), jnp.zeros((), jnp.int32)),
    )
    return jnp.where(done, x, x0)


def scale_move(
    key: jax.Array,
    log_joint: Callable[[dict, ForestStats], jax.Array],
    site: str,
    values: dict,
    stats: ForestStats,
    inputs: ScaleMoveInputs,
    prior_scale: jax.Array,
    skip: tuple[int, ...] = (),
) -> tuple[dict, ForestStats, jax.Array]:
    """Draw the factor ``g_c`` of every channel's treatment leaves, one channel at a time.

    Parameters
    ----------
    key
        PRNG key.
    log_joint
        ``log_joint(values, stats)``: the model's log density (prior of the sites plus
        the forest-conditional likelihood of ``stats``).
    site
        Name of the ``(C,)`` scale site (``tau_scale``).
    values
        Current constrained site values.
    stats
        Forest statistics after the treatment sweep.
    inputs
        The per-channel sums (`ScaleMoveInputs`).
    prior_scale
        ``(C,)`` a prior scale of the site, only to size the slice bracket.
    skip
        Channels left as they are (factor 1).

    Returns
    -------
    values, stats
        The site and the statistics at the moved state (leaf sums of squares times
        ``g²``, the residual sums of squares of the moved residuals).
    factors
        ``(C,)`` the factors ``g``: multiply the channel's treatment leaves by it and add
        ``(1 − g) τ`` to its residuals.
    """
    keys = jax.random.split(key, stats.tau_leaf_sum_sq.shape[0])
    factors = []
    for c, channel_key in enumerate(keys):
        if c in skip:
            factors.append(jnp.ones((), stats.tau_leaf_sum_sq.dtype))
            continue
        values, stats, factor = _channel_move(
            channel_key, c, log_joint, site, values, stats, inputs, prior_scale[c]
        )
        factors.append(factor)
    return values, stats, jnp.stack(factors)


def _channel_move(
    key: jax.Array,
    c: int,
    log_joint: Callable[[dict, ForestStats], jax.Array],
    site: str,
    values: dict,
    stats: ForestStats,
    inputs: ScaleMoveInputs,
    prior_scale: jax.Array,
) -> tuple[dict, ForestStats, jax.Array]:
    """The move of channel ``c`` given its latents or Gaussian outcomes (see `scale_move`)."""

    def change(g: jax.Array) -> jax.Array:
        # Σ w r'² − Σ w r² for r' = r + (1 − g) τ, kept apart from the (large) Σ w r²
        return (1.0 - g) * (2.0 * inputs.residual_tau[c] + (1.0 - g) * inputs.tau_sq[c])

    def data_term(g: jax.Array) -> jax.Array:
        return jnp.where(inputs.in_model[c], 0.0, -0.5 * change(g) / inputs.noise_var[c])

    def residual_sq(g: jax.Array) -> jax.Array:
        return inputs.residual_sq[c] + change(g)

    # Curvature of the data term in b, invariant under the move (Σ w τ² / s²): the bracket
    # width depends on the move's orbit only, which keeps slice sampling reversible.
    curvature = inputs.tau_sq[c] / inputs.noise_var[c]
    return _move(
        key, c, log_joint, site, values, stats, data_term, residual_sq, curvature, prior_scale
    )


def probit_scale_move(
    key: jax.Array,
    c: int,
    log_joint: Callable[[dict, ForestStats], jax.Array],
    site: str,
    values: dict,
    stats: ForestStats,
    fit: jax.Array,
    tau: jax.Array,
    positive: jax.Array,
    weight: jax.Array,
    information: jax.Array,
    prior_scale: jax.Array,
) -> tuple[dict, ForestStats, jax.Array]:
    """The move of probit channel ``c`` with its latents integrated out.

    Given the latents, the factor ``g`` is pinned by them (they were drawn around the
    current fit), which carries Albert–Chib's slow mixing over to the scale. Here the data
    term is the probit likelihood itself, ``Σ_i w_i log Φ(s_i (f_i + (g − 1) τ_i))``; the
    kernel runs this move before the latents are redrawn given the moved fit (as the level
    move of :mod:`pytyche.inference.levels`).

    Parameters
    ----------
    key, c, log_joint, site, values, stats
        As in `scale_move` (one channel, ``c``).
    fit, tau
        ``(n,)`` the channel's fit and its treatment part at every visitor's observed arm.
    positive, weight
        ``(n,)`` converted; 0/1 channel mask.
    information
        Probit Fisher information at the channel's rate (sizes the bracket only).
    prior_scale
        A prior scale of the site, only to size the bracket.

    Returns
    -------
    values, stats, factor
        As in `scale_move`, for channel ``c`` (the factor a scalar).
    """
    sign = jnp.where(positive, 1.0, -1.0).astype(fit.dtype)
    base = log_ndtr(sign * fit)

    def data_term(g: jax.Array) -> jax.Array:
        return jnp.sum(weight * (log_ndtr(sign * (fit + (g - 1.0) * tau)) - base))

    curvature = information * jnp.sum(weight * tau**2)
    return _move(
        key,
        c,
        log_joint,
        site,
        values,
        stats,
        data_term,
        lambda g: stats.residual_sum_sq[c],
        curvature,
        prior_scale,
    )


def _move(
    key: jax.Array,
    c: int,
    log_joint: Callable[[dict, ForestStats], jax.Array],
    site: str,
    values: dict,
    stats: ForestStats,
    data_term: Callable[[jax.Array], jax.Array],
    residual_sq: Callable[[jax.Array], jax.Array],
    curvature: jax.Array,
    prior_scale: jax.Array,
) -> tuple[dict, ForestStats, jax.Array]:
    """Slice-sample the new signed scale ``b`` of channel ``c`` (``g = b / s``).

    ``data_term(g)``: the channel's log likelihood change outside the model's potential;
    ``residual_sq(g)``: the moved ``Σ w r²`` (read by the potential on a Gaussian channel);
    ``curvature``: ``Σ w τ²`` times the information per unit, so that ``curvature / s²`` is
    the data term's curvature in ``b`` (invariant along the move's orbit).
    """
    scale = values[site][c]

    def moved(b: jax.Array) -> tuple[dict, ForestStats, jax.Array]:
        g = b / scale
        new_values = {**values, site: values[site].at[c].set(jnp.abs(b))}
        new_stats = stats._replace(
            tau_leaf_sum_sq=stats.tau_leaf_sum_sq.at[c].multiply(g**2),
            residual_sum_sq=stats.residual_sum_sq.at[c].set(residual_sq(g)),
        )
        return new_values, new_stats, g

    def log_target(b: jax.Array) -> jax.Array:
        new_values, new_stats, g = moved(b)
        leaves = stats.tau_leaf_count[c] * jnp.log(jnp.abs(g))
        return log_joint(new_values, new_stats) + leaves + data_term(g)

    precision = curvature / scale**2 + 1.0 / prior_scale**2
    b = slice_sample(key, log_target, scale, 4.0 / jnp.sqrt(precision))
    return moved(b)
