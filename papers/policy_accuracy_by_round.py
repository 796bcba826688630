"""Figure: value captured, policy accuracy and gap of the adaptive loop, round by round.

Reads ``experiments/results/loop_accuracy_<backend>.json`` (``experiments/loop_accuracy.py``),
scored against the covariate-conditional simulation truth ``E[Y(a) | X = x]``. Left: the
share of the personalisation value captured, ``(policy − best single arm) / (covariate
oracle − best single arm)`` (0 = no better than shipping one arm to everyone, 1 = the best
policy of the covariates). Middle: policy accuracy, the share of visitors served the
covariate oracle's arm. Right: the gap to the covariate oracle in true revenue per visitor,
with shipping the best single arm (dotted) and uniform random assignment (dashed) as
references. One line per scenario (mean over seeds; seeds as small dots when there are
several).
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
LABELS = {
    "captured": "personalisation value\ncaptured (share)",
    "accuracy": "policy accuracy vs covariate oracle",
    "gap": "gap to covariate oracle\n(true revenue per visitor)",
}


def round_table(result: dict) -> pd.DataFrame:
    """One row per (template, seed, round) with the truth-comparison numbers."""
    if result.get("experiment") != "loop_accuracy" or not result.get("runs"):
        raise ValueError("expected a loop_accuracy result with at least one run")
    rows = []
    for run in result["runs"]:
        for r in run["rounds"]:
            if "rpv_best_arm" not in r:
                raise ValueError(
                    "the loop_accuracy result predates the covariate-conditional truth (no "
                    "rpv_best_arm); re-run experiments/loop_accuracy.py"
                )
            captured = r.get("personalization_captured")
            rows.append(
                {
                    "template": run["template"],
                    "seed": run["seed"],
                    "round": r["round"],
                    "cumulative_visitors": r["cumulative_visitors"],
                    "captured": np.nan if captured is None else captured,
                    "accuracy": r["policy_accuracy"],
                    "gap": r["oracle_gap"],
                    "best_arm_gap": r["rpv_oracle"] - r["rpv_best_arm"],
                    "uniform_gap": r["rpv_oracle"] - r["rpv_uniform"],
                }
            )
    return pd.DataFrame(rows)


def build_figure(result: dict) -> Figure:
    """Three axes; labelled lines ``"<template>"`` (and references on the right)."""
    table = round_table(result)
    figure, axes = plt.subplots(1, 3, figsize=(12.0, 3.6), layout="constrained")
    captured_ax, accuracy_ax, gap_ax = axes
    colours = dict(
        zip(
            sorted(table["template"].unique()),
            plt.get_cmap("tab10")(np.arange(table["template"].nunique())),
            strict=True,
        )
    )
    columns = ["captured", "accuracy", "gap", "best_arm_gap", "uniform_gap"]
    for template, runs in table.groupby("template"):
        colour = colours[template]
        mean = runs.groupby("round")[columns].mean()
        rounds = mean.index.to_numpy()
        for ax, column in ((captured_ax, "captured"), (accuracy_ax, "accuracy"), (gap_ax, "gap")):
            ax.plot(rounds, mean[column], marker="o", color=colour, label=template)
            if runs["seed"].nunique() > 1:
                ax.scatter(runs["round"], runs[column], s=8, color=colour, alpha=0.4)
        for column, style, name in (
            ("best_arm_gap", ":", "best single arm"),
            ("uniform_gap", "--", "uniform"),
        ):
            gap_ax.plot(
                rounds,
                mean[column],
                linestyle=style,
                color=colour,
                alpha=0.6,
                label=f"{template}, {name}",
            )
    visitors = table.groupby("round")["cumulative_visitors"].first()
    config = result.get("config", {})
    for ax, key in ((captured_ax, "captured"), (accuracy_ax, "accuracy"), (gap_ax, "gap")):
        ax.set_xticks(visitors.index, [f"{k}\n({v:,})" for k, v in visitors.items()])
        ax.set_xlabel("round (cumulative visitors)")
        ax.set_ylabel(LABELS[key])
        ax.spines[["top", "right"]].set_visible(False)
    captured_ax.legend(fontsize=7)
    accuracy_ax.legend(fontsize=7)
    # the reference lines span the panel's height: the legend goes beside it
    gap_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    captured_ax.axhline(0.0, color="0.6", linewidth=0.8)
    captured_ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":")
    accuracy_ax.set_ylim(0, 1)
    gap_ax.set_ylim(bottom=0)
    figure.suptitle(
        f"Adaptive loop vs covariate-conditional simulation truth (effect scale "
        f"{config.get('effect_scale')}, fit {config.get('fit')}, "
        f"{result.get('jax_backend', '?')})",
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
