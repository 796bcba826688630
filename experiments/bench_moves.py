"""Seconds per iteration of the BCF step with and without this release's mixing moves, paired.

Three steps of the same data (250 + 100 trees, K = 3, the data of ``bench_bcf.py``), timed
in alternating rounds in one process so each round's ratios are paired measurements:

- ``default``: the default `BCFConfig` and model (tree-mean shifts, marginal probit level
  and scale moves, the arms' average-effect intercept);
- ``no_moves``: ``shift_tree_means=False, marginal_probit_moves=False``;
- ``before``: no moves and ``models/no_tau_intercept.py`` (the step of commit b27c09c).

Writes ``experiments/results/bench_moves_<backend>.json``. Run with ``--help`` for options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

import jax
import numpy as np
from bench_bcf import hurdle_frame, ours_timer

from pytyche.data import RoundData
from pytyche.models import get_model

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("default", "no_moves", "before")


def step_timer(data: RoundData, trees: tuple[int, int], variant: str):
    """`bench_bcf.ours_timer`'s ``time(steps, repeats)`` for one variant's step."""
    off = {"shift_tree_means": False, "marginal_probit_moves": False}
    flags = {} if variant == "default" else off
    model = get_model("no_tau_intercept" if variant == "before" else "bcf")
    return ours_timer(data, *trees, model=model, **flags)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--steps", type=int, default=10, help="timed iterations per block")
    parser.add_argument("--repeats", type=int, default=3, help="blocks per round (fastest kept)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per size")
    parser.add_argument("--trees", type=int, nargs=2, default=[250, 100], metavar=("MU", "TAU"))
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        data = RoundData.from_frame(hurdle_frame(n), arms=["control", "a", "b"], family="hurdle")
        timers = {v: step_timer(data, tuple(args.trees), v) for v in VARIANTS}
        rounds = [
            {v: min(timers[v](args.steps, args.repeats)) for v in VARIANTS}
            for _ in range(args.rounds)
        ]
        row = {
            "n": n,
            "s_per_iter": {v: float(np.median([r[v] for r in rounds])) for v in VARIANTS},
            "default_over_before": float(np.median([r["default"] / r["before"] for r in rounds])),
            "rounds": rounds,
        }
        rows.append(row)
        print(
            f"n={n}: "
            + ", ".join(f"{v} {row['s_per_iter'][v]:.4f} s" for v in VARIANTS)
            + f" per iteration; default / before {row['default_over_before']:.2f}",
            flush=True,
        )
    out = RESULTS / f"bench_moves_{jax.default_backend()}.json"
    meta = {
        "backend": jax.default_backend(),
        "machine": platform.processor() or platform.machine(),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "trees": args.trees,
        "steps": args.steps,
        "repeats": args.repeats,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
