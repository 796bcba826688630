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
    ],
    ids=["attribute", "private_slot", "item", "iteration", "array"],
)
def test_truth_cannot_be_read_without_the_accessor(attempt):
    with pytest.raises(TruthGuardError, match="simulation truth is sealed"):
        attempt(make_truth())


def test_truth_has_no_instance_dict_to_read():
    """``vars()`` raises Python's own TypeError: Truth uses ``__slots__``, so no ``__dict__``.

    The guard does not intercept this (it is not a TruthGuardError), but nothing leaks.
    """
    with pytest.raises(TypeError, match="__dict__"):
        vars(make_truth())


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


class _ConstantRewardPosterior:
    """Stand-in for the BCF fit: noisy reward draws around fixed arm means (milliseconds)."""

    def __init__(self, data, seed):
        rng = np.random.default_rng(seed)
        means = np.array([1.0, 1.1, 1.2])
        self._draws = means + 0.05 * rng.standard_normal((64, data.n_visitors, 3))

    def reward_draws(self, metric=None, *, visitors=None):
        return self._draws if visitors is None else self._draws[:, visitors]


@pytest.mark.filterwarnings("ignore::pytyche.analysis.convergence.ConvergenceWarning")
def test_uncalibrated_warning_is_a_user_warning(monkeypatch):
    """An experiment run without a calibration artifact warns, once, with a UserWarning.

    Both entry points (``advance`` on simulated rounds, ``ingest`` on real data) warn at the
    caller's line; the fit is replaced by a stand-in, the rest of the round is real.
    """
    assert issubclass(UncalibratedWarning, UserWarning)
    monkeypatch.setattr(
        "pytyche.experiment.sequential.fit",
        lambda data, *, seed=0, **kwargs: _ConstantRewardPosterior(data, seed),
    )
    generator = pytyche.simulated_experiment_generator(
        template="constant", K=3, seed=1, treatment_names=ARMS
    )
    schedule = pytyche.ExplicitSchedule((400, 400))
    simulated = pytyche.sequential_experiment(generator, schedule, ARMS, seed=3, n_bootstrap=0)
    with pytest.warns(UserWarning) as record:
        first = simulated.advance()
    # (the 64 stand-in draws may also raise a ConvergenceWarning; it is not under test)
    (warning,) = [w for w in record if w.category is UncalibratedWarning]
    assert "posterior intervals are uncalibrated" in str(warning.message)
    assert warning.filename == __file__
    assert first.interval_claim is ClaimLevel.POSTERIOR
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncalibratedWarning)
        simulated.advance()  # once per experiment, not per round

    real = pytyche.sequential_experiment(None, schedule, ARMS, seed=3, n_bootstrap=0)
    data, _ = generator(0, real.next_recommendation)
    with pytest.warns(UncalibratedWarning, match="uncalibrated") as record:
        real.ingest(data)
    (warning,) = [w for w in record if w.category is UncalibratedWarning]
    assert warning.filename == __file__


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
