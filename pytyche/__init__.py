"""pytyche: calibrated, adaptive, multi-round A/B experiments.

The public API, and nothing else, is imported here.
"""

from pytyche._version import __version__
from pytyche.contracts import ClaimLevel, Metric, MetricFamily, UncalibratedWarning
from pytyche.data import DataValidationError, RoundData, concat_rounds, read_round
from pytyche.setup_check import SetupReport, check_setup

__all__ = [
    "ClaimLevel",
    "DataValidationError",
    "Metric",
    "MetricFamily",
    "RoundData",
    "SetupReport",
    "UncalibratedWarning",
    "__version__",
    "check_setup",
    "concat_rounds",
    "read_round",
]
