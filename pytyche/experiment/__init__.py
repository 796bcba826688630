"""The sequential experiment: schedules, cells, plans and per-cell observations."""

from pytyche.experiment.cells import (
    ArmForRule,
    Assignment,
    Cell,
    Control,
    Explore,
    Policy,
    assign_visitors,
    marginal_propensities,
    validate_cell_weights,
)
from pytyche.experiment.observations import CellObservation, observe_cells
from pytyche.experiment.plan import NextRoundPlan, cold_start_plan
from pytyche.experiment.schedule import (
    ExplicitSchedule,
    FixedSchedule,
    GeometricSchedule,
    Schedule,
    schedule_sizes,
)

__all__ = [
    "ArmForRule",
    "Assignment",
    "Cell",
    "CellObservation",
    "Control",
    "ExplicitSchedule",
    "Explore",
    "FixedSchedule",
    "GeometricSchedule",
    "NextRoundPlan",
    "Policy",
    "Schedule",
    "assign_visitors",
    "cold_start_plan",
    "marginal_propensities",
    "observe_cells",
    "schedule_sizes",
    "validate_cell_weights",
]
