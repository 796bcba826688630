"""Randomisation: exact stratum proportions, balance table, sample-ratio mismatch."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from pytyche.classic import (
    assign_global,
    assign_stratified,
    balance_table,
    sample_ratio_mismatch,
    simulate_instrumented_population,
)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    frame = simulate_instrumented_population(20_000, seed=8)
    frame["activity_bin"] = pd.qcut(
        frame["activity_score"], 4, labels=["low", "mid", "high", "top"]
    )
    return frame


@pytest.mark.parametrize("share", [0.5, 0.3, 0.85])
def test_stratified_assignment_has_exact_proportions_per_stratum(population, share):
    arms = assign_stratified(population, ["segment", "activity_bin", "signup_month"], share, seed=1)
    assert arms.index.equals(population.index)
    counts = arms.groupby(
        [population["segment"], population["activity_bin"], population["signup_month"]],
        observed=True,
    ).agg(["sum", "size"])
    expected = share * counts["size"]
    assert np.all(counts["sum"] >= np.floor(expected))
    assert np.all(counts["sum"] <= np.ceil(expected))
    assert len(counts) == 3 * 4 * 6


@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    share=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_counts_are_floor_or_ceil_for_any_strata(sizes, share, seed):
    frame = pd.DataFrame({"stratum": np.repeat(np.arange(len(sizes)), sizes)})
    frame = frame.sample(frac=1.0, random_state=seed % 2**31)  # strata interleaved, any index
    arms = assign_stratified(frame, "stratum", share, seed=seed)
    treated = arms.groupby(frame["stratum"]).sum().to_numpy()
    expected = share * np.asarray(sizes)
    assert np.all((treated == np.floor(expected)) | (treated == np.ceil(expected)))


def test_stratified_assignment_is_random_within_strata(population):
    """Different seeds give different assignments, and the treated share is unbiased."""
    first = assign_stratified(population, "segment", 0.5, seed=1)
    second = assign_stratified(population, "segment", 0.5, seed=2)
    assert (first != second).mean() == pytest.approx(0.5, abs=0.03)
    pd.testing.assert_series_equal(first, assign_stratified(population, "segment", 0.5, seed=1))
    # Odd strata: the remainder unit is randomised, so over many seeds a stratum of size 3
    # has mean treated count 1.5 (not a systematic round-up to 2).
    tiny = pd.DataFrame({"cohort": ["a", "a", "a"]})
    counts = [assign_stratified(tiny, "cohort", 0.5, seed=s).sum() for s in range(400)]
    assert set(counts) == {1, 2}
    assert np.mean(counts) == pytest.approx(1.5, abs=4 * 0.5 / np.sqrt(400))


def test_global_assignment():
    bernoulli = assign_global(100_000, 0.3, seed=0)
    assert bernoulli.mean() == pytest.approx(0.3, abs=4 * np.sqrt(0.21 / 100_000))
    exact = assign_global(1_001, 0.5, seed=0, exact=True)
    assert exact.sum() in (500, 501)
    assert set(np.unique(exact)) == {0, 1}


def test_stratified_assignment_balances_strata_better_than_global(population):
    """Max |difference| of the stratum shares is far smaller than under global assignment.

    Both designs treat half the units (global: complete randomisation, ``exact=True``), so
    only the stratification differs. Under global assignment the difference of a share p
    between arms has sd sqrt(p(1-p)·4/n), about 0.007 at n = 20,000; stratified, each of
    the 12 strata is split to within one unit, so it stays below about 12/10,000. Ten seeds,
    each compared on the same data.
    """
    covariates = ["segment", "activity_bin"]
    smallest = population["segment"].value_counts().min()
    for seed in range(10):
        strat_arm = assign_stratified(population, covariates, seed=seed)
        global_arm = assign_global(len(population), seed=seed, exact=True)
        assert strat_arm.sum() == pytest.approx(global_arm.sum(), abs=12)
        strat = balance_table(population.assign(arm=strat_arm), "arm", covariates)
        unstratified = balance_table(population.assign(arm=global_arm), "arm", covariates)
        assert list(strat.index) == list(unstratified.index)
        worst_strat = strat["difference"].abs().max()
        worst_global = unstratified["difference"].abs().max()
        assert worst_strat < 2 / smallest, (seed, worst_strat)
        # observed ratios are below 0.05; 0.2 leaves room and still needs a clear gain
        assert worst_strat < 0.2 * worst_global, (seed, worst_strat, worst_global)
    table = balance_table(population.assign(arm=global_arm), "arm", ["age", "segment"])
    assert list(table.index) == ["age", "segment=casual", "segment=regular", "segment=vip"]


def test_balance_table_matches_manual_computation(population):
    population = population.assign(arm=assign_global(len(population), seed=4))
    table = balance_table(population, "arm", ["age", "pre_metric"])
    treated = population[population.arm == 1]
    control = population[population.arm == 0]
    row = table.loc["age"]
    assert row["mean_treatment"] == pytest.approx(treated["age"].mean())
    assert row["mean_control"] == pytest.approx(control["age"].mean())
    pooled = np.sqrt((treated["age"].var() + control["age"].var()) / 2)
    assert row["smd"] == pytest.approx((treated["age"].mean() - control["age"].mean()) / pooled)
    reference = stats.ttest_ind(treated["age"], control["age"], equal_var=False)
    assert row["p_value"] == pytest.approx(reference.pvalue, rel=1e-8)


def test_srm_flags_52_48_at_100k_and_accepts_exact_split():
    flagged = sample_ratio_mismatch([52_000, 48_000])
    assert flagged.mismatch
    assert flagged.chi2 == pytest.approx(160.0)  # (2000² / 50000) · 2
    exact = sample_ratio_mismatch([50_000, 50_000])
    assert not exact.mismatch
    assert exact.p_value == pytest.approx(1.0)
    three = sample_ratio_mismatch([20_100, 39_950, 39_950], [0.2, 0.4, 0.4])
    reference = stats.chisquare([20_100, 39_950, 39_950], [20_000, 40_000, 40_000])
    assert three.p_value == pytest.approx(reference.pvalue)
    assert "MISMATCH" in repr(flagged) and "ok" in repr(exact)


def test_srm_false_alarm_rate_under_correct_randomisation():
    """With α = 0.05 and a correct 50/50 randomiser the check fires about 5% of the time.

    1 000 replicates: binomial SE sqrt(0.05 · 0.95 / 1000) ≈ 0.0069; tolerance 4 SE.
    """
    rng = np.random.default_rng(0)
    treated = rng.binomial(10_000, 0.5, size=1_000)
    flags = [sample_ratio_mismatch([int(k), 10_000 - int(k)], alpha=0.05).mismatch for k in treated]
    assert np.mean(flags) == pytest.approx(0.05, abs=4 * np.sqrt(0.05 * 0.95 / 1_000))


def test_validation_messages(population):
    with pytest.raises(ValueError, match=r"strata: column\(s\) \['tier'\]"):
        assign_stratified(population, ["segment", "tier"])
    with pytest.raises(ValueError, match="treated_share"):
        assign_stratified(population, "segment", treated_share=1.0)
    with pytest.raises(ValueError, match="arm: column 'Y' must contain only 0 and 1"):
        balance_table(population, "Y", ["age"])
    with pytest.raises(ValueError, match="expected_shares"):
        sample_ratio_mismatch([10, 10], [0.6, 0.6])
    with pytest.raises(ValueError, match="observed_counts"):
        sample_ratio_mismatch([10.5, 3])
    with pytest.raises(ValueError, match="n_units"):
        assign_global(0)
    missing = population[["segment"]].astype(object)
    missing.iloc[0, 0] = None
    with pytest.raises(ValueError, match="missing values"):
        assign_stratified(missing, "segment")
