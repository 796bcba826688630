"""Always-valid sequential testing: mixture-SPRT p-values and confidence sequences.

A fixed-horizon p-value is only valid if it is looked at once. Monitoring an experiment
continuously and stopping at the first p < α inflates the false-positive rate far above α.
The mixture sequential probability ratio test (mSPRT) of Robbins (1970) as adapted to A/B
testing by Johari, Koomen, Pekelis & Walsh (2017, *KDD*; 2022, *Operations Research*
70:1806, "Always valid inference") gives p-values that may be monitored after every visitor:
P(p_n < α for some n) ≤ α under the null.

With Δ̂_n the difference in arm means after n visitors, V_n = s₁²/n₁ + s₀²/n₀ its
(plug-in) variance and a N(0, τ²) mixing distribution over the effect, the mixture
likelihood ratio against Δ = 0 is

    Λ_n = sqrt(V_n / (V_n + τ²)) · exp( τ² Δ̂_n² / (2 V_n (V_n + τ²)) ),

the always-valid p-value is p_n = min(1, min_{k ≤ n} 1/Λ_k), and inverting the test gives
the confidence sequence

    Δ̂_n ± sqrt( V_n (V_n + τ²)/τ² · [log((V_n + τ²)/V_n) + 2 log(1/α)] ),

intersected over time (Howard, Ramdas, McAuliffe & Sekhon 2021, *Ann. Statist.* 49:1055).
The guarantee is exact for Gaussian outcomes with known variance and asymptotic with the
plug-in variance; ``min_samples`` per arm guards the first, noisy variance estimates.

All functions are vectorised: inputs may carry leading batch axes (many simulated streams),
with time on the last axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pytyche.classic._validation import check_positive, check_positive_int, check_probability
from pytyche.contracts import ClaimLevel

__all__ = ["SequentialResult", "always_valid_inference"]


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid monitoring path; every array has shape ``(..., n_visitors)``.

    Attributes
    ----------
    n_treatment, n_control
        Visitors seen so far per arm.
    estimate
        Difference in means, treatment − control (NaN before ``min_samples`` per arm).
    se
        Plug-in standard error sqrt(V_n).
    p_value
        Always-valid p-value (non-increasing; 1 before monitoring starts).
    ci_lower, ci_upper
        Running-intersection confidence sequence at level 1 − ``alpha``.
    alpha, mixture_sd
        The settings used.
    """

    n_treatment: np.ndarray
    n_control: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    p_value: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    alpha: float
    mixture_sd: float
    claim: ClaimLevel = ClaimLevel.OBSERVED

    def __repr__(self) -> str:
        shape = self.p_value.shape
        if len(shape) > 1:
            return f"SequentialResult(batch of {shape[:-1]} streams × {shape[-1]} visitors)"
        return (
            f"SequentialResult(after {shape[-1]} visitors: estimate={self.estimate[-1]:.4g}, "
            f"always-valid p={self.p_value[-1]:.3g}, "
            f"{100 * (1 - self.alpha):g}% CS [{self.ci_lower[-1]:.4g}, {self.ci_upper[-1]:.4g}])"
        )

    def rejected(self) -> np.ndarray:
        """Whether the null was rejected at level ``alpha`` at any time, shape ``(...)``."""
        return self.p_value[..., -1] < self.alpha

    def to_frame(self) -> pd.DataFrame:
        """The path of a single stream as a table (one row per visitor)."""
        if self.p_value.ndim != 1:
            raise ValueError("to_frame needs a single stream; index the batch first")
        return pd.DataFrame(
            {
                "n_treatment": self.n_treatment,
                "n_control": self.n_control,
                "estimate": self.estimate,
                "se": self.se,
                "p_value": self.p_value,
                "ci_lower": self.ci_lower,
                "ci_upper": self.ci_upper,
            }
        )


def _running_moments(values: np.ndarray, in_arm: np.ndarray) -> tuple[np.ndarray, ...]:
    """Running count, mean and unbiased variance of the values of one arm along the last axis."""
    shifted = np.where(in_arm, values - values[..., :1], 0.0)  # shift: stabler sums of squares
    count = np.cumsum(in_arm, axis=-1)
    total = np.cumsum(shifted, axis=-1)
    total_sq = np.cumsum(shifted**2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count + values[..., :1]
        variance = (total_sq - total**2 / count) / (count - 1)
    return count, mean, np.maximum(variance, 0.0)


def always_valid_inference(
    outcomes: np.ndarray,
    arms: np.ndarray,
    *,
    mixture_sd: float,
    alpha: float = 0.05,
    min_samples: int = 20,
) -> SequentialResult:
    """Always-valid p-values and confidence sequence for a difference in means.

    Parameters
    ----------
    outcomes
        Outcomes in arrival order, shape ``(..., n_visitors)``.
    arms
        0/1 arm of each visitor, same shape.
    mixture_sd
        Standard deviation τ of the normal mixing distribution over effects, in outcome
        units: the test is most powerful for effects of about this size.
    alpha
        Level of the confidence sequence (the p-values do not depend on it).
    min_samples
        Monitoring starts once each arm has this many visitors (guards the plug-in
        variance).

    Returns
    -------
    SequentialResult
        The whole monitoring path.
    """
    values = np.asarray(outcomes, dtype=float)
    arm_values = np.asarray(arms)
    if values.ndim == 0 or values.shape != arm_values.shape:
        raise ValueError(
            f"outcomes and arms must be arrays of the same shape, got {values.shape} "
            f"and {arm_values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("outcomes contain NaN or infinite values")
    if not np.all((arm_values == 0) | (arm_values == 1)):
        raise ValueError("arms must contain only 0 (control) and 1 (treatment)")
    tau = check_positive(mixture_sd, "mixture_sd")
    alpha = check_probability(alpha, "alpha")
    min_samples = check_positive_int(min_samples, "min_samples")
    if min_samples < 2:
        raise ValueError(f"min_samples must be at least 2, got {min_samples}")

    n1, mean1, var1 = _running_moments(values, arm_values == 1)
    n0, mean0, var0 = _running_moments(values, arm_values == 0)
    active = (n1 >= min_samples) & (n0 >= min_samples)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = np.where(active, mean1 - mean0, np.nan)
        variance = np.where(active, var1 / n1 + var0 / n0, np.nan)
        variance = np.where(variance > 0, variance, np.nan)
        tau2 = tau**2
        log_ratio = 0.5 * np.log(variance / (variance + tau2)) + tau2 * estimate**2 / (
            2 * variance * (variance + tau2)
        )
        half_width = np.sqrt(
            variance
            * (variance + tau2)
            / tau2
            * (np.log((variance + tau2) / variance) - 2 * np.log(alpha))
        )
    instant_p = np.where(np.isfinite(log_ratio), np.minimum(1.0, np.exp(-log_ratio)), 1.0)
    p_value = np.minimum.accumulate(instant_p, axis=-1)
    lower = np.fmax.accumulate(np.where(active, estimate - half_width, -np.inf), axis=-1)
    upper = np.fmin.accumulate(np.where(active, estimate + half_width, np.inf), axis=-1)
    return SequentialResult(
        n_treatment=n1,
        n_control=n0,
        estimate=estimate,
        se=np.sqrt(variance),
        p_value=p_value,
        ci_lower=lower,
        ci_upper=upper,
        alpha=alpha,
        mixture_sd=tau,
    )
