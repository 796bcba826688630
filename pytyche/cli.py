"""The ``pytyche`` command line.

Options
-------
``--cpu-threads T``
    Run JAX's CPU runtime on a pool of ``T`` threads (`pytyche.set_cpu_threads`; ``1`` was
    fastest for fits on a 2-core machine). Default: one per core.

Subcommands
-----------
``pytyche check``
    Print the setup report (versions, JAX devices, calibration artifacts).
``pytyche demo [--out DIR] [--n N] [--seed S]``
    The main job run by ``make demo``: a small simulated adaptive experiment on CPU.
``pytyche rehearse ...`` / ``pytyche round ...``
    A simulated dress rehearsal; ingest one real round and write the next plan
    (:mod:`pytyche.experiment.commands`).
``pytyche sbc run SPEC`` / ``sbc report RESULT`` / ``sbc fit-calibration RESULT --out F``
    Simulation-based calibration sweeps and calibration artifacts (:mod:`pytyche.sbc.cli`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _cmd_check(args: argparse.Namespace) -> int:
    from pytyche.setup_check import check_setup

    print(check_setup())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pytyche.demo import run_demo

    run_demo(out=Path(args.out), n_visitors=args.n, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pytyche`` command."""
    parser = argparse.ArgumentParser(
        prog="pytyche",
        description="Calibrated, adaptive, multi-round A/B experiments.",
    )
    parser.add_argument(
        "--cpu-threads",
        type=_positive_int,
        default=None,
        metavar="T",
        help="threads of JAX's CPU runtime pool (default: one per core)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="print versions, JAX devices and calibration artifacts")
    check.set_defaults(handler=_cmd_check)

    demo = sub.add_parser("demo", help="run a small simulated adaptive experiment on CPU")
    demo.add_argument("--out", default="out", help="directory for the demo's outputs")
    demo.add_argument("--n", type=_positive_int, default=2_000, help="visitors in round 1")
    demo.add_argument("--seed", type=int, default=42, help="random seed")
    demo.set_defaults(handler=_cmd_demo)

    from pytyche.experiment.commands import add_experiment_subcommands
    from pytyche.sbc.cli import add_sbc_subcommands

    add_experiment_subcommands(sub)
    add_sbc_subcommands(sub)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pytyche`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cpu_threads is not None:
        from pytyche.inference.cpu_threads import set_cpu_threads

        try:
            set_cpu_threads(args.cpu_threads)
        except RuntimeError as error:  # only when main() runs inside a JAX program
            parser.error(f"--cpu-threads: {error}")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
