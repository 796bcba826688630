"""Seconds per iteration of our joint hurdle BCF under the two treatment codings, paired.

``BCFConfig.treatment_coding="centered"`` (the default since 2026-12-07) makes the treatment
forest's sweep read every visitor of a channel (control included) and solve a dense
``(K − 1)``-dimensional leaf posterior; ``"indicator"`` (the one-hot basis with control at
zero) reads only the treated visitors and has a diagonal one. This times one kernel step of
each (250 + 100 trees, K = 3, the data of ``bench_bcf.py``) in alternating rounds in one
process, so that each round's ratio is a paired measurement on this machine, and writes
``experiments/results/bench_coding_<backend>.json``.

Run ``python experiments/bench_coding.py --help`` for the options.
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

RESULTS = Path(__file__).resolve().parent / "results"
CODINGS = ("centered", "indicator")


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
        timers = {c: ours_timer(data, *args.trees, treatment_coding=c)[1] for c in CODINGS}
        rounds = []
        for _ in range(args.rounds):
            rounds.append({c: min(timers[c](args.steps, args.repeats)) for c in CODINGS})
        ratios = [r["centered"] / r["indicator"] for r in rounds]
        row = {
            "n": n,
            "s_per_iter": {c: float(np.median([r[c] for r in rounds])) for c in CODINGS},
            "centered_over_indicator": float(np.median(ratios)),
            "rounds": rounds,
        }
        rows.append(row)
        print(
            f"n={n}: centered {row['s_per_iter']['centered']:.4f} s, indicator "
            f"{row['s_per_iter']['indicator']:.4f} s per iteration; ratio median "
            f"{row['centered_over_indicator']:.2f} (rounds "
            + ", ".join(f"{x:.2f}" for x in ratios)
            + ")",
            flush=True,
        )
    out = RESULTS / f"bench_coding_{jax.default_backend()}.json"
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
