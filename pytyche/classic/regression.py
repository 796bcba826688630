"""Regression estimators of a treatment effect: OLS (naive and back-door) and IPW.

* :func:`ols_effect` — the treatment coefficient of ``Y ~ T + covariates`` with
  heteroskedasticity-robust standard errors (statsmodels OLS/WLS). Without covariates it is
  the naive difference in means; with the covariates of a back-door set it is the
  regression-adjusted effect, unbiased only when no unobserved confounder remains.
* :func:`propensity_scores` — logistic model P(indicator = 1 | covariates).
* :func:`ipw_effect` — Hájek inverse-probability-weighted average treatment effect.
* :func:`selection_weights` — 1 / P(selected | covariates) weights that re-weight a selected
  subpopulation (e.g. eligible users) back to the full population.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm

from pytyche.classic._validation import (
    binary_column,
    check_frame,
    check_probability,
    covariate_frame,
    numeric_column,
)
from pytyche.classic.results import EffectEstimate

__all__ = ["CovarianceType", "ipw_effect", "ols_effect", "propensity_scores", "selection_weights"]

CovarianceType = Literal["nonrobust", "HC0", "HC1", "HC2", "HC3"]
_COVARIANCE_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3")


def check_cov_type(cov_type: str, allowed: Sequence[str] = _COVARIANCE_TYPES) -> str:
    """Validate a covariance-type name."""
    if cov_type not in allowed:
        raise ValueError(f"cov_type must be one of {list(allowed)}, got {cov_type!r}")
    return cov_type


def check_weights(weights: np.ndarray | pd.Series | None, n_rows: int) -> np.ndarray | None:
    """Validate optional observation weights: finite, non-negative, one per row."""
    if weights is None:
        return None
    values = np.asarray(weights, dtype=float)
    if values.shape != (n_rows,):
        raise ValueError(f"weights must have one value per row ({n_rows}), got {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() == 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return values


def _formula(outcome: str, regressors: Sequence[str]) -> str:
    return f"{outcome} ~ " + " + ".join(regressors)


def ols_effect(
    frame: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] = (),
    *,
    weights: np.ndarray | pd.Series | None = None,
    cov_type: CovarianceType = "HC1",
    ci_level: float = 0.95,
) -> EffectEstimate:
    """Treatment coefficient of a linear regression of the outcome on treatment and covariates.

    Parameters
    ----------
    frame
        One row per unit.
    outcome
        Outcome column.
    treatment
        Treatment column (0/1 or a continuous dose).
    covariates
        Adjustment columns; categorical/string columns enter as dummies (first level
        dropped). Empty for the naive regression ``Y ~ T``.
    weights
        Optional observation weights (weighted least squares), one per row.
    cov_type
        Covariance estimator: ``"HC1"`` (default; White 1980 with the n/(n − k) correction,
        MacKinnon & White 1985) or ``"nonrobust"``, ``"HC0"``, ``"HC2"``, ``"HC3"``.
    ci_level
        Confidence level.

    Returns
    -------
    EffectEstimate
        Coefficient of ``treatment``; the method name spells out the regression.
    """
    frame = check_frame(frame)
    y = numeric_column(frame, outcome, "outcome")
    t = numeric_column(frame, treatment, "treatment")
    if isinstance(covariates, str):
        covariates = [covariates]
    if treatment in covariates or outcome in covariates:
        raise ValueError("covariates must not contain the outcome or treatment column")
    controls = covariate_frame(frame, covariates, "covariates")
    check_cov_type(cov_type)
    ci_level = check_probability(ci_level, "ci_level")
    w = check_weights(weights, len(frame))
    design = sm.add_constant(
        pd.concat([pd.DataFrame({treatment: t}, index=frame.index), controls], axis=1),
        has_constant="add",
    )
    model = sm.OLS(y, design) if w is None else sm.WLS(y, design, weights=w)
    fit = model.fit(cov_type=cov_type)
    lower, upper = fit.conf_int(alpha=1 - ci_level).loc[treatment]
    name = "WLS" if w is not None else "OLS"
    return EffectEstimate(
        method=f"{name}: {_formula(outcome, [treatment, *covariates])}",
        estimate=float(fit.params[treatment]),
        se=float(fit.bse[treatment]),
        ci=(float(lower), float(upper)),
        p_value=float(fit.pvalues[treatment]),
        n=int(fit.nobs),
        ci_level=ci_level,
    )


def propensity_scores(
    frame: pd.DataFrame,
    indicator: str,
    covariates: Sequence[str],
    *,
    clip: float = 1e-3,
) -> np.ndarray:
    """Logistic-regression estimate of P(indicator = 1 | covariates), shape ``(n_rows,)``.

    Parameters
    ----------
    frame
        One row per unit.
    indicator
        0/1 column (treatment, or selection such as eligibility).
    covariates
        Columns of the propensity model (categoricals as dummies), with an intercept.
    clip
        Scores are clipped to ``[clip, 1 − clip]`` so that no weight explodes.
    """
    frame = check_frame(frame)
    target = binary_column(frame, indicator, "indicator")
    if target.min() == target.max():
        raise ValueError(f"indicator: column '{indicator}' must contain both 0 and 1")
    controls = covariate_frame(frame, covariates, "covariates")
    if not 0 < clip < 0.5:
        raise ValueError(f"clip must lie in (0, 0.5), got {clip}")
    design = sm.add_constant(controls, has_constant="add")
    fit = sm.Logit(target, design).fit(disp=False)
    return np.clip(np.asarray(fit.predict(design)), clip, 1 - clip)


def selection_weights(
    frame: pd.DataFrame,
    selected: str,
    covariates: Sequence[str],
    *,
    clip: float = 1e-3,
) -> np.ndarray:
    """Inverse-probability-of-selection weights, shape ``(n_rows,)``.

    Rows with ``selected == 1`` get 1 / P(selected = 1 | covariates); the others get 0.
    Weighting the selected rows by these makes them stand in for the full population
    (Horvitz & Thompson 1952, *JASA* 47:663), provided selection depends on the covariates
    only.
    """
    scores = propensity_scores(frame, selected, covariates, clip=clip)
    chosen = frame[selected].to_numpy(dtype=float) == 1
    return np.where(chosen, 1.0 / scores, 0.0)


def ipw_effect(
    frame: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    *,
    clip: float = 1e-3,
    ci_level: float = 0.95,
) -> EffectEstimate:
    """Hájek inverse-probability-weighted estimate of the average treatment effect.

    Parameters
    ----------
    frame
        One row per unit.
    outcome
        Outcome column.
    treatment
        0/1 treatment column.
    covariates
        Propensity-model columns: must block every back-door path between treatment and
        outcome, otherwise the estimate stays biased.
    clip
        Propensity clipping bound.
    ci_level
        Confidence level.

    Notes
    -----
    With e(x) the logistic propensity, the estimate is the coefficient of T in a weighted
    regression of Y on T with weights T/e(x) + (1 − T)/(1 − e(x)), which equals the
    difference of the two normalised (Hájek) weighted means. The HC1 standard error treats
    the propensities as known; for the ATE this is conservative (Hirano, Imbens & Ridder
    2003, *Econometrica* 71:1161; Lunceford & Davidian 2004, *Stat. Med.* 23:2937).
    """
    frame = check_frame(frame)
    t = binary_column(frame, treatment, "treatment")
    scores = propensity_scores(frame, treatment, covariates, clip=clip)
    weights = t / scores + (1 - t) / (1 - scores)
    estimate = ols_effect(frame, outcome, treatment, (), weights=weights, ci_level=ci_level)
    adjusted_for = ", ".join(covariates)
    return replace(
        estimate, method=f"IPW (Hájek): {outcome} ~ {treatment}, propensity on {adjusted_for}"
    )
