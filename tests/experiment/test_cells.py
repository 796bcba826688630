"""Cells, policies, assignment and the next-round plan."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from pytyche.experiment import (
    ArmForRule,
    Cell,
    Control,
    Explore,
    NextRoundPlan,
    Policy,
    assign_visitors,
    cold_start_plan,
    marginal_propensities,
    validate_cell_weights,
)

ARMS = ("control", "low_promo", "free_ship")
ALPHA = 1e-3
"""Declared false-failure rate of each χ² test below (fixed seeds make them deterministic)."""


def visitors(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure_days": rng.integers(0, 400, n),
            "device": pd.Categorical(
                rng.choice(["mobile", "desktop", "tablet"], n),
                categories=["mobile", "desktop", "tablet"],
            ),
        }
    )


@dataclasses.dataclass(frozen=True)
class TenureTilt:
    """A custom policy whose probabilities vary per visitor (tests the Policy protocol)."""

    def assignment_probabilities(self, covariates, arms):
        share = np.clip(covariates["tenure_days"].to_numpy() / 400.0, 0.0, 1.0)
        probabilities = np.zeros((len(covariates), len(arms)))
        probabilities[:, 0] = 1.0 - share
        probabilities[:, -1] = share
        return probabilities

    def describe(self):
        return "free_ship more often the longer the tenure"


# ------------------------------------------------------------------ policies
def test_control_and_explore_probabilities():
    x = visitors()
    np.testing.assert_array_equal(
        Control().assignment_probabilities(x, ARMS), np.tile([1.0, 0.0, 0.0], (8, 1))
    )
    np.testing.assert_allclose(Explore().assignment_probabilities(x, ARMS), 1.0 / 3.0)
    assert isinstance(Control(), Policy) and isinstance(TenureTilt(), Policy)
    assert "uniform" in Explore().describe()


def test_arm_for_rule_routes_matching_visitors_and_falls_back_to_control():
    x = visitors(50)
    policy = ArmForRule("free_ship", "tenure_days < 90 and device == 'mobile'")
    expected = (x["tenure_days"] < 90) & (x["device"] == "mobile")
    assert 0 < expected.sum() < 50
    probabilities = policy.assignment_probabilities(x, ARMS)
    np.testing.assert_array_equal(probabilities[:, 2], expected.to_numpy().astype(float))
    np.testing.assert_array_equal(probabilities[:, 0], (~expected).to_numpy().astype(float))
    np.testing.assert_array_equal(probabilities[:, 1], 0.0)
    assert policy.describe() == "free_ship if tenure_days < 90 and device == 'mobile', else control"
    in_list = ArmForRule("low_promo", "device in ['tablet', 'desktop']")
    np.testing.assert_array_equal(
        in_list.matches(x), x["device"].isin(["tablet", "desktop"]).to_numpy()
    )


def test_arm_for_rule_errors_name_the_rule():
    with pytest.raises(ValueError, match="not a valid expression"):
        ArmForRule("free_ship", "tenure_days <")
    with pytest.raises(ValueError, match="rule must be a non-empty"):
        ArmForRule("free_ship", "  ")
    with pytest.raises(ValueError, match="arm must be a non-empty"):
        ArmForRule("", "tenure_days < 3")
    with pytest.raises(ValueError, match="cannot be evaluated"):
        ArmForRule("free_ship", "no_such_column > 1").assignment_probabilities(visitors(), ARMS)
    with pytest.raises(ValueError, match="one True/False per visitor"):
        ArmForRule("free_ship", "tenure_days + 1").assignment_probabilities(visitors(), ARMS)
    with pytest.raises(ValueError, match="not one of arms"):
        ArmForRule("gift_card", "tenure_days < 3").assignment_probabilities(visitors(), ARMS)


# ------------------------------------------------------------------ cells
def test_cell_validation():
    Cell("a", Control(), 0)  # a zero-weight cell is allowed
    with pytest.raises(ValueError, match="id must be a non-empty"):
        Cell("", Control(), 0.5)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="weight must be in"):
            Cell("a", Control(), bad)
    with pytest.raises(TypeError, match="weight must be a number"):
        Cell("a", Control(), True)
    with pytest.raises(TypeError, match="policy must implement"):
        Cell("a", "control", 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Cell("a", Control(), 0.5).weight = 0.2


def test_validate_cell_weights():
    ok = validate_cell_weights([Cell("a", Control(), 0.3), Cell("b", Explore(), 0.7 + 5e-7)])
    assert isinstance(ok, tuple) and len(ok) == 2
    with pytest.raises(ValueError, match="sum to 1"):
        validate_cell_weights([Cell("a", Control(), 0.3), Cell("b", Explore(), 0.7 + 1e-5)])
    with pytest.raises(ValueError, match="unique; duplicated: \\['a'\\]"):
        validate_cell_weights([Cell("a", Control(), 0.5), Cell("a", Explore(), 0.5)])
    with pytest.raises(ValueError, match="empty"):
        validate_cell_weights([])
    with pytest.raises(TypeError, match="cells\\[1\\] must be a Cell"):
        validate_cell_weights([Cell("a", Control(), 1.0), "b"])


# ------------------------------------------------------------------ assignment
def test_marginal_propensities_are_the_weighted_cell_probabilities():
    x = visitors(20)
    cells = (
        Cell("control", Control(), 0.2),
        Cell("explore", Explore(), 0.3),
        Cell("tilt", TenureTilt(), 0.5),
    )
    tilt = TenureTilt().assignment_probabilities(x, ARMS)
    expected = 0.2 * np.array([1.0, 0, 0]) + 0.3 / 3 + 0.5 * tilt
    np.testing.assert_allclose(marginal_propensities(cells, x, ARMS), expected, rtol=1e-12)


def test_assignment_follows_cells_and_policies_chi_square():
    n = 60_000
    x = visitors(n, seed=1)
    cells = (
        Cell("control", Control(), 0.1),
        Cell("explore", Explore(), 0.3),
        Cell("tilt", TenureTilt(), 0.6),
    )
    result = assign_visitors(np.random.default_rng(7), cells, x, ARMS)
    # Cells are drawn by weight.
    observed_cells = np.bincount(result.cell_index, minlength=3)
    assert stats.chisquare(observed_cells, n * np.array([0.1, 0.3, 0.6])).pvalue > ALPHA
    # Arms follow the recorded marginal propensities: expected count = sum of propensities.
    observed_arms = np.bincount(result.arm_index, minlength=3)
    assert stats.chisquare(observed_arms, result.propensity.sum(axis=0)).pvalue > ALPHA
    # Within each cell, the arm follows that cell's policy.
    control_cell = result.cell_index == 0
    assert np.all(result.arm_index[control_cell] == 0)
    tilt_cell = result.cell_index == 2
    assert set(np.unique(result.arm_index[tilt_cell])) == {0, 2}
    share = x["tenure_days"].to_numpy()[tilt_cell] / 400.0
    got_free_ship = result.arm_index[tilt_cell] == 2
    # E[#free_ship] = Σ share; binomial-sum variance Σ share(1 - share); 4 SE tolerance.
    assert abs(got_free_ship.sum() - share.sum()) < 4 * np.sqrt(np.sum(share * (1 - share)))


def test_assignment_is_deterministic_given_the_generator():
    x = visitors(100)
    cells = cold_start_plan(ARMS, 100).cells
    a = assign_visitors(np.random.default_rng(3), cells, x, ARMS)
    b = assign_visitors(np.random.default_rng(3), cells, x, ARMS)
    np.testing.assert_array_equal(a.arm_index, b.arm_index)
    np.testing.assert_array_equal(a.cell_index, b.cell_index)


def test_a_zero_probability_arm_is_never_drawn():
    x = visitors(5_000)
    cells = (Cell("rule", ArmForRule("low_promo", "tenure_days >= 0"), 1.0),)
    result = assign_visitors(np.random.default_rng(0), cells, x, ARMS)
    assert np.all(result.arm_index == 1)


@dataclasses.dataclass(frozen=True)
class Broken:
    shape_off: bool

    def assignment_probabilities(self, covariates, arms):
        if self.shape_off:
            return np.full((len(covariates), len(arms) + 1), 0.25)
        return np.full((len(covariates), len(arms)), 0.5)

    def describe(self):
        return "broken"


@pytest.mark.parametrize(("shape_off", "message"), [(True, "shape"), (False, "sum to 1")])
def test_bad_policy_output_names_the_cell(shape_off, message):
    cells = (Cell("mine", Broken(shape_off), 1.0),)
    with pytest.raises(ValueError, match=f"cell 'mine'.*{message}"):
        assign_visitors(np.random.default_rng(0), cells, visitors(), ARMS)


# ------------------------------------------------------------------ plans
def test_cold_start_plan_is_control_and_explore_half_each():
    plan = cold_start_plan(ARMS, 50_000)
    assert plan.cell_ids == ("control", "explore")
    assert [c.weight for c in plan.cells] == [0.5, 0.5]
    assert isinstance(plan.cell("control").policy, Control)
    assert isinstance(plan.cell("explore").policy, Explore)
    assert plan.treatments == ARMS and plan.control == "control" and plan.n_visitors == 50_000
    assert plan.to_dict()["cells"][1] == {
        "id": "explore",
        "weight": 0.5,
        "policy": "uniform over all arms",
    }
    assert "50,000 visitors" in plan.describe()


@pytest.mark.parametrize("n", [0, -5])
def test_plan_rejects_non_positive_sizes(n):
    with pytest.raises(ValueError, match="n_visitors must be positive"):
        cold_start_plan(ARMS, n)


@pytest.mark.parametrize("n", [1.5, True, "100"])
def test_plan_rejects_non_integer_sizes(n):
    with pytest.raises(TypeError, match="n_visitors must be an integer"):
        cold_start_plan(ARMS, n)


def test_plan_validates_treatments_and_cells():
    with pytest.raises(ValueError, match="at least 2 arms"):
        cold_start_plan(["control"], 10)
    with pytest.raises(ValueError, match="duplicate"):
        cold_start_plan(["control", "a", "a"], 10)
    with pytest.raises(TypeError, match="sequence of arm names"):
        cold_start_plan("control", 10)
    with pytest.raises(ValueError, match="sum to 1"):
        NextRoundPlan(10, (Cell("control", Control(), 0.4),), ARMS)
    with pytest.raises(ValueError, match="'gift_card', which is not one of treatments"):
        NextRoundPlan(10, (Cell("h", ArmForRule("gift_card", "tenure_days < 9"), 1.0),), ARMS)


def test_with_cell_rescales_existing_cells_proportionally():
    plan = cold_start_plan(ARMS, 1000)
    hypothesis = Cell("new_ship", ArmForRule("free_ship", "tenure_days < 90"), 0.2)
    updated = plan.with_cell(hypothesis)
    assert updated.cell_ids == ("control", "explore", "new_ship")
    np.testing.assert_allclose([c.weight for c in updated.cells], [0.4, 0.4, 0.2])
    assert plan.cell_ids == ("control", "explore")  # the original plan is unchanged
    with pytest.raises(ValueError, match="already in the plan"):
        updated.with_cell(hypothesis)


def test_with_cell_take_from_protects_the_other_cells():
    plan = NextRoundPlan(
        1000,
        (
            Cell("control", Control(), 0.05),
            Cell("explore", Explore(), 0.05),
            Cell("optimized", Explore(), 0.9),
        ),
        ARMS,
    )
    updated = plan.with_cell(Cell("h", Control(), 0.1), take_from="optimized")
    np.testing.assert_allclose([c.weight for c in updated.cells], [0.05, 0.05, 0.8, 0.1])
    with pytest.raises(ValueError, match="less than the new cell's weight"):
        plan.with_cell(Cell("h", Control(), 0.1), take_from="control")
    with pytest.raises(KeyError, match="no cell with id 'nope'"):
        plan.with_cell(Cell("h", Control(), 0.1), take_from="nope")


def test_replace_cells_and_resize_return_new_validated_plans():
    plan = cold_start_plan(ARMS, 1000)
    explore_only = plan.replace_cells([Cell("explore", Explore(), 1.0)])
    assert explore_only.cell_ids == ("explore",) and explore_only.n_visitors == 1000
    assert plan.with_n_visitors(20).n_visitors == 20
    with pytest.raises(ValueError, match="sum to 1"):
        plan.replace_cells([Cell("explore", Explore(), 0.9)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.n_visitors = 5


@given(
    weights=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5),
    new_weight=st.floats(0.0, 1.0),
)
def test_with_cell_always_yields_a_valid_split_preserving_ratios(weights, new_weight):
    total = sum(weights)
    cells = [Cell(f"c{i}", Explore(), w / total) for i, w in enumerate(weights)]
    cells[-1] = Cell(cells[-1].id, Explore(), 1.0 - sum(c.weight for c in cells[:-1]))
    plan = NextRoundPlan(100, tuple(cells), ARMS)
    updated = plan.with_cell(Cell("new", Control(), new_weight))
    assert abs(sum(c.weight for c in updated.cells) - 1.0) < 1e-9
    assert updated.cell("new").weight == new_weight
    for old, new in zip(plan.cells, updated.cells, strict=False):
        assert new.weight == pytest.approx(old.weight * (1.0 - new_weight), abs=1e-12)
