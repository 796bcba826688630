"""Segment-effect recovery of pytyche's default BCF against CATE peers, side by side.

On eight scenario shapes from the storefront templates (K = 2 to 5; see ``SCENARIOS``),
each estimator fits the same simulated round (uniform randomisation) and is scored against
the covariate-conditional truth ``E[revenue | x, a]`` (what any estimator could know) on
revenue per visitor:

* ``gate_rmse``: RMSE of the planted segments' GATEs (every segment x active arm);
* ``gate_slope``: OLS slope of estimated on true GATE (1 = no shrinkage; undefined, so
  left out, when the true GATEs do not vary: the null scenario);
* ``gate_coverage``: share of the raw (uncalibrated) 90% GATE intervals that hold the truth,
  for the estimators that give intervals;
* ``cate_rmse``: per-visitor CATE RMSE over every active arm;
* ``regret``: revenue per visitor lost by the argmax-of-estimated-CATE policy (control
  included) against the covariate oracle;
* ``seconds``: the fit's wall time (one process, this machine; pytyche includes compiling);
* pytyche only: the smallest bulk ESS per chain (``ate_ess_min``, ``gate_ess_min``: ESS
  divided by the number of chains) and the largest R-hat of the ATE per arm and of every
  planted segment's GATE (ArviZ).

Estimators: ``pytyche`` (``pytyche.fit`` with the default ``BCFConfig``, joint hurdle BCF,
all K arms); ``stochtree_bcf`` (StochTree ``BCFModel`` on the revenue, one-hot treatment
basis with the known propensities, its default settings); ``causal_forest`` (econml
``CausalForestDML``, discrete treatment, its defaults); ``x_learner`` and ``t_learner``
(econml, scikit-learn random forests, no intervals); ``segment_dim`` (difference in means
per planted segment with a Welch normal interval: the estimator that knows the segments).

Every (scenario, n, seed, estimator) row is appended to the JSON as soon as it is done, so
an interrupted run resumes where it stopped (``--resume``, the default); ``--table``
prints the summary of a result file without fitting anything.

Run ``python experiments/bench_recovery.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from scipy.stats import norm

import pytyche
from pytyche.contracts import TruthData, reveal_truth
from pytyche.data import RoundData
from pytyche.generators.simulated import generate_dataset
from pytyche.models.registry import get_model

RESULTS = Path(__file__).resolve().parent / "results"
LEVEL = 0.90
Z90 = float(norm.ppf(0.5 + LEVEL / 2))


@dataclass(frozen=True)
class Scenario:
    """One benchmark shape: a storefront template, its arms and its options."""

    template: str
    K: int
    effect_scale: float = 0.3
    options: dict = field(default_factory=dict)
    shape: str = ""


SCENARIOS = {
    "null": Scenario("null", 2, shape="no effect anywhere"),
    "constant": Scenario("constant", 3, shape="the same lift for everyone"),
    "small_segment": Scenario(
        "sparse_benefit", 3, shape="only a ~6% segment responds (engaged members)"
    ),
    "opposite_signs": Scenario(
        "reversal", 3, shape="opposite signs for new and established customers"
    ),
    "conversion_only_k5": Scenario(
        "interaction_only",
        5,
        options={"effect_channels": "conversion"},
        shape="device x membership effects on conversion only, K = 5",
    ),
    "spend_only_2pct": Scenario(
        "monotone_gradient",
        2,
        options={"effect_channels": "spend", "base_conversion": 0.02},
        shape="effects on spend only, rising with visits, at 2% conversion",
    ),
    "smooth_continuous": Scenario(
        "nonlinear", 3, shape="smooth sinusoidal effect in cart value (continuous)"
    ),
    "whale_spend": Scenario(
        "monotone_gradient",
        4,
        options={"whale_share": 0.02, "whale_multiplier": 20.0},
        shape="effects rising with visits; 2% of converters spend 20x (whales)",
    ),
}


class Estimate:
    """An estimator's answer on one data set, in revenue per visitor.

    ``gate`` (S, K-1) point GATEs of the planted segments; ``gate_interval`` (S, K-1, 2)
    or None; ``cate`` (n, K-1) per-visitor point CATEs; ``extra``: diagnostics to record.
    """

    def __init__(self, gate, cate, gate_interval=None, extra=None):
        self.gate = np.asarray(gate, float)
        self.cate = np.asarray(cate, float)
        self.gate_interval = None if gate_interval is None else np.asarray(gate_interval, float)
        self.extra = extra or {}


# ----------------------------------------------------------------------------- estimators
def fit_pytyche(
    data: RoundData, masks: list[np.ndarray], seed: int, config: dict | None = None
) -> Estimate:
    """``pytyche.fit``, the joint hurdle BCF over all K arms (default ``BCFConfig`` unless
    ``config`` overrides some of its fields)."""
    config = dict(config or {})
    model = config.pop("model", "bcf")
    settings = pytyche.BCFConfig(**config)
    posterior = pytyche.fit(data, config=settings, seed=seed, check_mixing=False, model=model)
    gates = np.stack([posterior.gate(mask).values for mask in masks], axis=2)  # c, d, S, A
    flat = gates.reshape(-1, *gates.shape[2:])
    lo, hi = np.quantile(flat, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
    cate = posterior.cate().mean(("chain", "draw")).values
    mixing = posterior.mixing({f"s{i}": mask for i, mask in enumerate(masks)})
    is_ate = mixing["quantity"].str.startswith("ate")
    chains = posterior.num_chains
    extra = {
        "num_chains": chains,
        "num_draws": posterior.num_draws,
        "ate_ess_min": float(mixing.loc[is_ate, "ess_bulk"].min()) / chains,
        "gate_ess_min": float(mixing.loc[~is_ate, "ess_bulk"].min()) / chains,
        "rhat_max": float(mixing["rhat"].max()),
    }
    return Estimate(flat.mean(0), cate, np.stack([lo, hi], axis=-1), extra)


def fit_stochtree(data: RoundData, masks: list[np.ndarray], seed: int) -> Estimate:
    """StochTree BCF on revenue, one-hot treatment basis, known propensities, defaults."""
    from stochtree import BCFModel

    X, arm, y, propensity = _arrays(data)
    K = propensity.shape[1]
    Z = np.column_stack([arm == a for a in range(1, K)]).astype(float)
    model = BCFModel()
    model.sample(
        X,
        Z if K > 2 else Z[:, 0],
        y,
        propensity_train=propensity[:, 1:] if K > 2 else propensity[:, 1],
        general_params={"random_seed": int(seed)},
    )
    tau = np.asarray(model.tau_hat_train)  # (n, draws[, K-1])
    if tau.ndim == 2:
        tau = tau[:, :, None]
    gates = np.stack([tau[mask].mean(axis=0) for mask in masks])  # S, draws, A
    lo, hi = np.quantile(gates, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=1)
    return Estimate(gates.mean(axis=1), tau.mean(axis=1), np.stack([lo, hi], axis=-1))


def fit_causal_forest(data: RoundData, masks: list[np.ndarray], seed: int) -> Estimate:
    """econml CausalForestDML, discrete treatment, default nuisance models."""
    from econml.dml import CausalForestDML

    X, arm, y, _ = _arrays(data)
    K = int(arm.max()) + 1
    model = CausalForestDML(discrete_treatment=True, random_state=int(seed), n_jobs=-1)
    model.fit(y, arm, X=X)
    cate = np.column_stack([model.effect(X, T0=0, T1=a) for a in range(1, K)])
    gate = np.zeros((len(masks), K - 1))
    interval = np.zeros((len(masks), K - 1, 2))
    for s, mask in enumerate(masks):
        for a in range(1, K):
            gate[s, a - 1] = model.ate(X[mask], T0=0, T1=a)
            lo, hi = model.ate_interval(X[mask], T0=0, T1=a, alpha=1 - LEVEL)
            interval[s, a - 1] = lo, hi
    return Estimate(gate, cate, interval)


def _forest(seed: int, classifier: bool = False):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    kind = RandomForestClassifier if classifier else RandomForestRegressor
    return kind(n_estimators=200, min_samples_leaf=20, n_jobs=-1, random_state=int(seed))


def fit_meta(kind: str) -> Callable[[RoundData, list[np.ndarray], int], Estimate]:
    """econml's X- or T-learner on random forests (point estimates only)."""

    def fit(data: RoundData, masks: list[np.ndarray], seed: int) -> Estimate:
        from econml.metalearners import TLearner, XLearner

        X, arm, y, _ = _arrays(data)
        K = int(arm.max()) + 1
        if kind == "x":
            model = XLearner(models=_forest(seed), propensity_model=_forest(seed, classifier=True))
        else:
            model = TLearner(models=_forest(seed))
        model.fit(y, arm, X=X)
        cate = np.column_stack([model.effect(X, T0=0, T1=a) for a in range(1, K)])
        gate = np.stack([cate[mask].mean(axis=0) for mask in masks])
        return Estimate(gate, cate)

    return fit


def fit_segment_dim(data: RoundData, masks: list[np.ndarray], seed: int) -> Estimate:
    """Difference in means per planted segment, Welch standard error, normal interval."""
    del seed
    _, arm, y, _ = _arrays(data)
    K = int(arm.max()) + 1
    gate = np.zeros((len(masks), K - 1))
    interval = np.zeros((len(masks), K - 1, 2))
    cate = np.zeros((len(y), K - 1))
    for s, mask in enumerate(masks):
        control = y[mask & (arm == 0)]
        for a in range(1, K):
            treated = y[mask & (arm == a)]
            diff = treated.mean() - control.mean()
            se = np.sqrt(treated.var(ddof=1) / len(treated) + control.var(ddof=1) / len(control))
            gate[s, a - 1] = diff
            interval[s, a - 1] = diff - Z90 * se, diff + Z90 * se
            cate[mask, a - 1] = diff
    return Estimate(gate, cate, interval)


ESTIMATORS = {
    "pytyche": fit_pytyche,
    "stochtree_bcf": fit_stochtree,
    "causal_forest": fit_causal_forest,
    "x_learner": fit_meta("x"),
    "t_learner": fit_meta("t"),
    "segment_dim": fit_segment_dim,
}


def _arrays(data: RoundData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Numeric covariates (categoricals one-hot), arm index, outcome, propensities."""
    frame = data.frame
    covariates = pd.get_dummies(frame[list(data.covariates)], dtype=float)
    arm = pd.Categorical(frame[data.arm_column], categories=list(data.arms)).codes
    propensity = frame[[f"propensity_{a}" for a in data.arms]].to_numpy(float)
    return (
        covariates.to_numpy(float),
        np.asarray(arm, int),
        frame[data.outcome].to_numpy(float),
        propensity,
    )


# ----------------------------------------------------------------------------- scoring
def score(estimate: Estimate, truth: TruthData, masks: list[np.ndarray]) -> dict:
    """The recorded measures of one estimate against the covariate-conditional truth."""
    true_gate = np.stack([truth.cate[mask].mean(axis=0) for mask in masks])
    error = estimate.gate - true_gate
    row = {
        "gate_rmse": float(np.sqrt(np.mean(error**2))),
        "gate_slope": _slope(true_gate.ravel(), estimate.gate.ravel()),
        "gate_coverage": None,
        "cate_rmse": float(np.sqrt(np.mean((estimate.cate - truth.cate) ** 2))),
        "regret": _regret(estimate.cate, truth),
        "true_gate": true_gate.round(4).tolist(),
        "gate": estimate.gate.round(4).tolist(),
    }
    if estimate.gate_interval is not None:
        lo, hi = estimate.gate_interval[..., 0], estimate.gate_interval[..., 1]
        row["gate_coverage"] = float(np.mean((lo <= true_gate) & (true_gate <= hi)))
        row["gate_interval_width"] = float(np.mean(hi - lo))
    return row | estimate.extra


def _slope(truth: np.ndarray, estimate: np.ndarray) -> float | None:
    spread = truth - truth.mean()
    if np.sqrt(np.mean(spread**2)) < 1e-3 * max(1.0, np.abs(truth).max()):
        return None
    return float(np.sum(spread * (estimate - estimate.mean())) / np.sum(spread**2))


def _regret(cate: np.ndarray, truth: TruthData) -> float:
    choice = np.argmax(np.column_stack([np.zeros(len(cate)), cate]), axis=1)
    achieved = truth.rpv[np.arange(len(choice)), choice].mean()
    return float(truth.rpv.max(axis=1).mean() - achieved)


# ----------------------------------------------------------------------------- driver
def run(args: argparse.Namespace) -> None:
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        settings = json.loads(overrides)
        pytyche.BCFConfig(**{k: v for k, v in settings.items() if k != "model"})  # validate
        get_model(settings.get("model", "bcf"))
        ESTIMATORS[f"pytyche:{name}"] = functools.partial(fit_pytyche, config=settings)
        args.estimators.append(f"pytyche:{name}")
    out = Path(args.out)
    rows = json.loads(out.read_text())["rows"] if (args.resume and out.exists()) else []
    done = {(r["scenario"], r["n"], r["seed"], r["estimator"]) for r in rows}
    meta = {
        "pytyche": pytyche.__version__,
        "backend": jax.default_backend(),
        "machine": platform.processor() or platform.machine(),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "level": LEVEL,
        "scenarios": {k: vars(s) for k, s in SCENARIOS.items()},
        "default_config": repr(pytyche.BCFConfig()),
    }
    for n in args.n:
        for seed in args.seeds:
            for name in args.scenarios:
                scenario = SCENARIOS[name]
                todo = [e for e in args.estimators if (name, n, seed, e) not in done]
                if not todo:
                    continue
                data, sealed = generate_dataset(
                    scenario.template,
                    n,
                    K=scenario.K,
                    effect_scale=scenario.effect_scale,
                    seed=1000 + seed,
                    **scenario.options,
                )
                truth = reveal_truth(sealed)
                segments = list(dict.fromkeys(truth.segment_labels))
                masks = [truth.segment_labels == s for s in segments]
                for estimator in todo:
                    start = time.perf_counter()
                    with warnings.catch_warnings():  # the peers' nuisance-model chatter
                        warnings.simplefilter("ignore")
                        estimate = ESTIMATORS[estimator](data, masks, seed)
                    seconds = time.perf_counter() - start
                    row = {"scenario": name, "n": n, "seed": seed, "estimator": estimator}
                    row |= {"K": scenario.K, "segments": segments, "seconds": round(seconds, 2)}
                    row |= score(estimate, truth, masks)
                    rows.append(row)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
                    print(
                        f"{name:20s} n={n:<7d} seed={seed} {estimator:14s} "
                        f"gate_rmse={row['gate_rmse']:.3f} slope={_fmt(row['gate_slope'])} "
                        f"cov={_fmt(row['gate_coverage'])} {seconds:.0f}s",
                        flush=True,
                    )
    print(table(rows))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    """Markdown summary: mean GATE RMSE per scenario and estimator (best in bold), then
    the pooled medians / coverage per estimator, per n."""
    frame = pd.DataFrame(rows)
    lines = []
    for n, at_n in frame.groupby("n"):
        estimators = list(dict.fromkeys(at_n["estimator"]))
        means = at_n.pivot_table(index="scenario", columns="estimator", values="gate_rmse")
        seeds = at_n.groupby("scenario")["seed"].nunique()
        lines += [f"\nn = {n}: mean GATE RMSE (revenue per visitor) over seeds", ""]
        lines.append("| scenario | seeds | " + " | ".join(estimators) + " |")
        lines.append("|---" * (len(estimators) + 2) + "|")
        wins = dict.fromkeys(estimators, 0)
        for scenario in [s for s in SCENARIOS if s in means.index]:
            values = means.loc[scenario, estimators]
            best = values.idxmin()
            wins[best] += 1
            cells = [f"**{v:.3f}**" if e == best else f"{v:.3f}" for e, v in values.items()]
            lines.append(f"| {scenario} | {seeds[scenario]} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| estimator | lowest GATE RMSE | median GATE slope | 90% GATE coverage "
            "| mean CATE RMSE | mean regret | median s |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in estimators:
            mine = at_n[at_n["estimator"] == e]
            slope = pd.to_numeric(mine["gate_slope"], errors="coerce").median()
            coverage = _pooled_coverage(mine)
            lines.append(
                f"| {e} | {wins[e]} of {len(means.index)} | {_fmt(slope)} | {_fmt(coverage)} "
                f"| {mine['cate_rmse'].mean():.3f} | {mine['regret'].mean():.4f} "
                f"| {mine['seconds'].median():.0f} |"
            )
        ours = at_n[at_n["estimator"] == "pytyche"]
        if len(ours) and "ate_ess_min" in ours:
            lines.append(
                f"\npytyche mixing (n = {n}): ATE bulk ESS min over arms, median "
                f"{ours['ate_ess_min'].median():.0f} (range {ours['ate_ess_min'].min():.0f}–"
                f"{ours['ate_ess_min'].max():.0f}); GATE ESS min median "
                f"{ours['gate_ess_min'].median():.0f}; R-hat max median "
                f"{ours['rhat_max'].median():.3f} (worst {ours['rhat_max'].max():.3f}); "
                f"draws {int(ours['num_chains'].iloc[0])} x {int(ours['num_draws'].iloc[0])}"
            )
    return "\n".join(lines)


def _pooled_coverage(rows: pd.DataFrame) -> float:
    """Share of covered GATEs pooled over rows (weighting each row by its GATE count)."""
    covered = total = 0.0
    for _, row in rows.iterrows():
        if row["gate_coverage"] is None or not np.isfinite(row["gate_coverage"]):
            continue
        count = np.size(row["true_gate"])
        covered += row["gate_coverage"] * count
        total += count
    return covered / total if total else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    parser.add_argument(
        "--only", nargs="+", default=None, help="with --table: the estimators to tabulate"
    )
    parser.add_argument(
        "--out", default=str(RESULTS / f"bench_recovery_{jax.default_backend()}.json")
    )
    parser.add_argument("--no-resume", dest="resume", action="store_false")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="also fit pytyche with BCFConfig overrides, e.g. alpha='{\"alpha_tau\": 0.75}' "
        '(recorded as estimator pytyche:NAME); a "model" key names a registered model',
    )
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args()
    if args.table:
        rows = json.loads(Path(args.out).read_text())["rows"]
        print(table([r for r in rows if args.only is None or r["estimator"] in args.only]))
        return
    run(args)


if __name__ == "__main__":
    main()
