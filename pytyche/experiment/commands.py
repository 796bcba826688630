"""The ``pytyche rehearse`` and ``pytyche round`` commands.

``pytyche rehearse --template clustered_realistic --rounds 3 --initial 5000 --growth 2 --out DIR``
    A simulated dress rehearsal: runs every round with progress bars and writes
    ``DIR/store`` (the experiment store), ``DIR/report.md``, ``DIR/figures/`` and
    ``DIR/next_plan.json``.

``pytyche round --experiment DIR --data round.parquet``
    Ingests one real round: the first call creates the experiment in ``DIR`` (pass
    ``--treatments control,a,b``; the round must then be served by the cold-start cells
    ``control`` and ``explore``); later calls resume it. The data must carry the ``cell``
    column and one ``propensity_<arm>`` column per arm. Fits, prints the summary and writes
    ``DIR/next_plan.json`` for the experimentation platform and ``DIR/report.md``.

:func:`add_experiment_subcommands` adds both to an :mod:`argparse` sub-parser set.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import pandas as pd

from pytyche.contracts import UncalibratedWarning

__all__ = ["add_experiment_subcommands", "rehearse", "run_real_round"]


def add_experiment_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rehearse`` and ``round`` to the ``pytyche`` command's sub-parsers."""
    rehearsal = subparsers.add_parser(
        "rehearse", help="simulated dress rehearsal of an adaptive experiment"
    )
    rehearsal.add_argument("--template", default="clustered_realistic", help="scenario template")
    rehearsal.add_argument("--rounds", type=_positive_int, default=3, help="number of rounds")
    rehearsal.add_argument("--initial", type=_positive_int, default=5_000, help="round-1 visitors")
    rehearsal.add_argument("--growth", type=float, default=2.0, help="round-size growth factor")
    rehearsal.add_argument("--effect-scale", type=float, default=0.1, help="planted effect size")
    rehearsal.add_argument("--arms", type=_positive_int, default=3, help="arms K, control included")
    rehearsal.add_argument("--seed", type=int, default=42, help="random seed")
    rehearsal.add_argument("--out", required=True, help="output directory (must not hold a store)")
    rehearsal.add_argument("--no-figures", action="store_true", help="skip the figures")
    _add_fit_arguments(rehearsal)
    rehearsal.set_defaults(handler=_cmd_rehearse)

    real = subparsers.add_parser("round", help="ingest one real round, fit, write the next plan")
    real.add_argument("--experiment", required=True, help="experiment directory")
    real.add_argument("--data", required=True, help="the round's visitors (.parquet or .csv)")
    real.add_argument("--treatments", help="first round only: arms, control first, comma-separated")
    real.add_argument("--outcome", default="revenue", help="first round only: outcome column")
    real.add_argument("--arm-column", default="arm", help="first round only: arm column")
    real.add_argument("--id-column", default=None, help="first round only: visitor-id column")
    real.add_argument(
        "--categorical",
        default="",
        help="first round only: categorical covariates, comma-separated",
    )
    real.add_argument("--rounds", type=_positive_int, default=None, help="first round only")
    real.add_argument("--growth", type=float, default=1.0, help="first round only: size growth")
    real.add_argument("--seed", type=int, default=0, help="first round only: random seed")
    _add_fit_arguments(real)
    real.set_defaults(handler=_cmd_round)


def _add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mu-trees", type=_positive_int, default=200, help="prognostic trees")
    parser.add_argument("--tau-trees", type=_positive_int, default=50, help="treatment trees")
    parser.add_argument("--warmup", type=_positive_int, default=200, help="MCMC warm-up steps")
    parser.add_argument("--draws", type=_positive_int, default=200, help="posterior draws kept")
    parser.add_argument("--bootstrap", type=int, default=50, help="stability bootstrap refits")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _fit_config(args: argparse.Namespace):
    from pytyche.inference import BCFConfig

    return BCFConfig(
        num_mu_trees=args.mu_trees,
        num_tau_trees=args.tau_trees,
        num_warmup=args.warmup,
        num_draws=args.draws,
    )


# ---------------------------------------------------------------------- rehearse
def _cmd_rehearse(args: argparse.Namespace) -> int:
    rehearse(
        Path(args.out),
        template=args.template,
        n_rounds=args.rounds,
        initial=args.initial,
        growth=args.growth,
        effect_scale=args.effect_scale,
        n_arms=args.arms,
        seed=args.seed,
        fit_config=_fit_config(args),
        n_bootstrap=args.bootstrap,
        progress=not args.no_progress,
        figures=not args.no_figures,
    )
    return 0


def rehearse(
    out: Path,
    *,
    template: str = "clustered_realistic",
    n_rounds: int = 3,
    initial: int = 5_000,
    growth: float = 2.0,
    effect_scale: float = 0.1,
    n_arms: int = 3,
    seed: int = 42,
    fit_config=None,
    n_bootstrap: int = 50,
    progress: bool = True,
    figures: bool = True,
    echo=print,
):
    """Run a simulated rehearsal and write its store, report, figures and next plan.

    Returns
    -------
    SequentialExperiment
    """
    from pytyche.experiment.report import write_figures, write_next_plan, write_report
    from pytyche.experiment.schedule import GeometricSchedule
    from pytyche.experiment.sequential import sequential_experiment
    from pytyche.generators.simulated import simulated_experiment_generator

    generator = simulated_experiment_generator(
        template=template, effect_scale=effect_scale, K=n_arms, seed=seed
    )
    exp = sequential_experiment(
        generator,
        GeometricSchedule(initial=initial, growth=growth, n_rounds=n_rounds),
        generator.treatments,
        fit_config=fit_config,
        seed=seed,
        progress=progress,
        store=Path(out) / "store",
        n_bootstrap=n_bootstrap,
    )
    echo(f"rehearsal: {generator.describe()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncalibratedWarning)  # the report says uncalibrated
        for result in exp:
            echo(result.summary_one_line())
    write_report(exp, Path(out) / "report.md")
    write_next_plan(exp, Path(out) / "next_plan.json")
    written = write_figures(exp, Path(out) / "figures") if figures else []
    echo("")
    echo(exp.summary)
    echo("")
    echo(f"report: {Path(out) / 'report.md'}; figures: {len(written)} in {Path(out) / 'figures'}")
    return exp


# ---------------------------------------------------------------------- round
def _cmd_round(args: argparse.Namespace) -> int:
    run_real_round(
        Path(args.experiment),
        Path(args.data),
        treatments=None if args.treatments is None else _split(args.treatments),
        outcome=args.outcome,
        arm_column=args.arm_column,
        id_column=args.id_column,
        categorical=_split(args.categorical),
        n_rounds=args.rounds,
        growth=args.growth,
        seed=args.seed,
        fit_config=_fit_config(args),
        n_bootstrap=args.bootstrap,
        progress=not args.no_progress,
    )
    return 0


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def run_real_round(
    directory: Path,
    data_path: Path,
    *,
    treatments: tuple[str, ...] | None = None,
    outcome: str = "revenue",
    arm_column: str = "arm",
    id_column: str | None = None,
    categorical: tuple[str, ...] = (),
    n_rounds: int | None = None,
    growth: float = 1.0,
    seed: int = 0,
    fit_config=None,
    n_bootstrap: int = 50,
    progress: bool = True,
    echo=print,
):
    """Ingest one real round into the experiment at ``directory`` (created on first use).

    Returns
    -------
    Round
    """
    from pytyche.data import RoundData
    from pytyche.experiment.report import write_next_plan, write_report
    from pytyche.experiment.schedule import GeometricSchedule
    from pytyche.experiment.sequential import sequential_experiment
    from pytyche.experiment.store import load_experiment

    directory = Path(directory)
    frame = _read_frame(Path(data_path))
    store = directory / "store"
    if (store / "experiment.json").exists():
        exp = load_experiment(store, progress=progress)
        schema = json.loads((store / "rounds" / "round_000" / "schema.json").read_text())
    else:
        if not treatments:
            raise ValueError(
                "the first round creates the experiment: pass --treatments control,arm1,..."
            )
        schema = {
            "arms": list(treatments),
            "outcome": outcome,
            "arm_column": arm_column,
            "covariates": None,
            "categorical": list(categorical),
            "id_column": id_column,
            "family": "auto",
        }
        exp = sequential_experiment(
            None,
            GeometricSchedule(initial=len(frame), growth=growth, n_rounds=n_rounds),
            treatments,
            fit_config=fit_config,
            seed=seed,
            progress=progress,
            store=store,
            n_bootstrap=n_bootstrap,
        )
    data = RoundData.from_frame(
        frame,
        arms=schema["arms"],
        outcome=schema["outcome"],
        arm=schema["arm_column"],
        covariates=schema["covariates"],
        categorical=schema["categorical"],
        id_column=schema["id_column"],
        family="auto" if schema["family"] == "auto" else schema["family"],
        round_index=len(exp.history),
        require_all_arms=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncalibratedWarning)  # the summary says uncalibrated
        result = exp.ingest(data)
    plan_path = write_next_plan(exp, directory / "next_plan.json")
    write_report(exp, directory / "report.md")
    echo(result.summary_one_line())
    echo("")
    echo(exp.summary)
    echo("")
    echo(f"next plan written to {plan_path}")
    return result


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"--data {str(path)!r} does not exist")
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"--data must be a .parquet or .csv file, got {path.suffix!r}")
