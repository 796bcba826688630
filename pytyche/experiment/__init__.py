"""The sequential experiment: schedules, cells, plans, the adaptive loop and its store.

``sequential_experiment(...)`` builds a :class:`SequentialExperiment`; ``next(exp)`` runs a
round and returns a :class:`Round`; ``load_experiment(path)`` resumes one from its store.
"""

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
from pytyche.experiment.config import ExperimentConfig
from pytyche.experiment.drift import DriftCheck, SegmentDrift, check_drift
from pytyche.experiment.observations import CellObservation, observe_cells
from pytyche.experiment.optimized import Optimized, SegmentAllocation
from pytyche.experiment.plan import NextRoundPlan, cold_start_plan
from pytyche.experiment.rounds import GraduatingPair, Round
from pytyche.experiment.schedule import (
    ExplicitSchedule,
    FixedSchedule,
    GeometricSchedule,
    Schedule,
    schedule_sizes,
)
from pytyche.experiment.sequential import (
    SequentialExperiment,
    check_floors,
    sequential_experiment,
)
from pytyche.experiment.serialization import plan_from_dict, plan_to_dict
from pytyche.experiment.store import load_experiment

__all__ = [
    "ArmForRule",
    "Assignment",
    "Cell",
    "CellObservation",
    "Control",
    "DriftCheck",
    "ExperimentConfig",
    "ExplicitSchedule",
    "Explore",
    "FixedSchedule",
    "GeometricSchedule",
    "GraduatingPair",
    "NextRoundPlan",
    "Optimized",
    "Policy",
    "Round",
    "Schedule",
    "SegmentAllocation",
    "SegmentDrift",
    "SequentialExperiment",
    "assign_visitors",
    "check_drift",
    "check_floors",
    "cold_start_plan",
    "load_experiment",
    "marginal_propensities",
    "observe_cells",
    "plan_from_dict",
    "plan_to_dict",
    "schedule_sizes",
    "sequential_experiment",
    "validate_cell_weights",
]
