"""Variant: a fixed (not learned) treatment-effect scale, as StochTree's BCF default.

The default BCF model (`pytyche.models.bcf.bcf_model`) learns the total treatment-effect
scale ``tau_scale`` of each channel (half-normal prior). When the effects are sparse, the
learned scale can settle low, and with it every treatment leaf's prior variance
``tau_scale² / m_τ``, so no single tree gains enough evidence to split on a moderator.
StochTree's BCF keeps its treatment leaf scale fixed by default
(``sample_sigma2_leaf_tau=False``). This variant fixes ``tau_scale`` at the prior scale
``problem.tau_total_sd``; everything else is the default model's.

Fit it by name::

    pytyche.inference.fit(data, model="fixed_tau_scale")
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
)
from pytyche.models.bcf import MU_LEAF_VAR_SHAPE


def fixed_tau_scale_model(problem: BCFProblem, stats: ForestStats | None = None) -> ForestVariances:
    """BCF with ``tau_scale = s_τ`` fixed per channel (see the module docstring)."""
    mu_var_mean = jnp.asarray(problem.mu_total_sd) ** 2 / problem.num_mu_trees
    with numpyro.plate("channel", problem.num_channels, dim=-1):
        mu_leaf_var = numpyro.sample(
            "mu_leaf_var",
            dist.InverseGamma(MU_LEAF_VAR_SHAPE, (MU_LEAF_VAR_SHAPE - 1.0) * mu_var_mean),
        )
    return bcf_variances(problem, stats, mu_leaf_var, jnp.asarray(problem.tau_total_sd))


register_model("fixed_tau_scale", fixed_tau_scale_model, overwrite=True)
