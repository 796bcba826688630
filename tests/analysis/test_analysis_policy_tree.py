"""Policy tree: exactness against brute force, planted recovery, econml, rules, routing."""

import warnings

import numpy as np
import pandas as pd
import pytest

from pytyche.analysis import PolicyTreeConfig, apply_rule, fit_policy_tree
from pytyche.analysis.binning import encode_covariates
from pytyche.analysis.policy_tree import PolicyLeaf, PolicySplit

ARMS = ("control", "a", "b")


def small_problem(seed: int, n: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame(
        {
            "x": rng.integers(0, 6, n),
            "device": pd.Categorical(rng.choice(["mobile", "desktop", "tablet", "tv"], n)),
            "z": rng.normal(size=n).round(2),
        }
    )
    rewards = rng.normal(size=(n, 3))
    return covariates, rewards


def brute_force_welfare(covariates, rewards, depth, min_share, max_bins):
    """Best welfare over all trees of depth <= depth, by explicit recursion over splits."""
    encoding = encode_covariates(covariates, max_bins=max_bins)
    splits = [
        column.left_bins[s][encoding.codes[:, j]]
        for j, column in enumerate(encoding.columns)
        for s in range(column.n_splits)
    ]
    min_count = min_share * len(rewards) * (1 - 1e-12)

    def best(members: np.ndarray, d: int) -> float:
        value = rewards[members].sum(axis=0).max()
        if d == 0:
            return value
        for go_left in splits:
            left, right = members & go_left, members & ~go_left
            if left.sum() >= min_count and right.sum() >= min_count:
                value = max(value, best(left, d - 1) + best(right, d - 1))
        return value

    return best(np.ones(len(rewards), dtype=bool), depth)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("depth", [1, 2])
def test_exact_search_equals_brute_force(seed, depth):
    covariates, rewards = small_problem(seed)
    config = PolicyTreeConfig(max_depth=depth, min_segment_share=0.1, max_bins=8)
    tree = fit_policy_tree(covariates, rewards, ARMS, config=config)
    expected = brute_force_welfare(covariates, rewards, depth, 0.1, 8)
    assert tree.search == "exact"
    assert tree.welfare == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("seed", range(2))
def test_exact_depth3_equals_brute_force(seed):
    covariates, rewards = small_problem(seed, n=40)
    covariates = covariates[["x", "device"]]
    config = PolicyTreeConfig(max_depth=3, min_segment_share=0.1, max_bins=8)
    tree = fit_policy_tree(covariates, rewards, ARMS, config=config)
    assert tree.search == "exact"
    expected = brute_force_welfare(covariates, rewards, 3, 0.1, 8)
    assert tree.welfare == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_hybrid_depth3_lies_between_exact_depth2_and_exact_depth3():
    covariates, rewards = small_problem(7, n=200)
    welfare = {}
    for name, depth, budget in [("d2", 2, 1e7), ("hybrid", 3, 0.0), ("exact", 3, 1e12)]:
        config = PolicyTreeConfig(
            max_depth=depth, min_segment_share=0.05, exact_depth3_budget=budget
        )
        tree = fit_policy_tree(covariates, rewards, ARMS, config=config)
        welfare[name] = tree.welfare
        if name == "hybrid":
            assert tree.search == "hybrid"
    assert welfare["d2"] - 1e-9 <= welfare["hybrid"] <= welfare["exact"] + 1e-9


def planted_problem(n: int = 2000, seed: int = 1):
    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame(
        {
            "visits_30d": rng.integers(0, 10, n),
            "device": pd.Categorical(rng.choice(["mobile", "desktop", "tablet"], n)),
            "region": pd.Categorical(rng.choice(["north", "south", "east"], n)),
            "age": rng.integers(18, 70, n),
        }
    )
    planted = {
        "visits_30d < 4 and device in {mobile}": (0.0, 1.0, 0.2),
        "visits_30d < 4 and device not in {mobile}": (0.0, 0.1, 1.0),
        "visits_30d >= 4 and region in {north}": (1.0, 0.0, 0.0),
        "visits_30d >= 4 and region not in {north}": (0.0, 0.5, 0.8),
    }
    rewards = np.zeros((n, 3))
    for rule, values in planted.items():
        rewards[apply_rule(covariates, rule)] = values
    return covariates, rewards, planted


def test_planted_four_leaf_partition_is_recovered_exactly():
    covariates, rewards, planted = planted_problem()
    tree = fit_policy_tree(covariates, rewards, ARMS, config=PolicyTreeConfig(max_depth=3))
    assert tree.search == "exact"
    assert {str(rule) for rule in tree.rules} == set(planted)
    leaves = tree.route(covariates)
    for leaf, rule in enumerate(tree.rules):
        np.testing.assert_array_equal(leaves == leaf, apply_rule(covariates, str(rule)))
        assert ARMS[tree.leaf_arms[leaf]] == ARMS[int(np.argmax(planted[str(rule)]))]
    assert tree.welfare == pytest.approx(rewards.max(axis=1).sum())


def test_rule_strings_reproduce_leaf_membership_on_continuous_data():
    rng = np.random.default_rng(5)
    n = 3000
    covariates = pd.DataFrame(
        {
            "spend_90d": rng.lognormal(3, 1, n),
            "tenure": rng.normal(size=n),
            "browser": rng.choice(["chrome", "safari", "firefox", "edge", "other"], n),
            "member": rng.random(n) < 0.3,
        }
    )
    rewards = rng.normal(size=(n, 3)) + np.outer(covariates["tenure"], [0, 1, -1])
    tree = fit_policy_tree(covariates, rewards, ARMS, config=PolicyTreeConfig(max_depth=3))
    leaves = tree.route(covariates)
    assert tree.n_leaves >= 2
    for leaf, rule in enumerate(tree.rules):
        np.testing.assert_array_equal(apply_rule(covariates, str(rule)), leaves == leaf)


def test_leaves_respect_min_share_and_same_arm_siblings_are_merged():
    covariates, rewards = small_problem(11, n=400)
    config = PolicyTreeConfig(max_depth=3, min_segment_share=0.15)
    tree = fit_policy_tree(covariates, rewards, ARMS, config=config)
    counts = np.bincount(tree.route(covariates), minlength=tree.n_leaves)
    assert counts.min() >= 0.15 * len(covariates)

    def check(node):
        if isinstance(node, PolicySplit):
            both_leaves = isinstance(node.left, PolicyLeaf) and isinstance(node.right, PolicyLeaf)
            assert not (both_leaves and node.left.arm == node.right.arm)
            check(node.left)
            check(node.right)

    check(tree.root)


def test_route_new_frame_matches_rules_and_unseen_category_goes_to_not_in_side():
    covariates, rewards, _ = planted_problem()
    tree = fit_policy_tree(covariates, rewards, ARMS)
    new = pd.DataFrame(
        {
            "visits_30d": [1, 1, 9, 9],
            "device": ["mobile", "smartwatch", "desktop", "mobile"],
            "region": ["south", "north", "north", "west"],
            "age": [30, 30, 30, 30],
        }
    )
    leaves = tree.route(new)
    for leaf, rule in enumerate(tree.rules):
        np.testing.assert_array_equal(leaves == leaf, apply_rule(new, rule))
    assert [ARMS[a] for a in tree.recommend(new)] == ["a", "b", "control", "b"]


def test_welfare_at_least_econml_policy_tree_at_equal_depth():
    with warnings.catch_warnings():
        # econml's import chain emits deprecation warnings from third-party packages
        warnings.simplefilter("ignore")
        from econml.policy import PolicyTree as EconmlPolicyTree
    rng = np.random.default_rng(2)
    n = 1500
    covariates = pd.DataFrame({f"x{j}": rng.integers(0, 20, n).astype(float) for j in range(4)})
    signal = np.stack(
        [np.zeros(n), np.sin(covariates["x0"] / 3.0), (covariates["x1"] - 10) / 10.0], axis=1
    )
    rewards = signal + 0.5 * rng.normal(size=(n, 3))
    for depth in (1, 2, 3):
        min_leaf = 50
        config = PolicyTreeConfig(max_depth=depth, min_segment_share=min_leaf / n)
        ours = fit_policy_tree(covariates, rewards, ARMS, config=config)
        peer = EconmlPolicyTree(max_depth=depth, min_samples_leaf=min_leaf, random_state=0)
        peer.fit(covariates.to_numpy(), rewards)
        peer_welfare = rewards[np.arange(n), peer.predict(covariates.to_numpy())].sum()
        assert ours.search == "exact"
        assert ours.welfare >= peer_welfare - 1e-9, (depth, ours.welfare, peer_welfare)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reward_mean": np.zeros((5, 3))}, "reward_mean must have shape"),
        ({"arm_names": ("control", "a")}, "reward_mean must have shape"),
        ({"reward_mean": np.full((10, 3), np.nan)}, "NaN"),
        ({"covariates": pd.DataFrame({"x": [1.0] * 9 + [np.nan]})}, "'x' has 1 missing"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, match):
    arguments = {
        "covariates": pd.DataFrame({"x": np.arange(10.0)}),
        "reward_mean": np.zeros((10, 3)),
        "arm_names": ARMS,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit_policy_tree(arguments["covariates"], arguments["reward_mean"], arguments["arm_names"])


def test_config_validation():
    with pytest.raises(ValueError, match="max_depth"):
        PolicyTreeConfig(max_depth=0)
    with pytest.raises(ValueError, match="min_segment_share"):
        PolicyTreeConfig(min_segment_share=0.0)


def test_deeper_trees_use_the_hybrid_and_never_lose_welfare():
    covariates, rewards = small_problem(13, n=400)
    welfare = []
    for depth in (2, 3, 4):
        config = PolicyTreeConfig(max_depth=depth, min_segment_share=0.05)
        tree = fit_policy_tree(covariates, rewards, ARMS, config=config)
        welfare.append(tree.welfare)
        leaves = tree.route(covariates)
        for leaf, rule in enumerate(tree.rules):
            assert len(rule.conditions) <= 2 * depth  # at most two bounds per path column
            np.testing.assert_array_equal(apply_rule(covariates, rule), leaves == leaf)
    assert tree.search == "hybrid"
    assert welfare[0] <= welfare[1] + 1e-9 <= welfare[2] + 2e-9


def test_two_arms_and_a_single_leaf_when_no_split_helps():
    covariates = pd.DataFrame({"x": np.arange(100) % 7, "flag": np.arange(100) % 2 == 0})
    rewards = np.column_stack([np.zeros(100), np.full(100, 0.1)])
    tree = fit_policy_tree(covariates, rewards, ("control", "a"))
    assert tree.n_leaves == 1 and str(tree.rules[0]) == "all visitors"
    assert tree.leaf_arms == (1,)
    rewards[:, 1] = np.where(covariates["flag"], 0.1, -0.1)
    tree = fit_policy_tree(covariates, rewards, ("control", "a"))
    assert {str(r) for r in tree.rules} == {"flag in {True}", "flag in {False}"}
