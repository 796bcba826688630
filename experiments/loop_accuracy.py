"""Value captured, policy accuracy and segment recovery of the adaptive loop, per round.

Runs the sequential experiment (joint hurdle BCF each round, policy-tree segments, Control /
Explore floors and an Optimized cell) on clustered scenarios, and scores every round
against the covariate-conditional simulation truth ``E[Y(a) | X = x]`` (what any estimator
could know; :mod:`pytyche.analysis.truth_comparison`), on the round's analysis visitors:

* ``personalization_captured``: the share of the personalisation value captured,
  ``(rpv_policy − rpv_best_arm) / (rpv_oracle − rpv_best_arm)``;
* ``rpv_policy`` / ``rpv_best_arm`` (shipping ``best_arm`` to everyone) / ``rpv_oracle``
  (the covariate oracle) / ``rpv_uniform``; ``policy_accuracy`` and ``oracle_gap`` against
  the covariate oracle; ``cate_rmse``, ``gate_coverage``;
* diagnosis only: ``rpv_latent_oracle`` and ``latent_policy_accuracy``, against the latent
  oracle that also knows each visitor's hidden cluster (not attainable from covariates);
* segment recovery: how the round's policy-tree segments line up with the planted clusters,
  on the same visitors: the adjusted Rand index between segment and cluster labels
  (Hubert & Arabie 1985; 1 = the same partition, about 0 = unrelated), and for each
  cluster the share of its visitors whose segment recommends the cluster's optimal arm
  (the arm with the highest covariate-conditional mean metric over the cluster).

This script is an evaluation step run after the experiment, so it opens the sealed truth
(``reveal_truth``) itself; the experiment's analysis never sees it.

The default is a cheap CPU run (2,000 -> 4,000 -> 8,000 visitors, the demo's small forest,
planted effects at ``effect_scale=0.4`` so that a run this size has something to find).
It writes ``experiments/results/loop_accuracy_<backend>.json``, which
``papers/policy_accuracy_by_round.py`` and ``papers/segment_recovery.py`` plot.

Run ``python experiments/loop_accuracy.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np
from sklearn.metrics import adjusted_rand_score

import pytyche
from pytyche.contracts import Truth, UncalibratedWarning, reveal_truth
from pytyche.demo import DEMO_FIT_CONFIG
from pytyche.experiment import NextRoundPlan, Round
from pytyche.experiment import sequential as sequential_module
from pytyche.models.registry import get_model

RESULTS = Path(__file__).resolve().parent / "results"
TREATMENTS = ("control", "low_promo", "free_ship")
CLUSTERED_TEMPLATES = ("clustered", "clustered_realistic")


@dataclass
class RecordingGenerator:
    """A simulated generator that keeps the sealed truth of every round it produced.

    The experiment sees an ordinary simulated generator; the recorded truths are only read
    by :func:`segment_recovery`, after the round's analysis.
    """

    generator: pytyche.generators.SimulatedGenerator
    truths: dict[int, Truth] = field(default_factory=dict)

    simulated = True

    @property
    def treatments(self) -> tuple[str, ...]:
        return self.generator.treatments

    def __call__(self, round_index: int, plan: NextRoundPlan):
        data, truth = self.generator(round_index, plan)
        self.truths[round_index] = truth
        return data, truth


def segment_recovery(completed: Round, truths: list[Truth], visitor_id: np.ndarray) -> dict:
    """Agreement of a round's segments with the planted clusters (module docstring).

    Parameters
    ----------
    completed : Round
        The round (its segments were fitted on ``completed.analysis_rows``).
    truths : list of Truth
        The sealed truths of rounds 1..this round, in order.
    visitor_id : ndarray, shape (n_cumulative,)
        Visitor ids of the cumulative data the round was fitted on.

    Returns
    -------
    dict
        ``adjusted_rand_index``, ``cluster_optimal_arm`` and ``cluster_optimal_share``
        (per cluster), ``cluster_share`` (share of the analysed visitors per cluster).
    """
    cumulative = truths[0]
    for truth in truths[1:]:
        cumulative = cumulative + truth
    revealed = reveal_truth(cumulative)
    position = {vid: i for i, vid in enumerate(revealed.visitor_id.tolist())}
    rows = [position[vid] for vid in visitor_id[completed.analysis_rows].tolist()]
    clusters = np.asarray(revealed.segment_labels, dtype=str)[rows]
    rpv = revealed.rpv[rows]
    segments = completed.analysis.segments
    served = np.array(
        [TREATMENTS.index(segments[leaf].recommended_arm) for leaf in completed.analysis.leaf_index]
    )
    optimal_arm, optimal_share, cluster_share = {}, {}, {}
    for cluster in sorted(set(clusters.tolist())):
        members = clusters == cluster
        best = int(np.argmax(rpv[members].mean(axis=0)))
        optimal_arm[cluster] = TREATMENTS[best]
        optimal_share[cluster] = float(np.mean(served[members] == best))
        cluster_share[cluster] = float(np.mean(members))
    return {
        "adjusted_rand_index": float(adjusted_rand_score(clusters, completed.analysis.leaf_index)),
        "cluster_optimal_arm": optimal_arm,
        "cluster_optimal_share": optimal_share,
        "cluster_share": cluster_share,
    }


def run_one(template: str, seed: int, args: argparse.Namespace) -> dict:
    """Run one experiment and score each round."""
    if args.model is not None:
        get_model(args.model)  # an unknown name fails before any round runs
        sequential_module.fit = functools.partial(pytyche.fit, model=args.model)
    generator = RecordingGenerator(
        pytyche.simulated_experiment_generator(
            template,
            K=len(TREATMENTS),
            treatment_names=TREATMENTS,
            effect_scale=args.effect_scale,
            seed=seed,
        )
    )
    experiment = pytyche.sequential_experiment(
        generator,
        pytyche.GeometricSchedule(initial=args.initial, growth=args.growth, n_rounds=args.rounds),
        TREATMENTS,
        fit_config=dataclasses.replace(
            DEMO_FIT_CONFIG if args.fit == "demo" else pytyche.BCFConfig(), **args.config
        ),
        n_bootstrap=args.n_bootstrap,
        seed=seed,
    )
    rounds = []
    started = time.perf_counter()
    for completed in experiment:
        wall = time.perf_counter() - started
        truths = [generator.truths[k] for k in range(completed.index + 1)]
        visitor_id = experiment.cumulative_data.visitor_id
        t = completed.truth_comparison
        rounds.append(
            {
                "round": completed.number,
                "n_visitors": completed.n_visitors,
                "cumulative_visitors": completed.cumulative_visitors,
                "personalization_captured": t.personalization_captured,
                "policy_accuracy": t.policy_accuracy,
                "oracle_gap": t.oracle_gap,
                "rpv_policy": t.rpv_policy,
                "rpv_oracle": t.rpv_oracle,
                "rpv_best_arm": t.rpv_best_arm,
                "best_arm": t.best_arm,
                "rpv_uniform": t.rpv_uniform,
                "rpv_latent_oracle": t.rpv_latent_oracle,
                "latent_policy_accuracy": t.latent_policy_accuracy,
                "cate_rmse": t.cate_rmse,
                "gate_coverage": t.gate_coverage,
                "n_segments": len(completed.segments),
                "n_credible_segments": len(completed.credible_segments),
                "n_graduation_candidates": len(experiment.graduation_candidates()),
                "segment_recovery": segment_recovery(completed, truths, visitor_id),
                "wall_s": wall,
            }
        )
        print(f"  {template} seed {seed}: {completed.summary_one_line()}", flush=True)
        started = time.perf_counter()
    return {"template": template, "seed": seed, "rounds": rounds}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", nargs="+", default=list(CLUSTERED_TEMPLATES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--initial", type=int, default=2_000, help="visitors in round 1")
    parser.add_argument("--growth", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--effect-scale", type=float, default=0.4)
    parser.add_argument(
        "--fit",
        choices=("demo", "default"),
        default="demo",
        help="demo: pytyche.demo.DEMO_FIT_CONFIG (CPU); default: BCFConfig() (GPU)",
    )
    parser.add_argument(
        "--config",
        type=json.loads,
        default={},
        metavar="JSON",
        help='BCFConfig overrides on top of --fit, e.g. \'{"treatment_coding": "indicator"}\'',
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a registered model variant (e.g. fixed_tau_scale) for every round's fit; the "
        "loop has no model option, so this wraps its fit call (benchmark only)",
    )
    parser.add_argument("--n-bootstrap", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="result JSON path")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.templates) - set(pytyche.TEMPLATES))
    if unknown:
        parser.error(f"unknown templates {unknown}; known: {sorted(pytyche.TEMPLATES)}")
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    backend = jax.default_backend()
    out = args.out or RESULTS / f"loop_accuracy_{backend}.json"
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncalibratedWarning)  # every number says uncalibrated
        runs = [run_one(t, s, args) for t in args.templates for s in args.seeds]
    result = {
        "experiment": "loop_accuracy",
        "pytyche_version": pytyche.__version__,
        "jax_backend": backend,
        "device": str(jax.devices()[0]),
        "machine": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "treatments": list(TREATMENTS),
            "initial": args.initial,
            "growth": args.growth,
            "rounds": args.rounds,
            "effect_scale": args.effect_scale,
            "fit": args.fit,
            "fit_overrides": args.config,
            "model": args.model,
            "n_bootstrap": args.n_bootstrap,
            "calibration": None,
        },
        "wall_s": time.perf_counter() - started,
        "runs": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out} ({result['wall_s']:.0f} s)")
    return out


if __name__ == "__main__":
    main()
