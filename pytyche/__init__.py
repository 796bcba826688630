"""pytyche: calibrated, adaptive, multi-round A/B experiments.

The public API, and nothing else, is imported here. Subpackages: ``pytyche.generators``
(scenarios and real-data generators), ``pytyche.experiment`` (schedules, cells, plans),
``pytyche.classic`` (the classic experimentation toolkit).
"""

from pytyche import experiment, generators
from pytyche._version import __version__
from pytyche.contracts import ClaimLevel, Metric, MetricFamily, UncalibratedWarning
from pytyche.data import DataValidationError, RoundData, concat_rounds, read_round
from pytyche.experiment import (
    ArmForRule,
    Cell,
    Control,
    ExplicitSchedule,
    Explore,
    FixedSchedule,
    GeometricSchedule,
    NextRoundPlan,
    Schedule,
    cold_start_plan,
)
from pytyche.generators import (
    TEMPLATES,
    dataframe_generator,
    parquet_generator,
    register_template,
    simulated_experiment_generator,
)
from pytyche.setup_check import SetupReport, check_setup


def __getattr__(name: str):
    # The classic toolkit (statsmodels, scikit-learn) loads on first use of pytyche.classic.
    if name == "classic":
        import pytyche.classic

        return pytyche.classic
    raise AttributeError(f"module 'pytyche' has no attribute {name!r}")


__all__ = [
    "TEMPLATES",
    "ArmForRule",
    "Cell",
    "ClaimLevel",
    "Control",
    "DataValidationError",
    "ExplicitSchedule",
    "Explore",
    "FixedSchedule",
    "GeometricSchedule",
    "Metric",
    "MetricFamily",
    "NextRoundPlan",
    "RoundData",
    "Schedule",
    "SetupReport",
    "UncalibratedWarning",
    "__version__",
    "check_setup",
    "classic",
    "cold_start_plan",
    "concat_rounds",
    "dataframe_generator",
    "experiment",
    "generators",
    "parquet_generator",
    "read_round",
    "register_template",
    "simulated_experiment_generator",
]
