"""Honesty contracts: what a reported number may claim, and the truth guard.

Every quantity pytyche reports carries a :class:`ClaimLevel` saying what backs it:
observed data, an uncalibrated posterior, a calibrated posterior, or simulation truth.

Ground truth from a simulated generator travels in a sealed :class:`Truth` container.
Analysis and allocation code cannot read it: every attribute access, iteration, indexing
or array conversion raises :class:`TruthGuardError`. The one way in is
:func:`reveal_truth`, an explicit, greppable call that only the truth-comparison step
makes. Anything it returns is labelled :attr:`ClaimLevel.SIMULATION_TRUTH`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ClaimLevel",
    "Metric",
    "MetricFamily",
    "Truth",
    "TruthData",
    "TruthGuardError",
    "UncalibratedWarning",
    "ensure_not_truth",
    "reveal_truth",
]


class ClaimLevel(enum.StrEnum):
    """What the operator can claim from a reported quantity.

    Ordered from weakest to strongest backing for a statement about the real world,
    except ``SIMULATION_TRUTH``, which only exists in rehearsals.
    """

    OBSERVED = "observed"
    """Computed directly from observed data (counts, observed means, frequentist CIs)."""
    POSTERIOR = "uncalibrated posterior"
    """Model posterior without an SBC calibration: intervals may under-cover at scale."""
    CALIBRATED = "calibrated posterior"
    """Model posterior recalibrated by an SBC-fitted calibration artifact."""
    SIMULATION_TRUTH = "simulation truth"
    """Planted ground truth of a simulated generator; never available for real data."""


class MetricFamily(enum.StrEnum):
    """Outcome family the model is fitted with."""

    HURDLE = "hurdle"
    """Zero-inflated non-negative outcome: probit conversion x log-normal spend."""
    BINARY = "binary"
    """0/1 outcome: probit."""
    CONTINUOUS = "continuous"
    """Real-valued outcome: Gaussian."""


class Metric(enum.StrEnum):
    """Scale on which effects are reported."""

    REVENUE_PER_VISITOR = "revenue_per_visitor"
    CONVERSION_RATE = "conversion_rate"
    REVENUE_PER_CONVERTER = "revenue_per_converter"
    MEAN_OUTCOME = "mean_outcome"


class UncalibratedWarning(UserWarning):
    """Posterior intervals are used without an SBC calibration artifact."""


class TruthGuardError(TypeError):
    """Simulation truth was read, or passed, where only observed data is allowed."""


@dataclass(frozen=True, eq=False)
class TruthData:
    """Unsealed simulation truth, aligned row by row with the observed visitors.

    Only :func:`reveal_truth` produces this. All arrays have one row per visitor in the
    order of the matching :class:`~pytyche.data.RoundData` rows and one column per arm,
    arm 0 being control.

    Every value is **covariate-conditional**, ``E[· | X = x]``: what an estimator that sees
    the covariates could learn. For scenarios whose covariates come from a latent cluster
    (mixture covariate models) this averages the cluster-conditional values with the exact
    posterior cluster probabilities, ``Σ_c P(c | x) · value_c(x)``; the cluster-conditional
    values are kept apart, as ``latent_rpv`` / ``latent_segment_effects``, for diagnosis.

    Attributes
    ----------
    arms : tuple of str
        Arm names, control first.
    visitor_id : ndarray, shape (n,)
        Visitor identifiers, equal to the observed data's id column.
    conversion_probability : ndarray, shape (n, K)
        P(outcome > 0 | x) under each arm.
    mean_spend : ndarray, shape (n, K)
        E[outcome | outcome > 0, x] under each arm (currency per converter).
    rpv : ndarray, shape (n, K)
        E[metric | x] under each arm (e.g. revenue per visitor = conversion probability x
        mean spend).
    segment_effects : dict
        Planted segment-level effects: segment name -> array (K,) of the mean of ``rpv``
        over the segment's visitors under each arm.
    segment_labels : ndarray, shape (n,)
        Planted segment (cluster) of each visitor.
    metric : str
        The metric ``rpv`` is expressed in.
    latent_rpv : ndarray, shape (n, K), optional
        Diagnosis only: the metric conditional on each visitor's latent cluster as well,
        ``E[metric | x, c_i]``, which no covariate-based estimator can identify. None when
        the scenario has no latent clusters (then it equals ``rpv``; see
        :attr:`latent_values`).
    latent_segment_effects : dict, optional
        Diagnosis only: ``segment_effects`` computed from ``latent_rpv`` (None: the same).
    """

    arms: tuple[str, ...]
    visitor_id: np.ndarray
    conversion_probability: np.ndarray
    mean_spend: np.ndarray
    rpv: np.ndarray
    segment_effects: dict[str, np.ndarray] = field(default_factory=dict)
    segment_labels: np.ndarray | None = None
    metric: str = Metric.REVENUE_PER_VISITOR.value
    latent_rpv: np.ndarray | None = None
    latent_segment_effects: dict[str, np.ndarray] | None = None
    claim_level: ClaimLevel = ClaimLevel.SIMULATION_TRUTH

    @property
    def latent_values(self) -> np.ndarray:
        """Latent-cluster-conditional metric per visitor and arm (``rpv`` without clusters)."""
        return self.rpv if self.latent_rpv is None else self.latent_rpv

    def take(self, positions: np.ndarray) -> TruthData:
        """The truth of the visitors at ``positions`` (rows reordered; segment tables kept)."""
        return TruthData(
            arms=self.arms,
            visitor_id=self.visitor_id[positions],
            conversion_probability=self.conversion_probability[positions],
            mean_spend=self.mean_spend[positions],
            rpv=self.rpv[positions],
            segment_effects=self.segment_effects,
            segment_labels=None if self.segment_labels is None else self.segment_labels[positions],
            metric=self.metric,
            latent_rpv=None if self.latent_rpv is None else self.latent_rpv[positions],
            latent_segment_effects=self.latent_segment_effects,
        )

    @property
    def optimal_arm(self) -> np.ndarray:
        """Index of the truth-optimal arm per visitor, shape (n,)."""
        return np.argmax(self.rpv, axis=1)

    @property
    def cate(self) -> np.ndarray:
        """True effect of each active arm vs control, shape (n, K - 1)."""
        return self.rpv[:, 1:] - self.rpv[:, :1]

    def __len__(self) -> int:
        return len(self.visitor_id)


_GUARD_MESSAGE = (
    "simulation truth is sealed: analysis and allocation code may not read it. "
    "Only truth comparison may, through pytyche.contracts.reveal_truth(truth)."
)


class Truth:
    """Sealed container of simulation truth.

    Reading anything from it raises :class:`TruthGuardError`; use :func:`reveal_truth`
    in truth-comparison code only. Truths of consecutive rounds combine with ``+``
    (row order is preserved, like :func:`pytyche.data.concat_rounds`).
    """

    __slots__ = ("_sealed",)

    def __init__(self, data: TruthData) -> None:
        if not isinstance(data, TruthData):
            raise TypeError(f"Truth expects a TruthData, got {type(data).__name__}")
        object.__setattr__(self, "_sealed", data)

    def __getattribute__(self, name: str) -> Any:
        # Dunder lookups (pickling, isinstance, repr) stay open; every data attribute,
        # including the private slot, is closed. The accessor goes around this on purpose.
        if name.startswith("__") and name.endswith("__"):
            return object.__getattribute__(self, name)
        raise TruthGuardError(f"cannot read Truth.{name}: {_GUARD_MESSAGE}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise TruthGuardError("Truth is immutable")

    def __getitem__(self, key: Any) -> Any:
        raise TruthGuardError(_GUARD_MESSAGE)

    def __iter__(self) -> Any:
        raise TruthGuardError(_GUARD_MESSAGE)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TruthGuardError(_GUARD_MESSAGE)

    def __len__(self) -> int:
        return len(object.__getattribute__(self, "_sealed"))

    def __add__(self, other: Truth) -> Truth:
        if not isinstance(other, Truth):
            return NotImplemented
        left = object.__getattribute__(self, "_sealed")
        right = object.__getattribute__(other, "_sealed")
        return Truth(_concat_truth(left, right))

    def __repr__(self) -> str:
        n = len(self)
        return f"<Truth: sealed simulation truth for {n} visitors>"

    def __reduce__(self) -> tuple:
        return (Truth, (object.__getattribute__(self, "_sealed"),))


def _concat_truth(left: TruthData, right: TruthData) -> TruthData:
    if left.arms != right.arms or left.metric != right.metric:
        raise ValueError(
            f"cannot combine truths with arms {left.arms} / metric {left.metric!r} and "
            f"arms {right.arms} / metric {right.metric!r}"
        )
    labels = None
    if left.segment_labels is not None and right.segment_labels is not None:
        labels = np.concatenate([left.segment_labels, right.segment_labels])
    latent = None
    if left.latent_rpv is not None or right.latent_rpv is not None:
        latent = np.concatenate([left.latent_values, right.latent_values])
    return TruthData(
        arms=left.arms,
        visitor_id=np.concatenate([left.visitor_id, right.visitor_id]),
        conversion_probability=np.concatenate(
            [left.conversion_probability, right.conversion_probability]
        ),
        mean_spend=np.concatenate([left.mean_spend, right.mean_spend]),
        rpv=np.concatenate([left.rpv, right.rpv]),
        segment_effects=dict(right.segment_effects or left.segment_effects),
        segment_labels=labels,
        metric=left.metric,
        latent_rpv=latent,
        latent_segment_effects=right.latent_segment_effects or left.latent_segment_effects,
    )


def reveal_truth(truth: Truth) -> TruthData:
    """Unseal simulation truth. For truth comparison only.

    This is the single, greppable door to ground truth; analysis and allocation code must
    never call it (a test in ``tests/test_contracts.py`` checks that only the
    truth-comparison module does).

    Parameters
    ----------
    truth : Truth
        Sealed truth from a simulated generator.

    Returns
    -------
    TruthData
        The unsealed arrays, labelled :attr:`ClaimLevel.SIMULATION_TRUTH`.
    """
    if not isinstance(truth, Truth):
        raise TypeError(
            f"reveal_truth expects a pytyche.contracts.Truth, got {type(truth).__name__}"
        )
    return object.__getattribute__(truth, "_sealed")


def ensure_not_truth(value: Any, argument: str) -> None:
    """Raise :class:`TruthGuardError` if simulation truth was passed as observed input.

    Parameters
    ----------
    value : object
        The value handed to an argument that expects observed data.
    argument : str
        Name of that argument, for the error message.
    """
    if isinstance(value, Truth | TruthData):
        raise TruthGuardError(
            f"argument {argument!r} expects observed data, but simulation truth was passed; "
            "truth is only for pytyche's truth comparison"
        )
