"""Tests of the honesty contracts: claim levels and the truth guard."""

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import pytyche
from pytyche.contracts import (
    ClaimLevel,
    Truth,
    TruthData,
    TruthGuardError,
    UncalibratedWarning,
    ensure_not_truth,
    reveal_truth,
)

ARMS = ("control", "a", "b")


def make_truth(n=4, offset=0):
    rpv = np.arange(n * 3, dtype=float).reshape(n, 3)
    return Truth(
        TruthData(
            arms=ARMS,
            visitor_id=np.arange(n) + offset,
            conversion_probability=np.full((n, 3), 0.05),
            mean_spend=rpv / 0.05,
            rpv=rpv,
            segment_labels=np.array(["s"] * n),
        )
    )


def test_claim_levels_are_distinct_labels():
    levels = {level.value for level in ClaimLevel}
    assert levels == {
        "observed",
        "uncalibrated posterior",
        "calibrated posterior",
        "simulation truth",
    }


@pytest.mark.parametrize(
    "attempt",
    [
        lambda t: t.rpv,
        lambda t: t._sealed.rpv,
        lambda t: t["rpv"],
        lambda t: list(t),
        lambda t: np.asarray(t),
        lambda t: vars(t),
    ],
)
def test_truth_cannot_be_read_without_the_accessor(attempt):
    with pytest.raises((TruthGuardError, TypeError)):
        attempt(make_truth())


def test_truth_is_immutable():
    truth = make_truth()
    with pytest.raises(TruthGuardError):
        truth.rpv = None


def test_reveal_truth_is_the_one_door():
    data = reveal_truth(make_truth())
    assert data.claim_level is ClaimLevel.SIMULATION_TRUTH
    np.testing.assert_array_equal(data.optimal_arm, [2, 2, 2, 2])
    np.testing.assert_array_equal(data.cate, data.rpv[:, 1:] - data.rpv[:, :1])
    with pytest.raises(TypeError, match="reveal_truth expects"):
        reveal_truth(data)


def test_truths_of_rounds_concatenate_in_order_and_survive_pickling():
    both = make_truth(3) + make_truth(2, offset=3)
    assert len(both) == 5
    data = reveal_truth(pickle.loads(pickle.dumps(both)))
    np.testing.assert_array_equal(data.visitor_id, np.arange(5))
    assert "sealed" in repr(both)


def test_truth_where_observed_data_is_expected_raises():
    with pytest.raises(TruthGuardError, match="'observed' expects observed data"):
        ensure_not_truth(make_truth(), "observed")
    ensure_not_truth(np.zeros(3), "observed")  # observed data passes


def test_uncalibrated_warning_is_a_user_warning():
    with pytest.warns(UncalibratedWarning):
        warnings.warn("uncalibrated", UncalibratedWarning, stacklevel=1)
    assert issubclass(UncalibratedWarning, UserWarning)


def test_only_truth_comparison_modules_call_reveal_truth():
    """The truth door is greppable: analysis/allocation code never opens it."""
    root = Path(pytyche.__file__).parent
    allowed = {"contracts.py", "truth_comparison.py"}
    callers = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if re.search(r"\breveal_truth\(", path.read_text()) and path.name not in allowed
    ]
    assert callers == [], f"reveal_truth called outside truth comparison: {callers}"
