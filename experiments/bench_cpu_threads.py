"""Benchmark: our BCF iteration on a one-thread CPU runtime pool vs XLA's default pool.

The size of JAX's CPU runtime pool is fixed when a process's backend starts
(`pytyche.set_cpu_threads`), so each setting runs in a worker process of its own
(`bench_bcf.Worker`) on the same data (``bench_bcf.hurdle_frame``: joint hurdle, K = 3,
250 + 100 trees); the two alternate for ``--rounds`` rounds, each round keeping the fastest
of ``--repeats`` blocks of ``--steps`` iterations, and the reported ratio (one thread /
default) is the median of the rounds' ratios. Writes
``experiments/results/bench_cpu_threads_<backend>_<date>.json``.

Run::

    .venv/bin/python experiments/bench_cpu_threads.py --sizes 10000 50000 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform

import jax
import numpy as np
from bench_bcf import RESULTS, TREE_SETTINGS, Worker

import pytyche


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--threads", type=int, default=1, help="the pool size set against XLA's")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per size")
    parser.add_argument("--steps", type=int, default=10, help="iterations per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per round")
    args = parser.parse_args()
    trees = TREE_SETTINGS[0]
    rows = []
    for n in args.sizes:
        workers = {
            "set": Worker("pytyche", args.threads, n, trees),
            "default": Worker("pytyche", None, n, trees),
        }
        rounds = {name: [] for name in workers}
        for _ in range(args.rounds):
            for name, worker in workers.items():
                rounds[name].append(worker.ask("blocks", steps=args.steps, repeats=args.repeats))
        for worker in workers.values():
            worker.close()
        ratios = [a / b for a, b in zip(rounds["set"], rounds["default"], strict=True)]
        rows.append(
            {
                "n": n,
                "mu_trees": trees[0],
                "tau_trees": trees[1],
                "threads": args.threads,
                "s_per_iter_rounds": rounds,
                "ratio_rounds": ratios,
                "ratio_median": float(np.median(ratios)),
            }
        )
        print(
            f"n={n:>7}: {args.threads} thread(s) {np.median(rounds['set']):.4f} s/it, "
            f"default pool {np.median(rounds['default']):.4f} s/it; ratio median "
            f"{np.median(ratios):.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)})",
            flush=True,
        )
    result = {
        "benchmark": "bcf_iteration_time_by_cpu_threads",
        "pytyche_version": pytyche.__version__,
        "jax_backend": jax.default_backend(),
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d_%H%M")
    path = RESULTS / f"bench_cpu_threads_{jax.default_backend()}_{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
