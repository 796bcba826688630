"""The next round's plan: how many visitors, which arms, and the cells that serve them.

A :class:`NextRoundPlan` is what the loop recommends after each round and what a generator
(simulated or real) receives to produce the round's data. It is immutable: the operator
changes a recommendation by building a new plan with :meth:`NextRoundPlan.with_cell`
(add a hypothesis cell), :meth:`NextRoundPlan.replace_cells` (replace the split) or
:meth:`NextRoundPlan.with_n_visitors`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from pytyche.experiment.cells import ArmForRule, Cell, Control, Explore, validate_cell_weights

__all__ = ["CONTROL_CELL_ID", "EXPLORE_CELL_ID", "NextRoundPlan", "cold_start_plan"]

CONTROL_CELL_ID = "control"
"""Id of the Control cell in plans built by pytyche."""
EXPLORE_CELL_ID = "explore"
"""Id of the Explore cell in plans built by pytyche."""


@dataclass(frozen=True)
class NextRoundPlan:
    """Traffic plan of one round.

    Parameters
    ----------
    n_visitors : int
        Visitors in the round (positive).
    cells : tuple of Cell
        The traffic split; weights sum to 1, ids unique.
    treatments : tuple of str
        Arm names, control first (at least two, unique).
    """

    n_visitors: int
    cells: tuple[Cell, ...]
    treatments: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.n_visitors, bool) or not isinstance(self.n_visitors, int):
            raise TypeError(f"n_visitors must be an integer, got {self.n_visitors!r}")
        if self.n_visitors <= 0:
            raise ValueError(f"n_visitors must be positive, got {self.n_visitors}")
        object.__setattr__(self, "treatments", _validate_treatments(self.treatments))
        object.__setattr__(self, "cells", validate_cell_weights(self.cells))
        for cell in self.cells:
            if isinstance(cell.policy, ArmForRule) and cell.policy.arm not in self.treatments:
                raise ValueError(
                    f"cell {cell.id!r} routes to arm {cell.policy.arm!r}, which is not one of "
                    f"treatments {list(self.treatments)}"
                )

    @property
    def control(self) -> str:
        """Name of the control arm."""
        return self.treatments[0]

    @property
    def cell_ids(self) -> tuple[str, ...]:
        """Ids of the cells, in order."""
        return tuple(cell.id for cell in self.cells)

    def cell(self, cell_id: str) -> Cell:
        """The cell with id ``cell_id``."""
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        raise KeyError(f"no cell with id {cell_id!r}; cells are {list(self.cell_ids)}")

    def with_cell(self, cell: Cell, *, take_from: str | None = None) -> NextRoundPlan:
        """A new plan with ``cell`` added, its weight taken from the other cells.

        Parameters
        ----------
        cell : Cell
            The new cell (its id must be new).
        take_from : str, optional
            Id of the cell whose weight pays for the new one (it must hold at least
            ``cell.weight``). By default every existing cell is scaled by
            ``1 - cell.weight``, keeping their relative shares — note this also shrinks the
            Control and Explore cells; pass ``take_from`` to protect floors.

        Returns
        -------
        NextRoundPlan
        """
        if not isinstance(cell, Cell):
            raise TypeError(f"cell must be a Cell, got {type(cell).__name__}")
        if cell.id in self.cell_ids:
            raise ValueError(f"cell id {cell.id!r} is already in the plan {list(self.cell_ids)}")
        if take_from is None:
            scale = 1.0 - cell.weight
            rest = [dataclasses.replace(c, weight=c.weight * scale) for c in self.cells]
        else:
            donor = self.cell(take_from)
            if donor.weight + 1e-12 < cell.weight:
                raise ValueError(
                    f"take_from cell {take_from!r} has weight {donor.weight:g}, less than the "
                    f"new cell's weight {cell.weight:g}"
                )
            rest = [
                dataclasses.replace(c, weight=max(c.weight - cell.weight, 0.0))
                if c.id == take_from
                else c
                for c in self.cells
            ]
        return self.replace_cells((*rest, cell))

    def replace_cells(self, cells: Sequence[Cell]) -> NextRoundPlan:
        """A new plan with the same size and arms and the given cells (validated)."""
        return NextRoundPlan(self.n_visitors, tuple(cells), self.treatments)

    def with_n_visitors(self, n_visitors: int) -> NextRoundPlan:
        """A new plan with the same cells and arms for ``n_visitors`` visitors."""
        return NextRoundPlan(n_visitors, self.cells, self.treatments)

    def describe(self) -> str:
        """Readable multi-line description of the plan."""
        lines = [f"{self.n_visitors:,} visitors over arms {', '.join(self.treatments)}:"]
        lines += [f"  {cell.describe()}" for cell in self.cells]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready summary for an experimentation platform (policies as descriptions)."""
        return {
            "n_visitors": self.n_visitors,
            "treatments": list(self.treatments),
            "cells": [
                {"id": c.id, "weight": c.weight, "policy": c.policy.describe()} for c in self.cells
            ],
        }


def cold_start_plan(treatments: Sequence[str], n_visitors: int) -> NextRoundPlan:
    """Round-1 plan: a Control cell and an Explore cell at 50% each.

    Parameters
    ----------
    treatments : sequence of str
        Arm names, control first.
    n_visitors : int
        Visitors in the round.
    """
    cells = (
        Cell(CONTROL_CELL_ID, Control(), 0.5),
        Cell(EXPLORE_CELL_ID, Explore(), 0.5),
    )
    return NextRoundPlan(
        n_visitors=n_visitors, cells=cells, treatments=_validate_treatments(treatments)
    )


def _validate_treatments(treatments: Sequence[str]) -> tuple[str, ...]:
    if isinstance(treatments, str) or not isinstance(treatments, Sequence):
        raise TypeError(f"treatments must be a sequence of arm names, got {treatments!r}")
    names = tuple(treatments)
    if not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"treatments must be non-empty strings, got {list(names)}")
    if len(names) < 2:
        raise ValueError(f"treatments must name at least 2 arms (control first), got {list(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"treatments has duplicate names: {list(names)}")
    return names
