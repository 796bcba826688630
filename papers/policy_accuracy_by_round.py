"""Figure: policy accuracy and oracle gap of the adaptive loop, round by round.

Reads ``experiments/results/loop_accuracy_<backend>.json`` (``experiments/loop_accuracy.py``):
for every scenario and round, the share of visitors whose recommended arm is truly their
best (policy accuracy) and the true revenue per visitor lost against the per-visitor oracle
(oracle gap), both scored against the simulation truth. Left: policy accuracy; right:
oracle gap, with uniform random assignment's gap (dashed) as the no-learning reference.
One line per scenario (mean over seeds; seeds as small dots when there are several).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from figure_inputs import EXPERIMENT_RESULTS, FIGURES, read_json, run_figure, save
from matplotlib.figure import Figure

DEFAULT_RESULT = EXPERIMENT_RESULTS / "loop_accuracy_cpu.json"
PRODUCED_BY = "python experiments/loop_accuracy.py"


def round_table(result: dict) -> pd.DataFrame:
    """One row per (template, seed, round) with the truth-comparison numbers."""
    if result.get("experiment") != "loop_accuracy" or not result.get("runs"):
        raise ValueError("expected a loop_accuracy result with at least one run")
    rows = [
        {
            "template": run["template"],
            "seed": run["seed"],
            "round": r["round"],
            "cumulative_visitors": r["cumulative_visitors"],
            "policy_accuracy": r["policy_accuracy"],
            "oracle_gap": r["oracle_gap"],
            "uniform_gap": r["rpv_oracle"] - r["rpv_uniform"],
        }
        for run in result["runs"]
        for r in run["rounds"]
    ]
    return pd.DataFrame(rows)


def build_figure(result: dict) -> Figure:
    """Two axes; labelled lines ``"<template>"`` (and ``"<template>, uniform"`` on the right)."""
    table = round_table(result)
    figure, (accuracy_ax, gap_ax) = plt.subplots(1, 2, figsize=(9.0, 3.6), layout="constrained")
    colours = dict(
        zip(
            sorted(table["template"].unique()),
            plt.get_cmap("tab10")(np.arange(table["template"].nunique())),
            strict=True,
        )
    )
    for template, runs in table.groupby("template"):
        colour = colours[template]
        mean = runs.groupby("round")[["policy_accuracy", "oracle_gap", "uniform_gap"]].mean()
        rounds = mean.index.to_numpy()
        accuracy_ax.plot(rounds, mean["policy_accuracy"], marker="o", color=colour, label=template)
        gap_ax.plot(rounds, mean["oracle_gap"], marker="o", color=colour, label=template)
        gap_ax.plot(
            rounds,
            mean["uniform_gap"],
            linestyle="--",
            color=colour,
            alpha=0.6,
            label=f"{template}, uniform",
        )
        if runs["seed"].nunique() > 1:
            accuracy_ax.scatter(
                runs["round"], runs["policy_accuracy"], s=8, color=colour, alpha=0.4
            )
            gap_ax.scatter(runs["round"], runs["oracle_gap"], s=8, color=colour, alpha=0.4)
    visitors = table.groupby("round")["cumulative_visitors"].first()
    config = result.get("config", {})
    for ax, label in (
        (accuracy_ax, "policy accuracy (share of visitors)"),
        (gap_ax, "oracle gap (true revenue per visitor)"),
    ):
        ax.set_xticks(visitors.index, [f"{k}\n({v:,})" for k, v in visitors.items()])
        ax.set_xlabel("round (cumulative visitors)")
        ax.set_ylabel(label)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=7)
    accuracy_ax.set_ylim(0, 1)
    gap_ax.set_ylim(bottom=0)
    figure.suptitle(
        f"Adaptive loop vs simulation truth (effect scale {config.get('effect_scale')}, "
        f"fit {config.get('fit')}, {result.get('jax_backend', '?')})",
        fontsize=10,
    )
    return figure


def make_figure(result_path: Path, out_dir: Path) -> Path:
    """Read the result, draw, write ``out_dir/policy_accuracy_by_round.png``."""
    result = read_json(result_path, PRODUCED_BY)
    return save(build_figure(result), out_dir, "policy_accuracy_by_round")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", type=Path, default=DEFAULT_RESULT)
    parser.add_argument("--out-dir", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    return run_figure("policy_accuracy_by_round", lambda: make_figure(args.result, args.out_dir))


if __name__ == "__main__":
    sys.exit(main())
