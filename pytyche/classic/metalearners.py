"""Meta-learners for heterogeneous treatment effects: T-, S- and X-learner.

Each learner turns any scikit-learn regressor into a CATE estimator τ̂(x) = E[Y(1) − Y(0) | x]
(Künzel, Sekhon, Bickel & Yu 2019, "Metalearners for estimating heterogeneous treatment
effects using machine learning", *PNAS* 116:4156):

* **T-learner** — one outcome model per arm, τ̂(x) = μ̂₁(x) − μ̂₀(x).
* **S-learner** — one model m(x, t) with the treatment as a feature, τ̂(x) = m(x, 1) − m(x, 0).
* **X-learner** — imputed effects D₁ = Y − μ̂₀(X) on the treated and D₀ = μ̂₁(X) − Y on the
  controls, each regressed on x, blended as τ̂(x) = g(x) τ̂₀(x) + (1 − g(x)) τ̂₁(x) with g
  the propensity score.

The estimates are causal only if treatment is unconfounded given the features (true in a
randomised experiment); on observational data with an unobserved confounder they inherit
its bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from pytyche.classic._validation import check_probability, finite_vector
from pytyche.contracts import ClaimLevel

__all__ = ["MetaLearnerFit", "fit_s_learner", "fit_t_learner", "fit_x_learner"]

LearnerName = Literal["T-learner", "S-learner", "X-learner"]


def _feature_matrix(features: pd.DataFrame | np.ndarray, argument: str = "features") -> np.ndarray:
    if isinstance(features, pd.DataFrame):
        non_numeric = [
            c
            for c in features.columns
            if not (
                pd.api.types.is_numeric_dtype(features[c])
                or pd.api.types.is_bool_dtype(features[c])
            )
            or isinstance(features[c].dtype, pd.CategoricalDtype)
        ]
        if non_numeric:
            raise TypeError(
                f"{argument}: column(s) {non_numeric} are not numeric; encode them first "
                "(e.g. pandas.get_dummies)"
            )
        matrix = features.to_numpy(dtype=float)
    else:
        matrix = np.asarray(features, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{argument} must be a non-empty 2-D table, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{argument} contain NaN or infinite values")
    return matrix


def _training_data(
    features: pd.DataFrame | np.ndarray, outcome: np.ndarray, treatment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _feature_matrix(features)
    y = finite_vector(outcome, "outcome")
    t = finite_vector(treatment, "treatment")
    if not (y.size == t.size == x.shape[0]):
        raise ValueError(
            f"features, outcome and treatment must have the same number of rows, got "
            f"{x.shape[0]}, {y.size} and {t.size}"
        )
    if not np.all((t == 0) | (t == 1)):
        raise ValueError("treatment must contain only 0 and 1")
    if min(t.sum(), (1 - t).sum()) < 2:
        raise ValueError("treatment needs at least two units in each arm")
    return x, y, t == 1


def _regressor(regressor: Any | None) -> RegressorMixin:
    if regressor is None:
        return HistGradientBoostingRegressor(random_state=0)
    if not (hasattr(regressor, "fit") and hasattr(regressor, "predict")):
        raise TypeError("regressor must be a scikit-learn style estimator with fit and predict")
    return clone(regressor)


@dataclass(frozen=True)
class MetaLearnerFit:
    """A fitted meta-learner. Use :meth:`predict_cate` on new features.

    Attributes
    ----------
    learner
        ``"T-learner"``, ``"S-learner"`` or ``"X-learner"``.
    models
        The fitted scikit-learn models, by role (e.g. ``"treated"``, ``"control"``).
    n_features
        Number of feature columns the models were trained on.
    constant_propensity
        For the X-learner with a known assignment probability; otherwise ``None`` and a
        fitted ``"propensity"`` model is in ``models``.
    """

    learner: LearnerName
    models: dict[str, Any]
    n_features: int
    constant_propensity: float | None = None
    claim: ClaimLevel = ClaimLevel.OBSERVED

    def __repr__(self) -> str:
        roles = ", ".join(f"{k}={type(v).__name__}" for k, v in self.models.items())
        return f"MetaLearnerFit({self.learner}, {self.n_features} features: {roles})"

    def predict_cate(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Estimated CATE τ̂(x) per row, shape ``(n_rows,)`` in outcome units."""
        x = _feature_matrix(features)
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"features must have {self.n_features} columns (as in training), got {x.shape[1]}"
            )
        if self.learner == "T-learner":
            return self.models["treated"].predict(x) - self.models["control"].predict(x)
        if self.learner == "S-learner":
            model = self.models["joint"]
            ones, zeros = np.ones((x.shape[0], 1)), np.zeros((x.shape[0], 1))
            return model.predict(np.hstack([x, ones])) - model.predict(np.hstack([x, zeros]))
        if self.constant_propensity is not None:
            propensity = np.full(x.shape[0], self.constant_propensity)
        else:
            propensity = self.models["propensity"].predict_proba(x)[:, 1]
        effect_from_controls = self.models["effect_control"].predict(x)
        effect_from_treated = self.models["effect_treated"].predict(x)
        return propensity * effect_from_controls + (1 - propensity) * effect_from_treated


def fit_t_learner(
    features: pd.DataFrame | np.ndarray,
    outcome: np.ndarray,
    treatment: np.ndarray,
    regressor: Any | None = None,
) -> MetaLearnerFit:
    """Fit a T-learner: separate outcome regressions for treated and control units.

    Parameters
    ----------
    features
        Numeric features, shape ``(n, p)`` (encode categoricals first).
    outcome
        Outcome per unit, shape ``(n,)``.
    treatment
        0/1 treatment per unit, shape ``(n,)``.
    regressor
        Any scikit-learn regressor (cloned, never mutated); default
        ``HistGradientBoostingRegressor(random_state=0)``.
    """
    x, y, treated = _training_data(features, outcome, treatment)
    base = _regressor(regressor)
    models = {
        "treated": clone(base).fit(x[treated], y[treated]),
        "control": clone(base).fit(x[~treated], y[~treated]),
    }
    return MetaLearnerFit("T-learner", models, x.shape[1])


def fit_s_learner(
    features: pd.DataFrame | np.ndarray,
    outcome: np.ndarray,
    treatment: np.ndarray,
    regressor: Any | None = None,
) -> MetaLearnerFit:
    """Fit an S-learner: one regression of the outcome on features plus the treatment flag.

    Parameters are as in :func:`fit_t_learner`. With strongly regularised models the
    S-learner can shrink the effect towards zero, since the treatment is just one feature.
    """
    x, y, treated = _training_data(features, outcome, treatment)
    joint = _regressor(regressor).fit(np.hstack([x, treated[:, None].astype(float)]), y)
    return MetaLearnerFit("S-learner", {"joint": joint}, x.shape[1])


def fit_x_learner(
    features: pd.DataFrame | np.ndarray,
    outcome: np.ndarray,
    treatment: np.ndarray,
    regressor: Any | None = None,
    *,
    propensity: float | None = None,
) -> MetaLearnerFit:
    """Fit an X-learner (Künzel et al. 2019).

    Parameters
    ----------
    features, outcome, treatment, regressor
        As in :func:`fit_t_learner`.
    propensity
        Known assignment probability P(T = 1) of a randomised experiment. When omitted, a
        logistic regression of the treatment on the features estimates g(x).
    """
    x, y, treated = _training_data(features, outcome, treatment)
    base = _regressor(regressor)
    outcome_treated = clone(base).fit(x[treated], y[treated])
    outcome_control = clone(base).fit(x[~treated], y[~treated])
    imputed_treated = y[treated] - outcome_control.predict(x[treated])
    imputed_control = outcome_treated.predict(x[~treated]) - y[~treated]
    models: dict[str, Any] = {
        "outcome_treated": outcome_treated,
        "outcome_control": outcome_control,
        "effect_treated": clone(base).fit(x[treated], imputed_treated),
        "effect_control": clone(base).fit(x[~treated], imputed_control),
    }
    if propensity is None:
        models["propensity"] = LogisticRegression(max_iter=1000).fit(x, treated)
    else:
        propensity = check_probability(propensity, "propensity")
    return MetaLearnerFit("X-learner", models, x.shape[1], constant_propensity=propensity)
