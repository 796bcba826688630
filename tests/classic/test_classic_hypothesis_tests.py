"""Welch and proportion tests against scipy/statsmodels reference values, plus coverage."""

import dataclasses

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
)
from statsmodels.stats.proportion import (
    test_proportions_2indep as wald_test_2indep,
)

from pytyche.classic import EffectEstimate, estimates_table, proportion_test, welch_t_test


def test_welch_matches_scipy():
    rng = np.random.default_rng(0)
    treatment = rng.normal(1.3, 2.0, size=300)
    control = rng.normal(1.0, 1.0, size=450)
    ours = welch_t_test(treatment, control, ci_level=0.9)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(confidence_level=0.9)
    assert ours.estimate == pytest.approx(treatment.mean() - control.mean())
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert ours.ci == pytest.approx((interval.low, interval.high), rel=1e-10)
    assert ours.se == pytest.approx(ours.estimate / reference.statistic, rel=1e-10)
    assert ours.n == 750 and ours.ci_level == 0.9


def test_proportion_test_matches_statsmodels():
    ours = proportion_test(530, 10_000, 470, 10_000)
    _, p_value = proportions_ztest([530, 470], [10_000, 10_000])
    low, high = confint_proportions_2indep(530, 10_000, 470, 10_000, method="wald")
    assert ours.estimate == pytest.approx(0.006)
    assert ours.p_value == pytest.approx(p_value, rel=1e-10)
    assert ours.ci == pytest.approx((low, high), rel=1e-10)
    unpooled = proportion_test(530, 10_000, 470, 10_000, pooled_test=False)
    wald = wald_test_2indep(530, 10_000, 470, 10_000, method="wald", compare="diff")
    assert unpooled.p_value == pytest.approx(wald.pvalue, rel=1e-10)


def test_welch_interval_coverage():
    """95% Welch intervals cover the true difference in ≈ 95% of 2 000 replicates.

    Binomial SE sqrt(0.95 · 0.05 / 2000) ≈ 0.0049; tolerance 4 SE.
    """
    rng = np.random.default_rng(1)
    treatment = rng.exponential(2.0, size=(2_000, 60))  # skewed, unequal variances
    control = rng.exponential(1.0, size=(2_000, 40))
    intervals = [welch_t_test(t, c).ci for t, c in zip(treatment, control, strict=True)]
    covered = [low <= 1.0 <= high for low, high in intervals]
    assert np.mean(covered) == pytest.approx(0.95, abs=4 * np.sqrt(0.95 * 0.05 / 2_000))


def test_result_repr_and_table():
    estimate = welch_t_test([1.0, 2.0, 3.0], [0.0, 1.0, 1.5])
    text = repr(estimate)
    assert text.startswith("EffectEstimate(Welch t-test:") and "95% CI" in text
    table = estimates_table([estimate, proportion_test(5, 10, 3, 10)])
    assert list(table.index) == ["Welch t-test", "two-proportion z-test"]
    assert {"estimate", "se", "ci_lower", "ci_upper", "p_value", "n"} <= set(table.columns)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'estimate'"):
        estimate.estimate = 3.0  # type: ignore[misc]
    normal = EffectEstimate.from_normal("z", 1.0, 0.5, 10)
    assert normal.p_value == pytest.approx(2 * stats.norm.sf(2.0))
    assert normal.ci == pytest.approx((1.0 - 1.959964 * 0.5, 1.0 + 1.959964 * 0.5))
    with pytest.raises(TypeError, match="EffectEstimate objects"):
        estimates_table([1.0])
    with pytest.raises(ValueError, match="at least one"):
        estimates_table([])


def test_validation_messages():
    with pytest.raises(ValueError, match="treatment needs at least 2"):
        welch_t_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="control contains NaN"):
        welch_t_test([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="successes_control must lie in"):
        proportion_test(1, 10, 11, 10)
    with pytest.raises(ValueError, match="ci_level"):
        welch_t_test([1.0, 2.0], [1.0, 2.0], ci_level=95)
    with pytest.raises(TypeError, match="n_treatment must be an integer"):
        proportion_test(1, 10.0, 1, 10)
