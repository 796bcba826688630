"""Figure: how well the loop's segments recover the planted clusters, round by round.

Reads ``experiments/results/loop_accuracy_<backend>.json`` (``experiments/loop_accuracy.py``),
which scores every round's policy-tree segments against the clusters planted in the
clustered scenarios. First panel: the adjusted Rand index between segments and clusters
(1 = the same partition, about 0 = unrelated; Hubert & Arabie 1985), one line per scenario.
Then one panel per scenario: for each planted cluster, the share of its visitors whose
segment recommends the cluster's truth-optimal arm (legend: cluster and that arm). Means
over seeds.
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


def recovery_table(result: dict) -> pd.DataFrame:
    """One row per (template, seed, round, cluster)."""
    if result.get("experiment") != "loop_accuracy" or not result.get("runs"):
        raise ValueError("expected a loop_accuracy result with at least one run")
    rows = []
    for run in result["runs"]:
        for r in run["rounds"]:
            recovery = r["segment_recovery"]
            for cluster, share in recovery["cluster_optimal_share"].items():
                rows.append(
                    {
                        "template": run["template"],
                        "seed": run["seed"],
                        "round": r["round"],
                        "ari": recovery["adjusted_rand_index"],
                        "cluster": cluster,
                        "optimal_arm": recovery["cluster_optimal_arm"][cluster],
                        "optimal_share": share,
                    }
                )
    return pd.DataFrame(rows)


def build_figure(result: dict) -> Figure:
    """``1 + templates`` axes; labelled lines: templates (ARI), ``"<cluster> (<arm>)"``."""
    table = recovery_table(result)
    templates = sorted(table["template"].unique())
    figure, axes = plt.subplots(
        1, 1 + len(templates), figsize=(3.6 * (1 + len(templates)), 3.5), layout="constrained"
    )
    ari_ax, cluster_axes = axes[0], axes[1:]
    colours = plt.get_cmap("tab10")(np.arange(len(templates)))
    for colour, template in zip(colours, templates, strict=True):
        runs = table[table["template"] == template]
        ari = runs.drop_duplicates(["seed", "round"]).groupby("round")["ari"].mean()
        ari_ax.plot(ari.index, ari.to_numpy(), marker="o", color=colour, label=template)
    ari_ax.axhline(0.0, color="grey", linestyle=":", linewidth=0.8, label="_unrelated")
    ari_ax.set_ylim(-0.1, 1.0)
    ari_ax.set_ylabel("adjusted Rand index (segments vs clusters)")
    ari_ax.set_title("Partition agreement", fontsize=9, loc="left")
    for ax, template in zip(cluster_axes, templates, strict=True):
        runs = table[table["template"] == template]
        for (cluster, arm), rows in runs.groupby(["cluster", "optimal_arm"]):
            share = rows.groupby("round")["optimal_share"].mean()
            ax.plot(share.index, share.to_numpy(), marker="o", label=f"{cluster} ({arm})")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share served its cluster's best arm")
        ax.set_title(template, fontsize=9, loc="left")
    for ax in axes:
        ax.set_xlabel("round")
        ax.set_xticks(sorted(table["round"].unique()))
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=7)
    return figure


def make_figure(result_path: Path, out_dir: Path) -> Path:
    """Read the result, draw, write ``out_dir/segment_recovery.png``."""
    result = read_json(result_path, PRODUCED_BY)
    return save(build_figure(result), out_dir, "segment_recovery")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", type=Path, default=DEFAULT_RESULT)
    parser.add_argument("--out-dir", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    return run_figure("segment_recovery", lambda: make_figure(args.result, args.out_dir))


if __name__ == "__main__":
    sys.exit(main())
