"""Cells: how one round's traffic is split and how each slice is assigned to arms.

A round's traffic is divided into **cells**. Each :class:`Cell` has an id, a weight (its
share of the round's visitors) and a :class:`Policy` that gives every visitor a probability
of each arm from the visitor's covariates. Visitors are randomised in two stages:

1. to a cell, at random with probabilities equal to the cell weights;
2. to an arm, at random with the probabilities the cell's policy gives for that visitor.

Because the cell draw is itself random and independent of the visitor, the probability that
a visitor with covariates x receives arm a is the **marginal propensity**

.. math::

    \\pi(a \\mid x) = \\sum_c w_c \\, p_c(a \\mid x),

and that is the propensity recorded per visitor (``propensity_<arm>``): it is the true
assignment probability given x, which is what inverse-probability weighting and the BCF
propensity covariate need. (The cell a visitor landed in is recorded separately, in the
``cell`` column, for per-cell reporting.)

Policies shipped here: :class:`Control` (everyone to control), :class:`Explore` (uniform
over all arms) and :class:`ArmForRule` (an operator's hypothesis: one arm for the visitors a
rule selects, control for the others). The fitted ``Optimized`` policy of the sequential
loop implements the same :class:`Policy` protocol.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "CELL_WEIGHT_TOLERANCE",
    "ArmForRule",
    "Assignment",
    "Cell",
    "Control",
    "Explore",
    "Policy",
    "assign_visitors",
    "cell_probabilities",
    "marginal_propensities",
    "validate_cell_weights",
]

CELL_WEIGHT_TOLERANCE = 1e-6
"""Largest allowed |sum of cell weights - 1| (and of a policy's row sums - 1)."""


@runtime_checkable
class Policy(Protocol):
    """How a cell assigns its visitors to arms.

    Implementations must be immutable and deterministic: the same covariates give the same
    probabilities. Randomness lives in :func:`assign_visitors`, not in the policy.
    """

    def assignment_probabilities(
        self, covariates: pd.DataFrame, arms: tuple[str, ...]
    ) -> np.ndarray:
        """Probability of each arm for each visitor.

        Parameters
        ----------
        covariates : pandas.DataFrame
            One row per visitor, the experiment's observed covariates.
        arms : tuple of str
            The experiment's arms, control first.

        Returns
        -------
        ndarray, shape (n_visitors, K)
            Non-negative rows summing to 1, columns in the order of ``arms``.
        """
        ...

    def describe(self) -> str:
        """One line a person can read, e.g. ``"free_ship if tenure_days < 90"``."""
        ...


@dataclass(frozen=True)
class Control:
    """Every visitor receives the control arm (``arms[0]``)."""

    def assignment_probabilities(
        self, covariates: pd.DataFrame, arms: tuple[str, ...]
    ) -> np.ndarray:
        """One-hot on control, shape (n_visitors, K)."""
        probabilities = np.zeros((len(covariates), len(arms)))
        probabilities[:, 0] = 1.0
        return probabilities

    def describe(self) -> str:
        """Readable description."""
        return "control for everyone"


@dataclass(frozen=True)
class Explore:
    """Every visitor is randomised uniformly over all arms, control included."""

    def assignment_probabilities(
        self, covariates: pd.DataFrame, arms: tuple[str, ...]
    ) -> np.ndarray:
        """Uniform 1/K for every visitor, shape (n_visitors, K)."""
        return np.full((len(covariates), len(arms)), 1.0 / len(arms))

    def describe(self) -> str:
        """Readable description."""
        return "uniform over all arms"


@dataclass(frozen=True)
class ArmForRule:
    """An operator's hypothesis cell: ``arm`` for the visitors ``rule`` selects.

    Visitors matching the rule receive ``arm``; all others fall back to control, so the
    cell never withholds the baseline from visitors outside the hypothesis.

    Parameters
    ----------
    arm : str
        The arm to give matching visitors.
    rule : str
        A boolean expression over covariate columns in ``pandas.DataFrame.eval`` syntax,
        e.g. ``"tenure_days < 90 and device == 'mobile'"`` or
        ``"region in ['north', 'west']"``. Its syntax is checked here; its column names are
        checked when it is evaluated on visitors.
    """

    arm: str
    rule: str

    def __post_init__(self) -> None:
        if not isinstance(self.arm, str) or not self.arm:
            raise ValueError(f"arm must be a non-empty arm name, got {self.arm!r}")
        if not isinstance(self.rule, str) or not self.rule.strip():
            raise ValueError(f"rule must be a non-empty boolean expression, got {self.rule!r}")
        try:
            ast.parse(self.rule.strip(), mode="eval")
        except SyntaxError as error:
            raise ValueError(
                f"rule {self.rule!r} is not a valid expression ({error.msg}); expected e.g. "
                "\"tenure_days < 90 and device == 'mobile'\""
            ) from None

    def matches(self, covariates: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the visitors the rule selects, shape (n_visitors,)."""
        try:
            result = covariates.eval(self.rule, engine="python")
        except Exception as error:  # pandas raises several types for bad expressions
            raise ValueError(
                f"rule {self.rule!r} cannot be evaluated on the covariates "
                f"{list(covariates.columns)}: {error}"
            ) from None
        mask = np.asarray(result)
        if mask.shape != (len(covariates),) or mask.dtype != bool:
            raise ValueError(
                f"rule {self.rule!r} must give one True/False per visitor, got an array of "
                f"dtype {mask.dtype} and shape {mask.shape}"
            )
        return mask

    def assignment_probabilities(
        self, covariates: pd.DataFrame, arms: tuple[str, ...]
    ) -> np.ndarray:
        """One-hot on ``arm`` where the rule matches, on control elsewhere."""
        if self.arm not in arms:
            raise ValueError(f"ArmForRule arm {self.arm!r} is not one of arms {list(arms)}")
        mask = self.matches(covariates)
        probabilities = np.zeros((len(covariates), len(arms)))
        probabilities[:, 0] = 1.0
        probabilities[mask, 0] = 0.0
        probabilities[mask, arms.index(self.arm)] = 1.0
        return probabilities

    def describe(self) -> str:
        """Readable description."""
        return f"{self.arm} if {self.rule}, else control"


@dataclass(frozen=True)
class Cell:
    """A slice of a round's traffic with its own assignment policy.

    Parameters
    ----------
    id : str
        Unique name of the cell within a plan (recorded per visitor in the ``cell`` column).
    policy : Policy
        How the cell assigns its visitors to arms.
    weight : float
        Share of the round's visitors, in [0, 1].
    """

    id: str
    policy: Policy
    weight: float

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Cell id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.policy, Policy):
            raise TypeError(
                f"Cell {self.id!r}: policy must implement assignment_probabilities(covariates, "
                f"arms) and describe(), got {type(self.policy).__name__}"
            )
        if isinstance(self.weight, bool) or not isinstance(self.weight, int | float):
            raise TypeError(f"Cell {self.id!r}: weight must be a number, got {self.weight!r}")
        if not math.isfinite(self.weight) or not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"Cell {self.id!r}: weight must be in [0, 1], got {self.weight!r}")
        object.__setattr__(self, "weight", float(self.weight))

    def describe(self) -> str:
        """One readable line: id, share and policy."""
        return f"{self.id} ({self.weight:.0%}): {self.policy.describe()}"


def validate_cell_weights(cells: Sequence[Cell]) -> tuple[Cell, ...]:
    """Check that cells form a valid split of traffic and return them as a tuple.

    Parameters
    ----------
    cells : sequence of Cell
        At least one cell; unique ids; each weight in [0, 1]; weights summing to 1 within
        :data:`CELL_WEIGHT_TOLERANCE`.

    Returns
    -------
    tuple of Cell

    Raises
    ------
    ValueError, TypeError
        Naming the offending cell or the weight sum.
    """
    if isinstance(cells, Cell) or not isinstance(cells, Sequence):
        raise TypeError(f"cells must be a sequence of Cell, got {type(cells).__name__}")
    cells = tuple(cells)
    if not cells:
        raise ValueError("cells is empty: expected at least one Cell")
    for position, cell in enumerate(cells):
        if not isinstance(cell, Cell):
            raise TypeError(f"cells[{position}] must be a Cell, got {type(cell).__name__}")
    ids = [cell.id for cell in cells]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"cell ids must be unique; duplicated: {duplicated}")
    total = math.fsum(cell.weight for cell in cells)
    if abs(total - 1.0) > CELL_WEIGHT_TOLERANCE:
        raise ValueError(
            f"cell weights must sum to 1 (tolerance {CELL_WEIGHT_TOLERANCE:g}); "
            f"{dict(zip(ids, (c.weight for c in cells), strict=True))} sum to {total:.8g}"
        )
    return cells


def cell_probabilities(
    cells: Sequence[Cell], covariates: pd.DataFrame, arms: tuple[str, ...]
) -> np.ndarray:
    """Every cell's assignment probabilities for every visitor, validated.

    Parameters
    ----------
    cells : sequence of Cell
    covariates : pandas.DataFrame
        Observed covariates, one row per visitor.
    arms : tuple of str
        Arms, control first.

    Returns
    -------
    ndarray, shape (n_cells, n_visitors, K)

    Raises
    ------
    ValueError
        If a policy returns the wrong shape, negative or non-finite values, or rows that do
        not sum to 1; the message names the cell.
    """
    n, k = len(covariates), len(arms)
    stacked = np.empty((len(cells), n, k))
    for c, cell in enumerate(cells):
        probabilities = np.asarray(
            cell.policy.assignment_probabilities(covariates, tuple(arms)), dtype=np.float64
        )
        if probabilities.shape != (n, k):
            raise ValueError(
                f"cell {cell.id!r}: policy returned shape {probabilities.shape}, expected "
                f"(n_visitors, K) = {(n, k)}"
            )
        if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0):
            raise ValueError(f"cell {cell.id!r}: policy returned negative or non-finite values")
        if np.any(np.abs(probabilities.sum(axis=1) - 1.0) > CELL_WEIGHT_TOLERANCE):
            raise ValueError(f"cell {cell.id!r}: policy probabilities must sum to 1 per visitor")
        stacked[c] = probabilities
    return stacked


def marginal_propensities(
    cells: Sequence[Cell], covariates: pd.DataFrame, arms: tuple[str, ...]
) -> np.ndarray:
    """Marginal assignment probabilities π(a | x) = Σ_c w_c p_c(a | x).

    Returns
    -------
    ndarray, shape (n_visitors, K)
        Rows sum to 1.
    """
    weights = np.array([cell.weight for cell in cells])
    return np.einsum("c,cnk->nk", weights, cell_probabilities(cells, covariates, arms))


class Assignment(NamedTuple):
    """Result of randomising one round's visitors.

    Attributes
    ----------
    cell_index : ndarray of int, shape (n_visitors,)
        Position of each visitor's cell in the plan's cells.
    arm_index : ndarray of int, shape (n_visitors,)
        Each visitor's arm, 0 = control.
    propensity : ndarray, shape (n_visitors, K)
        Marginal assignment probabilities (see the module docstring).
    """

    cell_index: np.ndarray
    arm_index: np.ndarray
    propensity: np.ndarray


def assign_visitors(
    rng: np.random.Generator,
    cells: Sequence[Cell],
    covariates: pd.DataFrame,
    arms: tuple[str, ...],
) -> Assignment:
    """Randomise visitors to cells by weight, then to arms by the cell's policy.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the only one).
    cells : sequence of Cell
        Validated cells (weights sum to 1).
    covariates : pandas.DataFrame
        Observed covariates, one row per visitor.
    arms : tuple of str
        Arms, control first.

    Returns
    -------
    Assignment
    """
    cells = validate_cell_weights(cells)
    n = len(covariates)
    per_cell = cell_probabilities(cells, covariates, arms)
    weights = np.array([cell.weight for cell in cells])
    cell_index = _draw_categorical(rng, np.broadcast_to(weights / weights.sum(), (n, len(cells))))
    own = per_cell[cell_index, np.arange(n)]
    arm_index = _draw_categorical(rng, own)
    propensity = np.einsum("c,cnk->nk", weights, per_cell)
    return Assignment(cell_index=cell_index, arm_index=arm_index, propensity=propensity)


def _draw_categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probabilities`` (n, m) by inverse CDF."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    drawn = (u >= cumulative).sum(axis=1)
    # Guard against rounding at the top end: never pick a zero-probability trailing category.
    last_positive = probabilities.shape[1] - 1 - np.argmax(probabilities[:, ::-1] > 0, axis=1)
    return np.minimum(drawn, last_positive)
