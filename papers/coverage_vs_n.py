"""Figure: interval coverage vs scale n, uncalibrated vs calibrated, on a held-out SBC sweep.

Reads an SBC sweep result (``sbc/results/<sweep>.nc``) and the calibration artifact fitted
on a *different* (training) sweep (``sbc/results/<training>.json``), and plots, per nominal
level, the empirical coverage of the raw posterior intervals and of the calibrated ones
against n (log axis), with 95% Clopper–Pearson Monte Carlo bars (replicates counted as
independent; the quantities of one replicate share its data) and the nominal level dotted.

The calibrated γ interval covers the truth exactly when the replicate's interval ratio is
at most the artifact's factor c(γ, n) (:func:`pytyche.calibration.evaluate_calibration`),
so no refitting is needed.

Default: the overconfident conjugate sampler (held-out sweep, artifact from the training
sweep), the exact-posterior problem whose undercoverage grows with n by construction.
``make_figures.py`` also draws the BCF version when its sweep results exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from figure_inputs import FIGURES, SBC_RESULTS, require, run_figure, save
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

DEFAULT_RESULT = SBC_RESULTS / "conjugate-normal-overconfident-holdout.nc"
DEFAULT_CALIBRATION = SBC_RESULTS / "conjugate-normal-overconfident.json"
PRODUCED_BY = "pytyche sbc run sbc/sweeps/<spec>.toml (and pytyche sbc fit-calibration)"


def coverage_rows(result, calibration, levels: Sequence[float], quantities=None):
    """Raw and calibrated coverage per (level, n) with Monte Carlo intervals.

    Returns
    -------
    pandas.DataFrame
        Columns ``level``, ``n``, ``raw``, ``raw_low``, ``raw_high``, ``calibrated``,
        ``calibrated_low``, ``calibrated_high``, ``replicates``.
    """
    from pytyche.calibration import evaluate_calibration
    from pytyche.sbc.ranks import coverage_interval

    table = evaluate_calibration(calibration, result, quantities=quantities)
    table = table[np.isin(table["level"].round(6), np.round(levels, 6))].copy()
    missing = sorted(set(np.round(levels, 6)) - set(table["level"].round(6)))
    if missing:
        raise ValueError(f"levels {missing} are not in the sweep's levels")
    raw_low, raw_high = coverage_interval(
        np.round(table["raw_coverage"] * table["replicates"]).to_numpy(),
        table["replicates"].to_numpy(),
    )
    return table.assign(
        raw=table["raw_coverage"],
        raw_low=raw_low,
        raw_high=raw_high,
        calibrated=table["calibrated_coverage"],
        calibrated_low=table["mc_low"],
        calibrated_high=table["mc_high"],
    )[
        [
            "level",
            "n",
            "raw",
            "raw_low",
            "raw_high",
            "calibrated",
            "calibrated_low",
            "calibrated_high",
            "replicates",
        ]
    ].sort_values(["level", "n"])


def build_figure(result, calibration, levels: Sequence[float] = (0.9,), quantities=None) -> Figure:
    """The figure (one axes). Labelled lines: ``"<kind>, <level>"`` per level and kind."""
    rows = coverage_rows(result, calibration, levels, quantities)
    figure, ax = plt.subplots(figsize=(5.4, 3.8), layout="constrained")
    colours = plt.get_cmap("plasma")(np.linspace(0.0, 0.75, len(levels)))
    for colour, (level, at_level) in zip(colours, rows.groupby("level"), strict=True):
        n = at_level["n"].to_numpy(float)
        for kind, style, marker in (("uncalibrated", "-", "o"), ("calibrated", "--", "s")):
            column = "raw" if kind == "uncalibrated" else "calibrated"
            value = at_level[column].to_numpy()
            ax.errorbar(
                n,
                value,
                yerr=[value - at_level[f"{column}_low"], at_level[f"{column}_high"] - value],
                fmt="none",
                ecolor=colour,
                capsize=2,
                linewidth=0.8,
            )
            ax.plot(
                n,
                value,
                linestyle=style,
                marker=marker,
                color=colour,
                markersize=4,
                label=f"{kind}, {level:.0%}",
            )
        ax.axhline(level, color=colour, linestyle=":", linewidth=0.8, label="_nominal")
    ax.set_xscale("log")
    ax.set_xlabel("scale n (visitors per dataset)")
    ax.set_ylabel("empirical coverage (held-out sweep)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0.0, 1.0)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(
        f"{result.attrs.get('sweep_id', 'SBC sweep')}\n(calibration fitted on "
        f"{calibration.sweep_id!r})",
        fontsize=9,
        loc="left",
    )
    return figure


def make_figure(
    result_path: Path,
    calibration_path: Path,
    out_dir: Path,
    levels: Sequence[float] = (0.9,),
    name: str | None = None,
) -> Path:
    """Read the inputs, draw, write ``out_dir/<name>.png``; return the path."""
    from pytyche.calibration import Calibration
    from pytyche.sbc import load_result

    result = load_result(require(result_path, PRODUCED_BY))
    calibration = Calibration.load(require(calibration_path, PRODUCED_BY))
    figure = build_figure(result, calibration, levels)
    return save(figure, out_dir, name or f"coverage_vs_n_{result.attrs['sweep_id']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", type=Path, default=DEFAULT_RESULT, help="held-out SBC .nc")
    parser.add_argument(
        "--calibration",
        type=Path,
        default=DEFAULT_CALIBRATION,
        help="calibration artifact JSON (fitted on another sweep)",
    )
    parser.add_argument("--levels", type=float, nargs="+", default=[0.8, 0.9])
    parser.add_argument("--name", default=None, help="output file stem")
    parser.add_argument("--out-dir", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    return run_figure(
        "coverage_vs_n",
        lambda: make_figure(args.result, args.calibration, args.out_dir, args.levels, args.name),
    )


if __name__ == "__main__":
    sys.exit(main())
