"""Two-stage least squares (2SLS) with a first-stage F statistic, optionally IPW-weighted.

Model: Y = α + τ T + δᵀW + ε with T endogenous (correlated with ε through an unobserved
confounder), W exogenous covariates and instruments Z that move T but affect Y only
through T. 2SLS regresses Y on the first-stage projection of T on (1, Z, W).

Standard errors are computed from the *structural* residuals Y − α̂ − τ̂T − δ̂ᵀW, not from
the residuals of the naive second-stage regression on the fitted T̂ (which would understate
or overstate the error variance; Wooldridge 2010, *Econometric Analysis of Cross Section and
Panel Data*, §5.2). With observation weights w (e.g. inverse selection probabilities) both
stages are weighted least squares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from pytyche.classic._validation import (
    binary_column,
    check_frame,
    check_probability,
    covariate_frame,
    numeric_column,
)
from pytyche.classic.regression import check_cov_type, check_weights, selection_weights
from pytyche.classic.results import EffectEstimate, InstrumentalResult

__all__ = ["ipw_two_stage_least_squares", "two_stage_least_squares"]

IVCovarianceType = Literal["nonrobust", "HC0", "HC1"]


def _sandwich(
    bread: np.ndarray, regressors: np.ndarray, residuals: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """HC0 sandwich bread · Σ wᵢ² uᵢ² xᵢxᵢᵀ · bread (White 1980)."""
    scores = regressors * (weights * residuals)[:, None]
    return bread @ (scores.T @ scores) @ bread


def _wls_with_cov(
    y: np.ndarray, x: np.ndarray, weights: np.ndarray, cov_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares coefficients and their covariance."""
    xtw = x.T * weights
    bread = np.linalg.inv(xtw @ x)
    coefficients = bread @ (xtw @ y)
    residuals = y - x @ coefficients
    return coefficients, _covariance(bread, x, residuals, weights, cov_type)


def _covariance(
    bread: np.ndarray, x: np.ndarray, residuals: np.ndarray, weights: np.ndarray, cov_type: str
) -> np.ndarray:
    n, k = x.shape
    if cov_type == "nonrobust":
        sigma2 = float(np.sum(weights * residuals**2) / (n - k))
        return sigma2 * bread
    covariance = _sandwich(bread, x, residuals, weights)
    return covariance * n / (n - k) if cov_type == "HC1" else covariance


def _fit_two_stages(
    y: np.ndarray,
    t: np.ndarray,
    z: np.ndarray,
    controls: np.ndarray,
    w: np.ndarray,
    cov_type: str,
) -> tuple[float, float, float, np.ndarray]:
    """Treatment coefficient, its SE, the first-stage F and the instruments' coefficients."""
    intercept = np.ones((y.size, 1))
    first_design = np.hstack([intercept, z, controls])
    regressors = np.hstack([intercept, t[:, None], controls])
    if np.linalg.matrix_rank(first_design) < first_design.shape[1]:
        raise ValueError("instruments and covariates are collinear: the first stage is singular")
    if y.size <= regressors.shape[1] + z.shape[1]:
        raise ValueError("too few rows for the number of instruments and covariates")

    first_coefficients, first_covariance = _wls_with_cov(t, first_design, w, cov_type)
    slot = slice(1, 1 + z.shape[1])
    pi, pi_cov = first_coefficients[slot], first_covariance[slot, slot]
    first_stage_f = float(pi @ np.linalg.solve(pi_cov, pi) / pi.size)

    projected = np.hstack([intercept, (first_design @ first_coefficients)[:, None], controls])
    bread = np.linalg.inv((projected.T * w) @ projected)
    beta = bread @ ((projected.T * w) @ y)
    structural_residuals = y - regressors @ beta  # actual T, not the fitted one
    covariance = _covariance(bread, projected, structural_residuals, w, cov_type)
    return float(beta[1]), float(np.sqrt(covariance[1, 1])), first_stage_f, pi


def two_stage_least_squares(
    frame: pd.DataFrame,
    outcome: str,
    treatment: str,
    instruments: str | Sequence[str],
    covariates: Sequence[str] = (),
    *,
    weights: np.ndarray | pd.Series | None = None,
    cov_type: IVCovarianceType = "HC1",
    ci_level: float = 0.95,
) -> InstrumentalResult:
    """2SLS estimate of the effect of an endogenous treatment, with first-stage diagnostics.

    Parameters
    ----------
    frame
        One row per unit.
    outcome
        Outcome column Y.
    treatment
        Endogenous treatment column T (0/1 or a dose).
    instruments
        Excluded instrument column(s) Z.
    covariates
        Exogenous covariates W used in both stages (categoricals as dummies).
    weights
        Optional observation weights, one per row (weighted 2SLS).
    cov_type
        ``"HC1"`` (default), ``"HC0"`` or ``"nonrobust"``.
    ci_level
        Confidence level (normal-approximation interval).

    Returns
    -------
    InstrumentalResult
        The treatment coefficient and the first-stage Wald F statistic of the instruments.
        With one instrument, F is the squared first-stage t statistic. F > 10 is the usual
        strong-instrument rule (Staiger & Stock 1997, *Econometrica* 65:557).

    Notes
    -----
    With X = (1, T, W), Z̃ = (1, Z, W) and weight matrix Ω = diag(w), the projection is
    X̂ = Z̃ (Z̃ᵀΩZ̃)⁻¹ Z̃ᵀΩX and τ̂ is the T entry of (X̂ᵀΩX̂)⁻¹ X̂ᵀΩY. Its covariance uses
    the structural residuals u = Y − Xβ̂: σ̂²(X̂ᵀΩX̂)⁻¹ (nonrobust) or the sandwich
    (X̂ᵀΩX̂)⁻¹ (Σ wᵢ² uᵢ² x̂ᵢx̂ᵢᵀ) (X̂ᵀΩX̂)⁻¹, times n/(n − k) for HC1.
    """
    frame = check_frame(frame)
    instrument_names = [instruments] if isinstance(instruments, str) else list(instruments)
    if not instrument_names:
        raise ValueError("instruments must name at least one column")
    if isinstance(covariates, str):
        covariates = [covariates]
    overlap = {outcome, treatment} & set(instrument_names + list(covariates))
    overlap |= set(instrument_names) & set(covariates)
    if overlap:
        raise ValueError(
            f"outcome, treatment, instruments and covariates must be distinct; {sorted(overlap)} "
            "appear in more than one role"
        )
    y = numeric_column(frame, outcome, "outcome")
    t = numeric_column(frame, treatment, "treatment")
    z = np.column_stack([numeric_column(frame, c, "instruments") for c in instrument_names])
    controls = covariate_frame(frame, covariates, "covariates").to_numpy()
    check_cov_type(cov_type, ("nonrobust", "HC0", "HC1"))
    ci_level = check_probability(ci_level, "ci_level")
    w = check_weights(weights, len(frame))
    keep = np.ones(len(frame), dtype=bool) if w is None else w > 0
    w = np.ones(len(frame)) if w is None else w
    y, t, z, controls, w = y[keep], t[keep], z[keep], controls[keep], w[keep]

    estimate, se, first_stage_f, pi = _fit_two_stages(y, t, z, controls, w, cov_type)
    label = "weighted 2SLS" if weights is not None else "2SLS"
    regressors_named = " + ".join([treatment, *covariates])
    effect = EffectEstimate.from_normal(
        method=f"{label}: {outcome} ~ {regressors_named} | instruments {instrument_names}",
        estimate=estimate,
        se=se,
        n=int(y.size),
        ci_level=ci_level,
    )
    return InstrumentalResult(
        effect=effect,
        first_stage_f=first_stage_f,
        first_stage_coefficients=dict(zip(instrument_names, map(float, pi), strict=True)),
    )


def ipw_two_stage_least_squares(
    frame: pd.DataFrame,
    outcome: str,
    treatment: str,
    instruments: str | Sequence[str],
    covariates: Sequence[str],
    *,
    selected: str,
    selection_covariates: Sequence[str] | None = None,
    clip: float = 1e-3,
    cov_type: IVCovarianceType = "HC1",
    ci_level: float = 0.95,
) -> InstrumentalResult:
    """2SLS on a selected subpopulation, re-weighted to the full population by IPW.

    A logistic model of P(``selected`` = 1 | ``selection_covariates``) is fitted on all rows;
    the selected rows are then analysed by weighted 2SLS with weights 1/P. This corrects
    selection on observables (e.g. analysing only eligible users) but not selection on
    unobservables, and 2SLS still estimates the effect for instrument compliers.

    Parameters
    ----------
    frame
        All units, selected or not.
    outcome, treatment, instruments, covariates
        As in :func:`two_stage_least_squares`.
    selected
        0/1 column marking the analysed subpopulation (e.g. ``"E"`` for eligibility).
    selection_covariates
        Columns of the selection model; default ``covariates``.
    clip
        Propensity clipping bound.
    cov_type, ci_level
        As in :func:`two_stage_least_squares`; weights are treated as known.
    """
    frame = check_frame(frame)
    chosen = binary_column(frame, selected, "selected") == 1
    if chosen.sum() == 0:
        raise ValueError(f"selected: column '{selected}' marks no rows")
    model_columns = list(covariates) if selection_covariates is None else selection_covariates
    weights = selection_weights(frame, selected, model_columns, clip=clip)
    return two_stage_least_squares(
        frame,
        outcome,
        treatment,
        instruments,
        covariates,
        weights=weights,
        cov_type=cov_type,
        ci_level=ci_level,
    )
