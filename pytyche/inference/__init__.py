"""The NumPyro kernel that drives the forest engine, its configuration and `fit`."""

from pytyche.inference.config import BCFConfig
from pytyche.inference.fitting import PerformanceWarning, fit
from pytyche.inference.kernel import BCFInfo, BCFKernel, BCFState, CompactTrees

__all__ = [
    "BCFConfig",
    "BCFInfo",
    "BCFKernel",
    "BCFState",
    "CompactTrees",
    "PerformanceWarning",
    "fit",
]
