"""The ``pytyche sbc`` subcommands: run a sweep, report on a result, fit a calibration.

``pytyche sbc run SPEC [--out RESULT] [--max-chunks K] [--no-progress]``
    Run (or resume) the sweep of a TOML spec; the result defaults to
    ``sbc/results/<sweep id>.nc``. A killed run resumes where it stopped.
``pytyche sbc report RESULT [--level 0.9] [--csv DIR] [--calibration ARTIFACT]``
    Print provenance, coverage-vs-nominal, coverage-vs-n and rank-uniformity tables
    (optionally also written as CSV); with an artifact, also the raw vs calibrated
    coverage of this (held-out) result.
``pytyche sbc fit-calibration RESULT --out ARTIFACT [--quantities PATTERN ...]``
    Fit a calibration artifact (JSON) from a sweep result.

:func:`add_sbc_subcommands` adds them to the ``pytyche`` parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["DEFAULT_RESULTS_DIR", "add_sbc_subcommands"]

DEFAULT_RESULTS_DIR = Path("sbc") / "results"


def _cmd_run(args: argparse.Namespace) -> int:
    from pytyche.sbc.runner import run_sweep
    from pytyche.sbc.spec import load_spec

    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else DEFAULT_RESULTS_DIR / f"{spec.id}.nc"
    out.parent.mkdir(parents=True, exist_ok=True)
    outcome = run_sweep(spec, out, progress=not args.no_progress, max_chunks=args.max_chunks)
    if outcome.complete:
        print(f"sweep {spec.id!r} complete: {outcome.path}")
        return 0
    print(
        f"sweep {spec.id!r} stopped after {outcome.chunks_run} chunks; "
        f"run the same command again to resume"
    )
    return 3


def _cmd_report(args: argparse.Namespace) -> int:
    from pytyche.sbc.diagnostics import (
        coverage_table,
        format_report,
        rank_uniformity,
    )
    from pytyche.sbc.runner import load_result

    result = load_result(args.result)
    print(format_report(result, level=args.level))
    if args.csv:
        directory = Path(args.csv)
        directory.mkdir(parents=True, exist_ok=True)
        stem = Path(args.result).stem
        coverage_table(result, per_quantity=True).to_csv(
            directory / f"{stem}-coverage.csv", index=False
        )
        rank_uniformity(result).to_csv(directory / f"{stem}-ranks.csv", index=False)
        print(f"tables written to {directory}")
    if args.calibration:
        from pytyche.calibration import Calibration, evaluate_calibration

        calibration = Calibration.load(args.calibration)
        table = evaluate_calibration(calibration, result)
        print(f"\nraw vs calibrated coverage with {calibration!r}:")
        print(table.to_string(index=False, float_format="%.3f"))
        if args.csv:
            table.to_csv(Path(args.csv) / f"{Path(args.result).stem}-calibrated.csv", index=False)
    return 0


def _cmd_fit_calibration(args: argparse.Namespace) -> int:
    from pytyche.calibration import fit_calibration
    from pytyche.sbc.runner import load_result

    calibration = fit_calibration(load_result(args.result), quantities=tuple(args.quantities))
    out = calibration.save(args.out)
    print(repr(calibration))
    print(calibration.table().to_string(index=False, float_format="%.3f"))
    print(f"written to {out}")
    return 0


def _level(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a level in (0, 1), got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def add_sbc_subcommands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``sbc run|report|fit-calibration`` to the ``pytyche`` command's subparsers.

    Each leaf parser sets ``handler`` (``args -> exit code``), like the other commands.
    Returns the ``sbc`` parser.
    """
    sbc = subparsers.add_parser("sbc", help="simulation-based calibration sweeps and artifacts")
    commands = sbc.add_subparsers(dest="sbc_command", required=True, metavar="SBC_COMMAND")

    run = commands.add_parser("run", help="run or resume the sweep of a TOML spec")
    run.add_argument("spec", help="sweep spec (TOML), e.g. sbc/sweeps/conjugate-normal.toml")
    run.add_argument("--out", help="result file (default sbc/results/<sweep id>.nc)")
    run.add_argument(
        "--max-chunks", type=_non_negative_int, default=None, help="stop after K chunks"
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(handler=_cmd_run)

    report = commands.add_parser("report", help="coverage and rank-uniformity tables")
    report.add_argument("result", help="sweep result (NetCDF)")
    report.add_argument("--level", type=_level, default=0.9, help="level of coverage vs n")
    report.add_argument("--csv", help="also write the tables as CSV into this directory")
    report.add_argument("--calibration", help="artifact (JSON) to evaluate on this result")
    report.set_defaults(handler=_cmd_report)

    fit = commands.add_parser("fit-calibration", help="fit a calibration artifact (JSON)")
    fit.add_argument("result", help="sweep result (NetCDF)")
    fit.add_argument("--out", required=True, help="artifact path (.json)")
    fit.add_argument(
        "--quantities", nargs="+", default=["*"], help="glob patterns of quantities to fit on"
    )
    fit.set_defaults(handler=_cmd_fit_calibration)
    return sbc
