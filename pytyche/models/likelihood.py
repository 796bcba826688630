"""The forest-conditional likelihood of the scalar sites, as sufficient statistics.

Given the trees, the scalar parameters of a BCF model (leaf variances, noise variance) only
see Gaussian sums of squares: the leaf values of a forest are ``N(0, v)`` draws and the
channel residuals are ``N(0, σ²)`` draws. The kernel summarises them in :class:`ForestStats`
and a model function turns them into observed NumPyro sites with
:class:`ZeroMeanNormalStats`, so the model's potential is exactly the conditional
log-density the sampler needs, and a researcher who changes a prior changes nothing else.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpyro
from numpyro.distributions import Distribution, constraints

__all__ = ["ForestStats", "ForestVariances", "ZeroMeanNormalStats", "forest_likelihood"]


class ForestStats(NamedTuple):
    """Sufficient statistics of the forests and residuals, per channel.

    Every field has shape ``(C,)`` (one entry per outcome channel).

    Attributes
    ----------
    mu_leaf_sum_sq, mu_leaf_count
        Sum of squared leaf values of the prognostic forest on the channel, and their number.
    tau_leaf_sum_sq, tau_leaf_count
        The same for the treatment forest (every arm component of every leaf counts once).
    residual_sum_sq, residual_count
        Weighted sum of squared residuals of the channel and the sum of its weights
        (the number of visitors who inform the channel).
    """

    mu_leaf_sum_sq: jax.Array
    mu_leaf_count: jax.Array
    tau_leaf_sum_sq: jax.Array
    tau_leaf_count: jax.Array
    residual_sum_sq: jax.Array
    residual_count: jax.Array

    @classmethod
    def for_tracing(cls, num_channels: int) -> ForestStats:
        """Statistics of one unit-square value per entry (used to trace a model)."""
        ones = jnp.ones(num_channels)
        return cls(ones, ones, ones, ones, ones, ones)


class ForestVariances(NamedTuple):
    """What a model function returns: the variances the forest sweeps condition on.

    Attributes
    ----------
    mu_leaf_var
        ``(C,)`` prior variance of a prognostic-forest leaf value per channel.
    tau_leaf_var
        ``(C,)`` prior variance of each arm component of a treatment-forest leaf.
    noise_var
        ``(C,)`` observation noise variance (1 for a probit channel).
    """

    mu_leaf_var: jax.Array
    tau_leaf_var: jax.Array
    noise_var: jax.Array


class ZeroMeanNormalStats(Distribution):
    """Likelihood of ``m`` iid ``N(0, variance)`` values through ``(Σ x², m)``.

    The value is an array whose last axis holds ``(sum of squares, count)``;
    ``log p = −½ m log(2π v) − ½ Σx² / v``. It is conjugate to an inverse-gamma prior on
    ``v`` (possibly scaled by a constant), which the BCF kernel detects and exploits.

    Parameters
    ----------
    variance
        Variance ``v`` of each value; its shape is the batch shape.
    """

    arg_constraints: ClassVar[dict] = {"var": constraints.positive}
    support = constraints.real_vector

    def __init__(self, var: jax.Array, *, validate_args: bool | None = None) -> None:
        self.var = jnp.asarray(var)
        super().__init__(
            batch_shape=jnp.shape(self.var), event_shape=(2,), validate_args=validate_args
        )

    def sample(self, key: jax.Array, sample_shape: tuple = ()) -> jax.Array:
        raise NotImplementedError("ZeroMeanNormalStats is a likelihood for observed statistics")

    def log_prob(self, value: jax.Array) -> jax.Array:
        sum_sq, count = value[..., 0], value[..., 1]
        return -0.5 * count * jnp.log(2 * jnp.pi * self.var) - 0.5 * sum_sq / self.var


def forest_likelihood(
    stats: ForestStats | None, variances: ForestVariances, gaussian_channel: int | None
) -> None:
    """Emit the observed sites ``mu_leaves``, ``tau_leaves`` and ``residuals``.

    Call it at the end of a model function. With ``stats=None`` (prior sampling) nothing
    is observed.

    Parameters
    ----------
    stats
        Statistics from the kernel, or None.
    variances
        The model's variances (see :class:`ForestVariances`).
    gaussian_channel
        Index of the channel with a sampled noise variance (None for a probit-only model).
    """
    if stats is None:
        return
    num_channels = variances.mu_leaf_var.shape[-1]
    with numpyro.plate("channel", num_channels, dim=-1):
        numpyro.sample(
            "mu_leaves",
            ZeroMeanNormalStats(variances.mu_leaf_var),
            obs=jnp.stack([stats.mu_leaf_sum_sq, stats.mu_leaf_count], axis=-1),
        )
        numpyro.sample(
            "tau_leaves",
            ZeroMeanNormalStats(variances.tau_leaf_var),
            obs=jnp.stack([stats.tau_leaf_sum_sq, stats.tau_leaf_count], axis=-1),
        )
    if gaussian_channel is not None:
        g = gaussian_channel
        numpyro.sample(
            "residuals",
            ZeroMeanNormalStats(variances.noise_var[g]),
            obs=jnp.stack([stats.residual_sum_sq[g], stats.residual_count[g]]),
        )
