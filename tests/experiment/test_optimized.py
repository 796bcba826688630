"""The Optimized policy and the JSON form of plans."""

import numpy as np
import pandas as pd
import pytest

from pytyche.analysis import fit_segments
from pytyche.experiment import (
    ArmForRule,
    Cell,
    Control,
    Explore,
    NextRoundPlan,
    Optimized,
    SegmentAllocation,
    plan_from_dict,
    plan_to_dict,
)
from pytyche.experiment.cells import marginal_propensities

ARMS = ("control", "low_promo", "free_ship")


def planted_segmentation(n=600, seed=0):
    """Draws where low_promo wins for visits < 5 and free_ship for mobile, visits >= 5."""
    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame(
        {
            "visits_30d": rng.integers(0, 10, n),
            "device": pd.Categorical(rng.choice(["mobile", "desktop"], n)),
        }
    )
    reward = np.ones((n, 3))
    few = covariates["visits_30d"].to_numpy() < 5
    mobile = (covariates["device"] == "mobile").to_numpy()
    reward[few, 1] += 1.0
    reward[~few & mobile, 2] += 1.0
    draws = reward[None] + 0.05 * rng.standard_normal((40, n, 3))
    return covariates, fit_segments(covariates, draws, ARMS, n_bootstrap=0)


def test_optimized_routes_each_visitor_to_its_segment_weights():
    covariates, segmentation = planted_segmentation()
    policy = Optimized.from_segmentation(segmentation, epsilon=0.02)
    probabilities = policy.assignment_probabilities(covariates, ARMS)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities.min() >= 0.02 - 1e-12
    index = policy.segment_index(covariates)
    np.testing.assert_array_equal(index, segmentation.leaf_index)
    leader = probabilities.argmax(axis=1)
    few = covariates["visits_30d"].to_numpy() < 5
    assert np.all(leader[few] == 1)
    mobile = (covariates["device"] == "mobile").to_numpy()
    assert np.all(leader[~few & mobile] == 2)
    assert np.all(leader[~few & ~mobile] == 0)
    assert "Thompson by policy-tree segment" in policy.describe()


def test_optimized_rejects_rules_that_do_not_partition():
    overlapping = Optimized(
        (
            SegmentAllocation("visits_30d < 5", {"control": 1.0}),
            SegmentAllocation("visits_30d < 8", {"control": 1.0}),
        )
    )
    frame = pd.DataFrame({"visits_30d": [1, 9]})
    with pytest.raises(ValueError, match="partition"):
        overlapping.assignment_probabilities(frame, ARMS)
    with pytest.raises(ValueError, match="sum to 1"):
        SegmentAllocation("visits_30d < 5", {"control": 0.5})
    with pytest.raises(ValueError, match="not in arms"):
        Optimized((SegmentAllocation("all visitors", {"other": 1.0}),)).assignment_probabilities(
            frame, ARMS
        )


def test_plans_round_trip_through_json_exactly():
    covariates, segmentation = planted_segmentation()
    plan = NextRoundPlan(
        1_000,
        (
            Cell("control", Control(), 0.05),
            Cell("explore", Explore(), 0.05),
            Cell("optimized", Optimized.from_segmentation(segmentation), 0.7),
            Cell("hypothesis", ArmForRule("free_ship", "visits_30d < 3"), 0.2),
        ),
        ARMS,
    )
    restored = plan_from_dict(plan_to_dict(plan))
    assert restored == plan
    np.testing.assert_allclose(
        marginal_propensities(restored.cells, covariates, ARMS),
        marginal_propensities(plan.cells, covariates, ARMS),
    )


def test_a_custom_policy_cannot_be_written_to_json():
    class Custom:
        def assignment_probabilities(self, covariates, arms):
            return np.full((len(covariates), len(arms)), 1 / len(arms))

        def describe(self):
            return "custom"

    plan = NextRoundPlan(10, (Cell("custom", Custom(), 1.0),), ARMS)
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        plan_to_dict(plan)
