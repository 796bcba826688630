"""Per-cell observations of a round: what the traffic actually did, from data alone.

For each cell that served traffic: visitors, the observed mean of the metric (revenue per
visitor, conversion rate, ...) with a t interval, and its lift over the Control cell with a
Welch interval. Everything here is :attr:`~pytyche.contracts.ClaimLevel.OBSERVED`: no model
is involved, so these numbers hold whatever the posterior says. Intervals are 80% by
default, the library-wide level for operator-facing intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from pytyche.classic.hypothesis_tests import welch_t_test
from pytyche.contracts import ClaimLevel
from pytyche.data import CELL_COLUMN, DataValidationError, RoundData

__all__ = ["CellObservation", "observe_cells"]


@dataclass(frozen=True)
class CellObservation:
    """What one cell's traffic did in a round.

    Attributes
    ----------
    cell_id : str
        The cell.
    n_visitors : int
        Visitors it served.
    observed_mean : float
        Mean outcome per visitor (e.g. revenue per visitor).
    observed_mean_ci : tuple of float
        t interval of the mean at ``ci_level``.
    lift_vs_control : float
        ``observed_mean`` minus the Control cell's; exactly 0 for the Control cell.
    lift_vs_control_ci : tuple of float
        Welch interval of the lift at ``ci_level``; ``(0, 0)`` for the Control cell.
    ci_level : float
        Level of both intervals.
    claim_level : ClaimLevel
        Always :attr:`ClaimLevel.OBSERVED`.
    """

    cell_id: str
    n_visitors: int
    observed_mean: float
    observed_mean_ci: tuple[float, float]
    lift_vs_control: float
    lift_vs_control_ci: tuple[float, float]
    ci_level: float = 0.8
    claim_level: ClaimLevel = ClaimLevel.OBSERVED

    def __str__(self) -> str:
        pct = round(100 * self.ci_level)
        lo, hi = self.lift_vs_control_ci
        return (
            f"{self.cell_id:<12} n={self.n_visitors:>8,}  mean={self.observed_mean:9.4f}  "
            f"lift vs control={self.lift_vs_control:+9.4f} [{lo:+.4f}, {hi:+.4f}] "
            f"({pct}% interval, {self.claim_level.value})"
        )


def observe_cells(
    data: RoundData, *, control_cell: str = "control", ci_level: float = 0.8
) -> tuple[CellObservation, ...]:
    """Summarise each cell's observed outcomes and lift over the Control cell.

    Parameters
    ----------
    data : RoundData
        One round's visitors, with a ``cell`` column.
    control_cell : str
        Id of the Control cell the lifts are measured against.
    ci_level : float
        Interval level in (0, 1).

    Returns
    -------
    tuple of CellObservation
        One per cell, in order of first appearance in the data.
    """
    if not 0 < ci_level < 1:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level}")
    cells = data.cell
    if cells is None:
        raise DataValidationError(f"data has no {CELL_COLUMN!r} column: cannot observe cells")
    y = data.y
    ids = list(dict.fromkeys(cells.tolist()))
    if control_cell not in ids:
        raise DataValidationError(
            f"control_cell {control_cell!r} served no visitors; cells present: {ids}"
        )
    control = y[cells == control_cell]
    return tuple(
        _observe(str(cell), y[cells == cell], control, cell == control_cell, ci_level)
        for cell in ids
    )


def _observe(
    cell_id: str, y: np.ndarray, control: np.ndarray, is_control: bool, ci_level: float
) -> CellObservation:
    mean = float(np.mean(y))
    if len(y) > 1:
        half = stats.t.ppf(0.5 + ci_level / 2, len(y) - 1) * np.std(y, ddof=1) / np.sqrt(len(y))
    else:
        half = np.inf
    if is_control:
        lift, lift_ci = 0.0, (0.0, 0.0)
    elif len(y) > 1 and len(control) > 1:
        test = welch_t_test(y, control, ci_level=ci_level)
        lift, lift_ci = float(test.estimate), (float(test.ci[0]), float(test.ci[1]))
    else:
        lift, lift_ci = mean - float(np.mean(control)), (-np.inf, np.inf)
    return CellObservation(
        cell_id=cell_id,
        n_visitors=len(y),
        observed_mean=mean,
        observed_mean_ci=(mean - half, mean + half),
        lift_vs_control=lift,
        lift_vs_control_ci=lift_ci,
        ci_level=ci_level,
    )
