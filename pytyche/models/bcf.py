"""The default BCF prior over the scalar parameters, as a NumPyro model function.

Tree structures and leaf values are auxiliary state of :class:`pytyche.inference.BCFKernel`;
the scalar parameters are NumPyro ``sample`` sites here, so a variant changes a prior in one
place (see ``models/`` at the repository root and :mod:`pytyche.models.registry`).

Sites (``C`` channels, see :class:`~pytyche.models.problem.BCFProblem`):

``mu_leaf_var`` ``(C,)``
    Prognostic leaf variance, ``InverseGamma(3, 2 s_μ² / m_μ)`` (prior mean ``s_μ² / m_μ``,
    as StochTree's sampled leaf scale); conjugate, so the kernel updates it by Gibbs.
``tau_scale`` ``(C,)``
    Total prior standard deviation of the treatment effect on each channel,
    ``HalfNormal(s_τ)`` as in BCF (Hahn, Murray & Carvalho 2020, §5.2); a treatment leaf
    has variance ``tau_scale² / m_τ``. Updated by Metropolis–Hastings on the potential.
``tau_intercept`` ``(C, K − 1)``
    Each active arm's average effect on each channel (the treatment forest then models
    only the deviations from it), ``Normal(0, s_τ)``. Without it the average effect is the
    treatment forest's level, whose prior sd is the learned ``tau_scale``: when the
    effects vary little that scale settles low and shrinks the average effect with it
    (measured: a constant conversion effect of 0.56 points estimated at 0.24). Updated by
    the kernel (conjugate normal given the latents or outcomes; a marginal move on a
    probit channel), not by Metropolis.
``sigma2`` (scalar, only with a Gaussian channel)
    Noise variance of the severity (hurdle) or outcome (continuous) channel in
    standardised units, ``InverseGamma(ν/2, ν λ/2)`` with ``ν = 3``, ``λ = 1``
    (Chipman, George & McCulloch 2010); conjugate.

A model function takes ``(problem, stats=None)``, emits the likelihood with
:func:`~pytyche.models.likelihood.forest_likelihood` and returns a
:class:`~pytyche.models.likelihood.ForestVariances`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from pytyche.models.likelihood import ForestStats, ForestVariances, forest_likelihood
from pytyche.models.problem import BCFProblem

__all__ = [
    "MU_LEAF_VAR_SHAPE",
    "SIGMA2_DF",
    "SIGMA2_SCALE",
    "TAU_INTERCEPT_SITE",
    "bcf_model",
    "sample_mu_leaf_var",
]

MU_LEAF_VAR_SHAPE = 3.0
SIGMA2_DF = 3.0
SIGMA2_SCALE = 1.0
TAU_INTERCEPT_SITE = "tau_intercept"
"""The name of the arms' average-effect site (read by the kernel and by prediction)."""


def bcf_model(problem: BCFProblem, stats: ForestStats | None = None) -> ForestVariances:
    """Default BCF scalar prior and forest-conditional likelihood.

    Parameters
    ----------
    problem
        The prepared fit (prior scales, channels, forest sizes).
    stats
        Sufficient statistics from the kernel; None samples the prior.

    Returns
    -------
    ForestVariances
    """
    mu_leaf_var = sample_mu_leaf_var(problem)
    with numpyro.plate("channel", problem.num_channels, dim=-1):
        tau_scale = numpyro.sample("tau_scale", dist.HalfNormal(jnp.asarray(problem.tau_total_sd)))
    return bcf_variances(problem, stats, mu_leaf_var, tau_scale)


def sample_mu_leaf_var(problem: BCFProblem) -> jnp.ndarray:
    """The default ``mu_leaf_var`` site, ``InverseGamma(3, 2 s_μ² / m_μ)`` per channel.

    Variants that change only the treatment prior call this, then sample (or fix)
    ``tau_scale`` and finish with :func:`bcf_variances`.
    """
    mu_var_mean = jnp.asarray(problem.mu_total_sd) ** 2 / problem.num_mu_trees
    with numpyro.plate("channel", problem.num_channels, dim=-1):
        return numpyro.sample(
            "mu_leaf_var",
            dist.InverseGamma(MU_LEAF_VAR_SHAPE, (MU_LEAF_VAR_SHAPE - 1.0) * mu_var_mean),
        )


def bcf_variances(
    problem: BCFProblem,
    stats: ForestStats | None,
    mu_leaf_var: jnp.ndarray,
    tau_scale: jnp.ndarray,
    intercept: bool = True,
) -> ForestVariances:
    """The shared tail of BCF model functions: average effects, σ², variances, likelihood.

    Variants that only change the leaf priors call this after sampling
    ``mu_leaf_var`` and ``tau_scale`` their own way. The ``tau_intercept`` site must stay
    a zero-mean normal whose scale does not depend on other sites (the kernel reads its
    variance once). ``intercept=False`` leaves the site out: the average effect is then
    the treatment forest's level (the model before 2026-12-07, for ablations).
    """
    if intercept:
        shape = (problem.num_channels, problem.num_arms - 1)
        intercept_sd = jnp.asarray(problem.tau_total_sd, jnp.float32).reshape(-1, 1)
        numpyro.sample(
            TAU_INTERCEPT_SITE,
            dist.Normal(jnp.zeros(shape), jnp.broadcast_to(intercept_sd, shape)).to_event(2),
        )
    noise_var = jnp.ones(problem.num_channels)
    g = problem.gaussian_channel
    if g is not None:
        sigma2 = numpyro.sample(
            "sigma2", dist.InverseGamma(SIGMA2_DF / 2, SIGMA2_DF * SIGMA2_SCALE / 2)
        )
        noise_var = noise_var.at[g].set(sigma2)
    variances = ForestVariances(
        mu_leaf_var=mu_leaf_var,
        tau_leaf_var=tau_scale**2 / problem.num_tau_trees,
        noise_var=noise_var,
    )
    forest_likelihood(stats, variances, g)
    return variances
