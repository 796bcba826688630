"""Meta-learners recover a planted linear CATE; ROI curves and cohort summaries."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression

from pytyche.classic import (
    cate_by_cohort,
    cate_heatmap,
    fit_s_learner,
    fit_t_learner,
    fit_x_learner,
    roi_curve,
)


def _planted(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Randomised experiment with τ(x) = 1 + 1.5 x₁ − x₂ and a non-linear baseline."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    cate = 1.0 + 1.5 * features["x1"] - features["x2"]
    treatment = rng.binomial(1, 0.5, size=n)
    baseline = 2.0 + features["x3"] + np.sin(2 * features["x4"])
    outcome = baseline + cate * treatment + rng.normal(size=n)
    return features, outcome.to_numpy(), treatment, cate.to_numpy()


# A small boosted model keeps the default suite fast; the default regressor is tested below.
BOOSTING = HistGradientBoostingRegressor(
    max_iter=60, learning_rate=0.15, max_leaf_nodes=15, random_state=0
)


@pytest.fixture(scope="module")
def planted():
    train = _planted(4_000, seed=1)
    test = _planted(2_000, seed=2)
    return train, test


@pytest.mark.parametrize(
    "fit",
    [fit_t_learner, fit_s_learner, lambda *a: fit_x_learner(*a, propensity=0.5), fit_x_learner],
    ids=["T", "S", "X-known-propensity", "X-fitted-propensity"],
)
def test_learners_recover_planted_linear_cate(planted, fit):
    (x, y, t, _), (x_test, _, _, truth) = planted
    model = fit(x, y, t, BOOSTING)
    estimate = model.predict_cate(x_test)
    assert estimate.shape == truth.shape
    assert np.corrcoef(estimate, truth)[0, 1] > 0.8
    assert estimate.mean() == pytest.approx(truth.mean(), abs=0.15)


def test_any_sklearn_regressor_is_cloned_not_mutated(planted):
    (x, y, t, _), (x_test, _, _, truth) = planted
    regressor = LinearRegression()
    model = fit_t_learner(x, y, t, regressor)
    assert not hasattr(regressor, "coef_")  # the caller's object stays unfitted
    estimate = model.predict_cate(x_test)
    # A linear T-learner is exactly right for a linear CATE: near-perfect correlation.
    assert np.corrcoef(estimate, truth)[0, 1] > 0.97
    assert "T-learner" in repr(model)


def test_roi_curve_is_monotone_and_reaches_full_uplift(planted):
    (x, y, t, _), (x_test, _, _, truth) = planted
    predicted = fit_x_learner(x, y, t, propensity=0.5).predict_cate(x_test)  # default regressor
    curve = roi_curve(predicted)
    assert np.all(np.diff(curve["mean_uplift"]) <= 1e-12)
    assert curve["uplift_share"].iloc[-1] == pytest.approx(1.0)
    assert curve["n_treated"].iloc[-1] == len(predicted)
    assert curve["mean_uplift"].iloc[-1] == pytest.approx(predicted.mean())
    # Accounted with the true effects, targeting the top 20% beats treating at random.
    realised = roi_curve(predicted, [0.2, 1.0], realized_uplift=truth)
    assert realised.loc[0, "mean_uplift"] > truth.mean() + 1.0
    assert realised.loc[1, "uplift_share"] == pytest.approx(1.0)


def test_roi_curve_exact_small_case():
    curve = roi_curve(np.array([1.0, 3.0, 2.0, 4.0]), [0.25, 0.5, 1.0])
    np.testing.assert_allclose(curve["mean_uplift"], [4.0, 3.5, 2.5])
    np.testing.assert_allclose(curve["uplift_share"], [0.4, 0.7, 1.0])
    assert curve["uplift_share"].isna().sum() == 0
    negative = roi_curve(np.array([-1.0, -2.0]))
    assert negative["uplift_share"].isna().all()


def test_cohort_tables_match_groupby():
    frame = pd.DataFrame(
        {"segment": ["a", "a", "b", "b", "b"], "bin": ["lo", "hi", "lo", "hi", "hi"]}
    )
    cate = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    by_segment = cate_by_cohort(frame, cate, "segment")
    assert by_segment.loc["a", "mean_cate"] == pytest.approx(1.5)
    assert by_segment.loc["b", "n"] == 3 and by_segment.loc["b", "share"] == pytest.approx(0.6)
    grid = cate_heatmap(frame, cate, "segment", "bin")
    assert grid.loc["b", "hi"] == pytest.approx(5.0)
    assert grid.loc["a", "lo"] == pytest.approx(1.0)
    assert grid.shape == (2, 2)


def test_validation_messages(planted):
    (x, y, t, _), _ = planted
    with pytest.raises(ValueError, match="treatment must contain only 0 and 1"):
        fit_t_learner(x, y, t * 2)
    with pytest.raises(ValueError, match="same number of rows"):
        fit_s_learner(x, y[:10], t)
    with pytest.raises(TypeError, match=r"features: column\(s\) \['segment'\] are not numeric"):
        fit_t_learner(x.assign(segment="vip"), y, t)
    with pytest.raises(TypeError, match="regressor must be a scikit-learn"):
        fit_t_learner(x, y, t, regressor="forest")
    with pytest.raises(ValueError, match="features must have 4 columns"):
        fit_t_learner(x, y, t, LinearRegression()).predict_cate(x.iloc[:, :2])
    with pytest.raises(ValueError, match="budget_shares must lie in"):
        roi_curve(np.ones(3), [0.0, 1.0])
    with pytest.raises(ValueError, match="cate must have one value per row"):
        cate_by_cohort(pd.DataFrame({"s": ["a"]}), np.ones(2), "s")
