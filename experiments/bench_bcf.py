"""Benchmark: seconds per MCMC iteration of the joint hurdle BCF vs bartz and StochTree BCF.

Our kernel's iteration is timed directly (a jitted `BCFKernel.sample` step, after one
compiling call, its state donated as in the loop `pytyche.fit` compiles); `pytyche.fit` is
also timed end to end with 1 + 1 iterations, first call (trace + compile) and a second
call on the same shapes (compiled program cached).
Peers run whole samplers, so their per-iteration time is the slope
``(t(N₂) − t(N₁)) / (N₂ − N₁)`` between two run lengths, which removes set-up and compile.
On a shared machine a run can be slowed by a third or more at any moment, so every timing
is repeated and the fastest repetition counts (ours: ``--repeats`` blocks of ``--steps``;
peers: each run length three times for bartz, twice for StochTree), and ours and bartz
alternate for ``--rounds`` rounds: the ratio reported is the median of the rounds' ratios.
Peers get the same data with a binary treatment (any active arm vs control), StochTree also
the one-hot treatment over the two active arms.
Ours and bartz (both JAX) each run in a worker process of their own, so each runs under
its own size of JAX's CPU runtime pool, fixed when a process's backend starts:
``--cpu-threads T`` for ours (`pytyche.set_cpu_threads`), ``--bartz-cpu-threads T`` for
bartz, both by default XLA's one thread per core. StochTree (C++) runs in the driver.
Writes ``experiments/results/bench_bcf_<backend>[_threads-<ours>-<bartz>]_<date>.json``.

Run::

    .venv/bin/python experiments/bench_bcf.py --sizes 10000 50000
    .venv/bin/python experiments/bench_bcf.py --sizes 10000 50000 --cpu-threads 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from scipy.stats import norm

import pytyche
from pytyche.data import RoundData
from pytyche.inference import BCFConfig, BCFKernel
from pytyche.models import bcf_model, make_problem

RESULTS = Path(__file__).resolve().parent / "results"
TREE_SETTINGS = ((250, 100), (200, 50))


def hurdle_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """≈ 4.7% conversion, log-normal spend, 4 clusters, K = 3 arms."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 4, n)
    x = rng.normal(size=(n, 5)) + cluster[:, None] * 0.5
    arm = rng.integers(0, 3, n)
    f_c = norm.ppf(0.047) + 0.2 * x[:, 0] + 0.15 * (arm == cluster % 3)
    converted = rng.uniform(size=n) < norm.cdf(f_c)
    spend = np.exp(rng.normal(3.5 + 0.3 * x[:, 1] + 0.1 * (arm == 1), 0.6))
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(5)])
    return frame.assign(
        arm=np.array(["control", "a", "b"])[arm], revenue=np.where(converted, spend, 0.0)
    )


def ours_timer(
    data: RoundData, mu_trees: int, tau_trees: int, model: Callable = bcf_model, **overrides: object
) -> tuple[float, Callable]:
    """Compile our kernel step; returns its compile time and ``time(steps, repeats)``, the
    seconds per iteration of ``repeats`` blocks of ``steps`` iterations. ``overrides`` are
    further `BCFConfig` fields; ``model`` the model function."""
    config = BCFConfig(num_mu_trees=mu_trees, num_tau_trees=tau_trees, **overrides)
    problem = make_problem(data, num_mu_trees=mu_trees, num_tau_trees=tau_trees)
    kernel = BCFKernel(model, config)
    state = kernel.init(jax.random.PRNGKey(0), 10, None, (problem,), {})
    # Donated like the loop carry of `pytyche.fit`'s compiled chain (no copy of the
    # (trees, n) leaf indices per step); a fresh copy, as init may share buffers.
    state = jax.tree.map(lambda a: jax.numpy.array(a, copy=True), state)
    step = jax.jit(lambda s: kernel.sample(s, (problem,), {}), donate_argnums=0)
    start = time.perf_counter()
    state = jax.block_until_ready(step(state))
    compile_s = time.perf_counter() - start
    state = jax.block_until_ready(step(state))  # a second call must not recompile
    chain = [state]

    def time_blocks(steps: int, repeats: int) -> list[float]:
        blocks = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                chain[0] = step(chain[0])
            jax.block_until_ready(chain[0])
            blocks.append((time.perf_counter() - start) / steps)
        return blocks

    return compile_s, time_blocks


def time_fit(data: RoundData, mu_trees: int, tau_trees: int) -> dict:
    """`pytyche.fit` end to end with 1 + 1 iterations: the first call traces and compiles
    (the cost every new shape pays), a second call on the same shapes hits the cache."""
    short = BCFConfig(num_mu_trees=mu_trees, num_tau_trees=tau_trees, num_warmup=1, num_draws=1)
    calls = []
    for seed in (0, 1):
        start = time.perf_counter()
        pytyche.fit(data, config=short, seed=seed)
        calls.append(time.perf_counter() - start)
    return {"fit_first_call_s": calls[0], "fit_cached_call_s": calls[1]}


def time_bartz(
    frame: pd.DataFrame, mu_trees: int, tau_trees: int, lengths: tuple, repeats: int = 3
) -> dict:
    from bartz.bcf import bcf

    X = frame.filter(like="x").to_numpy(np.float32)
    y = frame["revenue"].to_numpy(np.float32)
    z = (frame["arm"] != "control").to_numpy(np.float32)
    pihat = np.full(len(y), z.mean(), np.float32)
    times = {length: [] for length in lengths}
    # bartz compiles per length: its first run of each does not count.
    for ndpost in [lengths[0]] * (repeats + 1) + [lengths[1]] * (repeats + 1):
        start = time.perf_counter()
        bcf(
            X,
            y,
            z,
            pihat_train=pihat,
            num_trees_mu=mu_trees,
            num_trees_tau=tau_trees,
            ndpost=ndpost,
            nskip=0,
            seed=0,
        )
        times[ndpost].append(time.perf_counter() - start)
    fastest = [min(times[length][1:]) for length in lengths]
    return {
        "s_per_iter": (fastest[1] - fastest[0]) / (lengths[1] - lengths[0]),
        "first_run_s": times[lengths[0]][0],
    }


def time_stochtree(
    frame: pd.DataFrame,
    mu_trees: int,
    tau_trees: int,
    lengths: tuple,
    one_hot: bool,
    repeats: int = 2,
) -> dict:
    from stochtree import BCFModel

    X = frame.filter(like="x").to_numpy()
    y = frame["revenue"].to_numpy()
    arm = frame["arm"].to_numpy()
    if one_hot:
        Z = np.column_stack([arm == "a", arm == "b"]).astype(float)
        propensity = np.tile(Z.mean(axis=0), (len(y), 1))
    else:
        Z = (arm != "control").astype(float)
        propensity = np.full(len(y), Z.mean())
    times = {length: [] for length in lengths}
    for num_mcmc in [length for length in lengths for _ in range(repeats)]:
        start = time.perf_counter()
        BCFModel().sample(
            X,
            Z,
            y,
            propensity_train=propensity,
            num_gfr=0,
            num_burnin=0,
            num_mcmc=num_mcmc,
            prognostic_forest_params={"num_trees": mu_trees},
            treatment_effect_forest_params={"num_trees": tau_trees},
            general_params={"random_seed": 0},
        )
        times[num_mcmc].append(time.perf_counter() - start)
    fastest = [min(times[length]) for length in lengths]
    return {"s_per_iter": (fastest[1] - fastest[0]) / (lengths[1] - lengths[0])}


def _serve(conn: Connection, library: str, threads: int | None, n: int, trees: tuple) -> None:
    """Worker process: time ``library`` ("pytyche" or "bartz") on the size-``n`` data under
    a CPU runtime pool of ``threads``, answering the driver's requests until ``None``."""
    try:
        pytyche.set_cpu_threads(threads)  # before this process's first JAX computation
        frame = hurdle_frame(n)
        data = RoundData.from_frame(frame, arms=["control", "a", "b"], family="hurdle")
        ready = ours_timer(data, *trees) if library == "pytyche" else (None, None)
        compile_s, time_blocks = ready
        conn.send(("ok", compile_s))
        while (request := conn.recv()) is not None:
            kind, kwargs = request
            if kind == "blocks":
                answer = min(time_blocks(**kwargs))
            elif kind == "fit":
                answer = time_fit(data, *trees)
            elif kind == "bartz":
                answer = time_bartz(frame, *trees, **kwargs)
            else:
                raise ValueError(f"unknown request {kind!r}")
            conn.send(("ok", answer))
    except Exception:  # the driver re-raises it with the worker's traceback
        conn.send(("error", traceback.format_exc()))


class Worker:
    """A library's timing process (see `_serve`); ``ask`` sends a request and waits."""

    def __init__(self, library: str, threads: int | None, n: int, trees: tuple) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, library, threads, n, trees), daemon=True
        )
        self._process.start()
        self.compile_s = self._answer()

    def _answer(self):
        status, value = self._conn.recv()
        if status == "error":
            raise RuntimeError(f"benchmark worker failed:\n{value}")
        return value

    def ask(self, kind: str, **kwargs):
        self._conn.send((kind, kwargs))
        return self._answer()

    def close(self) -> None:
        if self._process.is_alive():
            self._conn.send(None)
        self._process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--steps", type=int, default=10, help="timed iterations of ours")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks of ours per round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of ours and bartz per size"
    )
    parser.add_argument("--no-peers", action="store_true", help="time pytyche only")
    parser.add_argument(
        "--cpu-threads",
        type=int,
        default=None,
        help="threads of our JAX CPU runtime pool (default: XLA's, one per core)",
    )
    parser.add_argument(
        "--bartz-cpu-threads",
        type=int,
        default=None,
        help="threads of bartz's JAX CPU runtime pool (default: XLA's, one per core)",
    )
    args = parser.parse_args()
    threads = {"pytyche": args.cpu_threads, "bartz": args.bartz_cpu_threads}
    rows = []
    for n in args.sizes:
        frame = hurdle_frame(n)
        peer_lengths = (4, 12) if n >= 50_000 else (10, 30)
        bartz_lengths = (20, 60) if n < 50_000 else (10, 40)
        for mu_trees, tau_trees in TREE_SETTINGS:
            trees = (mu_trees, tau_trees)
            row = {"n": n, "mu_trees": mu_trees, "tau_trees": tau_trees}
            with_peers = not args.no_peers and trees == TREE_SETTINGS[0]
            ours_worker = Worker("pytyche", args.cpu_threads, n, trees)
            bartz_worker = Worker("bartz", args.bartz_cpu_threads, n, trees) if with_peers else None
            # Ours and bartz alternate for several rounds: paired measurements, so a slow
            # spell of the shared machine hits both sides of a round's ratio.
            ours_rounds, bartz_rounds, bartz_first_run_s = [], [], None
            for _ in range(args.rounds if with_peers else 1):
                ours_rounds.append(
                    ours_worker.ask("blocks", steps=args.steps, repeats=args.repeats)
                )
                if bartz_worker is not None:
                    timing = bartz_worker.ask("bartz", lengths=bartz_lengths)
                    bartz_rounds.append(timing["s_per_iter"])
                    # The first round's first run is the one that compiles.
                    bartz_first_run_s = bartz_first_run_s or timing["first_run_s"]
            compile_s = ours_worker.compile_s
            row["pytyche_joint_hurdle_k3"] = {
                "s_per_iter": float(np.median(ours_rounds)),
                "s_per_iter_rounds": ours_rounds,
                "compile_s": compile_s,
                **ours_worker.ask("fit"),
            }
            for worker in (ours_worker, bartz_worker):
                if worker is not None:
                    worker.close()
            if with_peers:
                ratios = [o / b for o, b in zip(ours_rounds, bartz_rounds, strict=True)]
                row["bartz_bcf_binary"] = {
                    "s_per_iter": float(np.median(bartz_rounds)),
                    "s_per_iter_rounds": bartz_rounds,
                    "first_run_s": bartz_first_run_s,
                }
                row["ratio_vs_bartz"] = {"median": float(np.median(ratios)), "rounds": ratios}
                row["stochtree_bcf_binary"] = time_stochtree(
                    frame, mu_trees, tau_trees, peer_lengths, one_hot=False
                )
                row["stochtree_bcf_onehot"] = time_stochtree(
                    frame, mu_trees, tau_trees, peer_lengths, one_hot=True
                )
            rows.append(row)
            ours = row["pytyche_joint_hurdle_k3"]["s_per_iter"]
            first = row["pytyche_joint_hurdle_k3"]["fit_first_call_s"]
            cached = row["pytyche_joint_hurdle_k3"]["fit_cached_call_s"]
            line = (
                f"n={n:>7} trees={mu_trees}+{tau_trees}: pytyche {ours:.4f} s/it "
                f"(compile {compile_s:.1f} s; fit() first call {first:.1f} s, "
                f"cached {cached:.1f} s)"
            )
            if with_peers:
                ratios = row["ratio_vs_bartz"]["rounds"]
                line += (
                    f" | bartz_bcf_binary {row['bartz_bcf_binary']['s_per_iter']:.4f} s/it "
                    f"(ratio ours/peer median {np.median(ratios):.2f}, "
                    f"rounds {', '.join(f'{r:.2f}' for r in ratios)})"
                )
            for peer in ("stochtree_bcf_binary", "stochtree_bcf_onehot"):
                if peer in row:
                    theirs = row[peer]["s_per_iter"]
                    line += f" | {peer} {theirs:.4f} s/it (ratio ours/peer {ours / theirs:.2f})"
            print(line, flush=True)
    result = {
        "benchmark": "bcf_iteration_time",
        "pytyche_version": pytyche.__version__,
        "jax_backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_threads": threads,
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d_%H%M")
    setting = ""
    if any(threads.values()):
        setting = "_threads-" + "-".join(str(t or "all") for t in threads.values())
    path = RESULTS / f"bench_bcf_{jax.default_backend()}{setting}_{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
