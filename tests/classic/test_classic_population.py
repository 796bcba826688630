"""The teaching population: its structure reproduces the seed walkthrough's figures.

Known answers (see ``pytyche/classic/population.py``): direct effect 1.2, total effect
1.2 + 0.15 × 1.2 = 1.38, and at n = 50 000 the walkthrough reports naive OLS 1.967,
back-door OLS 1.898, 2SLS 1.455 and a first-stage F of 3780.
"""

import numpy as np
import pandas as pd
import pytest

from pytyche.classic import (
    PopulationParameters,
    ols_effect,
    simulate_instrumented_population,
    two_stage_least_squares,
    welch_t_test,
)

BACKDOOR = ["segment", "age", "activity_score", "E"]
TOTAL_EFFECT = 1.2 + 0.15 * 1.2


@pytest.fixture(scope="module")
def seed_population() -> pd.DataFrame:
    return simulate_instrumented_population(50_000, seed=123)


@pytest.fixture(scope="module")
def fresh_population() -> pd.DataFrame:
    # A seed the walkthrough never used: the figures must come from the structure.
    return simulate_instrumented_population(50_000, seed=2024)


def test_columns_types_and_determinism():
    first = simulate_instrumented_population(500, seed=5)
    second = simulate_instrumented_population(500, seed=5)
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == [
        "signup_month",
        "segment",
        "age",
        "activity_score",
        "pre_metric",
        "Z",
        "E",
        "T",
        "exposure",
        "C",
        "Y",
    ]
    assert list(first["segment"].cat.categories) == ["casual", "regular", "vip"]
    assert first["age"].between(18, 75).all()
    assert set(np.unique(first[["Z", "E", "T", "C"]])) <= {0, 1}
    assert "u_latent" in simulate_instrumented_population(10, seed=5, include_latent=True)
    assert not simulate_instrumented_population(500, seed=6)["Y"].equals(first["Y"])


def test_reproduces_seed_walkthrough_exactly(seed_population):
    naive = ols_effect(seed_population, "Y", "T", cov_type="nonrobust")
    backdoor = ols_effect(seed_population, "Y", "T", BACKDOOR, cov_type="nonrobust")
    iv = two_stage_least_squares(seed_population, "Y", "T", "Z", BACKDOOR, cov_type="nonrobust")
    assert naive.estimate == pytest.approx(1.9671, abs=5e-4)
    assert backdoor.estimate == pytest.approx(1.8977, abs=5e-4)
    assert iv.effect.estimate == pytest.approx(1.4549, abs=5e-4)
    assert iv.first_stage_f == pytest.approx(3779.99, rel=1e-4)


def test_estimators_on_fresh_population_match_reported_figures(fresh_population):
    naive = ols_effect(fresh_population, "Y", "T")
    backdoor = ols_effect(fresh_population, "Y", "T", BACKDOOR)
    iv = two_stage_least_squares(fresh_population, "Y", "T", "Z", BACKDOOR)
    assert abs(naive.estimate - 1.97) < 3 * naive.se
    assert abs(backdoor.estimate - 1.90) < 3 * backdoor.se
    assert abs(iv.effect.estimate - 1.45) < 3 * iv.effect.se
    assert iv.first_stage_f > 1000
    # Biased upward: both OLS intervals lie above the total (and direct) effect ...
    assert naive.ci[0] > TOTAL_EFFECT and backdoor.ci[0] > TOTAL_EFFECT
    # ... while 2SLS covers the total effect it identifies.
    assert abs(iv.effect.estimate - TOTAL_EFFECT) < 3 * iv.effect.se


def test_without_latent_confounding_backdoor_ols_is_unbiased():
    params = PopulationParameters(latent_confounding=0.0)
    frame = simulate_instrumented_population(50_000, seed=11, params=params)
    backdoor = ols_effect(frame, "Y", "T", BACKDOOR)
    assert abs(backdoor.estimate - TOTAL_EFFECT) < 3 * backdoor.se


def test_randomized_mode_gives_unbiased_difference_in_means():
    params = PopulationParameters(randomized_treated_share=0.5)
    frame = simulate_instrumented_population(50_000, seed=12, params=params)
    treated = frame["T"] == 1
    assert treated.mean() == pytest.approx(0.5, abs=4 * np.sqrt(0.25 / 50_000))
    estimate = welch_t_test(frame.loc[treated, "Y"], frame.loc[~treated, "Y"])
    assert abs(estimate.estimate - TOTAL_EFFECT) < 3 * estimate.se
    # The instrument no longer moves the treatment.
    assert abs(frame.loc[frame.Z == 1, "T"].mean() - frame.loc[frame.Z == 0, "T"].mean()) < 0.02


def test_segment_effect_shift_is_recovered_per_segment():
    params = PopulationParameters(
        randomized_treated_share=0.5, effect_shift_by_segment={"vip": 1.0, "casual": -0.5}
    )
    frame = simulate_instrumented_population(60_000, seed=13, params=params)
    truth = params.segment_effects()
    assert truth.loc["vip", "direct_effect"] == pytest.approx(2.2)
    for segment, rows in frame.groupby("segment", observed=True):
        estimate = welch_t_test(rows.loc[rows["T"] == 1, "Y"], rows.loc[rows["T"] == 0, "Y"])
        assert abs(estimate.estimate - truth.loc[segment, "total_effect"]) < 3.5 * estimate.se


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"true_effect": float("nan")}, "true_effect"),
        ({"effect_shift_by_segment": {"gold": 1.0}}, "unknown segment"),
        ({"randomized_treated_share": 1.5}, "randomized_treated_share"),
        ({"mediator_effect": "big"}, "mediator_effect"),
    ],
)
def test_parameter_validation(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        PopulationParameters(**kwargs)


def test_argument_validation():
    with pytest.raises(ValueError, match="n must be positive"):
        simulate_instrumented_population(0)
    with pytest.raises(TypeError, match="seed"):
        simulate_instrumented_population(10, seed=1.5)
    with pytest.raises(TypeError, match="params"):
        simulate_instrumented_population(10, params={"true_effect": 1.0})
    with pytest.raises(ValueError, match="segment"):
        PopulationParameters().direct_effect("gold")


@pytest.mark.slow
def test_estimator_sampling_distributions_over_many_populations():
    """200 fresh populations of n = 50 000: where each estimator centres, and 2SLS coverage.

    The walkthrough's single draw (1.967, 1.898, 1.455) must sit within 3 sampling SDs of
    the estimators' means, and the 95% 2SLS interval must cover the total effect 1.38 in
    95% ± 3 binomial SE (≈ 0.046) of the populations.
    """
    naive, backdoor, iv, covered = [], [], [], []
    for seed in range(1_000, 1_200):
        frame = simulate_instrumented_population(50_000, seed=seed)
        naive.append(ols_effect(frame, "Y", "T").estimate)
        backdoor.append(ols_effect(frame, "Y", "T", BACKDOOR).estimate)
        result = two_stage_least_squares(frame, "Y", "T", "Z", BACKDOOR).effect
        iv.append(result.estimate)
        covered.append(result.ci[0] <= TOTAL_EFFECT <= result.ci[1])
    for draws, reported in ((naive, 1.967), (backdoor, 1.898), (iv, 1.455)):
        assert abs(np.mean(draws) - reported) < 3 * np.std(draws, ddof=1)
    assert abs(np.mean(iv) - TOTAL_EFFECT) < 4 * np.std(iv, ddof=1) / np.sqrt(200)
    assert np.mean(covered) == pytest.approx(0.95, abs=3 * np.sqrt(0.95 * 0.05 / 200))
