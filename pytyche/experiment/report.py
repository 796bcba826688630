"""Written outputs of an experiment: a Markdown report, figures, the next plan as JSON.

Used by ``pytyche rehearse``, ``pytyche round`` and ``make demo``. The report is built
from the same deterministic templates as ``exp.summary`` plus the per-round one-line
summaries and segment tables, so it contains no timestamps and is reproducible.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pytyche.experiment.serialization import plan_to_dict

if TYPE_CHECKING:
    from pytyche.experiment.sequential import SequentialExperiment

__all__ = ["experiment_report", "write_figures", "write_next_plan", "write_report"]


def experiment_report(exp: SequentialExperiment) -> str:
    """The experiment as Markdown: rounds, segments, candidates, truth, summary."""
    lines = ["# Adaptive experiment report", ""]
    lines += [
        f"Arms: {', '.join(exp.config.treatments)}; mode: {exp.mode}; "
        f"confidence: **{exp.confidence}**.",
        "",
        "## Rounds",
        "",
    ]
    lines += [f"- {r.summary_one_line()}" for r in exp.history]
    latest = exp.latest
    if latest is not None:
        lines += [
            "",
            f"## Segments after round {latest.number} ({latest.interval_claim.value})",
            "",
        ]
        lines += [_markdown_table(latest.segment_table().reset_index()), ""]
        lines += ["## Graduation candidates", ""]
        candidates = exp.graduation_candidates()
        lines += [f"- {c}" for c in candidates] if candidates else ["None yet."]
        if latest.truth_comparison is not None:
            lines += ["", "## Truth comparison (simulation truth)", ""]
            lines += [
                "Per visitor, in the experiment's metric. *Covariate oracle*: the best policy "
                "of the covariates, the yardstick; *latent oracle*: also knows each visitor's "
                "hidden cluster (not attainable). *Value captured*: (policy − best single "
                "arm) / (covariate oracle − best single arm).",
                "",
                "| round | value captured | policy | best single arm | covariate oracle | "
                "latent oracle | uniform | policy accuracy (covariate oracle) | "
                "gap to covariate oracle |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for r in exp.history:
                t = r.truth_comparison
                captured = (
                    "n/a"
                    if t.personalization_captured is None
                    else f"{t.personalization_captured:.0%}"
                )
                lines.append(
                    f"| {r.number} | {captured} | {t.rpv_policy:.4f} | {t.rpv_best_arm:.4f} "
                    f"({t.best_arm}) | {t.rpv_oracle:.4f} | {t.rpv_latent_oracle:.4f} | "
                    f"{t.rpv_uniform:.4f} | {t.policy_accuracy:.3f} | {t.oracle_gap:.4f} |"
                )
    lines += ["", "## Summary", "", exp.summary, ""]
    return "\n".join(lines)


def _markdown_table(frame) -> str:
    columns = [str(c) for c in frame.columns]
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for record in frame.itertuples(index=False):
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in record]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_report(exp: SequentialExperiment, path: str | Path) -> Path:
    """Write :func:`experiment_report` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(experiment_report(exp))
    return path


def write_next_plan(exp: SequentialExperiment, path: str | Path) -> Path:
    """Write the next plan as JSON for an experimentation platform."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan_to_dict(exp.next_recommendation), indent=2) + "\n")
    return path


def write_figures(exp: SequentialExperiment, directory: str | Path) -> list[Path]:
    """Round-history, per-round cell, tree and segment figures and the evolution GIF.

    Returns the files written; an empty list when :mod:`pytyche.viz` is not installed.
    """
    if importlib.util.find_spec("pytyche.viz") is None or not exp.history:
        return []
    import matplotlib.pyplot as plt

    from pytyche import viz

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    figure = viz.plot_round_history(exp)
    written.append(_save(figure, directory / "round_history.png"))
    for r in exp.history:
        written.append(
            _save(viz.plot_cells(r.plan).figure, directory / f"round_{r.number}_cells.png")
        )
        written.append(
            _save(viz.plot_policy_tree(r.analysis).figure, directory / f"round_{r.number}_tree.png")
        )
        written.append(
            _save(
                viz.plot_segment_intervals(r.analysis),
                directory / f"round_{r.number}_segments.png",
            )
        )
    written.append(viz.experiment_evolution_gif(exp, directory / "evolution.gif"))
    plt.close("all")
    return [Path(p) for p in written]


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path
