"""The ``hurdle_bcf`` SBC problem: the joint hurdle BCF on generator scenarios.

A sweep spec with ``[model] name = "hurdle_bcf"`` and ``[dgp] kind = "generator"`` checks
the calibration of pytyche's default model on a scenario template (e.g. ``clustered``):

1. **Simulate (host).** For each replicate key, a NumPy generator seeded with the key's
   data draws the randomised effect parameters of ``[dgp.randomize]`` uniformly, builds the
   template, draws ``n`` visitors from the generator core
   (:func:`~pytyche.generators.core.sample_design`,
   :func:`~pytyche.generators.core.compute_potential_outcomes`), assigns arms uniformly at
   random (a cold-start A/B/n round) and draws the outcomes
   (:func:`~pytyche.generators.core.draw_outcomes`). Every replicate keeps its own truth.
2. **Prepare (host).** :func:`~pytyche.models.problem.make_problem` and
   :func:`~pytyche.inference.driver.prepare_run` turn each dataset into the chain's array
   inputs; replicates of one scale share the compiled program's static signature, so
   their arrays are stacked along a leading replicate axis.
3. **Fit (device).** One BCF chain per replicate
   (:func:`~pytyche.inference.driver.chain_sampler`), ``jax.vmap``-ed over the replicates
   of a chunk (the runner chunks and shards), then the per-draw quantities below.

Quantities (``K − 1`` active arms, ``G`` planted segments of the template)
-------------------------------------------------------------------------
- ``ate_<arm>``: the average over the replicate's visitors of ``CATE_a(x_i)``;
- ``gate_<segment>_<arm>``: the average of ``CATE_a(x_i)`` over the replicate's visitors
  of that planted segment (for the cluster templates: the latent cluster);
- ``cate_probe_<j>_<arm>`` (``num_probes > 0``): ``CATE_a`` of visitor ``j`` of the
  replicate (a fixed position in the visitor order: a random visitor, different in every
  replicate).

The metric is revenue per visitor ``p · m`` (or conversion rate ``p``, or revenue per
converter ``m``): per draw, ``p = Φ(f^c)`` and ``m = exp(c + s f^s + s² σ² / 2)`` from the
channel fits, exactly as :class:`pytyche.posterior.Posterior` computes them, and
``CATE_a(x) = metric(x, a) − metric(x, 0)``.

Truth (covariate-conditional, sample-conditional)
-------------------------------------------------
The model sees only the covariates, so the estimand is the covariate-conditional CATE
``E[Y(a) − Y(0) | X = x]`` (:func:`~pytyche.generators.core.expected_outcomes`: for the
cluster templates the cluster effects averaged with the exact ``P(c | x)`` of the
mixture), never the effect of a visitor's latent cluster, which no estimator can learn
from x. A GATE reported by pytyche averages the CATE over the segment's visitors *in the
fitted data*, so its SBC truth is the same functional at the true surfaces and the
replicate's own visitors: the covariate-conditional CATE averaged over that replicate's
visitors of the segment (segments may be the latent clusters: membership only selects
the visitors averaged over). Ranks of such data-dependent test quantities are uniform for
an exact posterior (Modrák et al. 2023). Note that the DGP is a planted scenario, not the
model's prior, so SBC ranks need not be uniform even for an exact posterior (Talts et al.
2018 assume prior draws); what the sweep measures is the coverage at the planted effects,
which the calibration corrects. The latent-cluster-conditional values are kept in
:attr:`Replicate.latent_values` for diagnosis.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018). Validating
Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.

Modrák, M., Moon, A. H., Kim, S., Bürkner, P. & others (2023). Simulation-based
calibration checking for Bayesian computation: the choice of test quantities shapes
sensitivity. Bayesian Analysis.

Hahn, P. R., Murray, J. S. & Carvalho, C. M. (2020). Bayesian regression tree models for
causal inference. Bayesian Analysis 15(3).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pytyche._version import __version__
from pytyche.contracts import Metric, MetricFamily
from pytyche.data import RoundData
from pytyche.generators.core import (
    ARM_COLUMN,
    SUPPORTED_METRICS,
    Scenario,
    compute_potential_outcomes,
    draw_outcomes,
    expected_outcomes,
    metric_values,
    sample_design,
)
from pytyche.generators.templates import CLUSTERS, TEMPLATES
from pytyche.inference.config import BCFConfig
from pytyche.models.problem import make_problem
from pytyche.models.registry import DEFAULT_MODEL, get_model
from pytyche.posterior import hurdle_metric
from pytyche.sbc.problem import ProblemRegime, SimulatedBatch, register_sbc_problem

__all__ = [
    "EFFECT_PROFILES",
    "MODEL_NAME",
    "FitInputs",
    "HurdleBCFProblem",
    "Replicate",
    "hurdle_bcf_problem",
    "quantity_draws",
    "replicate_truth",
    "simulate_replicate",
]

MODEL_NAME = "hurdle_bcf"
EFFECT_PROFILES = "effect_profiles"
"""``[dgp.randomize]`` key drawing every (cluster, arm, channel) profile entry uniformly."""
OUTCOME = "revenue"
MIN_SCALE = 100
_FIT_KEYS = {f.name for f in dataclasses.fields(BCFConfig)} - {
    "num_chains",
    "chain_method",
    "store_forests",
}
_MODEL_KEYS = {"model", "num_probes"}


# ------------------------------------------------------------------ the problem
@dataclass(frozen=True)
class HurdleBCFProblem:
    """The ``hurdle_bcf`` SBC problem (build it with :func:`hurdle_bcf_problem`).

    Attributes
    ----------
    template
        Generator template name (``pytyche.generators.TEMPLATES``).
    num_arms
        ``K``, control included.
    metric
        Metric of the quantities.
    randomize
        ``(name, low, high)`` per randomised template argument (``effect_scale``, a
        keyword of the template, or ``effect_profiles``: every entry of the cluster
        templates' effect table drawn uniformly).
    template_params
        ``(name, value)`` fixed template keyword arguments.
    model
        ``pytyche.models`` registry name of the model function.
    config
        The fit's `BCFConfig` (one chain per replicate).
    num_probes
        Visitors whose individual CATE is tracked.
    """

    template: str
    num_arms: int
    metric: Metric
    randomize: tuple[tuple[str, float, float], ...]
    template_params: tuple[tuple[str, Any], ...]
    model: str
    config: BCFConfig
    num_probes: int = 0

    host_simulation: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(
                f"[dgp] template {self.template!r} is not a generator template; "
                f"available: {sorted(TEMPLATES)}"
            )
        if not _is_int(self.num_arms) or self.num_arms < 2:
            raise ValueError(f"[dgp] num_arms must be an integer >= 2, got {self.num_arms!r}")
        if self.metric not in SUPPORTED_METRICS:
            raise ValueError(f"[dgp] metric must be one of {[m.value for m in SUPPORTED_METRICS]}")
        if self.config.num_chains != 1:
            raise ValueError("[fit] hurdle_bcf runs one chain per replicate (num_chains = 1)")
        if not _is_int(self.num_probes) or self.num_probes < 0:
            raise ValueError(
                f"[model.params] num_probes must be a non-negative integer, got {self.num_probes!r}"
            )
        get_model(self.model)  # a clear error for an unknown model name

    # ------------------------------------------------------------ protocol
    @property
    def regime(self) -> ProblemRegime:
        """Hurdle family, the spec's metric, K, ``hurdle_bcf`` and the package version."""
        return ProblemRegime(
            family=MetricFamily.HURDLE,
            metric=self.metric,
            num_arms=self.num_arms,
            model=MODEL_NAME,
            model_version=f"{self.model} {__version__}",
        )

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm names, control first."""
        return _arm_names(self.build_scenario(self._reference_parameters()))

    @property
    def segments(self) -> tuple[str, ...]:
        """Names of the template's planted segments."""
        scenario = self.build_scenario(self._reference_parameters())
        return scenario.regimes[0][1].segments.names

    def quantity_names(self, n: int) -> tuple[str, ...]:
        """``ate_<arm>``, ``gate_<segment>_<arm>``, ``cate_probe_<j>_<arm>`` (same at every n)."""
        active = self.arms[1:]
        names = [f"ate_{a}" for a in active]
        names += [f"gate_{s}_{a}" for s in self.segments for a in active]
        names += [f"cate_probe_{j}_{a}" for j in range(self.num_probes) for a in active]
        return tuple(names)

    def num_draws(self, n: int) -> int:
        """Kept draws of the replicate's chain."""
        return self.config.num_draws

    def simulate(self, keys: jax.Array, n: int) -> SimulatedBatch:
        """Simulate and prepare one dataset per key (host side), stacked over replicates."""
        from pytyche.inference.driver import prepare_run, stack_arrays

        n = int(n)
        if n < MIN_SCALE:
            raise ValueError(f"[sweep] scales must be >= {MIN_SCALE} visitors for hurdle_bcf")
        model = get_model(self.model)
        inputs, truths, static = [], [], None
        for words in np.asarray(jax.random.key_data(keys)):
            replicate = simulate_replicate(self, np.random.SeedSequence(words.tolist()), n)
            problem = make_problem(
                replicate.data,
                MetricFamily.HURDLE,
                num_mu_trees=self.config.num_mu_trees,
                num_tau_trees=self.config.num_tau_trees,
            )
            run = prepare_run(problem, self.config, model=model)
            if static is not None and run.static != static:
                raise RuntimeError("replicates of one scale produced different run signatures")
            static = run.static
            inputs.append((run.arrays, _quantity_weights(replicate, self.num_probes)))
            truths.append(replicate_truth(replicate, self.metric, self.num_probes))
        arrays = stack_arrays([run_arrays for run_arrays, _ in inputs])
        weights = np.stack([np.asarray(w) for _, w in inputs])
        return SimulatedBatch(
            FitInputs(arrays, weights, static),
            jnp.asarray(np.stack(truths), jnp.float32),
        )

    def fit(self, keys: jax.Array, data: FitInputs) -> jax.Array:
        """``(R, S, Q)`` draws of the quantities: one vmapped chain per replicate."""
        from pytyche.inference.driver import chain_sampler

        config = self.config
        sample = chain_sampler(
            get_model(self.model), config, data.static, config.num_warmup, config.num_draws
        )
        metric = self.metric

        def one(key: jax.Array, arrays: Any, weights: jax.Array) -> jax.Array:
            draws = sample(key, arrays)
            sigma2 = draws.z.get("sigma2", jnp.zeros(draws.fit.shape[0]))
            problem = arrays.problem
            return quantity_draws(
                draws.fit,
                sigma2,
                problem["outcome_center"],
                problem["outcome_scale"],
                weights,
                metric,
            )

        return jax.vmap(one)(keys, data.arrays, data.weights)

    # ------------------------------------------------------------ scenarios
    def _reference_parameters(self) -> dict[str, Any]:
        """Template arguments at the middle of every randomised range (names and arms)."""
        middle = {name: (low + high) / 2 for name, low, high in self.randomize}
        return self._template_arguments(middle, np.random.default_rng(0))

    def draw_parameters(self, rng: np.random.Generator) -> dict[str, Any]:
        """One replicate's template arguments: randomised ranges drawn uniformly."""
        drawn = {name: float(rng.uniform(low, high)) for name, low, high in self.randomize}
        return self._template_arguments(drawn, rng)

    def _template_arguments(self, drawn: dict[str, float], rng: np.random.Generator) -> dict:
        arguments = dict(self.template_params)
        profile_range = None
        for name, value in drawn.items():
            if name == EFFECT_PROFILES:
                profile_range = next((lo, hi) for n, lo, hi in self.randomize if n == name)
            else:
                arguments[name] = value
        if profile_range is not None:
            low, high = profile_range
            arguments[EFFECT_PROFILES] = {
                cluster: rng.uniform(low, high, size=(self.num_arms - 1, 2)).tolist()
                for cluster in CLUSTERS
            }
        return arguments

    def build_scenario(self, arguments: Mapping[str, Any]) -> Scenario:
        """The template's `Scenario` for one replicate's arguments."""
        arguments = dict(arguments)
        effect_scale = arguments.pop("effect_scale", None)
        if effect_scale is None:
            raise ValueError(
                "[dgp] the template needs an effect size: set [dgp.randomize] effect_scale = "
                "[low, high] or [dgp.template_params] effect_scale"
            )
        return TEMPLATES[self.template](self.num_arms, effect_scale, **arguments)


class FitInputs:
    """What :meth:`HurdleBCFProblem.fit` consumes: a pytree with a static run signature.

    ``arrays`` (the driver's ``RunArrays``) and ``weights`` are leaves with a leading
    replicate axis; ``static`` (the shared ``RunSignature``) is the tree's auxiliary data,
    so ``jax.jit`` treats it as static and ``jax.vmap`` leaves it alone.

    Attributes
    ----------
    arrays
        Stacked ``RunArrays``.
    weights
        ``(R, Q', n)`` float32 averaging weights of the quantities (ATE, GATEs, probes),
        one row per quantity before the arm axis.
    static
        The ``RunSignature`` shared by the replicates.
    """

    def __init__(self, arrays: Any, weights: Any, static: Any) -> None:
        self.arrays = arrays
        self.weights = weights
        self.static = static

    def tree_flatten(self) -> tuple[tuple[Any, Any], Any]:
        return (self.arrays, self.weights), self.static

    @classmethod
    def tree_unflatten(cls, static: Any, children: tuple[Any, Any]) -> FitInputs:
        return cls(children[0], children[1], static)


jax.tree_util.register_pytree_node_class(FitInputs)


# ------------------------------------------------------------------ simulation & truth
class Replicate(NamedTuple):
    """One simulated dataset with its truth.

    Attributes
    ----------
    data
        The observed data (covariates, arm, revenue), control first.
    segment_codes
        ``(n,)`` planted segment of each visitor (index into ``segment_names``).
    segment_names
        The template's planted segments.
    true_values
        ``(n, K)`` float64 covariate-conditional expected metric ``E[metric | x]`` of every
        visitor under every arm, for the three hurdle metrics: name -> array.
    parameters
        The replicate's template arguments (randomised ones drawn).
    latent_values
        Diagnosis only: the same conditional on each visitor's latent cluster as well
        (equal to ``true_values`` for templates without latent clusters).
    """

    data: RoundData
    segment_codes: np.ndarray
    segment_names: tuple[str, ...]
    true_values: dict[str, np.ndarray]
    parameters: dict[str, Any]
    latent_values: dict[str, np.ndarray]


def simulate_replicate(
    problem: HurdleBCFProblem, seed: np.random.SeedSequence | int, n: int
) -> Replicate:
    """Simulate one replicate dataset of ``n`` visitors and its truth (host, NumPy).

    Parameters
    ----------
    problem
        The SBC problem (template, arms, randomised ranges).
    seed
        Seed of the replicate: three independent streams (parameters and covariates,
        assignment, outcomes) are spawned from it.
    n
        Visitors.

    Returns
    -------
    Replicate
    """
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    design_rng, assignment_rng, outcome_rng = (np.random.default_rng(s) for s in sequence.spawn(3))
    parameters = problem.draw_parameters(design_rng)
    scenario = problem.build_scenario(parameters)
    dgp = scenario.regimes[0][1]
    arms = _arm_names(scenario)
    design = sample_design(dgp.covariates, design_rng, n)
    outcomes = compute_potential_outcomes(dgp, design)
    arm_index = _balanced_assignment(assignment_rng, n, len(arms))
    _, revenue = draw_outcomes(outcome_rng, outcomes, arm_index)
    frame = design.covariates.copy()
    frame[ARM_COLUMN] = np.asarray(arms, dtype=object)[arm_index]
    frame[OUTCOME] = revenue
    data = RoundData.from_frame(
        frame,
        arms=arms,
        outcome=OUTCOME,
        arm=ARM_COLUMN,
        covariates=tuple(design.covariates.columns),
        categorical=dgp.covariates.categorical,
        family=MetricFamily.HURDLE,
    )
    expected = expected_outcomes(dgp, design, outcomes)
    return Replicate(
        data=data,
        segment_codes=dgp.segments.codes(design.frame),
        segment_names=dgp.segments.names,
        true_values={m.value: metric_values(expected, m) for m in SUPPORTED_METRICS},
        parameters=parameters,
        latent_values={m.value: metric_values(outcomes, m) for m in SUPPORTED_METRICS},
    )


def _balanced_assignment(rng: np.random.Generator, n: int, num_arms: int) -> np.ndarray:
    """Complete randomisation: arm sizes differ by at most one, order random."""
    return rng.permutation(np.arange(n) % num_arms)


def _quantity_weights(replicate: Replicate, num_probes: int) -> np.ndarray:
    """``(1 + G + P, n)`` float32 averaging weights: everyone, each segment, each probe."""
    n = replicate.segment_codes.shape[0]
    rows = [np.full(n, 1.0 / n)]
    for s in range(len(replicate.segment_names)):
        members = replicate.segment_codes == s
        count = members.sum()
        if count == 0:
            raise ValueError(
                f"segment {replicate.segment_names[s]!r} has no visitor in a replicate of "
                f"n = {n}; use larger scales"
            )
        rows.append(members / count)
    for j in range(num_probes):
        rows.append(np.eye(1, n, j)[0])
    return np.asarray(rows, np.float32)


def replicate_truth(replicate: Replicate, metric: Metric, num_probes: int = 0) -> np.ndarray:
    """True quantities of a replicate, in the order of ``quantity_names`` (float64).

    Every quantity is an average of the covariate-conditional true ``CATE_a(x_i) =
    v_a(x_i) − v_0(x_i)`` (``v = E[metric | x]``) over the replicate's own visitors: all of
    them (ATE), a planted segment's (GATE), one (probe).
    """
    values = replicate.true_values[Metric(metric).value]
    effect = values[:, 1:] - values[:, :1]  # (n, K-1)
    codes = replicate.segment_codes
    parts = [effect.mean(axis=0)]
    parts += [effect[codes == s].mean(axis=0) for s in range(len(replicate.segment_names))]
    parts += [effect[j] for j in range(num_probes)]
    return np.concatenate(parts)


# ------------------------------------------------------------------ per-draw quantities
def quantity_draws(
    fit: jax.Array,
    sigma2: jax.Array,
    outcome_center: jax.Array,
    outcome_scale: jax.Array,
    weights: jax.Array,
    metric: Metric,
) -> jax.Array:
    """Per-draw quantities of one chain (device side).

    Parameters
    ----------
    fit
        ``(S, C, n, K)`` channel fits in model units (conversion, severity).
    sigma2
        ``(S,)`` severity noise variance in model units.
    outcome_center, outcome_scale
        ``c``, ``s`` of the severity standardisation.
    weights
        ``(Q', n)`` averaging weights (rows sum to 1).
    metric
        Metric of the CATEs.

    Returns
    -------
    jax.Array
        ``(S, Q' (K − 1))`` quantity draws, row-major over (weight row, active arm).
    """
    values = hurdle_metric(
        metric, fit[:, 0], fit[:, 1], sigma2[:, None, None], outcome_center, outcome_scale
    )  # (S, n, K)
    effect = values[..., 1:] - values[..., :1]  # (S, n, K-1)
    averaged = jnp.einsum("snk,qn->sqk", effect, weights)
    return averaged.reshape(averaged.shape[0], -1)


# ------------------------------------------------------------------ spec -> problem
def hurdle_bcf_problem(spec: Any) -> HurdleBCFProblem:
    """Build the problem from a validated `SweepSpec` (the registered factory).

    ``[model.params]``: ``model`` (a ``pytyche.models`` registry name, default the default
    model), ``num_probes`` (default 0). ``[fit]``: any `BCFConfig` field except
    ``num_chains``, ``chain_method`` and ``store_forests`` (one chain per replicate, no
    stored trees).
    """
    dgp = spec.dgp
    if dgp.kind != "generator":
        raise ValueError(
            "[dgp] hurdle_bcf simulates from a generator template: set kind = 'generator' "
            "with template, num_arms and metric"
        )
    params = dict(spec.model_params)
    unknown = sorted(set(params) - _MODEL_KEYS)
    if unknown:
        raise ValueError(
            f"[model.params] has unknown keys {unknown}; allowed: {sorted(_MODEL_KEYS)}"
        )
    fit = dict(spec.fit_params)
    unknown = sorted(set(fit) - _FIT_KEYS)
    if unknown:
        raise ValueError(f"[fit] has unknown keys {unknown}; allowed: {sorted(_FIT_KEYS)}")
    try:
        config = BCFConfig(**fit, num_chains=1, store_forests=False)
    except ValueError as error:
        raise ValueError(f"[fit] {error}") from None
    try:
        metric = Metric(dgp.metric)
    except ValueError:
        raise ValueError(
            f"[dgp] metric must be one of {[m.value for m in SUPPORTED_METRICS]}, "
            f"got {dgp.metric!r}"
        ) from None
    randomize = tuple((name, float(lo), float(hi)) for name, (lo, hi) in dgp.randomize.items())
    for name, low, high in randomize:
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"[dgp.randomize] {name} must be finite, got [{low}, {high}]")
    template_params = tuple(sorted(dict(dgp.template_params).items()))
    for name, value in template_params:
        if isinstance(value, dict | list):
            raise ValueError(f"[dgp.template_params] {name} must be a scalar, got {value!r}")
    problem = HurdleBCFProblem(
        template=dgp.template,
        num_arms=int(dgp.num_arms),
        metric=metric,
        randomize=randomize,
        template_params=template_params,
        model=str(params.get("model", DEFAULT_MODEL)),
        config=config,
        num_probes=params.get("num_probes", 0),
    )
    try:  # bad template arguments fail here, not in the middle of a sweep
        problem.build_scenario(problem._reference_parameters())
    except TypeError as error:
        raise ValueError(
            f"[dgp] template {dgp.template!r} refuses its arguments: {error}"
        ) from None
    return problem


def _arm_names(scenario: Scenario) -> tuple[str, ...]:
    if scenario.arm_names is not None:
        return tuple(scenario.arm_names)
    return ("control", *(f"treatment_{j}" for j in range(1, scenario.n_arms)))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


register_sbc_problem(MODEL_NAME, hurdle_bcf_problem)
