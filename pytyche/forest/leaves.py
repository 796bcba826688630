"""Conjugate normal leaves: sufficient statistics, marginal likelihoods and posterior draws.

On channel ``c`` a visitor ``i`` in leaf ``ℓ`` contributes the partial residual
``r_ci ~ N(b_iᵀ μ_ℓc, σ_c² / w_ci)`` with basis ``b_i`` (``K``-vector, 1 for a scalar leaf),
observation weight ``w_ci`` (0 masks the visitor out of the channel) and leaf prior
``μ_ℓc ~ N(0, V_c)``, ``V_c = diag(leaf_prior_var[c])``. With the leaf statistics

    B_ℓc = Σ_i w_ci b_i b_iᵀ,      s_ℓc = Σ_i w_ci b_i r_ci,

the leaf posterior is ``N(Σ h, Σ)`` with precision ``P = V⁻¹ + B/σ²``, ``Σ = P⁻¹`` and
``h = s/σ²``, and the leaf's integrated likelihood, up to factors that do not depend on the
tree, is

    log m(ℓ) = −½ log det V − ½ log det P + ½ hᵀ Σ h

(Chipman, George & McCulloch 2010, eq. for the univariate case; the multivariate form is the
standard Bayesian linear-regression evidence). Channels are conditionally independent given
the shared tree, so their log evidences add.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class LeafPosteriorTerms(NamedTuple):
    """Residual-independent parts of the leaf posteriors, for every slot of every tree.

    Attributes
    ----------
    covariance
        ``(..., C, K, K)`` posterior covariance ``Σ = P⁻¹``.
    noise
        ``(..., C, K)`` a draw from ``N(0, Σ)`` (the posterior draw is mean + noise).
    log_norm
        ``(..., C)`` ``−½ log det V − ½ log det P``.
    """

    covariance: jax.Array
    noise: jax.Array
    log_norm: jax.Array


def segment_sum(values: jax.Array, index: jax.Array, num_segments: int) -> jax.Array:
    """Sum the rows of ``values`` ``(n, V)`` by segment ``index`` ``(n,)`` into ``(S, V)``.

    Row-major updates (one contiguous ``V``-vector per visitor) make a scatter of several
    statistics cost about as much as a scatter of one on CPU.
    """
    out = jnp.zeros((num_segments, values.shape[1]), values.dtype)
    return out.at[index].add(values, mode="drop")


def visitor_weights(
    basis: jax.Array | None, channel_weight: jax.Array | None, num_channels: int, dtype: jnp.dtype
) -> tuple[jax.Array, jax.Array]:
    """Per-visitor factors of the leaf statistics.

    Returns
    -------
    weighted_basis
        ``(n, C, K)`` ``w_ci b_ik``.
    weighted_outer
        ``(n, C·K·K)`` ``w_ci b_ik b_il``, whose segment sums are ``B``.
    """
    if basis is None and channel_weight is None:
        raise ValueError("unit weights and scalar basis need no per-visitor factors")
    n = basis.shape[0] if basis is not None else channel_weight.shape[1]
    b = jnp.ones((n, 1), dtype) if basis is None else basis.astype(dtype)
    w = jnp.ones((n, num_channels), dtype) if channel_weight is None else channel_weight.T
    weighted_basis = w[:, :, None] * b[:, None, :]
    weighted_outer = weighted_basis[:, :, :, None] * b[:, None, None, :]
    return weighted_basis, weighted_outer.reshape(n, -1)


def weight_statistics(
    leaf_index: jax.Array,
    num_segments: int,
    basis: jax.Array | None,
    channel_weight: jax.Array | None,
    num_channels: int,
    dtype: jnp.dtype,
) -> jax.Array:
    """``B = Σ w b bᵀ`` ``(S, C, K, K)`` per slot of one tree (leaf index ``(n,)``)."""
    basis_dim = 1 if basis is None else basis.shape[1]
    if basis is None and channel_weight is None:
        values = jnp.ones((leaf_index.shape[0], 1), dtype)
    else:
        values = visitor_weights(basis, channel_weight, num_channels, dtype)[1]
    sums = segment_sum(values, leaf_index, num_segments)
    shape = (num_segments, -1, basis_dim, basis_dim)
    return jnp.broadcast_to(sums.reshape(shape), (num_segments, num_channels, basis_dim, basis_dim))


def weighted_residuals(residuals: jax.Array, weighted_basis: jax.Array | None) -> jax.Array:
    """``(n, C·K)`` values ``w_ci b_ik r_ci`` (residuals ``(n, C)``), summed into ``s``."""
    if weighted_basis is None:
        return residuals
    return (residuals[:, :, None] * weighted_basis).reshape(residuals.shape[0], -1)


def posterior_terms(
    standard_normal: jax.Array,
    weight_stats: jax.Array,
    noise_var: jax.Array,
    leaf_prior_var: jax.Array,
) -> LeafPosteriorTerms:
    """Posterior covariance, a centred posterior draw and the evidence normaliser.

    Parameters
    ----------
    standard_normal
        ``(..., C, K)`` independent N(0, 1) draws, turned into the centred posterior draw.
    weight_stats
        ``(..., C, K, K)`` statistics ``B``.
    noise_var
        ``(C,)`` noise variances ``σ²``.
    leaf_prior_var
        ``(C, K)`` prior variances (diagonal of ``V``).

    Returns
    -------
    LeafPosteriorTerms
    """
    basis_dim = weight_stats.shape[-1]
    dtype = weight_stats.dtype
    z = standard_normal
    prior_logdet = jnp.sum(jnp.log(leaf_prior_var), axis=-1)
    if basis_dim == 1:
        precision = 1.0 / leaf_prior_var[:, 0] + weight_stats[..., 0, 0] / noise_var
        covariance = (1.0 / precision)[..., None, None]
        noise = z / jnp.sqrt(precision)[..., None]
        log_norm = -0.5 * (prior_logdet + jnp.log(precision))
        return LeafPosteriorTerms(covariance, noise, log_norm)
    precision = weight_stats / noise_var[:, None, None] + jax.vmap(jnp.diag)(1.0 / leaf_prior_var)
    chol = jnp.linalg.cholesky(precision)
    identity = jnp.broadcast_to(jnp.eye(basis_dim, dtype=dtype), precision.shape)
    chol_inv = jax.lax.linalg.triangular_solve(chol, identity, left_side=True, lower=True)
    covariance = jnp.swapaxes(chol_inv, -1, -2) @ chol_inv
    # Σ = L⁻ᵀ L⁻¹, so L⁻ᵀ z has covariance Σ.
    noise = jnp.einsum("...jk,...j->...k", chol_inv, z)
    log_det_precision = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    log_norm = -0.5 * (prior_logdet + log_det_precision)
    return LeafPosteriorTerms(covariance, noise, log_norm)


def diagonal_posterior_terms(
    standard_normal: jax.Array,
    weight_sums: jax.Array,
    noise_var: jax.Array,
    leaf_prior_var: jax.Array,
) -> LeafPosteriorTerms:
    """`posterior_terms` for a diagonal ``B`` (an indicator basis: ``b_i`` is 0 or a unit
    vector), given its diagonal ``weight_sums`` ``(..., C, K)``.

    The leaf components are then independent a posteriori, so no factorisation is needed;
    the "covariance" returned is its diagonal ``(..., C, K)`` (which `posterior_mean` and
    `log_evidence` accept in place of the matrices).
    """
    precision = 1.0 / leaf_prior_var + weight_sums / noise_var[:, None]
    covariance = 1.0 / precision
    noise = standard_normal * jnp.sqrt(covariance)
    log_norm = -0.5 * jnp.sum(jnp.log(leaf_prior_var) + jnp.log(precision), axis=-1)
    return LeafPosteriorTerms(covariance, noise, log_norm)


def posterior_mean(
    residual_stats: jax.Array, covariance: jax.Array, noise_var: jax.Array
) -> jax.Array:
    """``(..., C, K)`` posterior mean ``Σ s / σ²`` from ``s`` ``(..., C, K)``.

    ``covariance`` is ``(..., C, K, K)``, or ``(..., C, K)`` for a diagonal ``Σ``.
    """
    h = residual_stats / noise_var[:, None]
    if covariance.shape == residual_stats.shape:
        return covariance * h
    return jnp.einsum("...ckj,...cj->...ck", covariance, h)


def log_evidence(
    residual_stats: jax.Array,
    covariance: jax.Array,
    log_norm: jax.Array,
    noise_var: jax.Array,
) -> jax.Array:
    """``(...,)`` log integrated likelihood summed over channels (see module docstring).

    ``covariance`` is ``(..., C, K, K)``, or ``(..., C, K)`` for a diagonal ``Σ``.
    """
    h = residual_stats / noise_var[:, None]
    if covariance.shape == residual_stats.shape:
        return jnp.sum(log_norm + 0.5 * jnp.sum(h * covariance * h, axis=-1), axis=-1)
    quad = jnp.einsum("...ck,...ckj,...cj->...c", h, covariance, h)
    return jnp.sum(log_norm + 0.5 * quad, axis=-1)
