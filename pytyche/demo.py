"""The main job behind ``make demo`` / ``pytyche demo``: a simulated adaptive experiment.

Three rounds of the ``clustered_realistic`` scenario (K = 3: ``control``, ``low_promo``,
``free_ship``) on a doubling schedule, each round fitting the joint hurdle BCF to all data
so far, finding segments, and routing the next round through them. It prints each round's
one-line summary, the segment table, the graduation candidates, the truth comparison and
the final summary, and writes the report, the experiment store and (when
:mod:`pytyche.viz` is available) the figures and the round-by-round animation to ``out/``.

The default size (2,000 -> 4,000 -> 8,000 visitors, a small forest and short chains) is
chosen to finish within about three minutes on a 2-core CPU; the tutorial's scale is
``n_visitors=50_000`` with the default ``BCFConfig()`` on a GPU.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from pytyche.contracts import UncalibratedWarning
from pytyche.experiment.report import write_figures, write_next_plan, write_report
from pytyche.experiment.schedule import GeometricSchedule
from pytyche.experiment.sequential import SequentialExperiment, sequential_experiment
from pytyche.generators.simulated import simulated_experiment_generator
from pytyche.inference import BCFConfig
from pytyche.setup_check import check_setup

__all__ = ["DEMO_FIT_CONFIG", "DEMO_TREATMENTS", "run_demo"]

DEMO_TREATMENTS = ("control", "low_promo", "free_ship")
DEMO_FIT_CONFIG = BCFConfig(num_mu_trees=30, num_tau_trees=10, num_warmup=100, num_draws=100)
"""A small forest with short chains: enough for the demo's scale on a CPU."""


def run_demo(
    out: Path,
    *,
    n_visitors: int = 2_000,
    n_rounds: int = 3,
    seed: int = 42,
    effect_scale: float = 0.1,
    fit_config: BCFConfig = DEMO_FIT_CONFIG,
    n_bootstrap: int = 20,
    figures: bool = True,
    echo=print,
) -> SequentialExperiment:
    """Run the demo experiment, print its report and write it to ``out``.

    Parameters
    ----------
    out : Path
        Output directory (created); the store goes to ``out/experiment`` (replaced if it
        holds a previous demo's store).
    n_visitors : int
        Visitors in round 1 (doubling each round).
    n_rounds : int
        Number of rounds.
    seed : int
        Seed of the scenario and of the experiment.
    effect_scale : float
        Size of the planted effects.
    fit_config : BCFConfig
        Settings of each round's fit.
    n_bootstrap : int
        Stability bootstrap refits per round.
    figures : bool
        Write figures when :mod:`pytyche.viz` is available.
    echo : callable
        Where lines are printed.

    Returns
    -------
    SequentialExperiment
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "experiment"
    _clear_previous_store(store)
    echo(str(check_setup()))
    generator = simulated_experiment_generator(
        template="clustered_realistic",
        metric="revenue_per_visitor",
        effect_scale=effect_scale,
        K=len(DEMO_TREATMENTS),
        seed=seed,
        treatment_names=DEMO_TREATMENTS,
    )
    echo("")
    echo(f"scenario: {generator.describe()}")
    exp = sequential_experiment(
        generator,
        GeometricSchedule(initial=n_visitors, growth=2.0, n_rounds=n_rounds),
        DEMO_TREATMENTS,
        fit_config=fit_config,
        seed=seed,
        store=store,
        n_bootstrap=n_bootstrap,
    )
    echo("")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncalibratedWarning)  # every line says uncalibrated
        for result in exp:
            echo(result.summary_one_line())
    latest = exp.history[-1]
    echo("")
    echo(f"segments after round {latest.number} ({latest.interval_claim.value}, 80% intervals):")
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        echo(latest.segment_table().round(4).to_string())
    echo("")
    candidates = exp.graduation_candidates(sustained_rounds=2)
    echo(f"graduation candidates ({len(candidates)}; never shipped automatically):")
    for candidate in candidates:
        echo(f"  {candidate}")
    echo("")
    echo(
        "truth comparison per round (simulation truth; the covariate oracle is the best "
        "policy of the covariates, the latent oracle also knows each visitor's hidden cluster):"
    )
    for r in exp.history:
        echo(f"  round {r.number}: {r.truth_comparison.describe()}")
    echo("")
    echo(exp.summary)
    write_report(exp, out / "demo.md")
    write_next_plan(exp, out / "next_plan.json")
    written = write_figures(exp, out / "figures") if figures else []
    echo("")
    echo(f"report: {out / 'demo.md'}; store: {store}; figures: {len(written)} in {out / 'figures'}")
    return exp


def _clear_previous_store(store: Path) -> None:
    """Remove a previous demo's store (only a directory that is one)."""
    if not store.exists():
        return
    if not (store / "experiment.json").exists():
        raise FileExistsError(f"{store} exists and is not a pytyche experiment store")
    import shutil

    shutil.rmtree(store)
