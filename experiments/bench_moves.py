"""Seconds per iteration of the BCF step with and without this release's mixing moves, paired.

Three steps of the same data (250 + 100 trees, K = 3, the data of ``bench_bcf.py``), timed
in alternating rounds in one process so each round's ratios are paired measurements:

- ``default``: the default `BCFConfig` and model (tree-mean shifts, marginal probit level
  and scale moves, the arms' average-effect intercept);
- ``no_moves``: ``shift_tree_means=False, marginal_probit_moves=False``;
- ``before``: no moves and a model without the ``tau_intercept`` site (the step of
  commit b27c09c).

Writes ``experiments/results/bench_moves_<backend>.json``. Run with ``--help`` for options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from bench_bcf import hurdle_frame

from pytyche.data import RoundData
from pytyche.inference import BCFConfig, BCFKernel
from pytyche.models import bcf_model, make_problem, sample_mu_leaf_var
from pytyche.models.bcf import SIGMA2_DF, SIGMA2_SCALE
from pytyche.models.likelihood import ForestVariances, forest_likelihood

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("default", "no_moves", "before")


def no_intercept_model(problem, stats=None):
    """The default model without the ``tau_intercept`` site (the average effect is then
    the treatment forest's level), for timing only."""
    mu_leaf_var = sample_mu_leaf_var(problem)
    with numpyro.plate("channel", problem.num_channels, dim=-1):
        tau_scale = numpyro.sample("tau_scale", dist.HalfNormal(jnp.asarray(problem.tau_total_sd)))
    noise_var = jnp.ones(problem.num_channels)
    g = problem.gaussian_channel
    if g is not None:
        sigma2 = numpyro.sample(
            "sigma2", dist.InverseGamma(SIGMA2_DF / 2, SIGMA2_DF * SIGMA2_SCALE / 2)
        )
        noise_var = noise_var.at[g].set(sigma2)
    variances = ForestVariances(mu_leaf_var, tau_scale**2 / problem.num_tau_trees, noise_var)
    forest_likelihood(stats, variances, g)
    return variances


def step_timer(data: RoundData, trees: tuple[int, int], variant: str):
    """A compiled, donated kernel step; returns ``time(steps, repeats)`` (s per iteration)."""
    mu, tau = trees
    flags = (
        {} if variant == "default" else {"shift_tree_means": False, "marginal_probit_moves": False}
    )
    model = no_intercept_model if variant == "before" else bcf_model
    config = BCFConfig(num_mu_trees=mu, num_tau_trees=tau, **flags)
    problem = make_problem(data, num_mu_trees=mu, num_tau_trees=tau)
    kernel = BCFKernel(model, config)
    state = kernel.init(jax.random.PRNGKey(0), 10, None, (problem,), {})
    state = jax.tree.map(lambda a: jnp.array(a, copy=True), state)
    step = jax.jit(lambda s: kernel.sample(s, (problem,), {}), donate_argnums=0)
    chain = [jax.block_until_ready(step(state))]

    def time_blocks(steps: int, repeats: int) -> list[float]:
        blocks = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                chain[0] = step(chain[0])
            jax.block_until_ready(chain[0])
            blocks.append((time.perf_counter() - start) / steps)
        return blocks

    return time_blocks


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
