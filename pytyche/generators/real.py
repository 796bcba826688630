"""Real-data generators, and the protocol for writing your own.

The sequential loop pulls each round's data from a *generator*: any callable

.. code-block:: python

    generator(round_index: int, plan: NextRoundPlan) -> tuple[RoundData, Truth | None]

(:class:`RoundGenerator`). Simulated generators return sealed truth; real-data generators
return ``None``, and the loop then skips every truth comparison.

Writing a generator against your experimentation platform
---------------------------------------------------------
What the plan gives you (:class:`~pytyche.experiment.plan.NextRoundPlan`):

- ``plan.n_visitors`` — the round's target size;
- ``plan.treatments`` — arm names, control first;
- ``plan.cells`` — each :class:`~pytyche.experiment.cells.Cell` has an ``id``, a
  ``weight`` (share of traffic) and a ``policy`` whose
  ``assignment_probabilities(covariates, arms)`` gives each visitor's arm probabilities.
  ``plan.to_dict()`` is a JSON-ready summary for a configuration store.

Configure the platform to randomise each visitor to a cell by weight and then to an arm by
the cell's policy (:func:`pytyche.experiment.cells.assign_visitors` does exactly that for a
batch of covariates), run the round, then export one row per visitor with:

- the covariates (the same columns every round; categorical levels as strings);
- ``arm`` — the arm served (one of ``plan.treatments``);
- the outcome — revenue (0 for non-converters) or 0/1 conversions;
- ``cell`` — the id of the cell that served the visitor;
- ``propensity_<arm>`` for every arm — the **marginal** assignment probability
  Σ_c w_c p_c(arm | x) (:func:`pytyche.experiment.cells.marginal_propensities`); rows sum
  to 1 and the served arm's is positive;
- optionally a unique visitor id.

Return ``RoundData.from_frame(frame, ...)`` and ``None``. :func:`dataframe_generator`
(in-memory frames) and :func:`parquet_generator` (one Parquet file per round, read when the
round is requested) do this for you and check the frame against the plan.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from pytyche.contracts import MetricFamily, Truth, ensure_not_truth
from pytyche.data import CELL_COLUMN, PROPENSITY_PREFIX, DataValidationError, RoundData

if TYPE_CHECKING:
    from pytyche.experiment.plan import NextRoundPlan

__all__ = [
    "DataFrameGenerator",
    "FrameSchema",
    "ParquetGenerator",
    "RoundGenerator",
    "dataframe_generator",
    "parquet_generator",
]


class RoundGenerator(Protocol):
    """What the sequential loop calls to obtain a round's data."""

    def __call__(self, round_index: int, plan: NextRoundPlan) -> tuple[RoundData, Truth | None]:
        """Return the round's observed data and its truth (``None`` for real data)."""
        ...


@dataclass(frozen=True)
class FrameSchema:
    """How to read a visitor frame (forwarded to :meth:`RoundData.from_frame`).

    ``require_design_columns`` demands the ``cell`` column (ids from the plan) and one
    ``propensity_<arm>`` column per arm, which adaptive rounds need; turn it off only for
    data from a plain randomised test without recorded propensities.
    """

    outcome: str = "revenue"
    arm: str = "arm"
    covariates: tuple[str, ...] | None = None
    categorical: tuple[str, ...] = ()
    id_column: str | None = None
    family: str | MetricFamily = "auto"
    require_design_columns: bool = True

    def read(self, frame: pd.DataFrame, plan: NextRoundPlan, round_index: int) -> RoundData:
        """Validate ``frame`` against the schema and the plan."""
        ensure_not_truth(frame, "frame")
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"round {round_index}: expected a DataFrame, got {type(frame).__name__}"
            )
        arms = tuple(plan.treatments)
        if self.require_design_columns:
            _check_design_columns(frame, plan, arms, round_index)
        return RoundData.from_frame(
            frame,
            arms=arms,
            outcome=self.outcome,
            arm=self.arm,
            covariates=self.covariates,
            categorical=self.categorical,
            id_column=self.id_column,
            family=self.family,
            round_index=round_index,
            require_all_arms=False,
        )


def _check_design_columns(
    frame: pd.DataFrame, plan: NextRoundPlan, arms: tuple[str, ...], round_index: int
) -> None:
    missing = [c for c in (CELL_COLUMN, *(PROPENSITY_PREFIX + a for a in arms)) if c not in frame]
    if missing:
        raise DataValidationError(
            f"round {round_index}: frame lacks design columns {missing}; record the serving "
            "cell and the marginal propensity of every arm (or pass "
            "require_design_columns=False for data without them)"
        )
    known = {cell.id for cell in plan.cells}
    unknown = sorted(set(frame[CELL_COLUMN].astype(str)) - known)
    if unknown:
        raise DataValidationError(
            f"round {round_index}: column {CELL_COLUMN!r} has cells {unknown} that are not in "
            f"the plan {sorted(known)}"
        )


def _check_round_index(round_index: int) -> None:
    if isinstance(round_index, bool) or not isinstance(round_index, numbers.Integral):
        raise TypeError(f"round_index must be an integer, got {round_index!r}")
    if round_index < 0:
        raise ValueError(f"round_index must be non-negative, got {round_index}")


@dataclass(frozen=True, eq=False)
class DataFrameGenerator:
    """Hands in pre-collected frames, one per round (build with :func:`dataframe_generator`)."""

    frames: Mapping[int, pd.DataFrame]
    schema: FrameSchema = field(default_factory=FrameSchema)

    simulated = False
    """Real-data generators return no truth."""

    def __call__(self, round_index: int, plan: NextRoundPlan) -> tuple[RoundData, None]:
        """The frame of ``round_index``, validated; truth ``None``."""
        _check_round_index(round_index)
        if round_index not in self.frames:
            raise KeyError(
                f"no frame for round {round_index}; rounds available: {sorted(self.frames)}"
            )
        return self.schema.read(self.frames[round_index], plan, round_index), None


@dataclass(frozen=True)
class ParquetGenerator:
    """Reads round ``r`` from ``path_template.format(round=r)`` when the round is requested."""

    path_template: str
    schema: FrameSchema = field(default_factory=FrameSchema)

    simulated = False
    """Real-data generators return no truth."""

    def path_for(self, round_index: int) -> Path:
        """The Parquet file of ``round_index``."""
        return Path(self.path_template.format(round=round_index))

    def __call__(self, round_index: int, plan: NextRoundPlan) -> tuple[RoundData, None]:
        """The round's Parquet file, validated; truth ``None``."""
        _check_round_index(round_index)
        path = self.path_for(round_index)
        if not path.exists():
            raise FileNotFoundError(
                f"round {round_index}: Parquet file {str(path)!r} does not exist (from "
                f"path_template {self.path_template!r})"
            )
        return self.schema.read(pd.read_parquet(path), plan, round_index), None


def dataframe_generator(
    frames: Sequence[pd.DataFrame] | Mapping[int, pd.DataFrame],
    *,
    first_round: int = 0,
    outcome: str = "revenue",
    arm: str = "arm",
    covariates: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    id_column: str | None = None,
    family: str | MetricFamily = "auto",
    require_design_columns: bool = True,
) -> DataFrameGenerator:
    """A generator handing in observed frames, one per round.

    Parameters
    ----------
    frames : sequence or mapping of pandas.DataFrame
        A sequence (round ``first_round + i`` is ``frames[i]``) or a mapping round -> frame.
    first_round : int
        Round index of ``frames[0]`` when ``frames`` is a sequence.
    outcome, arm, covariates, categorical, id_column, family
        How to read the frames (see :meth:`pytyche.data.RoundData.from_frame`).
    require_design_columns : bool
        Require ``cell`` and ``propensity_<arm>`` columns (see :class:`FrameSchema`).

    Returns
    -------
    DataFrameGenerator
        ``generator(round_index, plan) -> (RoundData, None)``.
    """
    if isinstance(frames, pd.DataFrame):
        raise TypeError("frames must be a sequence or mapping of DataFrames, one per round")
    if isinstance(frames, Mapping):
        by_round = dict(frames)
    elif isinstance(frames, Sequence):
        _check_round_index(first_round)
        by_round = {first_round + i: frame for i, frame in enumerate(frames)}
    else:
        raise TypeError(f"frames must be a sequence or mapping, got {type(frames).__name__}")
    if not by_round:
        raise ValueError("frames is empty: expected at least one round's frame")
    for round_index, frame in by_round.items():
        _check_round_index(round_index)
        ensure_not_truth(frame, f"frames[{round_index}]")
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"frames[{round_index}] must be a DataFrame, got {type(frame).__name__}"
            )
    schema = _schema(
        outcome, arm, covariates, categorical, id_column, family, require_design_columns
    )
    return DataFrameGenerator(by_round, schema)


def parquet_generator(
    path_template: str | Path,
    *,
    outcome: str = "revenue",
    arm: str = "arm",
    covariates: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    id_column: str | None = None,
    family: str | MetricFamily = "auto",
    require_design_columns: bool = True,
) -> ParquetGenerator:
    """A generator reading one Parquet file per round.

    Parameters
    ----------
    path_template : str or Path
        Path with a ``{round}`` placeholder, e.g. ``"exports/round_{round}.parquet"``. Files
        are read when their round is requested, so a deployment can drop each round's export
        just before advancing the experiment.
    outcome, arm, covariates, categorical, id_column, family, require_design_columns
        As in :func:`dataframe_generator`.
    """
    template = str(path_template)
    if "{round}" not in template:
        raise ValueError(f"path_template must contain a '{{round}}' placeholder, got {template!r}")
    schema = _schema(
        outcome, arm, covariates, categorical, id_column, family, require_design_columns
    )
    return ParquetGenerator(template, schema)


def _schema(
    outcome: str,
    arm: str,
    covariates: Sequence[str] | None,
    categorical: Sequence[str],
    id_column: str | None,
    family: str | MetricFamily,
    require_design_columns: bool,
) -> FrameSchema:
    return FrameSchema(
        outcome=outcome,
        arm=arm,
        covariates=None if covariates is None else tuple(covariates),
        categorical=tuple(categorical),
        id_column=id_column,
        family=family,
        require_design_columns=bool(require_design_columns),
    )
