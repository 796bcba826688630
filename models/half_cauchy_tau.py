"""Variant: a heavier-tailed half-Cauchy prior on the treatment-effect scale.

The default BCF model (`pytyche.models.bcf.bcf_model`) puts a half-normal prior on the total
treatment-effect scale ``tau_scale`` of each channel. Gelman (2006) recommends a half-Cauchy
for hierarchical scale parameters: it shrinks small effects just as hard but lets large
heterogeneous effects through. Everything else (μ leaf variance, σ², likelihood) is the
default model's.

Fit it by name::

    pytyche.inference.fit(data, model="half_cauchy_tau")
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from pytyche.models import (
    BCFProblem,
    ForestStats,
    ForestVariances,
    bcf_variances,
    register_model,
    sample_mu_leaf_var,
)


def half_cauchy_tau_model(problem: BCFProblem, stats: ForestStats | None = None) -> ForestVariances:
    """BCF with ``tau_scale ~ HalfCauchy(s_τ)`` per channel (see the module docstring)."""
    mu_leaf_var = sample_mu_leaf_var(problem)
    with numpyro.plate("channel", problem.num_channels, dim=-1):
        tau_scale = numpyro.sample("tau_scale", dist.HalfCauchy(jnp.asarray(problem.tau_total_sd)))
    return bcf_variances(problem, stats, mu_leaf_var, tau_scale)


register_model("half_cauchy_tau", half_cauchy_tau_model, overwrite=True)
