"""A fitting problem: the data of one fit, prepared for the BCF model and kernel.

:func:`make_problem` turns a validated :class:`~pytyche.data.RoundData` into the channel
targets, weights and prior scales that the model function and the kernel read. Everything
is in *model units*:

- **conversion channel** (hurdle, binary): the 0/1 conversion; a probit channel with an
  offset ``Φ⁻¹(conversion rate)``;
- **severity channel** (hurdle): ``(log y − c) / s`` among converters, with ``c`` and ``s``
  the mean and standard deviation of ``log y`` over converters; weight 1 for converters and
  0 for everybody else;
- **outcome channel** (continuous): ``(y − c) / s`` with the mean and standard deviation.

Propensity covariate
--------------------
BCF adds the propensity to the prognostic forest's covariates (Hahn, Murray & Carvalho 2020,
"regularisation-induced confounding"). With recorded propensities (``propensity_<arm>``
columns) the K − 1 active arms' recorded probabilities are used; without them the empirical
arm shares are used, which are constant and therefore never split on (a randomised
experiment needs no propensity adjustment). The control's column is left out because the
K columns sum to 1.

Leaf prior scales
-----------------
Following Chipman, George & McCulloch (2010) and BCF, the sum of ``m`` leaves has prior
standard deviation ``s``, so one leaf has variance ``s² / m``: prognostic ``s_μ = 1`` on a
standardised Gaussian channel and ``s_μ = 1.5`` (``3 / k`` with ``k = 2``) on a probit
channel; the treatment forest's total scale has a half-normal prior with scale
``s_τ = 0.5`` on both (smaller than μ's, as in BCF). See :mod:`pytyche.models.bcf`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from pytyche.contracts import MetricFamily
from pytyche.data import RoundData

__all__ = ["BCFProblem", "make_problem"]

CHANNELS = {
    MetricFamily.HURDLE: ("conversion", "severity"),
    MetricFamily.BINARY: ("conversion",),
    MetricFamily.CONTINUOUS: ("outcome",),
}
MU_TOTAL_SD = {"probit": 1.5, "gaussian": 1.0}
TAU_TOTAL_SD = {"probit": 0.5, "gaussian": 0.5}


@dataclass(frozen=True, eq=False)
class BCFProblem:
    """Prepared data and prior scales of one BCF fit (see the module docstring).

    Attributes
    ----------
    family
        Outcome family.
    channels
        Channel names, e.g. ``("conversion", "severity")``.
    arms
        Arm names, control first (``K`` of them).
    covariates
        ``(n, p)`` encoded covariates (the treatment forest's inputs).
    propensity
        ``(n, K − 1)`` the active arms' propensities (extra prognostic covariates).
    categorical
        Indices of categorical columns of ``covariates``.
    arm_index
        ``(n,)`` arm of each visitor, 0 = control.
    targets
        ``(C, n)`` channel targets in model units (0/1 on a probit channel).
    weights
        ``(C, n)`` channel weights (0 = the visitor does not inform the channel).
    is_probit
        Per channel, whether it is a probit channel.
    offset
        ``(C,)`` constant added to the forests' sum on each channel.
    outcome_center, outcome_scale
        ``c`` and ``s`` of the Gaussian channel's standardisation (0 and 1 without one).
    num_mu_trees, num_tau_trees
        Forest sizes ``m_μ`` and ``m_τ`` (they set the leaf prior variances).
    mu_total_sd, tau_total_sd
        ``(C,)`` prior scales ``s_μ`` and ``s_τ`` of the forests' sums.
    """

    family: MetricFamily
    channels: tuple[str, ...]
    arms: tuple[str, ...]
    covariates: np.ndarray
    propensity: np.ndarray
    categorical: tuple[int, ...]
    arm_index: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    is_probit: tuple[bool, ...]
    offset: np.ndarray
    outcome_center: float
    outcome_scale: float
    num_mu_trees: int
    num_tau_trees: int
    mu_total_sd: np.ndarray
    tau_total_sd: np.ndarray

    @property
    def num_channels(self) -> int:
        """Number of outcome channels ``C``."""
        return len(self.channels)

    @property
    def num_arms(self) -> int:
        """Number of arms ``K``, control included."""
        return len(self.arms)

    @property
    def num_visitors(self) -> int:
        """Number of training visitors ``n``."""
        return int(self.arm_index.shape[0])

    @property
    def gaussian_channel(self) -> int | None:
        """Index of the (single) Gaussian channel, or None."""
        gaussian = [c for c, probit in enumerate(self.is_probit) if not probit]
        return gaussian[0] if gaussian else None

    @property
    def prognostic_covariates(self) -> np.ndarray:
        """``(n, p + K − 1)`` covariates of the prognostic forest (propensities last)."""
        return np.concatenate([self.covariates, self.propensity], axis=1)


def _standardise(values: np.ndarray, name: str) -> tuple[float, float]:
    if values.size < 2:
        raise ValueError(f"the {name} channel needs at least 2 informative visitors")
    center, scale = float(values.mean()), float(values.std())
    return center, scale if scale > 0 else 1.0


def make_problem(
    data: RoundData,
    family: MetricFamily | str | None = None,
    *,
    num_mu_trees: int = 200,
    num_tau_trees: int = 50,
) -> BCFProblem:
    """Prepare the channel targets, weights and prior scales of a BCF fit.

    Parameters
    ----------
    data
        Validated experiment data.
    family
        Outcome family; None uses ``data.family``.
    num_mu_trees, num_tau_trees
        Forest sizes, used to scale the leaf priors.

    Returns
    -------
    BCFProblem
    """
    if not isinstance(data, RoundData):
        raise TypeError(f"data must be a pytyche RoundData, got {type(data).__name__}")
    family = data.family if family is None else _as_family(family)
    y = data.y
    arm_index = data.arm_index
    num_arms = data.n_arms
    n = data.n_visitors
    if family is not MetricFamily.CONTINUOUS and np.any(y < 0):
        raise ValueError(f"outcome {data.outcome!r} has negative values; family {family.value}")
    converted = y > 0
    center, scale = 0.0, 1.0
    if family is MetricFamily.HURDLE:
        if converted.sum() == 0 or converted.all():
            raise ValueError(
                f"outcome {data.outcome!r}: the hurdle family needs both zero and positive outcomes"
            )
        log_y = np.log(np.where(converted, y, 1.0))
        center, scale = _standardise(log_y[converted], "severity")
        severity = np.where(converted, (log_y - center) / scale, 0.0)
        targets = np.stack([converted.astype(float), severity])
        weights = np.stack([np.ones(n), converted.astype(float)])
        is_probit = (True, False)
    elif family is MetricFamily.BINARY:
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"outcome {data.outcome!r} must be 0/1 for the binary family")
        targets, weights, is_probit = converted.astype(float)[None], np.ones((1, n)), (True,)
    else:
        center, scale = _standardise(y, "outcome")
        targets, weights, is_probit = ((y - center) / scale)[None], np.ones((1, n)), (False,)
    offset = np.zeros(len(is_probit))
    for c, probit in enumerate(is_probit):
        if probit:
            rate = np.clip(converted.mean(), 1 / (n + 1), n / (n + 1))
            offset[c] = norm.ppf(rate)
    propensity = data.propensity
    if propensity is None:
        shares = np.bincount(arm_index, minlength=num_arms) / n
        propensity = np.broadcast_to(shares, (n, num_arms))
    kinds = ["probit" if p else "gaussian" for p in is_probit]
    return BCFProblem(
        family=family,
        channels=CHANNELS[family],
        arms=data.arms,
        covariates=data.X,
        propensity=np.ascontiguousarray(propensity[:, 1:], dtype=np.float64),
        categorical=tuple(data.covariates.index(c) for c in data.categories),
        arm_index=arm_index.astype(np.int32),
        targets=targets.astype(np.float64),
        weights=weights.astype(np.float64),
        is_probit=is_probit,
        offset=offset,
        outcome_center=center,
        outcome_scale=scale,
        num_mu_trees=int(num_mu_trees),
        num_tau_trees=int(num_tau_trees),
        mu_total_sd=np.array([MU_TOTAL_SD[k] for k in kinds]),
        tau_total_sd=np.array([TAU_TOTAL_SD[k] for k in kinds]),
    )


def _as_family(family: MetricFamily | str) -> MetricFamily:
    try:
        return MetricFamily(family)
    except ValueError:
        raise ValueError(
            f"family must be 'auto' or one of {[f.value for f in MetricFamily]}, got {family!r}"
        ) from None
