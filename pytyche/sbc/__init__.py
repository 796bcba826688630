"""Simulation-based calibration (SBC): vectorised sweeps, rank statistics, coverage tables.

- :mod:`~pytyche.sbc.spec`: sweep specifications (TOML) — :func:`load_spec`;
- :mod:`~pytyche.sbc.problem`: what a sweep simulates and fits — :class:`SBCProblem`,
  :func:`vmapped_problem`, :func:`register_sbc_problem`;
- :mod:`~pytyche.sbc.runner`: :func:`run_sweep` (vmap over replicates, chunked, sharded
  over devices, resumable) and :func:`load_result`;
- :mod:`~pytyche.sbc.ranks`: ranks, coverage, χ² uniformity, PIT-ECDF bands;
- :mod:`~pytyche.sbc.diagnostics`: coverage-vs-nominal / coverage-vs-n / uniformity tables;
- :mod:`~pytyche.sbc.conjugate`: the exact-posterior conjugate normal problem (pipeline check).
"""

from pytyche.sbc.conjugate import (
    ConjugateNormalConfig,
    ConjugateNormalProblem,
    conjugate_normal_problem,
)
from pytyche.sbc.diagnostics import (
    coverage_table,
    coverage_vs_n,
    coverage_vs_nominal,
    format_report,
    rank_uniformity,
)
from pytyche.sbc.problem import (
    ProblemRegime,
    SBCProblem,
    SimulatedBatch,
    available_sbc_problems,
    get_sbc_problem,
    register_sbc_problem,
    vmapped_problem,
)
from pytyche.sbc.ranks import chi2_uniformity, pit_ecdf_bands, pit_values, summarize_draws
from pytyche.sbc.runner import SweepOutcome, load_result, replicate_keys, run_sweep
from pytyche.sbc.spec import DGPSpec, SpecError, SweepSpec, load_spec, parse_spec

__all__ = [
    "ConjugateNormalConfig",
    "ConjugateNormalProblem",
    "DGPSpec",
    "ProblemRegime",
    "SBCProblem",
    "SimulatedBatch",
    "SpecError",
    "SweepOutcome",
    "SweepSpec",
    "available_sbc_problems",
    "chi2_uniformity",
    "conjugate_normal_problem",
    "coverage_table",
    "coverage_vs_n",
    "coverage_vs_nominal",
    "format_report",
    "get_sbc_problem",
    "load_result",
    "load_spec",
    "parse_spec",
    "pit_ecdf_bands",
    "pit_values",
    "rank_uniformity",
    "register_sbc_problem",
    "replicate_keys",
    "run_sweep",
    "summarize_draws",
    "vmapped_problem",
]
