"""CUPED: variance reduction with a pre-experiment covariate.

Deng, Xu, Kohavi & Walker (2013), "Improving the sensitivity of online controlled
experiments by utilizing pre-experiment data", *WSDM*. For an outcome Y and a covariate X
measured before assignment, the adjusted outcome

    Y* = Y − θ (X − mean(X)),   θ = Cov(Y, X) / Var(X),

has the same expected treatment–control difference as Y (X is independent of the
assignment) and variance Var(Y)(1 − ρ²), ρ = Corr(Y, X). θ is estimated on both arms
pooled, which keeps the adjustment identical for the two arms.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from pytyche.classic._validation import (
    binary_column,
    check_frame,
    check_probability,
    finite_vector,
    numeric_column,
)
from pytyche.classic.hypothesis_tests import welch_t_test
from pytyche.classic.results import CupedResult

__all__ = ["cuped_adjust", "cuped_test", "cuped_theta"]


def _paired(outcome: np.ndarray, covariate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outcome = finite_vector(outcome, "outcome", min_length=2)
    covariate = finite_vector(covariate, "covariate", min_length=2)
    if outcome.size != covariate.size:
        raise ValueError(
            f"outcome and covariate must have the same length, got {outcome.size} "
            f"and {covariate.size}"
        )
    if covariate.var() == 0:
        raise ValueError("covariate is constant: CUPED needs a covariate that varies")
    return outcome, covariate


def cuped_theta(outcome: np.ndarray, covariate: np.ndarray) -> float:
    """The CUPED coefficient θ = Cov(Y, X) / Var(X), shape-``(n,)`` inputs."""
    outcome, covariate = _paired(outcome, covariate)
    return float(np.cov(outcome, covariate, ddof=1)[0, 1] / covariate.var(ddof=1))


def cuped_adjust(
    outcome: np.ndarray, covariate: np.ndarray, theta: float | None = None
) -> np.ndarray:
    """The adjusted outcome Y − θ (X − mean(X)), shape ``(n,)``.

    Parameters
    ----------
    outcome, covariate
        Outcome Y and pre-period covariate X per unit.
    theta
        Coefficient to use; estimated by :func:`cuped_theta` when omitted.
    """
    outcome, covariate = _paired(outcome, covariate)
    if theta is None:
        theta = cuped_theta(outcome, covariate)
    elif not np.isfinite(theta):
        raise ValueError(f"theta must be finite, got {theta}")
    return outcome - theta * (covariate - covariate.mean())


def cuped_test(
    frame: pd.DataFrame,
    outcome: str,
    covariate: str,
    arm: str,
    *,
    ci_level: float = 0.95,
) -> CupedResult:
    """Welch comparison of arms on the CUPED-adjusted outcome.

    Parameters
    ----------
    frame
        One row per unit.
    outcome
        Outcome column.
    covariate
        Pre-experiment covariate column (must not be affected by the treatment).
    arm
        0/1 assignment column.
    ci_level
        Confidence level.

    Returns
    -------
    CupedResult
        Adjusted and unadjusted Welch estimates, θ, and the variance reduction
        ``1 − SE²_adjusted / SE²_unadjusted`` of the difference in means (≈ ρ²).
    """
    frame = check_frame(frame)
    y = numeric_column(frame, outcome, "outcome")
    x = numeric_column(frame, covariate, "covariate")
    arms = binary_column(frame, arm, "arm")
    ci_level = check_probability(ci_level, "ci_level")
    treated = arms == 1
    if treated.sum() < 2 or (~treated).sum() < 2:
        raise ValueError(f"arm: column '{arm}' needs at least two units in each arm")
    theta = cuped_theta(y, x)
    adjusted_outcome = cuped_adjust(y, x, theta)
    raw = welch_t_test(y[treated], y[~treated], ci_level=ci_level)
    adjusted = welch_t_test(
        adjusted_outcome[treated], adjusted_outcome[~treated], ci_level=ci_level
    )
    return CupedResult(
        adjusted=replace(adjusted, method="CUPED Welch t-test"),
        unadjusted=raw,
        theta=theta,
        variance_reduction=float(1 - adjusted.se**2 / raw.se**2),
    )
