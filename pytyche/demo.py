"""The main job behind ``make demo`` / ``pytyche demo``.

A small simulated experiment on the ``clustered_realistic`` scenario (K = 3:
``control``, ``low_promo``, ``free_ship``): the setup report, a cold-start round served by
a Control and an Explore cell, a sample-ratio check of the realised split, and what each
cell's traffic did (observed data only). Everything runs on CPU in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pytyche.classic.randomization import sample_ratio_mismatch
from pytyche.experiment.observations import observe_cells
from pytyche.experiment.plan import cold_start_plan
from pytyche.generators.simulated import simulated_experiment_generator
from pytyche.setup_check import check_setup

__all__ = ["DEMO_TREATMENTS", "run_demo"]

DEMO_TREATMENTS = ("control", "low_promo", "free_ship")


def run_demo(out: Path, *, n_visitors: int = 5_000, seed: int = 42) -> dict:
    """Run the demo, print its report and write it to ``out/demo.txt``.

    Parameters
    ----------
    out : Path
        Output directory (created if needed).
    n_visitors : int
        Visitors in the round.
    seed : int
        Seed of the simulated scenario.

    Returns
    -------
    dict
        The printed quantities: ``setup``, ``data``, ``srm``, ``cells``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text)
        lines.append(text)

    setup = check_setup()
    say(str(setup))
    generator = simulated_experiment_generator(
        template="clustered_realistic",
        metric="revenue_per_visitor",
        effect_scale=0.1,
        K=len(DEMO_TREATMENTS),
        seed=seed,
        treatment_names=DEMO_TREATMENTS,
    )
    say()
    say(f"scenario: {generator.describe()}")
    plan = cold_start_plan(DEMO_TREATMENTS, n_visitors)
    say(f"round 1 plan: {plan.describe()}")
    data, _truth = generator(0, plan)  # truth stays sealed: the demo reports observed data
    say(f"round 1 data: {data!r}")

    counts = [int(np.sum(data.cell == cell.id)) for cell in plan.cells]
    srm = sample_ratio_mismatch(counts, [cell.weight for cell in plan.cells])
    say(f"sample-ratio check of the cell split {counts}: {srm}")

    say()
    say("what each cell's traffic did (revenue per visitor):")
    cells = observe_cells(data, control_cell=plan.cells[0].id)
    for observation in cells:
        say(f"  {observation}")
    (out / "demo.txt").write_text("\n".join(lines) + "\n")
    say()
    say(f"report written to {out / 'demo.txt'}")
    return {"setup": setup, "data": data, "srm": srm, "cells": cells}
