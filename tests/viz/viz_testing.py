"""Planted-segment data shared by the viz tests (real analysis inputs, not fakes)."""

import numpy as np
import pandas as pd

from pytyche.analysis import apply_rule

ARMS = ("control", "a", "b")
PLANTED = {
    "visits_30d < 4 and device in {mobile}": (0.0, 1.0, 0.2),
    "visits_30d < 4 and device not in {mobile}": (0.0, 0.1, 1.0),
    "visits_30d >= 4 and region in {north}": (1.0, 0.0, 0.0),
    "visits_30d >= 4 and region not in {north}": (0.0, 0.5, 0.8),
}
"""Planted segment -> reward of (control, a, b); the fitted tree recovers these rules."""


def planted_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "visits_30d": rng.integers(0, 10, n),
            "device": pd.Categorical(rng.choice(["mobile", "desktop", "tablet"], n)),
            "region": pd.Categorical(rng.choice(["north", "south", "east"], n)),
        }
    )


def planted_draws(frame: pd.DataFrame, n_draws: int, noise: float, seed: int) -> np.ndarray:
    rewards = np.zeros((len(frame), len(ARMS)))
    for rule, values in PLANTED.items():
        rewards[apply_rule(frame, rule)] = values
    rng = np.random.default_rng(seed)
    return rewards[None] + noise * rng.normal(size=(n_draws, len(frame), len(ARMS)))


# ---------------------------------------------------------------------------- round history
# The loop's BCF fit takes minutes per round, so the default tests build real ``Round``
# objects the way ``SequentialExperiment`` does, with every step real (plans, the simulated
# generator, per-cell observations, segments, decision evidence, graduation, the next
# plan) except the fit: its reward draws are a planted surface plus noise. The real loop is
# exercised by the slow test.

HISTORY_ARMS = ("control", "low_promo", "free_ship")


def planted_rewards(covariates: pd.DataFrame) -> np.ndarray:
    """Reward of each visitor under each arm: low_promo wins on mobile, free_ship elsewhere
    for new visitors, control for the rest."""
    rewards = np.full((len(covariates), 3), 5.0)
    mobile = (covariates["device"] == "mobile").to_numpy()
    new = covariates["visits_30d"].to_numpy() < 4
    rewards[mobile, 1] += 1.5
    rewards[~mobile & new, 2] += 1.5
    rewards[~mobile & ~new, 1:] -= 0.5
    return rewards


def staged_history(n_rounds: int = 3, n_visitors: int = 600, seed: int = 0) -> tuple:
    """``n_rounds`` real ``Round`` objects of a simulated experiment (see above)."""
    from pytyche.analysis import (
        ExpectedLossRule,
        PolicyTreeConfig,
        fit_segments,
        round_evidence,
        segment_recommendations,
    )
    from pytyche.contracts import ClaimLevel
    from pytyche.data import concat_rounds
    from pytyche.experiment import Cell, Control, Explore, NextRoundPlan, cold_start_plan
    from pytyche.experiment.observations import observe_cells
    from pytyche.experiment.optimized import Optimized
    from pytyche.experiment.rounds import GraduatingPair, Round
    from pytyche.generators.simulated import simulated_experiment_generator

    generator = simulated_experiment_generator(
        "clustered", effect_scale=0.3, K=3, seed=seed, treatment_names=HISTORY_ARMS
    )
    rng = np.random.default_rng(seed)
    plan = cold_start_plan(HISTORY_ARMS, n_visitors)
    rule = ExpectedLossRule(sustained_rounds=2, units="absolute")
    rounds, datasets, evidence = [], [], []
    for index in range(n_rounds):
        data, _ = generator(index, plan)
        datasets.append(data)
        cumulative = concat_rounds(datasets)
        covariates = cumulative.frame[list(cumulative.covariates)].reset_index(drop=True)
        rewards = planted_rewards(covariates)
        draws = rewards[None] + 0.8 * rng.normal(size=(80, *rewards.shape))
        segmentation = fit_segments(
            covariates, draws, HISTORY_ARMS, config=PolicyTreeConfig(max_depth=2), n_bootstrap=5
        )
        recommendations = segment_recommendations(segmentation, draws, units="absolute")
        evidence.append(round_evidence(index, segmentation, recommendations))
        candidates = rule.candidates(evidence, covariates)
        next_plan = NextRoundPlan(
            n_visitors,
            (
                Cell("control", Control(), 0.05),
                Cell("explore", Explore(), 0.05),
                Cell("optimized", Optimized.from_segmentation(segmentation), 0.9),
            ),
            HISTORY_ARMS,
        )
        rounds.append(
            Round(
                index=index,
                n_rounds=n_rounds,
                plan=plan,
                data=data,
                cumulative_visitors=cumulative.n_visitors,
                observations=observe_cells(data),
                posterior=None,
                posterior_summary=None,
                analysis=segmentation,
                recommendations=recommendations,
                graduation=tuple(
                    GraduatingPair(
                        c.treatment,
                        c.rule,
                        c.round_index,
                        c.rounds_sustained,
                        c.summary,
                        c.matched_rules,
                    )
                    for c in candidates
                ),
                drift=None,
                truth_comparison=None,
                next_recommendation=next_plan,
                schedule_exhausted=index == n_rounds - 1,
                interval_claim=ClaimLevel.POSTERIOR,
                seeds={},
                analysis_rows=np.arange(cumulative.n_visitors),
            )
        )
        plan = next_plan
    return tuple(rounds)
