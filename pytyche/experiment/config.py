"""The fixed configuration of a sequential experiment, validated once at construction.

:class:`ExperimentConfig` holds every setting that shapes the loop's statistics (floors,
segment depth, analysis sizes, decision and drift thresholds, the seed). It is frozen:
per-round changes go through the next plan, never through the configuration.

Randomness
----------
Every random choice of round ``r`` (the MCMC seed, the analysis subsample, the stability
bootstrap, the draw-based EVOR) uses a seed derived from ``(seed, r, stream)`` by
:func:`round_seed` (NumPy's ``SeedSequence`` entropy mixing), so a round's result depends
only on the experiment seed, the round index and the data — never on how many rounds ran
in this process. A resumed experiment therefore reproduces an uninterrupted one exactly.
"""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass

import numpy as np

from pytyche.analysis.decision import THRESHOLD_UNITS
from pytyche.experiment.plan import _validate_treatments

__all__ = ["ExperimentConfig", "SeedStream", "round_seed"]


class SeedStream(enum.IntEnum):
    """Independent random streams of a round."""

    FIT = 0
    SUBSAMPLE = 1
    BOOTSTRAP = 2
    DECISION = 3


def round_seed(seed: int, round_index: int, stream: SeedStream) -> int:
    """A 31-bit seed for ``stream`` of round ``round_index`` of an experiment with ``seed``."""
    sequence = np.random.SeedSequence([int(seed), int(round_index), int(stream)])
    return int(sequence.generate_state(1, dtype=np.uint32)[0] >> 1)


@dataclass(frozen=True)
class ExperimentConfig:
    """Settings of a sequential experiment.

    Attributes
    ----------
    treatments : tuple of str
        Arm names, control first.
    min_control_weight, min_explore_weight : float
        Floors of the Control and Explore cells' traffic shares, every round.
    max_segment_depth : int
        Depth of the policy tree (1 to 5).
    min_segment_share : float
        Minimum share of visitors per segment.
    n_bootstrap : int
        Bootstrap refits behind each segment's stability score (0 skips it; then no
        segment is credible).
    max_analysis_visitors : int
        The policy tree, stability bootstrap and segment evidence use a uniform random
        subsample of at most this many cumulative visitors (the fit always uses all of
        them). The tree search and bootstrap cost grow linearly in visitors; 20,000
        visitors keep a round's analysis to seconds while the segment means' Monte Carlo
        error stays far below the posterior spread.
    thompson_epsilon : float
        Minimum probability of every arm in every segment of the Optimized cell.
    min_practical_effect : float
        Smallest effect worth shipping (for P(meaningful)): with ``threshold_units=
        "relative"`` (default) a lift relative to the control's mean in the segment (0.02:
        2%, for revenue and conversion alike); with ``"absolute"``, outcome units.
    threshold_units : {"relative", "absolute"}
        Units of ``min_practical_effect`` (and of the decision labels' expected-loss
        tolerance; the graduation rule has its own ``units``).
    drift_alpha : float
        Family-wise false-alarm rate of the per-round drift flags.
    seed : int
        Seed of everything random in the loop (see the module docstring).
    """

    treatments: tuple[str, ...]
    min_control_weight: float = 0.05
    min_explore_weight: float = 0.05
    max_segment_depth: int = 3
    min_segment_share: float = 0.1
    n_bootstrap: int = 50
    max_analysis_visitors: int = 20_000
    thompson_epsilon: float = 0.02
    min_practical_effect: float = 0.02
    threshold_units: str = "relative"
    drift_alpha: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "treatments", _validate_treatments(self.treatments))
        for name in ("min_control_weight", "min_explore_weight"):
            _check_share(name, getattr(self, name))
        if self.min_control_weight + self.min_explore_weight > 1.0:
            raise ValueError(
                "min_control_weight + min_explore_weight must be at most 1, got "
                f"{self.min_control_weight} + {self.min_explore_weight}"
            )
        _check_int("max_segment_depth", self.max_segment_depth, 1, 5)
        if not 0.0 < self.min_segment_share <= 0.5:
            raise ValueError(f"min_segment_share must be in (0, 0.5], got {self.min_segment_share}")
        _check_int("n_bootstrap", self.n_bootstrap, 0, 10_000)
        _check_int("max_analysis_visitors", self.max_analysis_visitors, 100, 10**9)
        if not 0.0 <= self.thompson_epsilon <= 1.0 / len(self.treatments):
            raise ValueError(
                f"thompson_epsilon must be in [0, 1/K] = [0, {1 / len(self.treatments):.4g}], "
                f"got {self.thompson_epsilon}"
            )
        if not (math.isfinite(self.min_practical_effect) and self.min_practical_effect >= 0):
            raise ValueError(f"min_practical_effect must be >= 0, got {self.min_practical_effect}")
        if self.threshold_units not in THRESHOLD_UNITS:
            raise ValueError(
                f"threshold_units must be one of {THRESHOLD_UNITS}, got {self.threshold_units!r}"
            )
        if not 0.0 < self.drift_alpha < 1.0:
            raise ValueError(f"drift_alpha must be in (0, 1), got {self.drift_alpha}")
        _check_int("seed", self.seed, 0, 2**63 - 1)

    @property
    def optimized_weight(self) -> float:
        """Share of traffic the Optimized cell takes after round 1."""
        return max(0.0, 1.0 - self.min_control_weight - self.min_explore_weight)

    def seed_for(self, round_index: int, stream: SeedStream) -> int:
        """The seed of ``stream`` in round ``round_index`` (see :func:`round_seed`)."""
        return round_seed(self.seed, round_index, stream)


def _check_share(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
