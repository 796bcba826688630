"""Variant (ablation): the default model without the arms' average-effect site.

The default model (`pytyche.models.bcf.bcf_model`) gives each arm's average effect on
each channel its own ``tau_intercept ~ Normal(0, s_τ)`` site, so that the treatment
forest's learned scale describes only the heterogeneity. Without it the average effect is
the treatment forest's level, whose prior sd is that learned scale; with little
heterogeneity the scale settles low and shrinks the average effect towards zero (the
model before 2026-12-07; measured in `experiments/README.md`). For ablations and timing
(`experiments/bench_moves.py`).

Fit it by name::

    pytyche.inference.fit(data, model="no_tau_intercept")
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


def no_tau_intercept_model(
    problem: BCFProblem, stats: ForestStats | None = None
) -> ForestVariances:
    """The default BCF prior without ``tau_intercept`` (see the module docstring)."""
    mu_leaf_var = sample_mu_leaf_var(problem)
    with numpyro.plate("channel", problem.num_channels, dim=-1):
        tau_scale = numpyro.sample("tau_scale", dist.HalfNormal(jnp.asarray(problem.tau_total_sd)))
    return bcf_variances(problem, stats, mu_leaf_var, tau_scale, intercept=False)


register_model("no_tau_intercept", no_tau_intercept_model, overwrite=True)
