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

from pytyche.models import (
    BCFProblem,
    ForestStats,
    ForestVariances,
    bcf_variances,
    register_model,
    sample_mu_leaf_var,
)


def fixed_tau_scale_model(problem: BCFProblem, stats: ForestStats | None = None) -> ForestVariances:
    """BCF with ``tau_scale = s_τ`` fixed per channel (see the module docstring)."""
    mu_leaf_var = sample_mu_leaf_var(problem)
    return bcf_variances(problem, stats, mu_leaf_var, jnp.asarray(problem.tau_total_sd))


register_model("fixed_tau_scale", fixed_tau_scale_model, overwrite=True)
