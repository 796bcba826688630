"""Updates of a model's scalar sites given the forests: conjugate Gibbs or Metropolis.

The model function (see :mod:`pytyche.models.bcf`) is traced once, on concrete values, to
classify its latent sites:

- **conjugate**: the site's prior is ``InverseGamma(a, b)`` and exactly one observed
  :class:`~pytyche.models.likelihood.ZeroMeanNormalStats` site has variance ``c · v`` with
  ``c`` not depending on the site ``v``, and no other site's density depends on ``v``
  (checked by perturbing ``v``). Its full conditional is
  ``InverseGamma(a + m/2, b + Σx² / (2c))``.
- **Metropolis**: every other site; a random walk on the unconstrained scale with the
  model's log joint density (plus the log-Jacobian), its step size adapted during warmup
  towards acceptance 0.44 (Roberts & Rosenthal 2001) and frozen afterwards.

Separately, a Metropolis site with one value per channel that scales the treatment
leaves' standard deviation (``tau_leaf_var ∝ v²``, nothing else depending on it) is the
**treatment scale**: the kernel also moves it jointly with the leaves
(:mod:`pytyche.inference.expansion`). A site named ``tau_intercept``
(:data:`pytyche.models.bcf.TAU_INTERCEPT_SITE`, the arms' average effects, which enter the
channel fits rather than the leaf statistics) is updated by the kernel itself and is in
neither list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import log_density

from pytyche.models.bcf import TAU_INTERCEPT_SITE
from pytyche.models.likelihood import ForestStats, ForestVariances, ZeroMeanNormalStats

__all__ = [
    "SiteLayout",
    "inspect_model",
    "log_joint",
    "model_variances",
    "normal_prior_variance",
    "update_sites",
]

TARGET_ACCEPTANCE = 0.44


class SiteLayout(NamedTuple):
    """How each latent site of a model is updated (static, hashable).

    Attributes
    ----------
    names
        Every latent site.
    conjugate
        ``(site, observed stats site)`` pairs updated by inverse-gamma Gibbs.
    metropolis
        Sites updated by random-walk Metropolis.
    tau_scale
        The treatment scale site (see the module docstring), or None.
    tau_intercept
        The arms' average-effect site, or None when the model has none.
    """

    names: tuple[str, ...]
    conjugate: tuple[tuple[str, str], ...]
    metropolis: tuple[str, ...]
    tau_scale: str | None = None
    tau_intercept: str | None = None


def _trace(model: Callable, problem: object, stats: ForestStats, values: dict) -> dict:
    substituted = handlers.substitute(handlers.seed(model, 0), data=values)
    return handlers.trace(substituted).get_trace(problem, stats)


def _base(fn: dist.Distribution) -> dist.Distribution:
    while isinstance(fn, dist.ExpandedDistribution | dist.Independent):
        fn = fn.base_dist
    return fn


def normal_prior_variance(site: dict, shape: tuple[int, ...]) -> jax.Array:
    """The variance of a traced site's zero-mean normal prior, broadcast to ``shape``.

    Parameters
    ----------
    site
        A NumPyro trace entry (the average-effect site, see `SiteLayout.tau_intercept`).
    shape
        The shape the site must have.

    Raises
    ------
    ValueError
        Naming the site, when its prior is not a zero-mean normal or its shape differs.
    """
    fn = _base(site["fn"])
    if not isinstance(fn, dist.Normal) or not np.allclose(np.asarray(fn.loc), 0.0):
        raise ValueError(f"model site {site['name']!r} must have a zero-mean Normal prior")
    if tuple(np.shape(site["value"])) != tuple(shape):
        raise ValueError(
            f"model site {site['name']!r} must have shape {tuple(shape)}; "
            f"got {np.shape(site['value'])}"
        )
    return jnp.broadcast_to(jnp.asarray(fn.scale, jnp.float32) ** 2, shape)


def _site_log_probs(trace: dict) -> dict[str, np.ndarray]:
    return {
        name: np.asarray(site["fn"].log_prob(site["value"]))
        for name, site in trace.items()
        if site["type"] == "sample"
    }


def inspect_model(
    model: Callable, problem: object, init_values: dict[str, jax.Array]
) -> SiteLayout:
    """Classify the latent sites of ``model`` as conjugate or Metropolis.

    Parameters
    ----------
    model
        ``model(problem, stats=None) -> ForestVariances``.
    problem
        The fitting problem.
    init_values
        Concrete constrained values of every latent site.

    Returns
    -------
    SiteLayout
    """
    stats = ForestStats.for_tracing(problem.num_channels)
    trace = _trace(model, problem, stats, init_values)
    latent = tuple(n for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"])
    stats_sites = [
        n
        for n, s in trace.items()
        if s["type"] == "sample" and s["is_observed"] and isinstance(s["fn"], ZeroMeanNormalStats)
    ]
    conjugate, metropolis = [], []
    base_log_probs = _site_log_probs(trace)
    intercept = TAU_INTERCEPT_SITE if TAU_INTERCEPT_SITE in latent else None
    for name in latent:
        if name == intercept:
            continue
        link = None
        if isinstance(_base(trace[name]["fn"]), dist.InverseGamma):
            link = _conjugate_link(
                model, problem, stats, init_values, name, stats_sites, trace, base_log_probs
            )
        if link is None:
            metropolis.append(name)
        else:
            conjugate.append((name, link))
    scales = [
        name
        for name in metropolis
        if _scales_tau_leaves(model, problem, stats, init_values, name, trace, base_log_probs)
    ]
    tau_scale = scales[0] if len(scales) == 1 else None
    return SiteLayout(latent, tuple(conjugate), tuple(metropolis), tau_scale, intercept)


def _scales_tau_leaves(
    model: Callable,
    problem: object,
    stats: ForestStats,
    values: dict,
    name: str,
    trace: dict,
    base_log_probs: dict,
) -> bool:
    """Whether doubling ``name`` quadruples ``tau_leaf_var`` and changes nothing else."""
    value = np.asarray(values[name])
    if value.shape != (problem.num_channels,):
        return False
    doubled = {**values, name: jnp.asarray(value * 2.0)}
    perturbed = _trace(model, problem, stats, doubled)
    changed = [
        s
        for s, lp in _site_log_probs(perturbed).items()
        if s != name and not np.allclose(lp, base_log_probs[s])
    ]
    if changed != ["tau_leaves"]:
        return False
    before = model_variances(model, problem, stats, values)
    after = model_variances(model, problem, stats, doubled)
    return bool(
        np.allclose(after.tau_leaf_var, 4.0 * np.asarray(before.tau_leaf_var), rtol=1e-5)
        and np.allclose(after.mu_leaf_var, before.mu_leaf_var)
        and np.allclose(after.noise_var, before.noise_var)
    )


def _conjugate_link(
    model: Callable,
    problem: object,
    stats: ForestStats,
    values: dict,
    name: str,
    stats_sites: list[str],
    trace: dict,
    base_log_probs: dict,
) -> str | None:
    """The stats site conjugate to ``name``, or None (see the module docstring)."""
    value = np.asarray(values[name])
    perturbed = _trace(model, problem, stats, {**values, name: jnp.asarray(value * 2.0)})
    changed = [
        s
        for s, lp in _site_log_probs(perturbed).items()
        if s != name and not np.allclose(lp, base_log_probs[s])
    ]
    if len(changed) != 1 or changed[0] not in stats_sites:
        return None
    site = changed[0]
    before = np.asarray(trace[site]["fn"].var)
    after = np.asarray(perturbed[site]["fn"].var)
    if before.shape != value.shape:
        return None
    if not np.allclose(before / value, after / (2.0 * value), rtol=1e-5):
        return None
    return site


def model_variances(
    model: Callable, problem: object, stats: ForestStats, values: dict
) -> ForestVariances:
    """The model's return value (the sweeps' variances) at the given site values."""
    substituted = handlers.substitute(handlers.seed(model, 0), data=values)
    return substituted(problem, stats)


def _conjugate_draw(
    key: jax.Array,
    model: Callable,
    problem: object,
    stats: ForestStats,
    values: dict,
    name: str,
    link: str,
) -> jax.Array:
    trace = _trace(model, problem, stats, values)
    prior = _base(trace[name]["fn"])
    shape = jnp.shape(values[name])
    scale = trace[link]["fn"].var / values[name]
    observed = trace[link]["value"]
    concentration = jnp.broadcast_to(prior.concentration, shape) + observed[..., 1] / 2
    rate = jnp.broadcast_to(prior.rate, shape) + observed[..., 0] / (2 * scale)
    gamma = jax.random.gamma(key, concentration, dtype=rate.dtype)
    return rate / gamma


def log_joint(model: Callable, problem: object, stats: ForestStats, values: dict) -> jax.Array:
    """The model's log joint density at ``values`` given the forests' ``stats``."""
    density, _ = log_density(model, (problem, stats), {}, values)
    return density


def _metropolis_step(
    key: jax.Array,
    model: Callable,
    problem: object,
    stats: ForestStats,
    values: dict,
    name: str,
    log_step: jax.Array,
    support: object,
) -> tuple[dict, jax.Array]:
    transform = biject_to(support)
    key_move, key_accept = jax.random.split(key)
    current = values[name]
    u = transform.inv(current)
    u_new = u + jnp.exp(log_step) * jax.random.normal(key_move, jnp.shape(u), u.dtype)
    proposal = transform(u_new)
    new_values = {**values, name: proposal}
    log_ratio = (
        log_joint(model, problem, stats, new_values)
        + jnp.sum(transform.log_abs_det_jacobian(u_new, proposal))
        - log_joint(model, problem, stats, values)
        - jnp.sum(transform.log_abs_det_jacobian(u, current))
    )
    accept_prob = jnp.minimum(1.0, jnp.exp(jnp.nan_to_num(log_ratio, nan=-jnp.inf)))
    accepted = jax.random.uniform(key_accept) < accept_prob
    chosen = jax.tree.map(lambda new, old: jnp.where(accepted, new, old), new_values, values)
    return chosen, accept_prob


def update_sites(
    key: jax.Array,
    model: Callable,
    problem: object,
    layout: SiteLayout,
    supports: dict[str, object],
    stats: ForestStats,
    values: dict[str, jax.Array],
    log_steps: dict[str, jax.Array],
    adapt_weight: jax.Array,
    num_mh_steps: int,
) -> tuple[dict[str, jax.Array], dict[str, jax.Array], jax.Array]:
    """One Gibbs scan over the scalar sites given the forests' statistics.

    Parameters
    ----------
    key
        PRNG key.
    model, problem, layout, supports
        The model, its problem, its `SiteLayout` and each Metropolis site's support.
    stats
        Current forest statistics.
    values
        Current constrained site values.
    log_steps
        Log random-walk step size of each Metropolis site.
    adapt_weight
        Robbins–Monro weight of the step-size update (0 after warmup).
    num_mh_steps
        Metropolis steps per site.

    Returns
    -------
    values, log_steps
        Updated site values and step sizes.
    acceptance
        Mean Metropolis acceptance probability (1 when every site is conjugate).
    """
    keys = jax.random.split(key, len(layout.names) * max(num_mh_steps, 1))
    k = 0
    for name, link in layout.conjugate:
        values = {
            **values,
            name: _conjugate_draw(keys[k], model, problem, stats, values, name, link),
        }
        k += 1
    acceptance = []
    log_steps = dict(log_steps)
    for name in layout.metropolis:
        if num_mh_steps == 0:
            continue
        site_keys = keys[k : k + num_mh_steps]

        def step(i, carry, name=name, site_keys=site_keys):
            # A loop, not an unrolled sequence: the model is traced once per site.
            values, log_step, total = carry
            values, accept_prob = _metropolis_step(
                site_keys[i], model, problem, stats, values, name, log_step, supports[name]
            )
            log_step = log_step + adapt_weight * (accept_prob - TARGET_ACCEPTANCE)
            return values, log_step, total + accept_prob

        values, log_steps[name], total = jax.lax.fori_loop(
            0, num_mh_steps, step, (values, log_steps[name], jnp.zeros((), jnp.float32))
        )
        acceptance.append(total / num_mh_steps)
        k += num_mh_steps
    mean_acceptance = jnp.mean(jnp.stack(acceptance)) if acceptance else jnp.asarray(1.0)
    return values, log_steps, mean_acceptance
