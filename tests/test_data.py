"""Tests of the experiment data schema (pytyche.data)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytyche.contracts import MetricFamily, Truth, TruthData, TruthGuardError
from pytyche.data import (
    HURDLE_ZERO_SHARE,
    DataValidationError,
    RoundData,
    concat_rounds,
    infer_family,
    read_round,
)

ARMS = ("control", "promo", "ship")


def make_frame(n=60, seed=0, with_propensity=True, round_index=None, id_offset=0):
    rng = np.random.default_rng(seed)
    arm = np.array(ARMS)[np.arange(n) % 3]
    converted = rng.random(n) < 0.4
    frame = pd.DataFrame(
        {
            "visitor_id": np.arange(n) + id_offset,
            "visits": rng.integers(0, 10, n),
            "tenure": rng.normal(size=n),
            "device": rng.choice(["mobile", "desktop"], n),
            "arm": arm,
            "revenue": np.where(converted, rng.lognormal(3, 1, n), 0.0),
        }
    )
    if with_propensity:
        for a in ARMS:
            frame[f"propensity_{a}"] = 1 / 3
    if round_index is not None:
        frame["round"] = round_index
    return frame


def build(frame, **kwargs):
    kwargs.setdefault("arms", ARMS)
    kwargs.setdefault("categorical", ["device"])
    kwargs.setdefault("id_column", "visitor_id")
    return RoundData.from_frame(frame, **kwargs)


# ---------------------------------------------------------------- valid frames
@st.composite
def valid_frames(draw):
    n = draw(st.integers(min_value=4, max_value=40))
    k = draw(st.integers(min_value=2, max_value=5))
    arms = tuple(f"arm{i}" for i in range(k))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    arm_idx = np.concatenate([np.arange(k), rng.integers(0, k, max(n - k, 0))])
    n = len(arm_idx)
    probs = rng.dirichlet(np.ones(k), size=n)
    outcome = np.where(rng.random(n) < 0.5, 0.0, rng.exponential(5.0, n))
    outcome[0], outcome[1] = 0.0, 3.5  # never constant
    frame = pd.DataFrame(
        {
            "x_num": rng.normal(size=n),
            "x_int": rng.integers(-3, 3, n),
            "x_cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "arm": np.array(arms)[arm_idx],
            "revenue": outcome,
        }
    )
    for j, a in enumerate(arms):
        frame[f"propensity_{a}"] = probs[:, j]
    return frame, arms


@given(valid_frames())
def test_valid_frames_round_trip_encoding(case):
    frame, arms = case
    data = RoundData.from_frame(frame, arms=arms)
    assert data.n_visitors == len(frame)
    assert data.arms == arms
    assert data.covariates == ("x_num", "x_int", "x_cat")
    X = data.X
    assert X.shape == (len(frame), 3)
    np.testing.assert_array_equal(X[:, 0], frame["x_num"].to_numpy())
    decoded = np.array(data.categories["x_cat"])[X[:, 2].astype(int)]
    np.testing.assert_array_equal(decoded, frame["x_cat"].astype(str).to_numpy())
    np.testing.assert_array_equal(np.array(arms)[data.arm_index], frame["arm"].to_numpy())
    np.testing.assert_allclose(data.propensity.sum(axis=1), 1.0, atol=1e-9)


@given(valid_frames(), st.integers(1, 4))
def test_concat_keeps_every_row_once(case, n_rounds):
    frame, arms = case
    rounds = [RoundData.from_frame(frame, arms=arms, round_index=r) for r in range(n_rounds)]
    combined = concat_rounds(rounds)
    assert combined.n_visitors == n_rounds * len(frame)
    np.testing.assert_array_equal(np.bincount(combined.round), [len(frame)] * n_rounds)
    np.testing.assert_array_equal(combined.y, np.tile(frame["revenue"].to_numpy(), n_rounds))
    np.testing.assert_allclose(combined.propensity, np.tile(rounds[0].propensity, (n_rounds, 1)))


def test_control_is_stored_first_and_named_explicitly():
    data = build(make_frame(), arms=("promo", "control", "ship"), control="control")
    assert data.arms == ("control", "promo", "ship")
    assert data.control == "control"
    assert set(data.arm_index[data.frame["arm"] == "control"]) == {0}


def test_encode_new_visitors_like_training_data():
    data = build(make_frame())
    new = make_frame(n=9, seed=5)
    codes = data.encode(new)[:, data.covariates.index("device")]
    expected = [data.categories["device"].index(v) for v in new["device"]]
    np.testing.assert_array_equal(codes, expected)
    new.loc[0, "device"] = "smart_tv"
    with pytest.raises(DataValidationError, match="'device'.*smart_tv"):
        data.encode(new)


def test_concat_merges_new_category_levels_without_recoding_old_ones():
    first = build(make_frame(round_index=0))
    later = make_frame(round_index=1, id_offset=1000)
    later.loc[0, "device"] = "tablet"
    combined = concat_rounds([first, build(later)])
    labels = combined.categories["device"]
    assert labels[: len(first.categories["device"])] == first.categories["device"]
    assert "tablet" in labels
    np.testing.assert_array_equal(combined.X[: first.n_visitors], first.X)


def test_concat_rejects_the_same_visitor_twice():
    r0 = build(make_frame(round_index=0))
    with pytest.raises(DataValidationError, match="'visitor_id'.*more than one round"):
        concat_rounds([r0, build(make_frame(round_index=1))])


def test_concat_rejects_mismatched_arms():
    r0 = build(make_frame(round_index=0))
    frame = make_frame(round_index=1, id_offset=100, with_propensity=False)
    frame["arm"] = np.where(frame["arm"] == "ship", "promo", frame["arm"])
    r1 = RoundData.from_frame(
        frame, arms=("control", "promo"), categorical=["device"], id_column="visitor_id"
    )
    with pytest.raises(DataValidationError, match="arms"):
        concat_rounds([r0, r1])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_read_round_from_files(tmp_path, suffix):
    frame = make_frame()
    path = tmp_path / f"round{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    data = read_round(path, arms=ARMS, categorical=["device"], id_column="visitor_id")
    np.testing.assert_allclose(data.y, frame["revenue"].to_numpy())
    with pytest.raises(DataValidationError, match="expected a .parquet"):
        (tmp_path / "round.txt").write_text("x")
        read_round(tmp_path / "round.txt", arms=ARMS)


# ---------------------------------------------------------------- family rule
def test_family_inference_rule():
    assert infer_family(np.array([0, 1, 1, 0])) is MetricFamily.BINARY
    zeros = int(np.ceil(HURDLE_ZERO_SHARE * 100))
    hurdle = np.r_[np.zeros(zeros), np.full(100 - zeros, 12.5)]
    assert infer_family(hurdle) is MetricFamily.HURDLE
    assert infer_family(np.r_[np.zeros(5), np.full(95, 2.0)]) is MetricFamily.CONTINUOUS
    assert infer_family(np.array([-1.0, 2.0, 0.5])) is MetricFamily.CONTINUOUS


def test_family_override_and_signed_continuous():
    frame = make_frame()
    assert build(frame).family is MetricFamily.HURDLE
    assert build(frame, family="continuous").family is MetricFamily.CONTINUOUS
    frame["revenue"] = np.linspace(-1, 1, len(frame))
    assert build(frame, family="continuous").family is MetricFamily.CONTINUOUS


# ---------------------------------------------------------------- bad inputs
def _drop(col):
    return lambda f: f.drop(columns=[col])


def _set(col, row, value):
    def edit(f):
        f = f.copy()
        f[col] = f[col].astype(object) if isinstance(value, str) else f[col]
        f.loc[row, col] = value
        return f

    return edit


def _propensity_rows(f):
    f = f.copy()
    f["propensity_control"] = 0.5
    return f


def _zero_own_propensity(f):
    f = f.copy()
    row = int(np.flatnonzero(f["arm"] == "promo")[0])
    f.loc[row, "propensity_promo"] = 0.0
    f.loc[row, "propensity_control"] = 2 / 3
    return f


def _only_control(f):
    f = f.copy()
    f["arm"] = "control"
    return f


BAD_INPUTS = {
    "missing outcome column": (_drop("revenue"), {}, "outcome column 'revenue'"),
    "missing arm column": (_drop("arm"), {}, "arm column 'arm'"),
    "missing id column": (_drop("visitor_id"), {}, "id_column column 'visitor_id'"),
    "unknown arm": (_set("arm", 3, "mystery"), {}, "arm column 'arm'.*mystery"),
    "arm without visitors": (_only_control, {}, "arm column 'arm'.*no visitors"),
    "fewer than two arms": (lambda f: f, {"arms": ("control",)}, "arms.*at least 2"),
    "control not an arm": (lambda f: f, {"control": "baseline"}, "control 'baseline'"),
    "negative outcome": (_set("revenue", 2, -3.0), {}, "outcome column 'revenue'.*negative"),
    "NaN outcome": (_set("revenue", 2, np.nan), {}, "outcome column 'revenue'.*NaN"),
    "inf outcome": (_set("revenue", 2, np.inf), {}, "outcome column 'revenue'.*infinite"),
    "NaN covariate": (_set("tenure", 1, np.nan), {}, "covariate column 'tenure'.*missing"),
    "inf covariate": (_set("tenure", 1, np.inf), {}, "covariate column 'tenure'.*infinite"),
    "undeclared text covariate": (
        lambda f: f,
        {"categorical": []},
        "covariate column 'device'.*categorical",
    ),
    "propensity above one": (
        _set("propensity_ship", 0, 1.5),
        {},
        "propensity column 'propensity_ship'.*outside",
    ),
    "propensity rows not summing to one": (_propensity_rows, {}, "sum to 1"),
    "zero propensity for received arm": (
        _zero_own_propensity,
        {},
        "propensity column 'propensity_promo'.*received",
    ),
    "missing propensity column": (
        _drop("propensity_ship"),
        {},
        "propensity columns.*missing \\['propensity_ship'\\]",
    ),
    "duplicate visitor id": (_set("visitor_id", 5, 0), {}, "'visitor_id'.*duplicate"),
    "empty frame": (lambda f: f.iloc[:0], {}, "frame is empty"),
    "all-zero outcome": (lambda f: f.assign(revenue=0.0), {}, "'revenue' is all zero"),
    "unknown family": (lambda f: f, {"family": "poisson"}, "family must be"),
    "categorical not a covariate": (
        lambda f: f,
        {"categorical": ["device", "colour"]},
        "categorical.*colour",
    ),
    "non-binary outcome for binary family": (lambda f: f, {"family": "binary"}, "0/1"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_with_a_named_error(name):
    edit, kwargs, message = BAD_INPUTS[name]
    with pytest.raises(DataValidationError, match=message):
        build(edit(make_frame()), **kwargs)


def test_truth_passed_as_frame_is_refused():
    truth = Truth(
        TruthData(
            arms=ARMS,
            visitor_id=np.arange(3),
            conversion_probability=np.full((3, 3), 0.1),
            mean_spend=np.full((3, 3), 20.0),
            rpv=np.full((3, 3), 2.0),
        )
    )
    with pytest.raises(TruthGuardError, match="'frame' expects observed data"):
        RoundData.from_frame(truth, arms=ARMS)
