"""The probit channel's level move: the forests' levels drawn with the latents integrated out.

Albert–Chib augmentation mixes slowly where a probit channel carries little information per
visitor. The fraction of missing information is ``1 − I(o) / 1`` with the probit Fisher
information ``I(o) = φ(o)² / (Φ(o)(1 − Φ(o)))``: at a 4% conversion rate ``I ≈ 0.19``, so
a level of the conversion fit (an arm's average effect, the control rate) has lag-1
autocorrelation ≈ 0.8 under the latent-then-trees sweep (measured: bulk ESS of the ATE
15–33 of 200 draws at n = 20,000).

This move updates those levels from their **marginal** conditional, the latents integrated
out. Along a direction ``d`` of the fit (``d_i = 1`` for the prognostic forest's level,
``d_i = b_ik`` — the treatment basis, ``e_a − c`` — for arm ``k``'s treatment level) every
leaf of every tree of that forest is shifted by ``δ / m`` (``m`` trees, ``L`` leaves, leaf
prior ``N(0, V)``, current leaf sum ``Σv``), so the fit moves by ``δ d_i`` and the target in
``δ`` is

    ``log p(δ) = Σ_i w_i [log Φ(s_i (f_i + δ d_i)) − log Φ(s_i f_i)]``
    ``− δ Σv / (m V) − δ² L / (2 m² V)``

(``s_i = ±1`` converter or not, ``w_i`` the channel mask): the generalised Gibbs update of
Liu & Sabatti (2000) over the translation group, which has unit Jacobian. The density is
log-concave; it is sampled by slice sampling (Neal 2003) with a bracket fixed by the
problem (the Fisher information at the channel's offset), so the update is reversible.
The move reads the fit, not the latents: the kernel runs it first in an iteration and the
Albert–Chib step then redraws every latent given the moved fit, which keeps the joint
posterior invariant (a blocked, partially collapsed Gibbs sampler; van Dyk & Park 2008).

References
----------
Liu, J. S. & Sabatti, C. (2000). Generalised Gibbs sampler and multigrid Monte Carlo for
Bayesian computation. Biometrika 87(2).

van Dyk, D. A. & Park, T. (2008). Partially collapsed Gibbs samplers. JASA 103(482).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr
from scipy.stats import norm

from pytyche.inference.expansion import slice_sample

__all__ = ["LevelPrior", "level_move", "level_widths", "probit_information"]


class LevelPrior(NamedTuple):
    """The leaf prior along each direction (all ``(D,)``).

    Attributes
    ----------
    linear
        ``Σv / (m V)``: the current leaves' sum over trees times prior precision.
    quadratic
        ``L / (m² V)``: the prior precision of ``δ``.
    """

    linear: jax.Array
    quadratic: jax.Array


def probit_information(rate: float) -> float:
    """Fisher information of one probit observation at success probability ``rate``."""
    rate = float(np.clip(rate, 1e-6, 1 - 1e-6))
    offset = norm.ppf(rate)
    return float(norm.pdf(offset) ** 2 / (rate * (1 - rate)))


def level_widths(directions: np.ndarray, weight: np.ndarray, rate: float) -> np.ndarray:
    """``(D,)`` slice brackets: four data-only posterior sds of ``δ`` along each direction.

    A function of the problem alone (not of the state), so the update stays reversible.
    """
    info = probit_information(rate) * np.sum(weight * np.asarray(directions) ** 2, axis=-1)
    return 4.0 / np.sqrt(np.maximum(info, 1e-12))


def level_move(
    key: jax.Array,
    fit: jax.Array,
    positive: jax.Array,
    weight: jax.Array,
    directions: jax.Array,
    prior: LevelPrior,
    widths: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Draw the shift ``δ_j`` along each direction in turn (see the module docstring).

    Parameters
    ----------
    key
        PRNG key.
    fit
        ``(n,)`` the channel's fit (latent mean) at every visitor's observed arm.
    positive
        ``(n,)`` bool: converted.
    weight
        ``(n,)`` 0/1 channel mask.
    directions
        ``(D, n)`` how a unit ``δ_j`` moves each visitor's fit.
    prior
        `LevelPrior` of each direction.
    widths
        ``(D,)`` slice brackets (`level_widths`).

    Returns
    -------
    deltas
        ``(D,)`` the drawn shifts.
    fit
        ``(n,)`` the moved fit, ``fit + Σ_j δ_j d_j``.
    """
    sign = jnp.where(positive, 1.0, -1.0).astype(fit.dtype)
    keys = jax.random.split(key, directions.shape[0])
    deltas = []
    for j in range(directions.shape[0]):
        d = directions[j]
        base = log_ndtr(sign * fit)

        def log_target(delta, d=d, base=base, j=j, fit=fit):
            # Term-wise differences keep the float32 sum accurate at n in the millions.
            data = jnp.sum(weight * (log_ndtr(sign * (fit + delta * d)) - base))
            return data - delta * prior.linear[j] - 0.5 * delta**2 * prior.quadratic[j]

        delta = slice_sample(keys[j], log_target, jnp.zeros((), fit.dtype), widths[j])
        fit = fit + delta * d
        deltas.append(delta)
    return jnp.stack(deltas), fit
