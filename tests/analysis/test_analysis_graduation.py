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
CLEAR = recommendation_summary(RNG.normal(0.10, 0.01, 2000), treatment="a")
UNCLEAR = recommendation_summary(RNG.normal(0.01, 0.05, 2000), treatment="a")


def pair(rule: str, summary=CLEAR, treatment: str = "a") -> PairEvidence:
    return PairEvidence(treatment, parse_rule(rule), summary)


def history(*rounds: list[PairEvidence]) -> list[RoundEvidence]:
    return [RoundEvidence(i, tuple(pairs)) for i, pairs in enumerate(rounds)]


def test_rule_holds_only_when_all_three_thresholds_clear():
    rule = ExpectedLossRule()
    assert rule.holds(CLEAR)
    assert not rule.holds(UNCLEAR)
    assert isinstance(rule, GraduationRule)


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
    rewards = np.zeros((1000, 2))
    rewards[:, 1] = np.where(FRAME["visits_30d"].to_numpy() < 4, 0.1, -0.1)
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
