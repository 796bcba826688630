"""Graduation fires only after the sustained number of rounds, on matched segments."""

import numpy as np
import pandas as pd
import pytest

from pytyche.analysis import (
    ExpectedLossRule,
    GraduationRule,
    PairEvidence,
    PolicyTreeConfig,
    RoundEvidence,
    fit_segments,
    parse_rule,
    recommendation_summary,
    round_evidence,
    segment_recommendations,
)

FRAME = pd.DataFrame({"visits_30d": np.arange(1000) % 10, "device": ["mobile", "desktop"] * 500})
RNG = np.random.default_rng(0)
# a control mean of 1 makes the relative thresholds equal to their absolute values
CLEAR = recommendation_summary(
    RNG.normal(0.10, 0.01, 2000), treatment="a", baseline=1.0, units="relative"
)
UNCLEAR = recommendation_summary(
    RNG.normal(0.01, 0.05, 2000), treatment="a", baseline=1.0, units="relative"
)


def pair(rule: str, summary=CLEAR, treatment: str = "a") -> PairEvidence:
    return PairEvidence(treatment, parse_rule(rule), summary)


def history(*rounds: list[PairEvidence]) -> list[RoundEvidence]:
    return [RoundEvidence(i, tuple(pairs)) for i, pairs in enumerate(rounds)]


def test_relative_tolerance_means_the_same_share_of_any_control_mean():
    rng = np.random.default_rng(1)
    lift = rng.normal(0.05, 0.012, 4000)  # a 5% relative lift, 1.2% posterior sd
    rule = ExpectedLossRule(expected_loss_max=0.0005)
    verdicts = []
    for baseline in (0.04, 3.7, 250.0):  # a conversion rate, revenue per visitor, an order value
        summary = recommendation_summary(
            lift * baseline, treatment="a", baseline=baseline, units="relative"
        )
        assert summary.min_practical_effect == pytest.approx(0.02 * baseline)
        assert summary.expected_loss_ship_relative == pytest.approx(
            np.mean(np.maximum(-lift, 0)), rel=1e-9
        )
        verdicts.append((summary.probability_meaningful, rule.holds(summary)))
    assert len(set(verdicts)) == 1 and verdicts[0][1]
    # read in outcome units, the same 5% lift is never "meaningful" on a 4% conversion rate
    # (0.002 < 0.02) and always on a $250 order value
    absolute = ExpectedLossRule(expected_loss_max=0.0005, units="absolute")
    held = [absolute.holds(recommendation_summary(lift * b, treatment="a")) for b in (0.04, 250.0)]
    assert held == [False, True]


def test_relative_units_need_a_positive_control_mean():
    draws = np.random.default_rng(2).normal(0.1, 0.01, 500)
    with pytest.raises(ValueError, match="threshold_units='absolute'"):
        recommendation_summary(draws, treatment="a", baseline=0.0, units="relative")
    summary = recommendation_summary(draws, treatment="a")  # absolute: no baseline needed
    with pytest.raises(ValueError, match="baseline=None"):
        ExpectedLossRule().holds(summary)
    with pytest.raises(ValueError, match="units must be one of"):
        ExpectedLossRule(units="percent")


def _mixture(n_high: int, high: float, n_low: int, low: float) -> np.ndarray:
    """Effect draws with ``n_high`` copies of ``high`` and ``n_low`` of ``low`` (exact shares)."""
    return np.concatenate([np.full(n_high, high), np.full(n_low, low)])


# Draws (control mean 1, so relative thresholds read as absolute) and the one threshold of
# the default rule (loss < 0.005, P(beats) > 0.95, P(>= 0.02) > 0.8) that each fails.
THRESHOLD_CASES = {
    "all_clear": (RNG.normal(0.10, 0.01, 2000), None),
    # P(beats) = P(meaningful) = 0.97, but a 3% tail at -0.5 costs 0.015 in expectation
    "expected_loss": (_mixture(970, 0.10, 30, -0.5), "loss"),
    # loss 0.08 x 0.01 = 0.0008 and P(meaningful) = 0.92, but P(beats) = 0.92
    "p_beats": (_mixture(920, 0.10, 80, -0.01), "beats"),
    # the thresholds are strict: P(beats) exactly 0.95 does not clear
    "p_beats_at_threshold": (_mixture(950, 0.10, 50, -0.001), "beats"),
    # always positive (no loss, P(beats) = 1) but only 40% of draws reach 0.02
    "p_meaningful": (np.linspace(0.005, 0.03, 1001), "meaningful"),
}


@pytest.mark.parametrize("case", list(THRESHOLD_CASES))
def test_rule_holds_only_when_all_three_thresholds_clear(case):
    """holds() is True when all three clear and False when any one alone fails."""
    draws, failing = THRESHOLD_CASES[case]
    rule = ExpectedLossRule()
    summary = recommendation_summary(draws, treatment="a", baseline=1.0, units="relative")
    clears = {
        "loss": summary.expected_loss_ship < rule.expected_loss_max,
        "beats": summary.probability_beats_control > rule.p_positive_threshold,
        "meaningful": summary.probability_meaningful > rule.p_better_threshold,
    }
    # the case fails exactly the threshold it is named after (or none)
    assert {name for name, ok in clears.items() if not ok} == ({failing} if failing else set())
    assert rule.holds(summary) is (failing is None)
    assert isinstance(rule, GraduationRule)


def test_rule_fails_when_every_threshold_fails():
    assert not ExpectedLossRule().holds(UNCLEAR)
    assert UNCLEAR.expected_loss_ship >= 0.005
    assert UNCLEAR.probability_beats_control <= 0.95 and UNCLEAR.probability_meaningful <= 0.8


def test_fires_only_after_sustained_rounds():
    rule = ExpectedLossRule(sustained_rounds=2)
    rounds = history([pair("visits_30d < 4")], [pair("visits_30d < 5")], [pair("visits_30d < 4")])
    assert rule.candidates(rounds[:1], FRAME) == ()
    graduated = rule.candidates(rounds[:2], FRAME)
    assert len(graduated) == 1
    assert graduated[0].treatment == "a" and graduated[0].round_index == 1
    assert [str(r) for r in graduated[0].matched_rules] == ["visits_30d < 4", "visits_30d < 5"]
    assert ExpectedLossRule(sustained_rounds=3).candidates(rounds[:2], FRAME) == ()
    assert len(ExpectedLossRule(sustained_rounds=3).candidates(rounds, FRAME)) == 1


def test_a_failing_round_resets_the_count():
    rule = ExpectedLossRule(sustained_rounds=2)
    rounds = history(
        [pair("visits_30d < 4")],
        [pair("visits_30d < 4", UNCLEAR)],
        [pair("visits_30d < 4")],
        [pair("visits_30d < 4")],
    )
    assert rule.candidates(rounds[:2], FRAME) == ()
    assert rule.candidates(rounds[:3], FRAME) == ()
    assert len(rule.candidates(rounds, FRAME)) == 1


def test_segments_must_match_by_overlap_and_treatment():
    rule = ExpectedLossRule(sustained_rounds=2)
    # Jaccard of visits < 2 and visits < 5 is 2/5 < 0.5: a different segment.
    assert rule.candidates(history([pair("visits_30d < 2")], [pair("visits_30d < 5")]), FRAME) == ()
    other_treatment = history([pair("visits_30d < 4", treatment="b")], [pair("visits_30d < 4")])
    assert rule.candidates(other_treatment, FRAME) == ()
    # The best-overlapping earlier segment is the one matched (and it must clear the rule).
    rounds = history(
        [pair("visits_30d < 4", UNCLEAR), pair("visits_30d >= 4")],
        [pair("visits_30d >= 5"), pair("visits_30d < 5")],
    )
    graduated = rule.candidates(rounds, FRAME)
    assert [str(g.rule) for g in graduated] == ["visits_30d >= 5"]


def test_round_evidence_from_a_segmentation():
    rng = np.random.default_rng(1)
    rewards = np.ones((1000, 2))  # control mean 1: relative thresholds equal absolute ones
    rewards[:, 1] += np.where(FRAME["visits_30d"].to_numpy() < 4, 0.1, -0.1)
    draws = rewards[None] + 0.01 * rng.normal(size=(50, 1000, 2))
    segmentation = fit_segments(
        FRAME, draws, ("control", "a"), config=PolicyTreeConfig(max_depth=1), n_bootstrap=0
    )
    summaries = segment_recommendations(segmentation, draws)
    evidence = round_evidence(0, segmentation, summaries)
    assert {str(p.rule) for p in evidence.pairs} == {"visits_30d < 4", "visits_30d >= 4"}
    rounds = [evidence, RoundEvidence(1, evidence.pairs)]
    graduated = ExpectedLossRule().candidates(rounds, FRAME)
    assert [str(g.rule) for g in graduated] == ["visits_30d < 4"]


def test_invalid_rule_settings():
    with pytest.raises(ValueError, match="sustained_rounds"):
        ExpectedLossRule(sustained_rounds=0)
    with pytest.raises(ValueError, match="p_positive_threshold"):
        ExpectedLossRule(p_positive_threshold=1.5)
