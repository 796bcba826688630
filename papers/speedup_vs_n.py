"""Figure: speed-up of pytyche over StochTree against n, per MCMC iteration.

Reads the benchmark results in ``experiments/results/``:

* ``bench_bcf_<backend>_*.json`` (``experiments/bench_bcf.py``): seconds per iteration of
  pytyche's joint hurdle BCF (K = 3) and of StochTree's BCF on the same n and tree counts,
  with a binary treatment and with K = 3 as one-hot treatment columns. The newest file of
  each backend (cpu, gpu) and CPU thread setting (``--cpu-threads``) is used;
* ``bench_forest_cpu.json`` (``experiments/bench_forest.py``): seconds per sweep of one
  forest over all trees.

Speed-up = StochTree's time / pytyche's time in the same run (above 1: pytyche is faster).
Left: full BCF iterations; right: one forest sweep. Timings from a shared machine are noisy
(the result files say so in their ``note``); the ratio, measured in one run, is what the
figure shows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
from figure_inputs import (
    EXPERIMENT_RESULTS,
    FIGURES,
    MissingResultError,
    read_json,
    require,
    run_figure,
    save,
)
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

BCF_PRODUCER = "python experiments/bench_bcf.py"
FOREST_PRODUCER = "python experiments/bench_forest.py"
DEFAULT_FOREST = EXPERIMENT_RESULTS / "bench_forest_cpu.json"
STOCHTREE_VARIANTS = {
    "stochtree_bcf_binary": "StochTree BCF, binary treatment",
    "stochtree_bcf_onehot": "StochTree BCF, K = 3 one-hot",
}


def setting_label(result: dict) -> str:
    """The run's JAX backend, with our CPU runtime's thread count when one was set."""
    label = str(result.get("jax_backend", "unknown"))
    threads = result.get("cpu_threads")
    if isinstance(threads, dict):  # per library (ours, bartz)
        threads = threads.get("pytyche")
    if threads:
        label += f", {threads} thread{'s' if threads > 1 else ''}"
    return label


def newest_bcf_results(directory: Path) -> list[Path]:
    """Per setting (JAX backend and CPU thread count), the newest of the
    ``bench_bcf_*.json`` runs in ``directory`` that cover the most sizes (a later re-run of
    one size does not replace a full run)."""
    newest: dict[str, tuple[tuple[int, str], Path]] = {}
    for path in sorted(Path(directory).glob("bench_bcf_*.json")):
        result = json.loads(path.read_text())
        backend = setting_label(result)
        sizes = len({row.get("n") for row in result.get("rows", [])})
        rank = (sizes, str(result.get("date", "")))
        if backend not in newest or rank >= newest[backend][0]:
            newest[backend] = (rank, path)
    if not newest:
        raise MissingResultError(
            f"no bench_bcf_*.json in {directory}; produce one with: {BCF_PRODUCER}"
        )
    return [path for _, path in sorted(newest.values())]


def bcf_speedups(result: dict) -> dict[str, list[tuple[int, float]]]:
    """``{variant label: [(n, speed-up), ...]}`` over rows where both libraries ran."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in result["rows"]:
        ours = row.get("pytyche_joint_hurdle_k3", {}).get("s_per_iter")
        for key, label in STOCHTREE_VARIANTS.items():
            theirs = (row.get(key) or {}).get("s_per_iter")
            if ours and theirs:
                series.setdefault(label, []).append((int(row["n"]), theirs / ours))
    return {label: sorted(points) for label, points in series.items()}


def forest_speedups(result: dict) -> list[tuple[int, float]]:
    """``[(n, speed-up), ...]`` of one forest sweep against StochTree."""
    return sorted(
        (int(row["n"]), row["stochtree_s"] / row["ours_s"])
        for row in result["rows"]
        if row.get("stochtree_s") and row.get("ours_s")
    )


def build_figure(bcf_results: list[dict], forest_result: dict) -> Figure:
    """Two axes (BCF iteration, forest sweep); one labelled line per comparison."""
    figure, (bcf_ax, forest_ax) = plt.subplots(1, 2, figsize=(9.0, 3.6), layout="constrained")
    for result in bcf_results:
        backend = setting_label(result)
        for label, points in bcf_speedups(result).items():
            n, speedup = zip(*points, strict=True)
            bcf_ax.plot(n, speedup, marker="o", label=f"vs {label} ({backend})")
    points = forest_speedups(forest_result)
    if points:
        n, speedup = zip(*points, strict=True)
        device = forest_result.get("meta", {}).get("device", "?")
        forest_ax.plot(n, speedup, marker="o", label=f"vs StochTree forest ({device})")
    trees = forest_result.get("meta", {}).get("num_trees")
    for ax, title in (
        (bcf_ax, "BCF: seconds per iteration, same trees"),
        (forest_ax, f"One forest sweep ({trees} trees)"),
    ):
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=0.8, label="_parity")
        ax.set_xscale("log")
        ax.set_yscale("log")
        times = FuncFormatter(lambda value, _: f"{value:g}x")
        ax.yaxis.set_major_formatter(times)
        ax.yaxis.set_minor_formatter(times)
        ax.set_xlabel("n (visitors)")
        ax.set_ylabel("speed-up (StochTree time / pytyche time)")
        ax.set_title(title, fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=7, loc="best")
    return figure


def make_figure(bcf_paths: list[Path] | None, forest_path: Path, out_dir: Path) -> Path:
    """Read the benchmark files, draw, write ``out_dir/speedup_vs_n.png``."""
    paths = newest_bcf_results(EXPERIMENT_RESULTS) if bcf_paths is None else bcf_paths
    bcf_results = [read_json(p, BCF_PRODUCER) for p in paths]
    forest_result = read_json(forest_path, FOREST_PRODUCER)
    for result in (*bcf_results, forest_result):
        if result.get("note"):
            print(f"note ({result.get('benchmark', 'forest')}): {result['note']}")
    return save(build_figure(bcf_results, forest_result), out_dir, "speedup_vs_n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bcf",
        type=Path,
        nargs="+",
        default=None,
        help="bench_bcf result files (default: newest per backend)",
    )
    parser.add_argument("--forest", type=Path, default=DEFAULT_FOREST)
    parser.add_argument("--out-dir", type=Path, default=FIGURES)
    args = parser.parse_args(argv)

    def make() -> Path:
        for path in args.bcf or ():
            require(path, BCF_PRODUCER)
        return make_figure(args.bcf, args.forest, args.out_dir)

    return run_figure("speedup_vs_n", make)


if __name__ == "__main__":
    sys.exit(main())
