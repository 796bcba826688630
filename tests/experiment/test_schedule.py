"""Tests of round-size schedules."""

import pytest

from pytyche.experiment.schedule import (
    ExplicitSchedule,
    FixedSchedule,
    GeometricSchedule,
    Schedule,
    schedule_sizes,
)


def test_geometric_schedule_is_the_tutorial_doubling():
    schedule = GeometricSchedule(initial=50_000, growth=2.0, n_rounds=3)
    assert schedule_sizes(schedule) == (50_000, 100_000, 200_000)
    assert schedule.next_round_size(3) is None
    assert schedule_sizes(GeometricSchedule(1_000, growth=1.5, n_rounds=4)) == (
        1_000,
        1_500,
        2_250,
        3_375,
    )


def test_open_ended_schedules_need_a_limit():
    schedule = GeometricSchedule(100)
    assert schedule.next_round_size(10) == 102_400
    with pytest.raises(ValueError, match="max_rounds"):
        schedule_sizes(schedule)
    assert schedule_sizes(schedule, max_rounds=2) == (100, 200)


def test_fixed_and_explicit_schedules():
    assert schedule_sizes(FixedSchedule(500, n_rounds=3)) == (500, 500, 500)
    explicit = ExplicitSchedule([10, 20, 5])
    assert explicit.n_rounds == 3
    assert schedule_sizes(explicit) == (10, 20, 5)
    assert explicit.next_round_size(3) is None


def test_custom_schedules_follow_the_protocol():
    class Halving:
        n_rounds = 3

        def next_round_size(self, rounds_completed):
            return 800 // 2**rounds_completed

    assert isinstance(Halving(), Schedule)
    assert schedule_sizes(Halving()) == (800, 400, 200)
    with pytest.raises(TypeError, match="next_round_size"):
        schedule_sizes(object())


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: GeometricSchedule(0), ValueError, "initial must be positive"),
        (lambda: GeometricSchedule(10, growth=0), ValueError, "growth"),
        (lambda: GeometricSchedule(10.5), TypeError, "initial must be an integer"),
        (lambda: GeometricSchedule(10, n_rounds=0), ValueError, "n_rounds"),
        (lambda: FixedSchedule(-5), ValueError, "per_round"),
        (lambda: ExplicitSchedule([]), ValueError, "at least one"),
        (lambda: ExplicitSchedule([10, 0]), ValueError, r"sizes\[1\]"),
        (lambda: ExplicitSchedule("100"), TypeError, "sequence"),
        (lambda: GeometricSchedule(1, growth=0.1).next_round_size(2), ValueError, "fewer"),
        (lambda: FixedSchedule(5).next_round_size(-1), ValueError, "rounds_completed"),
    ],
)
def test_bad_schedules_are_rejected(build, error, message):
    with pytest.raises(error, match=message):
        build()
