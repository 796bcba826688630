"""pytyche: calibrated, adaptive, multi-round A/B experiments.

The public API, and nothing else, is imported here. Subpackages: ``pytyche.generators``
(scenarios and real-data generators), ``pytyche.experiment`` (the sequential loop),
``pytyche.analysis`` (segments and decisions), ``pytyche.sbc`` and ``pytyche.calibration``
(simulation-based calibration), ``pytyche.viz`` (plots) and ``pytyche.classic`` (the classic
experimentation toolkit); the last five load on first use.
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
    Round,
    Schedule,
    SequentialExperiment,
    cold_start_plan,
    load_experiment,
    sequential_experiment,
)
from pytyche.generators import (
    TEMPLATES,
    dataframe_generator,
    parquet_generator,
    register_template,
    simulated_experiment_generator,
)
from pytyche.inference import BCFConfig, fit, set_cpu_threads
from pytyche.posterior import Posterior
from pytyche.setup_check import SetupReport, check_setup

__all__ = [
    "TEMPLATES",
    "ArmForRule",
    "BCFConfig",
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
    "Posterior",
    "Round",
    "RoundData",
    "Schedule",
    "SequentialExperiment",
    "SetupReport",
    "UncalibratedWarning",
    "__version__",
    "analysis",
    "calibration",
    "check_setup",
    "classic",
    "cold_start_plan",
    "concat_rounds",
    "dataframe_generator",
    "experiment",
    "fit",
    "generators",
    "load_experiment",
    "parquet_generator",
    "read_round",
    "register_template",
    "sbc",
    "sequential_experiment",
    "set_cpu_threads",
    "simulated_experiment_generator",
    "viz",
]

_LAZY_SUBPACKAGES = ("analysis", "calibration", "classic", "sbc", "viz")


def __getattr__(name: str):
    # Heavier subpackages (statsmodels, scikit-learn, matplotlib) load on first use.
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"pytyche.{name}")
    raise AttributeError(f"module 'pytyche' has no attribute {name!r}")
