"""OLS, IPW and 2SLS against statsmodels and against planted effects."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.sandbox.regression.gmm import IV2SLS

from pytyche.classic import (
    ipw_effect,
    ipw_two_stage_least_squares,
    ols_effect,
    propensity_scores,
    selection_weights,
    simulate_instrumented_population,
    two_stage_least_squares,
)


def _iv_data(n: int, rng: np.random.Generator, heteroskedastic: bool = False) -> pd.DataFrame:
    """Endogenous T (shares the confounder u with Y), instrument z, covariate w; effect 2."""
    u = rng.normal(size=n)
    z = rng.normal(size=n)
    w = rng.normal(size=n)
    t = 0.8 * z + 0.5 * w + u + rng.normal(size=n)
    noise_scale = np.exp(0.7 * z) if heteroskedastic else 1.0
    y = 1.0 + 2.0 * t - 0.5 * w + 1.5 * u + noise_scale * rng.normal(size=n)
    return pd.DataFrame({"y": y, "t": t, "z": z, "w": w})


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return simulate_instrumented_population(20_000, seed=3)


def test_ols_matches_statsmodels(population):
    ours = ols_effect(population, "Y", "T", ["age", "activity_score"], cov_type="HC3")
    design = sm.add_constant(population[["T", "age", "activity_score"]].astype(float))
    reference = sm.OLS(population["Y"], design).fit(cov_type="HC3")
    assert ours.estimate == pytest.approx(reference.params["T"], rel=1e-10)
    assert ours.se == pytest.approx(reference.bse["T"], rel=1e-10)
    assert ours.p_value == pytest.approx(reference.pvalues["T"], rel=1e-8, abs=1e-300)
    assert ours.n == len(population)
    assert "Y ~ T + age + activity_score" in ours.method


def test_naive_ols_is_difference_in_means(population):
    estimate = ols_effect(population, "Y", "T")
    means = population.groupby("T")["Y"].mean()
    assert estimate.estimate == pytest.approx(means[1] - means[0], rel=1e-10)


def test_2sls_matches_statsmodels_iv2sls_nonrobust(population):
    ours = two_stage_least_squares(
        population, "Y", "T", "Z", ["age", "activity_score", "E"], cov_type="nonrobust"
    )
    exog = sm.add_constant(population[["T", "age", "activity_score", "E"]].astype(float))
    instruments = sm.add_constant(population[["Z", "age", "activity_score", "E"]].astype(float))
    reference = IV2SLS(population["Y"], exog, instruments).fit()
    assert ours.effect.estimate == pytest.approx(reference.params["T"], rel=1e-10)
    assert ours.effect.se == pytest.approx(reference.bse["T"], rel=1e-8)


def test_weighted_2sls_equals_2sls_on_rescaled_rows():
    rng = np.random.default_rng(1)
    frame = _iv_data(3_000, rng)
    weights = rng.uniform(0.2, 3.0, size=len(frame))
    ours = two_stage_least_squares(
        frame, "y", "t", "z", ["w"], weights=weights, cov_type="nonrobust"
    )
    root = np.sqrt(weights)[:, None]
    exog = np.column_stack([np.ones(len(frame)), frame[["t", "w"]]]) * root
    instruments = np.column_stack([np.ones(len(frame)), frame[["z", "w"]]]) * root
    reference = IV2SLS(frame["y"].to_numpy() * root[:, 0], exog, instruments).fit()
    assert ours.effect.estimate == pytest.approx(reference.params[1], rel=1e-10)
    assert ours.effect.se == pytest.approx(reference.bse[1], rel=1e-8)


def test_first_stage_f_is_squared_t_statistic(population):
    result = two_stage_least_squares(population, "Y", "T", "Z", ["age"], cov_type="HC1")
    first = sm.OLS(population["T"], sm.add_constant(population[["Z", "age"]].astype(float)))
    t_value = first.fit(cov_type="HC1").tvalues["Z"]
    assert result.first_stage_f == pytest.approx(t_value**2, rel=1e-8)
    assert result.first_stage_coefficients["Z"] == pytest.approx(first.fit().params["Z"], rel=1e-10)


def test_2sls_recovers_planted_effect_where_ols_fails():
    frame = _iv_data(20_000, np.random.default_rng(2))
    iv = two_stage_least_squares(frame, "y", "t", "z", ["w"])
    ols = ols_effect(frame, "y", "t", ["w"])
    assert abs(iv.effect.estimate - 2.0) < 3 * iv.effect.se
    assert ols.ci[0] > 2.0  # u pushes the OLS slope up


def test_hc1_standard_error_matches_monte_carlo_spread():
    """Under heteroskedasticity the robust SE must match the sampling SD of the estimate.

    300 replicates: the SD of 300 draws has relative standard error about 1/sqrt(2·299)
    ≈ 4.1%, so a 15% tolerance is more than 3.5 of those standard errors.
    """
    rng = np.random.default_rng(3)
    estimates, robust_ses, classical_ses = [], [], []
    for _ in range(300):
        frame = _iv_data(1_000, rng, heteroskedastic=True)
        robust = two_stage_least_squares(frame, "y", "t", "z", ["w"], cov_type="HC1")
        classical = two_stage_least_squares(frame, "y", "t", "z", ["w"], cov_type="nonrobust")
        estimates.append(robust.effect.estimate)
        robust_ses.append(robust.effect.se)
        classical_ses.append(classical.effect.se)
    spread = np.std(estimates, ddof=1)
    assert np.mean(robust_ses) == pytest.approx(spread, rel=0.15)
    # The classical SE is wrong here (noise grows with the instrument): it must miss.
    assert np.mean(classical_ses) < 0.85 * spread


def test_ipw_recovers_effect_under_observed_confounding():
    rng = np.random.default_rng(4)
    n = 30_000
    x = rng.normal(size=n)
    t = rng.binomial(1, 1 / (1 + np.exp(-1.5 * x)))
    y = 1.0 + 0.5 * t + 2.0 * x + rng.normal(size=n)
    frame = pd.DataFrame({"y": y, "t": t, "x": x})
    weighted = ipw_effect(frame, "y", "t", ["x"])
    naive = ols_effect(frame, "y", "t")
    assert abs(weighted.estimate - 0.5) < 3 * weighted.se
    assert naive.ci[0] > 0.5 + 1.0  # strongly biased without weighting


def test_selection_weights_and_propensities(population):
    scores = propensity_scores(population, "E", ["activity_score"])
    reference = sm.Logit(population["E"], sm.add_constant(population[["activity_score"]])).fit(
        disp=False
    )
    np.testing.assert_allclose(scores, reference.predict(), rtol=1e-6)
    weights = selection_weights(population, "E", ["activity_score"])
    eligible = population["E"].to_numpy() == 1
    np.testing.assert_allclose(weights[eligible], 1 / scores[eligible])
    assert np.all(weights[~eligible] == 0)
    # Horvitz–Thompson: weighted count of the selected rows estimates the population size.
    assert weights.sum() == pytest.approx(len(population), rel=0.03)


def _selected_iv_data(n: int, seed: int) -> pd.DataFrame:
    """IV data whose effect varies with x, observed only on rows selected on x.

    T is endogenous (it shares u with Y) and z is a valid instrument with a constant first
    stage. The effect of T is 1 + x with x ~ N(0, 1), so the population-average effect is
    1. Rows are selected with P(E = 1 | x) = logistic(0.2 + 1.5 x): the selected rows have
    mean x of about 0.5, so 2SLS on them alone estimates about 1.5.
    """
    rng = np.random.default_rng(seed)
    x, u, z = rng.normal(size=(3, n))
    t = 0.8 * z + 0.3 * x + u + rng.normal(size=n)
    y = 0.5 + (1.0 + x) * t + 0.5 * x + 1.5 * u + rng.normal(size=n)
    selected = rng.uniform(size=n) < 1 / (1 + np.exp(-(0.2 + 1.5 * x)))
    return pd.DataFrame({"y": y, "t": t, "z": z, "x": x, "E": selected.astype(int)})


def test_ipw_2sls_uses_only_selected_rows_with_weights():
    """IPW-2SLS recovers the population effect under selection on x; plain 2SLS does not.

    Seeded (20,000 rows, about 10,600 selected). The selection model is correctly
    specified, so IPW-2SLS is consistent for the population-average effect 1; its error is
    required within 3 of its SEs (it is 1.1 SE here). Unweighted 2SLS on the selected rows
    lands near 1.5, more than 10 of its SEs away.
    """
    frame = _selected_iv_data(20_000, seed=0)
    selected = frame["E"] == 1
    result = ipw_two_stage_least_squares(frame, "y", "t", "z", ["x"], selected="E")
    assert result.effect.n == int(selected.sum())
    assert result.first_stage_f > 100
    assert abs(result.effect.estimate - 1.0) < 3 * result.effect.se
    low, high = result.effect.ci
    assert low < 1.0 < high

    unweighted = two_stage_least_squares(frame[selected], "y", "t", "z", ["x"])
    assert unweighted.effect.n == result.effect.n
    assert unweighted.effect.estimate - 1.0 > 10 * unweighted.effect.se
    assert unweighted.effect.ci[0] > 1.0


def test_validation_messages(population):
    with pytest.raises(ValueError, match="outcome: column"):
        ols_effect(population, "revenue", "T")
    with pytest.raises(ValueError, match="cov_type"):
        ols_effect(population, "Y", "T", cov_type="HC9")
    with pytest.raises(ValueError, match="more than one role"):
        two_stage_least_squares(population, "Y", "T", "Z", ["Z"])
    with pytest.raises(ValueError, match="instruments: column"):
        two_stage_least_squares(population, "Y", "T", "nudge")
    with pytest.raises(ValueError, match="weights"):
        ols_effect(population, "Y", "T", weights=np.ones(3))
    with pytest.raises(ValueError, match="indicator: column 'Y' must contain only 0 and 1"):
        propensity_scores(population, "Y", ["age"])
    with pytest.raises(TypeError, match="DataFrame"):
        ols_effect(population.to_numpy(), "Y", "T")
