"""Power, sample size and minimum detectable effect for two-arm tests, analytic and simulated.

Analytic functions use the normal approximation to the two-sided test at level α, counting
both rejection tails, and accept a CUPED variance-reduction share r (the variance of the
analysed outcome is multiplied by 1 − r; r ≈ ρ² between outcome and pre-period covariate).
The three quantities are exact numerical inverses of one another: ``sample_size_*`` returns
the smallest integer arm size whose power reaches the target, and ``mde_*`` the effect whose
power equals the target at the given size.

:func:`simulated_power` estimates a power curve for any simulator and any test by Monte
Carlo, with its binomial standard error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from pytyche.classic._validation import (
    check_positive,
    check_positive_int,
    check_probability,
    check_variance_reduction,
)
from pytyche.classic.results import EffectEstimate

__all__ = [
    "mde_means",
    "mde_proportions",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
    "simulated_power",
]

_MAX_SAMPLE_SIZE = 10**12


def _two_sided_power(effect: float, se_null: float, se_alt: float, alpha: float) -> float:
    """P(|estimate| / se_null > z_{1−α/2}) when estimate ~ N(effect, se_alt²)."""
    z = stats.norm.ppf(1 - alpha / 2)
    shift = abs(effect)
    upper = stats.norm.sf((z * se_null - shift) / se_alt)
    lower = stats.norm.cdf((-z * se_null - shift) / se_alt)
    return float(upper + lower)


def _check_common(ratio: float, alpha: float, variance_reduction: float) -> tuple[float, ...]:
    return (
        check_positive(ratio, "ratio"),
        check_probability(alpha, "alpha"),
        check_variance_reduction(variance_reduction),
    )


def _check_effect(effect: float, *, allow_zero: bool = False) -> None:
    if isinstance(effect, bool) or not isinstance(effect, (int, float, np.floating, np.integer)):
        raise TypeError(f"effect must be a number, got {type(effect).__name__}")
    if not np.isfinite(effect) or (effect == 0 and not allow_zero):
        raise ValueError(f"effect must be a finite non-zero number, got {effect}")


def _smallest_n(power_at: Callable[[float], float], target: float, argument: str) -> int:
    """Smallest integer n ≥ 2 with ``power_at(n) >= target`` (power increasing in n)."""
    if power_at(2) >= target:
        return 2
    high = 4.0
    while power_at(high) < target:
        high *= 4
        if high > _MAX_SAMPLE_SIZE:
            raise ValueError(f"{argument}: the target power needs more than 1e12 units per arm")
    root = optimize.brentq(lambda n: power_at(n) - target, 2.0, high, xtol=1e-6)
    n = max(2, int(np.floor(root)))
    while power_at(n) < target:
        n += 1
    return n


# ---------------------------------------------------------------------------- means


def power_means(
    effect: float,
    sd: float,
    n_treatment: float,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
) -> float:
    """Power of the two-sided two-sample test of a difference in means.

    Parameters
    ----------
    effect
        True difference in means (outcome units).
    sd
        Outcome standard deviation, assumed equal in both arms.
    n_treatment
        Units in the treatment arm (non-integer sizes are allowed, for planning); the
        control arm has ``ratio × n_treatment``.
    ratio
        Control-to-treatment size ratio.
    alpha
        Two-sided significance level.
    variance_reduction
        CUPED variance-reduction share in [0, 1); the outcome variance becomes
        ``sd² (1 − variance_reduction)``.

    Notes
    -----
    With SE = sd·sqrt(1 − r)·sqrt(1/n₁ + 1/n₀) and z = Φ⁻¹(1 − α/2),
    power = Φ(|δ|/SE − z) + Φ(−|δ|/SE − z) (Chow, Shao & Wang 2008, *Sample Size
    Calculations in Clinical Research*, §3.2). Agrees with
    ``statsmodels.stats.power.NormalIndPower``.
    """
    check_positive(sd, "sd")
    n_treatment = check_positive(n_treatment, "n_treatment")
    ratio, alpha, variance_reduction = _check_common(ratio, alpha, variance_reduction)
    _check_effect(effect, allow_zero=True)
    se = sd * np.sqrt(1 - variance_reduction) * np.sqrt(1 / n_treatment + 1 / (ratio * n_treatment))
    return _two_sided_power(effect, se, se, alpha)


def sample_size_means(
    effect: float,
    sd: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
) -> int:
    """Smallest treatment-arm size whose :func:`power_means` reaches ``power``.

    The control arm needs ``ceil(ratio × n_treatment)`` units.
    """
    _check_effect(effect)
    check_positive(sd, "sd")
    power = check_probability(power, "power")
    ratio, alpha, variance_reduction = _check_common(ratio, alpha, variance_reduction)
    if power <= alpha:
        raise ValueError(f"power must exceed alpha ({alpha}), got {power}")
    return _smallest_n(
        lambda n: power_means(
            effect, sd, n, ratio=ratio, alpha=alpha, variance_reduction=variance_reduction
        ),
        power,
        "effect",
    )


def mde_means(
    sd: float,
    n_treatment: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
) -> float:
    """Minimum detectable effect: the positive δ with ``power_means(δ, ...) == power``."""
    check_positive(sd, "sd")
    check_positive(n_treatment, "n_treatment")
    power = check_probability(power, "power")
    ratio, alpha, variance_reduction = _check_common(ratio, alpha, variance_reduction)
    if power <= alpha:
        raise ValueError(f"power must exceed alpha ({alpha}), got {power}")
    se = sd * np.sqrt(1 - variance_reduction) * np.sqrt(1 / n_treatment + 1 / (ratio * n_treatment))
    return float(
        optimize.brentq(
            lambda d: (
                power_means(
                    d,
                    sd,
                    n_treatment,
                    ratio=ratio,
                    alpha=alpha,
                    variance_reduction=variance_reduction,
                )
                - power
            ),
            0.0,
            20 * se,
            xtol=1e-12 * se,
        )
    )


# ---------------------------------------------------------------------------- proportions


def _proportion_ses(
    p_control: float, p_treatment: float, n_treatment: float, ratio: float, reduction: float
) -> tuple[float, float]:
    n_control = ratio * n_treatment
    pooled = (n_treatment * p_treatment + n_control * p_control) / (n_treatment + n_control)
    scale = np.sqrt(1 - reduction)
    se_null = scale * np.sqrt(pooled * (1 - pooled) * (1 / n_treatment + 1 / n_control))
    se_alt = scale * np.sqrt(
        p_treatment * (1 - p_treatment) / n_treatment + p_control * (1 - p_control) / n_control
    )
    return float(se_null), float(se_alt)


def power_proportions(
    p_control: float,
    p_treatment: float,
    n_treatment: float,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
) -> float:
    """Power of the two-sided pooled two-proportion z-test.

    Parameters
    ----------
    p_control, p_treatment
        True conversion rates, in (0, 1).
    n_treatment
        Units in the treatment arm; the control arm has ``ratio × n_treatment``.
    ratio, alpha, variance_reduction
        As in :func:`power_means`.

    Notes
    -----
    Null SE from the pooled rate p̄, alternative SE unpooled:
    power = Φ((|Δ| − z·SE₀)/SE₁) + Φ((−|Δ| − z·SE₀)/SE₁) (Fleiss, Levin & Paik 2003, §4.2),
    the power of :func:`~pytyche.classic.hypothesis_tests.proportion_test`.
    """
    p_control = check_probability(p_control, "p_control")
    p_treatment = check_probability(p_treatment, "p_treatment")
    n_treatment = check_positive(n_treatment, "n_treatment")
    ratio, alpha, variance_reduction = _check_common(ratio, alpha, variance_reduction)
    se_null, se_alt = _proportion_ses(
        p_control, p_treatment, n_treatment, ratio, variance_reduction
    )
    return _two_sided_power(p_treatment - p_control, se_null, se_alt, alpha)


def sample_size_proportions(
    p_control: float,
    p_treatment: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
) -> int:
    """Smallest treatment-arm size whose :func:`power_proportions` reaches ``power``."""
    p_control = check_probability(p_control, "p_control")
    p_treatment = check_probability(p_treatment, "p_treatment")
    if p_control == p_treatment:
        raise ValueError("p_treatment must differ from p_control to have an effect to detect")
    power = check_probability(power, "power")
    ratio, alpha, variance_reduction = _check_common(ratio, alpha, variance_reduction)
    if power <= alpha:
        raise ValueError(f"power must exceed alpha ({alpha}), got {power}")
    return _smallest_n(
        lambda n: power_proportions(
            p_control,
            p_treatment,
            n,
            ratio=ratio,
            alpha=alpha,
            variance_reduction=variance_reduction,
        ),
        power,
        "p_treatment",
    )


def mde_proportions(
    p_control: float,
    n_treatment: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
) -> float:
    """Minimum detectable absolute lift Δ > 0 (``p_treatment = p_control + Δ``).

    Raises ``ValueError`` when even ``p_treatment → 1`` cannot reach ``power``.
    """
    p_control = check_probability(p_control, "p_control")
    check_positive(n_treatment, "n_treatment")
    power = check_probability(power, "power")
    ratio, alpha, variance_reduction = _check_common(ratio, alpha, variance_reduction)
    if power <= alpha:
        raise ValueError(f"power must exceed alpha ({alpha}), got {power}")

    def gap(lift: float) -> float:
        return (
            power_proportions(
                p_control,
                p_control + lift,
                n_treatment,
                ratio=ratio,
                alpha=alpha,
                variance_reduction=variance_reduction,
            )
            - power
        )

    largest = (1 - p_control) * (1 - 1e-9)
    if gap(largest) < 0:
        raise ValueError(
            f"n_treatment={n_treatment} is too small to reach power {power} at any lift"
        )
    return float(optimize.brentq(gap, 1e-12, largest, xtol=1e-12))


# ---------------------------------------------------------------------------- simulation


def simulated_power(
    simulate: Callable[[np.random.Generator, int], Any],
    test: Callable[[Any], float | EffectEstimate],
    sample_sizes: Sequence[int],
    *,
    n_simulations: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Monte Carlo power curve for any data simulator and any test.

    Parameters
    ----------
    simulate
        ``simulate(rng, n) -> data``: one simulated experiment of size ``n`` (what ``n``
        means — units per arm or in total — is up to the simulator).
    test
        ``test(data) -> p_value`` or an :class:`EffectEstimate` (its ``p_value`` is used).
    sample_sizes
        Sizes at which to estimate power.
    n_simulations
        Simulated experiments per size.
    alpha
        Rejection threshold for the p-value.
    seed
        Seed; each size gets its own stream derived from ``(seed, n)``, so the estimate at
        one size does not depend on which other sizes are requested.

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``power`` (share of p-values < α), ``mc_se`` (binomial standard error
        sqrt(power(1 − power)/n_simulations)) and ``n_simulations``.
    """
    if not callable(simulate):
        raise TypeError("simulate must be a callable simulate(rng, n) -> data")
    if not callable(test):
        raise TypeError("test must be a callable test(data) -> p-value")
    sizes = [check_positive_int(n, "sample_sizes") for n in sample_sizes]
    if not sizes:
        raise ValueError("sample_sizes must contain at least one size")
    n_simulations = check_positive_int(n_simulations, "n_simulations")
    alpha = check_probability(alpha, "alpha")
    rows = []
    for n in sizes:
        rng = np.random.default_rng(np.random.SeedSequence([seed, n]))
        rejections = 0
        for _ in range(n_simulations):
            outcome = test(simulate(rng, n))
            p_value = outcome.p_value if isinstance(outcome, EffectEstimate) else float(outcome)
            rejections += p_value < alpha
        share = rejections / n_simulations
        rows.append(
            {
                "n": n,
                "power": share,
                "mc_se": float(np.sqrt(share * (1 - share) / n_simulations)),
                "n_simulations": n_simulations,
            }
        )
    return pd.DataFrame(rows)
