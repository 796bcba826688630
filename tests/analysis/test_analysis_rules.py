"""Readable rules: string form round-trips and reproduces membership exactly."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytyche.analysis.binning import _shortest_cut, encode_covariates
from pytyche.analysis.rules import Condition, SegmentRule, apply_rule, parse_rule


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 500
    return pd.DataFrame(
        {
            "visits_30d": rng.integers(0, 10, n),
            "device": pd.Categorical(rng.choice(["mobile", "desktop", "smart tv"], n)),
            "order value": rng.normal(50, 10, n),
            "plan": rng.choice([1, 2, 3], n),
        }
    )


def test_rule_string_reads_back_to_the_same_rule():
    rule = SegmentRule(
        (
            Condition("visits_30d", "<", 4.0),
            Condition("device", "in", ("mobile", "smart tv")),
            Condition("order value", ">=", 12.5),
            Condition("plan", "not in", (1,)),
        )
    )
    text = str(rule)
    assert text == (
        "visits_30d < 4 and device in {mobile, 'smart tv'} and `order value` >= 12.5 "
        "and plan not in {1}"
    )
    data = frame()
    np.testing.assert_array_equal(apply_rule(data, text), rule.mask(data))
    assert str(parse_rule(text)) == text


def test_rule_masks_match_pandas_expressions():
    data = frame()
    expected = (
        (data["visits_30d"] < 4)
        & data["device"].isin(["mobile", "smart tv"])
        & ~data["plan"].isin([1])
    ).to_numpy()
    got = apply_rule(data, "visits_30d < 4 and device in {mobile, 'smart tv'} and plan not in {1}")
    np.testing.assert_array_equal(got, expected)
    assert apply_rule(data, "all visitors").all()


def test_path_simplification_tightens_bounds_and_intersects_sets():
    path = (
        Condition("x", "<", 10.0),
        Condition("device", "not in", ("tv",)),
        Condition("x", ">=", 2.0),
        Condition("x", "<", 5.0),
        Condition("device", "in", ("mobile", "tv", "desktop")),
    )
    assert str(SegmentRule.from_path(path)) == "x >= 2 and x < 5 and device in {mobile, desktop}"


@pytest.mark.parametrize(
    ("lower", "upper", "expected"),
    [(3.0, 4.0, 4.0), (0.2471, 0.2533, 0.25), (-1.5, -1.2, -1.4), (999.0, 1020.0, 1000.0)],
)
def test_shortest_cut_is_the_shortest_decimal_in_the_gap(lower, upper, expected):
    cut = _shortest_cut(lower, upper)
    assert lower < cut <= upper
    assert cut == expected


def test_numeric_cuts_print_exactly_and_reproduce_bins():
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(size=3000) * 1e-3 + 7.0})
    column = encode_covariates(data, max_bins=16).columns[0]
    for split in range(column.n_splits):
        left, _ = column.conditions(split)
        by_rule = apply_rule(data, str(left))
        by_bins = column.left_bins[split][column.encode(data["x"])]
        np.testing.assert_array_equal(by_rule, by_bins)


@pytest.mark.parametrize(
    "text",
    ["x <", "x < 4 and", "x = 4", "x in {a", "x in a}", "x < four", "x not {a}"],
)
def test_malformed_rules_raise_value_error(text):
    with pytest.raises(ValueError, match="rule"):
        parse_rule(text)


def test_rule_on_missing_column_names_it():
    with pytest.raises(ValueError, match="'absent'"):
        apply_rule(frame(), "absent < 3")


NAMES = st.text(alphabet="ab ,{}'\"-_.1<>=", min_size=1, max_size=6)


@given(
    column=NAMES,
    labels=st.lists(NAMES, min_size=2, max_size=5, unique=True),
    threshold=st.floats(allow_nan=False, allow_infinity=False, width=64),
    data=st.data(),
)
def test_any_names_labels_and_thresholds_round_trip(column, labels, threshold, data):
    chosen = tuple(data.draw(st.lists(st.sampled_from(labels), min_size=1, unique=True)))
    op = data.draw(st.sampled_from(["in", "not in"]))
    rule = SegmentRule((Condition(column, op, chosen), Condition("x", "<", threshold)))
    parsed = parse_rule(str(rule))
    assert str(parsed) == str(rule)
    assert parsed.conditions[0].column == column
    assert parsed.conditions[1].threshold == threshold
    rng = np.random.default_rng(0)
    near = [np.nextafter(threshold, -np.inf), threshold, np.nextafter(threshold, np.inf)]
    frame = pd.DataFrame(
        {column: pd.Categorical(rng.choice(labels, 50)), "x": rng.choice(near, 50)}
    )
    np.testing.assert_array_equal(apply_rule(frame, str(rule)), rule.mask(frame))
