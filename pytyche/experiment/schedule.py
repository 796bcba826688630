"""Round-size schedules: how many visitors each round of a sequential experiment gets.

A schedule answers one question, :meth:`Schedule.next_round_size`: given how many rounds
have been completed, how large is the next one (``None`` when the experiment is over)?
Three are built in; any object with the same two members is a schedule too.

- :class:`GeometricSchedule` — ``round(initial * growth**i)``: doubling batches give early
  rounds for exploration and late rounds the data for narrow intervals.
- :class:`FixedSchedule` — the same size every round.
- :class:`ExplicitSchedule` — a list of sizes.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "ExplicitSchedule",
    "FixedSchedule",
    "GeometricSchedule",
    "Schedule",
    "schedule_sizes",
]


@runtime_checkable
class Schedule(Protocol):
    """Anything that sizes rounds.

    Attributes
    ----------
    n_rounds : int or None
        Number of rounds, or ``None`` for an open-ended schedule (stopped by the operator).
    """

    @property
    def n_rounds(self) -> int | None: ...

    def next_round_size(self, rounds_completed: int) -> int | None:
        """Visitors in the next round, or ``None`` when the schedule is exhausted."""
        ...


def _check_count(value: object, name: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {value}")
    return int(value)


def _check_rounds_completed(rounds_completed: int) -> int:
    return _check_count(rounds_completed, "rounds_completed", allow_zero=True)


@dataclass(frozen=True)
class GeometricSchedule:
    """Round ``i`` (0-based) gets ``round(initial * growth**i)`` visitors.

    Parameters
    ----------
    initial : int
        Visitors in the first round (positive).
    growth : float
        Ratio between consecutive rounds (positive; 2.0 doubles).
    n_rounds : int, optional
        Number of rounds; ``None`` for open-ended.
    """

    initial: int
    growth: float = 2.0
    n_rounds: int | None = None

    def __post_init__(self) -> None:
        _check_count(self.initial, "initial")
        if not isinstance(self.growth, numbers.Real) or not self.growth > 0:
            raise ValueError(f"growth must be a positive number, got {self.growth!r}")
        if self.n_rounds is not None:
            _check_count(self.n_rounds, "n_rounds")

    def next_round_size(self, rounds_completed: int) -> int | None:
        i = _check_rounds_completed(rounds_completed)
        if self.n_rounds is not None and i >= self.n_rounds:
            return None
        size = round(self.initial * float(self.growth) ** i)
        if size < 1:
            raise ValueError(
                f"GeometricSchedule(initial={self.initial}, growth={self.growth}) gives round "
                f"{i + 1} fewer than one visitor; use a larger initial or growth"
            )
        return size


@dataclass(frozen=True)
class FixedSchedule:
    """Every round gets ``per_round`` visitors.

    Parameters
    ----------
    per_round : int
        Visitors per round (positive).
    n_rounds : int, optional
        Number of rounds; ``None`` for open-ended.
    """

    per_round: int
    n_rounds: int | None = None

    def __post_init__(self) -> None:
        _check_count(self.per_round, "per_round")
        if self.n_rounds is not None:
            _check_count(self.n_rounds, "n_rounds")

    def next_round_size(self, rounds_completed: int) -> int | None:
        i = _check_rounds_completed(rounds_completed)
        if self.n_rounds is not None and i >= self.n_rounds:
            return None
        return self.per_round


@dataclass(frozen=True)
class ExplicitSchedule:
    """Round ``i`` gets ``sizes[i]`` visitors.

    Parameters
    ----------
    sizes : sequence of int
        Positive round sizes, at least one.
    """

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.sizes, str | bytes) or not isinstance(self.sizes, Sequence):
            raise TypeError(f"sizes must be a sequence of integers, got {self.sizes!r}")
        if len(self.sizes) == 0:
            raise ValueError("sizes must hold at least one round size")
        sizes = tuple(_check_count(s, f"sizes[{i}]") for i, s in enumerate(self.sizes))
        object.__setattr__(self, "sizes", sizes)

    @property
    def n_rounds(self) -> int:
        """Number of rounds, ``len(sizes)``."""
        return len(self.sizes)

    def next_round_size(self, rounds_completed: int) -> int | None:
        i = _check_rounds_completed(rounds_completed)
        return self.sizes[i] if i < len(self.sizes) else None


def schedule_sizes(schedule: Schedule, max_rounds: int | None = None) -> tuple[int, ...]:
    """All round sizes of a schedule (the first ``max_rounds`` if it is open-ended).

    Parameters
    ----------
    schedule : Schedule
    max_rounds : int, optional
        Required when ``schedule.n_rounds`` is ``None``.
    """
    if not isinstance(schedule, Schedule):
        raise TypeError(
            "schedule must have n_rounds and next_round_size(rounds_completed); got "
            f"{type(schedule).__name__}"
        )
    limit = schedule.n_rounds if max_rounds is None else max_rounds
    if limit is None:
        raise ValueError("schedule is open-ended: pass max_rounds")
    sizes = []
    for i in range(_check_count(limit, "max_rounds", allow_zero=True)):
        size = schedule.next_round_size(i)
        if size is None:
            break
        sizes.append(size)
    return tuple(sizes)
