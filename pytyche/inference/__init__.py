"""The NumPyro kernel that drives the forest engine, its configuration and `fit`."""

from pytyche.inference.config import BCFConfig
from pytyche.inference.cpu_threads import cpu_threads, set_cpu_threads
from pytyche.inference.fitting import PerformanceWarning, fit
from pytyche.inference.kernel import BCFInfo, BCFKernel, BCFState, CompactTrees

__all__ = [
    "BCFConfig",
    "BCFInfo",
    "BCFKernel",
    "BCFState",
    "CompactTrees",
    "PerformanceWarning",
    "cpu_threads",
    "fit",
    "set_cpu_threads",
]
