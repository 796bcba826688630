"""Two-sample tests with confidence intervals: Welch's t-test and the two-proportion z-test.

Both report the difference *treatment − control* as an
:class:`~pytyche.classic.results.EffectEstimate`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from pytyche.classic._validation import check_positive_int, check_probability, finite_vector
from pytyche.classic.results import EffectEstimate

__all__ = ["proportion_test", "welch_t_test"]


def welch_statistics(treatment: np.ndarray, control: np.ndarray) -> tuple[float, float, float]:
    """Difference in means, its standard error and the Welch–Satterthwaite degrees of freedom.

    Internal helper on validated arrays (each with at least two values).
    """
    n1, n0 = treatment.size, control.size
    v1, v0 = treatment.var(ddof=1) / n1, control.var(ddof=1) / n0
    difference = float(treatment.mean() - control.mean())
    se = float(np.sqrt(v1 + v0))
    if v1 + v0 == 0:
        return difference, se, float(n1 + n0 - 2)
    dof = (v1 + v0) ** 2 / (v1**2 / (n1 - 1) + v0**2 / (n0 - 1))
    return difference, se, float(dof)


def welch_p_value(difference: float, se: float, dof: float) -> float:
    """Two-sided p-value of Welch's t statistic (1 or 0 when the standard error is 0)."""
    if se == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * stats.t.sf(abs(difference) / se, dof))


def welch_t_test(
    treatment: np.ndarray, control: np.ndarray, *, ci_level: float = 0.95
) -> EffectEstimate:
    """Welch's unequal-variance t-test of mean(treatment) − mean(control).

    Parameters
    ----------
    treatment, control
        Outcome values per arm, shape ``(n_arm,)``; at least two each.
    ci_level
        Confidence level of the interval.

    Returns
    -------
    EffectEstimate
        Difference in means with Welch standard error, t-based CI and two-sided p-value.

    Notes
    -----
    SE = sqrt(s₁²/n₁ + s₀²/n₀); degrees of freedom from the Welch–Satterthwaite equation
    (Welch 1947, *Biometrika* 34:28–35). Matches ``scipy.stats.ttest_ind(equal_var=False)``.
    """
    treatment = finite_vector(treatment, "treatment", min_length=2)
    control = finite_vector(control, "control", min_length=2)
    ci_level = check_probability(ci_level, "ci_level")
    difference, se, dof = welch_statistics(treatment, control)
    half_width = stats.t.ppf(0.5 + ci_level / 2, dof) * se
    return EffectEstimate(
        method="Welch t-test",
        estimate=difference,
        se=se,
        ci=(difference - half_width, difference + half_width),
        p_value=welch_p_value(difference, se, dof),
        n=treatment.size + control.size,
        ci_level=ci_level,
    )


def proportion_test(
    successes_treatment: int,
    n_treatment: int,
    successes_control: int,
    n_control: int,
    *,
    ci_level: float = 0.95,
    pooled_test: bool = True,
) -> EffectEstimate:
    """Two-proportion z-test of p_treatment − p_control with a Wald confidence interval.

    Parameters
    ----------
    successes_treatment, n_treatment, successes_control, n_control
        Conversions and visitors per arm.
    ci_level
        Confidence level of the (unpooled) Wald interval.
    pooled_test
        Use the pooled variance p̄(1 − p̄)(1/n₁ + 1/n₀) for the test statistic (the usual
        score-type test; default) or the unpooled variance. The test is two-sided.

    Returns
    -------
    EffectEstimate
        ``se`` is the unpooled standard error used for the interval.

    Notes
    -----
    Pooled z statistic: (p̂₁ − p̂₀) / sqrt(p̄(1 − p̄)(1/n₁ + 1/n₀)), p̄ = (x₁ + x₀)/(n₁ + n₀)
    (Fleiss, Levin & Paik 2003, *Statistical Methods for Rates and Proportions*, §4.4).
    Matches ``statsmodels.stats.proportion.proportions_ztest`` and the ``"wald"`` method of
    ``confint_proportions_2indep``.
    """
    n_treatment = check_positive_int(n_treatment, "n_treatment")
    n_control = check_positive_int(n_control, "n_control")
    for name, successes, total in (
        ("successes_treatment", successes_treatment, n_treatment),
        ("successes_control", successes_control, n_control),
    ):
        if isinstance(successes, bool) or not isinstance(successes, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(successes).__name__}")
        if not 0 <= successes <= total:
            raise ValueError(f"{name} must lie in [0, {total}], got {successes}")
    ci_level = check_probability(ci_level, "ci_level")
    p1, p0 = successes_treatment / n_treatment, successes_control / n_control
    difference = p1 - p0
    se_unpooled = float(np.sqrt(p1 * (1 - p1) / n_treatment + p0 * (1 - p0) / n_control))
    if pooled_test:
        pooled = (successes_treatment + successes_control) / (n_treatment + n_control)
        se_test = float(np.sqrt(pooled * (1 - pooled) * (1 / n_treatment + 1 / n_control)))
    else:
        se_test = se_unpooled
    if se_test == 0:
        p_value = 1.0 if difference == 0 else 0.0
    else:
        p_value = float(2 * stats.norm.sf(abs(difference) / se_test))
    z = stats.norm.ppf(0.5 + ci_level / 2)
    return EffectEstimate(
        method="two-proportion z-test",
        estimate=float(difference),
        se=se_unpooled,
        ci=(float(difference - z * se_unpooled), float(difference + z * se_unpooled)),
        p_value=p_value,
        n=n_treatment + n_control,
        ci_level=ci_level,
    )
