"""The ``hurdle_bcf_prior`` SBC problem: the joint hurdle BCF on data from its own prior.

A sweep spec with ``[model] name = "hurdle_bcf_prior"`` and ``[dgp] kind =
"prior_predictive"`` is SBC proper (Talts et al. 2018): every replicate draws the model's
parameters from the prior the sampler targets, simulates a dataset from them and fits it,
so the ranks of the truth among the posterior draws are uniform **if and only if** the
sampler is exact (up to Monte Carlo error). It separates sampler error from prior misfit,
which the generator sweeps (``hurdle_bcf``) cannot: their DGP is a planted scenario.

Simulation of one replicate (host, NumPy; ``n`` visitors, ``K`` arms)
--------------------------------------------------------------------
1. **Design.** ``num_covariates`` iid ``N(0, 1)`` covariates ``x0, x1, …`` and a binary
   ``flag ~ Bernoulli(½)``; arms by complete randomisation (sizes differ by ≤ 1). The
   covariates are binned exactly as the fit bins them (``fit_bins`` on the prognostic
   covariates — the covariates and the constant empirical arm shares — with
   ``max_cuts_mu``, and on the covariates with ``max_cuts_tau``); the prepared fit's bins
   are checked to be the same arrays.
2. **Scalars.** The registered model function (``[model.params] model``, default ``"bcf"``)
   is run with ``stats=None`` under ``numpyro.handlers.seed``/``trace``: its latent sites
   (``mu_leaf_var``, ``tau_scale``, ``sigma2`` for the default model) are prior draws, and
   the :class:`~pytyche.models.likelihood.ForestVariances` it returns give the leaf and
   noise variances. A variant model in ``models/`` is therefore checked by the same sweep.
3. **Trees.** Every μ and τ tree is an exact draw of the tree prior the grow/prune sampler
   targets (:mod:`pytyche.forest.sweep`): a node at depth ``d < max_depth`` with an
   admissible rule splits with probability ``α (1 + d)^−β`` (``alpha_mu, beta_mu`` or
   ``alpha_tau, beta_tau``), its covariate is uniform among the admissible ones and its
   bin uniform among that covariate's admissible bins (the rule ranges of
   :func:`~pytyche.forest.trees.rule_ranges`), and the tree is kept only if every leaf
   holds ≥ ``min_leaf_count`` visitors (the sampler's target is the prior times that
   indicator, so this is rejection sampling of the truncated prior; a node with too few
   visitors rejects the tree at once, as one of its leaves must have too few).
4. **Leaves (shared topology).** One structure per tree; each μ leaf gets a value per
   channel, ``N(0, mu_leaf_var_c)``, each τ leaf one per channel and active arm,
   ``N(0, tau_leaf_var_c)`` (``tau_scale_c² / m_τ`` for the default model).
5. **Outcomes.** ``f^c(x, a) = offset + μ^c(x) + τ^c_a(x)`` and ``f^s = μ^s + τ^s_a``
   (``τ_0 ≡ 0``); conversion ``z ~ N(f^c, 1) > 0`` (Albert & Chib 1993); a converter's
   standardised log spend ``u ~ N(f^s, σ²)`` and revenue ``y = exp(c + s u)``.

Fixed standardisation (why the prior does not depend on the data)
-----------------------------------------------------------------
:func:`~pytyche.models.problem.make_problem` standardises with data-dependent constants:
the probit offset ``Φ⁻¹(observed conversion rate)`` and the centre ``c`` and scale ``s``
of the converters' log spend. With them the prior of the fitted model would depend on
the data and the simulated prior would not be the fitted one. Here the constants are
fixed per sweep (``[model.params] conversion_rate``, ``spend_center``, ``spend_scale``):
the simulation uses them, and :func:`fix_standardisation` puts them into the problem
``make_problem`` builds from the simulated data (offset, ``c``, ``s`` and the severity
targets ``(log y − c) / s``), leaving everything else of the production fit unchanged.
Nothing else of the fit depends on the outcomes: the prior scales ``s_μ, s_τ`` are
constants, the propensity covariate of μ is the (constant, never split on) empirical arm
share under complete randomisation, the binning reads the covariates only (which the
posterior conditions on, like the tree prior's leaf-size truncation), and the latent
and scalar initial values, the warm-up's step-size adaptation and any grow-from-root
sweeps change only where the chain starts.

A replicate whose outcomes ``make_problem`` refuses (fewer than 2 converters, no
non-converter, or every treated visitor converted) is redrawn from scratch. This
conditions the simulation on an event of the *data*, which leaves the posterior given the
data unchanged, so the ranks stay uniform.

Quantities (``K − 1`` active arms; truth at the drawn parameters, the replicate's visitors)
-------------------------------------------------------------------------------------------
- ``ate_<arm>``: the average of ``CATE_a(x_i)`` over the replicate's visitors, revenue
  per visitor (:func:`~pytyche.sbc.hurdle_bcf.quantity_draws`, the posterior's formula);
- ``gate_flag<v>_<arm>``: the same over the visitors with ``flag = v``;
- ``cate_probe_<j>_<arm>``: ``CATE_a`` of visitor ``j``;
- ``conversion_ate_<arm>``: the ATE on the conversion-rate scale;
- every latent scalar site of the model, one quantity per element (``tau_scale_<channel>``,
  ``mu_leaf_var_<channel>``, ``sigma2`` for the default model).

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018). Validating
Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.

Chipman, H. A., George, E. I. & McCulloch, R. E. (1998). Bayesian CART model search.
Journal of the American Statistical Association 93(443).

Hahn, P. R., Murray, J. S. & Carvalho, C. M. (2020). Bayesian regression tree models for
causal inference. Bayesian Analysis 15(3).

Albert, J. H. & Chib, S. (1993). Bayesian analysis of binary and polychotomous response
data. Journal of the American Statistical Association 88(422).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro import handlers
from scipy.stats import norm

from pytyche._version import __version__
from pytyche.contracts import Metric, MetricFamily
from pytyche.data import RoundData
from pytyche.forest.binning import bin_covariates, fit_bins
from pytyche.forest.predict import arm_contributions
from pytyche.forest.sweep import TreePrior
from pytyche.inference.config import BCFConfig
from pytyche.inference.kernel import treatment_center
from pytyche.models.bcf import TAU_INTERCEPT_SITE
from pytyche.models.problem import CHANNELS, MU_TOTAL_SD, TAU_TOTAL_SD, BCFProblem, make_problem
from pytyche.models.registry import DEFAULT_MODEL, get_model
from pytyche.posterior import hurdle_metric
from pytyche.sbc.hurdle_bcf import FitInputs, quantity_draws
from pytyche.sbc.problem import ProblemRegime, SimulatedBatch, register_sbc_problem

__all__ = [
    "MODEL_NAME",
    "HurdlePriorProblem",
    "PriorDraw",
    "PriorReplicate",
    "TreeDraw",
    "draw_prior",
    "draw_tree",
    "fix_standardisation",
    "hurdle_prior_problem",
    "simulate_prior_replicate",
]

MODEL_NAME = "hurdle_bcf_prior"
ARM_COLUMN = "arm"
OUTCOME = "revenue"
FLAG = "flag"
MIN_SCALE = 100
MAX_ATTEMPTS = 100
_FAMILY = MetricFamily.HURDLE
_FIT_KEYS = {f.name for f in dataclasses.fields(BCFConfig)} - {
    "num_chains",
    "chain_method",
    "store_forests",
}
_MODEL_KEYS = {
    "model",
    "num_arms",
    "num_covariates",
    "num_probes",
    "conversion_rate",
    "spend_center",
    "spend_scale",
}


# ------------------------------------------------------------------ the problem
@dataclass(frozen=True)
class HurdlePriorProblem:
    """The ``hurdle_bcf_prior`` SBC problem (build it with :func:`hurdle_prior_problem`).

    Attributes
    ----------
    num_arms
        ``K``, control included.
    num_covariates
        Continuous ``N(0, 1)`` covariates (the binary ``flag`` comes on top).
    model
        ``pytyche.models`` registry name of the model function (prior and fit).
    config
        The fit's `BCFConfig` (one chain per replicate); its tree priors, depth, leaf size
        and binnings are also the simulation's.
    conversion_rate
        Fixed probit offset ``Φ⁻¹(conversion_rate)`` of the conversion channel.
    spend_center, spend_scale
        Fixed ``c`` and ``s`` of the log-spend standardisation (revenue ``exp(c + s u)``).
        The RPV of a draw contains ``exp(c + s f^s + s² σ² / 2)`` and σ² has the heavy
        ``InverseGamma(1.5, 1.5)`` tail, so ``s = 1`` overflows float32 (σ² ≳ 170) in about
        one replicate in 900; ``s = 0.5`` needs σ² ≳ 680 (about one in 13,000). A
        replicate whose truth is not finite in float32 stops the sweep with an error.
    num_probes
        Visitors whose individual CATE is tracked.
    """

    num_arms: int
    num_covariates: int
    model: str
    config: BCFConfig
    conversion_rate: float = 0.3
    spend_center: float = 3.0
    spend_scale: float = 0.5
    num_probes: int = 1

    host_simulation: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not _is_int(self.num_arms) or self.num_arms < 2:
            raise ValueError(
                f"[model.params] num_arms must be an integer >= 2, got {self.num_arms!r}"
            )
        if not _is_int(self.num_covariates) or self.num_covariates < 1:
            raise ValueError(
                "[model.params] num_covariates must be an integer >= 1, "
                f"got {self.num_covariates!r}"
            )
        if not _is_int(self.num_probes) or self.num_probes < 0:
            raise ValueError(
                f"[model.params] num_probes must be a non-negative integer, got {self.num_probes!r}"
            )
        if not (_is_real(self.conversion_rate) and 0 < self.conversion_rate < 1):
            raise ValueError(
                f"[model.params] conversion_rate must be in (0, 1), got {self.conversion_rate!r}"
            )
        if not (_is_real(self.spend_center) and math.isfinite(self.spend_center)):
            raise ValueError(
                f"[model.params] spend_center must be a finite number, got {self.spend_center!r}"
            )
        if not (_is_real(self.spend_scale) and 0 < self.spend_scale < math.inf):
            raise ValueError(
                f"[model.params] spend_scale must be a positive number, got {self.spend_scale!r}"
            )
        if self.config.num_chains != 1:
            raise ValueError("[fit] hurdle_bcf_prior runs one chain per replicate")
        if self.config.pooling != "joint":
            raise ValueError(
                "[fit] hurdle_bcf_prior simulates the shared-topology prior: pooling = 'joint'"
            )
        get_model(self.model)  # a clear error for an unknown model name

    # ------------------------------------------------------------ protocol
    @property
    def regime(self) -> ProblemRegime:
        """Hurdle family, revenue per visitor, K, ``hurdle_bcf_prior`` and the version."""
        return ProblemRegime(
            family=_FAMILY,
            metric=Metric.REVENUE_PER_VISITOR,
            num_arms=self.num_arms,
            model=MODEL_NAME,
            model_version=f"{self.model} {__version__}",
        )

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm names, control first."""
        return ("control", *(f"treatment_{j}" for j in range(1, self.num_arms)))

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """``x0, x1, …`` and ``flag``."""
        return (*(f"x{j}" for j in range(self.num_covariates)), FLAG)

    @property
    def offset(self) -> np.ndarray:
        """``(C,)`` fixed channel offsets: ``Φ⁻¹(conversion_rate)`` and 0."""
        return np.array([norm.ppf(self.conversion_rate), 0.0])

    @cached_property
    def site_shapes(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``(name, shape)`` of the model's latent scalar sites (from one prior trace)."""
        design = _draw_design(self, np.random.default_rng(0), 2 * self.num_arms)
        trace = _prior_trace(get_model(self.model), prior_problem(self, *design), 0)[0]
        return tuple((name, np.shape(value)) for name, value in trace.items())

    def site_quantity_names(self) -> tuple[str, ...]:
        """One name per element of every latent site (``<site>_<channel>`` for ``(C,)``,
        ``<site>_<channel>_<arm>`` for ``(C, K − 1)``)."""
        channels = CHANNELS[_FAMILY]
        names = []
        for name, shape in self.site_shapes:
            if shape == ():
                names.append(name)
            elif shape == (len(channels),):
                names += [f"{name}_{c}" for c in channels]
            elif shape == (len(channels), len(self.arms) - 1):  # per channel and active arm
                names += [f"{name}_{c}_{a}" for c in channels for a in self.arms[1:]]
            else:
                names += [f"{name}_{i}" for i in range(math.prod(shape))]
        return tuple(names)

    def quantity_names(self, n: int) -> tuple[str, ...]:
        """CATE functionals on RPV, the conversion ATE, the scalar sites (same at every n)."""
        active = self.arms[1:]
        names = [f"ate_{a}" for a in active]
        names += [f"gate_{FLAG}{v}_{a}" for v in (0, 1) for a in active]
        names += [f"cate_probe_{j}_{a}" for j in range(self.num_probes) for a in active]
        names += [f"conversion_ate_{a}" for a in active]
        return (*names, *self.site_quantity_names())

    def num_draws(self, n: int) -> int:
        """Kept draws of the replicate's chain."""
        return self.config.num_draws

    def simulate(self, keys: jax.Array, n: int) -> SimulatedBatch:
        """Simulate and prepare one prior-predictive dataset per key (host side)."""
        from pytyche.inference.driver import prepare_run, stack_arrays

        n = int(n)
        if n < MIN_SCALE:
            raise ValueError(f"[sweep] scales must be >= {MIN_SCALE} visitors for {MODEL_NAME}")
        model = get_model(self.model)
        arrays, weights, truths, static = [], [], [], None
        for words in np.asarray(jax.random.key_data(keys)):
            replicate = simulate_prior_replicate(self, np.random.SeedSequence(words.tolist()), n)
            run = prepare_run(replicate.problem, self.config, model=model)
            _check_bins(run, replicate.draw)
            if static is not None and run.static != static:
                raise RuntimeError("replicates of one scale produced different run signatures")
            static = run.static
            arrays.append(run.arrays)
            weights.append(_quantity_weights(replicate.data, self.num_probes))
            truth = replicate_truth(self, replicate)
            if not np.all(np.abs(truth) < np.finfo(np.float32).max):
                raise RuntimeError(
                    f"a replicate at n = {n} has a truth beyond float32 (sigma2 = "
                    f"{replicate.draw.sites.get('sigma2')}); use a smaller spend_scale"
                )
            truths.append(truth)
        return SimulatedBatch(
            FitInputs(stack_arrays(arrays), np.stack(weights), static),
            jnp.asarray(np.stack(truths), jnp.float32),
        )

    def fit(self, keys: jax.Array, data: FitInputs) -> jax.Array:
        """``(R, S, Q)`` draws of the quantities: one vmapped chain per replicate."""
        from pytyche.inference.driver import chain_sampler

        config = self.config
        sample = chain_sampler(
            get_model(self.model), config, data.static, config.num_warmup, config.num_draws
        )
        sites = [name for name, _ in self.site_shapes]

        def one(key: jax.Array, arrays: Any, weights: jax.Array) -> jax.Array:
            draws = sample(key, arrays)
            num = draws.fit.shape[0]
            sigma2 = draws.z.get("sigma2", jnp.zeros(num))
            problem = arrays.problem
            center, scale = problem["outcome_center"], problem["outcome_scale"]
            effects = quantity_draws(
                draws.fit, sigma2, center, scale, weights, Metric.REVENUE_PER_VISITOR
            )
            conversion = quantity_draws(
                draws.fit, sigma2, center, scale, weights[:1], Metric.CONVERSION_RATE
            )
            scalars = [draws.z[name].reshape(num, -1).astype(jnp.float32) for name in sites]
            return jnp.concatenate([effects, conversion, *scalars], axis=1)

        return jax.vmap(one)(keys, data.arrays, data.weights)


# ------------------------------------------------------------------ the tree prior
class TreeDraw(NamedTuple):
    """One tree structure in heap layout and where the training visitors fall.

    Attributes
    ----------
    split_var, split_bin
        ``(S,)`` int32, as in :class:`~pytyche.forest.trees.Trees` (``S = 2**(D + 1)``).
    leaf_index
        ``(n,)`` int32 heap slot of each visitor's leaf.
    attempts
        Trees drawn until one met the leaf-size constraint (≥ 1).
    """

    split_var: np.ndarray
    split_bin: np.ndarray
    leaf_index: np.ndarray
    attempts: int


def draw_tree(
    rng: np.random.Generator,
    bins: np.ndarray,
    num_cuts: np.ndarray,
    prior: TreePrior,
    max_depth: int,
) -> TreeDraw:
    """An exact draw of the truncated tree prior the grow/prune sampler targets.

    Parameters
    ----------
    rng
        NumPy generator.
    bins
        ``(p, n)`` binned covariates (as the fit bins them).
    num_cuts
        ``(p,)`` cutpoints per covariate.
    prior
        ``alpha``, ``beta`` and ``min_leaf_count`` (floats / int).
    max_depth
        Deepest leaf (root depth 0).

    Returns
    -------
    TreeDraw

    Notes
    -----
    ``p(T) ∝ Π_internal α(1 + d)^−β · Π_leaves (1 − α(1 + d)^−β · 1{splittable}) · Π_rules
    1/(#admissible covariates · #admissible bins) · 1{every leaf ≥ min_leaf_count}``
    (Chipman, George & McCulloch 1998), with a node splittable when ``d < max_depth`` and
    some covariate's bin range there (:func:`~pytyche.forest.trees.rule_ranges`) holds a
    split; sampled top-down and rejected as soon as a node has fewer than
    ``min_leaf_count`` visitors.
    """
    alpha, beta, min_count = float(prior.alpha), float(prior.beta), int(prior.min_leaf_count)
    num_cuts = np.asarray(num_cuts, np.int64)
    slots = 2 ** (max_depth + 1)
    n = bins.shape[1]
    attempts = 0
    while True:
        attempts += 1
        split_var = np.zeros(slots, np.int32)
        split_bin = np.zeros(slots, np.int32)
        leaf_index = np.ones(n, np.int32)
        stack = [(1, np.zeros_like(num_cuts), num_cuts.copy(), np.arange(n))]
        accepted = True
        while stack and accepted:
            node, low, high, members = stack.pop()
            depth = node.bit_length() - 1
            room = high - low
            admissible = np.flatnonzero(room >= 1)
            p_split = alpha * (1.0 + depth) ** -beta if depth < max_depth else 0.0
            if admissible.size == 0 or rng.uniform() >= p_split:
                leaf_index[members] = node
                continue
            var = int(admissible[rng.integers(admissible.size)])
            cut = int(low[var] + 1 + rng.integers(room[var]))
            right = bins[var, members] >= cut
            left_members, right_members = members[~right], members[right]
            if min(left_members.size, right_members.size) < min_count:
                accepted = False
                continue
            split_var[node], split_bin[node] = var, cut
            left_high, right_low = high.copy(), low.copy()
            left_high[var], right_low[var] = cut - 1, cut
            stack.append((2 * node, low, left_high, left_members))
            stack.append((2 * node + 1, right_low, high, right_members))
        if accepted:
            return TreeDraw(split_var, split_bin, leaf_index, attempts)


# ------------------------------------------------------------------ simulation
class PriorDraw(NamedTuple):
    """The parameters of one prior-predictive replicate.

    Attributes
    ----------
    sites
        The model's latent scalar sites, ``name -> value`` (float64).
    mu_trees, tau_trees
        `TreeDraw` per tree of the μ and τ forests.
    fit
        ``(C, n, K)`` float64 channel fits in model units (offset included) at every
        visitor under every arm.
    noise_var
        ``(C,)`` the model's noise variances (1 on the probit channel).
    mu_bins, tau_bins
        ``(p + K − 1, n)`` and ``(p, n)`` uint8 bins the trees were drawn on.
    """

    sites: dict[str, np.ndarray]
    mu_trees: tuple[TreeDraw, ...]
    tau_trees: tuple[TreeDraw, ...]
    fit: np.ndarray
    noise_var: np.ndarray
    mu_bins: np.ndarray
    tau_bins: np.ndarray


class PriorReplicate(NamedTuple):
    """One simulated dataset, the problem the fit sees, and its parameters.

    Attributes
    ----------
    data
        The observed data (covariates, arm, revenue), control first.
    problem
        The fit's `BCFProblem`: ``make_problem`` with the fixed standardisation.
    draw
        The drawn parameters (`PriorDraw`).
    latent_severity
        ``(n,)`` the standardised log spend ``u`` drawn for every visitor (observed for
        converters only).
    attempts
        Datasets drawn until ``make_problem`` accepted one (≥ 1).
    """

    data: RoundData
    problem: BCFProblem
    draw: PriorDraw
    latent_severity: np.ndarray
    attempts: int


def prior_problem(
    problem: HurdlePriorProblem, covariates: np.ndarray, arm_index: np.ndarray
) -> BCFProblem:
    """The `BCFProblem` of a design before any outcome exists (prior fields only).

    Its targets are placeholders (zeros, every visitor informative); covariates,
    propensity, arms, offset, standardisation, forest sizes and prior scales are those the
    fit of this design will have (:func:`simulate_prior_replicate` checks it).
    """
    n = arm_index.shape[0]
    kinds = ("probit", "gaussian")
    shares = np.bincount(arm_index, minlength=problem.num_arms) / n
    return BCFProblem(
        family=_FAMILY,
        channels=CHANNELS[_FAMILY],
        arms=problem.arms,
        covariates=covariates,
        propensity=np.ascontiguousarray(np.broadcast_to(shares[1:], (n, problem.num_arms - 1))),
        categorical=(),
        arm_index=arm_index.astype(np.int32),
        targets=np.zeros((2, n)),
        weights=np.ones((2, n)),
        is_probit=(True, False),
        offset=problem.offset,
        outcome_center=float(problem.spend_center),
        outcome_scale=float(problem.spend_scale),
        num_mu_trees=problem.config.num_mu_trees,
        num_tau_trees=problem.config.num_tau_trees,
        mu_total_sd=np.array([MU_TOTAL_SD[k] for k in kinds]),
        tau_total_sd=np.array([TAU_TOTAL_SD[k] for k in kinds]),
    )


def draw_prior(
    problem: HurdlePriorProblem,
    design: BCFProblem,
    rng: np.random.Generator,
) -> PriorDraw:
    """Draw scalar sites, trees and leaves from the prior at a design's covariates.

    Parameters
    ----------
    problem
        The SBC problem (model, tree priors, depth, leaf size, binnings).
    design
        From :func:`prior_problem`.
    rng
        NumPy generator.

    Returns
    -------
    PriorDraw
    """
    config = problem.config
    sites, variances = _prior_trace(get_model(problem.model), design, int(rng.integers(2**31)))
    num_channels, n, num_arms = design.num_channels, design.num_visitors, design.num_arms
    mu_leaf_sd = np.sqrt(np.broadcast_to(np.asarray(variances.mu_leaf_var), (num_channels,)))
    tau_leaf_sd = np.sqrt(
        np.broadcast_to(
            np.asarray(variances.tau_leaf_var).reshape(num_channels, -1),
            (num_channels, num_arms - 1),
        )
    )
    mu_spec = fit_bins(design.prognostic_covariates, max_cuts=config.max_cuts_mu)
    tau_spec = fit_bins(design.covariates, max_cuts=config.max_cuts_tau)
    mu_bins = bin_covariates(mu_spec, design.prognostic_covariates)
    tau_bins = bin_covariates(tau_spec, design.covariates)
    mu_prior = TreePrior(config.alpha_mu, config.beta_mu, config.min_leaf_count)
    tau_prior = TreePrior(config.alpha_tau, config.beta_tau, config.min_leaf_count)
    slots = 2 ** (config.max_depth + 1)
    mu = np.zeros((num_channels, n))
    tau = np.zeros((num_channels, n, num_arms - 1))
    mu_trees, tau_trees = [], []
    for _ in range(config.num_mu_trees):
        tree = draw_tree(rng, mu_bins, mu_spec.num_cuts, mu_prior, config.max_depth)
        leaves = rng.normal(size=(slots, num_channels)) * mu_leaf_sd
        mu += leaves[tree.leaf_index].T
        mu_trees.append(tree)
    for _ in range(config.num_tau_trees):
        tree = draw_tree(rng, tau_bins, tau_spec.num_cuts, tau_prior, config.max_depth)
        leaves = rng.normal(size=(slots, num_channels, num_arms - 1)) * tau_leaf_sd
        tau += leaves[tree.leaf_index].transpose(1, 0, 2)
        tau_trees.append(tree)
    if TAU_INTERCEPT_SITE in sites:  # the arms' average effects, added to every visitor
        tau += sites[TAU_INTERCEPT_SITE][:, None, :]
    # The fit's treatment coding: arm a's basis is e_a − c (c = 0 for the indicator coding).
    per_arm = arm_contributions(tau, treatment_center(design, config))
    fit = np.asarray(design.offset)[:, None, None] + mu[:, :, None] + per_arm
    return PriorDraw(
        sites=sites,
        mu_trees=tuple(mu_trees),
        tau_trees=tuple(tau_trees),
        fit=fit,
        noise_var=np.asarray(variances.noise_var, np.float64),
        mu_bins=mu_bins,
        tau_bins=tau_bins,
    )


def simulate_prior_replicate(
    problem: HurdlePriorProblem, seed: np.random.SeedSequence | int, n: int
) -> PriorReplicate:
    """Simulate one prior-predictive replicate of ``n`` visitors (host, NumPy).

    Parameters
    ----------
    problem
        The SBC problem.
    seed
        Seed of the replicate; every attempt spawns its own streams (design, assignment,
        parameters, outcomes) from it.
    n
        Visitors.

    Returns
    -------
    PriorReplicate

    Raises
    ------
    RuntimeError
        If no attempt out of ``MAX_ATTEMPTS`` gave data ``make_problem`` accepts.
    """
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    for attempt, child in enumerate(sequence.spawn(MAX_ATTEMPTS), start=1):
        design_rng, assignment_rng, prior_rng, outcome_rng = (
            np.random.default_rng(s) for s in child.spawn(4)
        )
        covariates, arm_index = _draw_design(problem, design_rng, n, assignment_rng)
        design = prior_problem(problem, covariates, arm_index)
        draw = draw_prior(problem, design, prior_rng)
        visitors = np.arange(n)
        observed_fit = draw.fit[:, visitors, arm_index]  # (C, n)
        converted = observed_fit[0] + outcome_rng.normal(size=n) > 0
        severity = observed_fit[1] + np.sqrt(draw.noise_var[1]) * outcome_rng.normal(size=n)
        treated = arm_index > 0
        if converted.sum() < 2 or converted.all() or converted[treated].all():
            continue  # make_problem / the run's channel layout would refuse these data
        revenue = np.where(
            converted, np.exp(problem.spend_center + problem.spend_scale * severity), 0.0
        )
        data = _round_data(problem, covariates, arm_index, revenue)
        fitted = fix_standardisation(
            make_problem(
                data,
                _FAMILY,
                num_mu_trees=problem.config.num_mu_trees,
                num_tau_trees=problem.config.num_tau_trees,
            ),
            data,
            offset=problem.offset,
            center=problem.spend_center,
            scale=problem.spend_scale,
        )
        _check_prior_fields(fitted, design)
        return PriorReplicate(data, fitted, draw, severity, attempt)
    raise RuntimeError(
        f"{MAX_ATTEMPTS} prior draws in a row gave degenerate conversions at n = {n}; "
        "use a larger n or a conversion_rate further from 0 and 1"
    )


def fix_standardisation(
    problem: BCFProblem, data: RoundData, *, offset: np.ndarray, center: float, scale: float
) -> BCFProblem:
    """``problem`` (from ``make_problem(data)``) with fixed standardisation constants.

    Parameters
    ----------
    problem
        A hurdle `BCFProblem` built by :func:`~pytyche.models.problem.make_problem`.
    data
        The data it was built from.
    offset
        ``(C,)`` channel offsets (the probit channel's ``Φ⁻¹(rate)``, 0 on the Gaussian one).
    center, scale
        ``c`` and ``s``: the severity targets become ``(log y − c) / s`` for converters.

    Returns
    -------
    BCFProblem
        Every other field is ``problem``'s.
    """
    if problem.family is not MetricFamily.HURDLE:
        raise ValueError(f"fix_standardisation needs a hurdle problem, got {problem.family}")
    converted = data.y > 0
    log_y = np.log(np.where(converted, data.y, 1.0))
    targets = problem.targets.copy()
    targets[1] = np.where(converted, (log_y - center) / scale, 0.0)
    return dataclasses.replace(
        problem,
        targets=targets,
        offset=np.asarray(offset, np.float64).copy(),
        outcome_center=float(center),
        outcome_scale=float(scale),
    )


def replicate_truth(problem: HurdlePriorProblem, replicate: PriorReplicate) -> np.ndarray:
    """True quantities of a replicate, in the order of ``quantity_names`` (float64)."""
    draw = replicate.draw
    fit = draw.fit[None]  # (1, C, n, K)
    sigma2 = np.asarray(draw.sites.get("sigma2", 0.0), np.float64).reshape(1)
    weights = _quantity_weights(replicate.data, problem.num_probes).astype(np.float64)
    parts = []
    channels = ((Metric.REVENUE_PER_VISITOR, weights), (Metric.CONVERSION_RATE, weights[:1]))
    for metric, rows in channels:
        values = hurdle_metric(
            metric,
            fit[:, 0],
            fit[:, 1],
            sigma2[:, None, None],
            problem.spend_center,
            problem.spend_scale,
        )[0]  # (n, K)
        effect = values[:, 1:] - values[:, :1]
        parts.append((rows @ effect).reshape(-1))
    for name, _ in problem.site_shapes:
        parts.append(np.asarray(draw.sites[name], np.float64).reshape(-1))
    truth = np.concatenate(parts)
    with np.errstate(over="ignore"):
        finite = np.isfinite(truth.astype(np.float32))
    if not finite.all():
        # the sampler works in float32: its draws of the same functional overflow too, so the
        # rank would be meaningless; redrawing the replicate would truncate the prior instead
        all_names = problem.quantity_names(len(replicate.data.y))
        names = [name for name, ok in zip(all_names, finite, strict=True) if not ok]
        raise FloatingPointError(
            f"a prior draw's true {names} overflow float32 (sigma2 = {float(sigma2[0]):.4g}, "
            f"spend_scale = {problem.spend_scale:g}): lower [model.params] spend_scale "
            "(see HurdlePriorProblem)"
        )
    return truth


# ------------------------------------------------------------------ helpers
def _draw_design(
    problem: HurdlePriorProblem,
    rng: np.random.Generator,
    n: int,
    assignment_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, p + 1)`` covariates (continuous, then the flag) and complete randomisation."""
    continuous = rng.normal(size=(n, problem.num_covariates))
    flag = rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    assignment_rng = rng if assignment_rng is None else assignment_rng
    arm_index = assignment_rng.permutation(np.arange(n) % problem.num_arms).astype(np.int32)
    return np.concatenate([continuous, flag], axis=1), arm_index


def _prior_trace(model: Any, design: BCFProblem, seed: int) -> tuple[dict[str, np.ndarray], Any]:
    """The model's latent sites and returned variances under a prior (``stats=None``) run."""
    with handlers.trace() as trace, handlers.seed(rng_seed=seed):
        variances = model(design, None)
    sites = {
        name: np.asarray(site["value"], np.float64)
        for name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    return sites, variances


def _round_data(
    problem: HurdlePriorProblem, covariates: np.ndarray, arm_index: np.ndarray, revenue: np.ndarray
) -> RoundData:
    frame = pd.DataFrame(covariates, columns=list(problem.covariate_names))
    frame[ARM_COLUMN] = np.asarray(problem.arms, dtype=object)[arm_index]
    frame[OUTCOME] = revenue
    return RoundData.from_frame(
        frame,
        arms=problem.arms,
        outcome=OUTCOME,
        arm=ARM_COLUMN,
        covariates=problem.covariate_names,
        family=_FAMILY,
    )


def _check_prior_fields(fitted: BCFProblem, design: BCFProblem) -> None:
    """The fit's prior-relevant fields must be those the prior was drawn with."""
    same = (
        np.array_equal(fitted.covariates, design.covariates)
        and np.allclose(fitted.propensity, design.propensity, rtol=0, atol=1e-12)
        and np.array_equal(fitted.arm_index, design.arm_index)
        and np.array_equal(fitted.offset, design.offset)
        and fitted.outcome_center == design.outcome_center
        and fitted.outcome_scale == design.outcome_scale
        and np.array_equal(fitted.mu_total_sd, design.mu_total_sd)
        and np.array_equal(fitted.tau_total_sd, design.tau_total_sd)
        and (fitted.num_mu_trees, fitted.num_tau_trees, fitted.is_probit, fitted.categorical)
        == (design.num_mu_trees, design.num_tau_trees, design.is_probit, design.categorical)
    )
    if not same:
        raise RuntimeError("the fit's problem differs from the design the prior was drawn on")


def _check_bins(run: Any, draw: PriorDraw) -> None:
    """The fit bins the covariates exactly as the simulated trees were drawn on."""
    data = run.arrays.data
    if not (
        np.array_equal(np.asarray(data["mu_bins"].bins), draw.mu_bins)
        and np.array_equal(np.asarray(data["tau_bins"].bins), draw.tau_bins)
    ):
        raise RuntimeError("the fit's binning differs from the one the prior trees were drawn on")


def _quantity_weights(data: RoundData, num_probes: int) -> np.ndarray:
    """``(3 + P, n)`` float32 averaging weights: everyone, ``flag = 0``, ``flag = 1``, probes."""
    n = data.n_visitors
    flag = data.X[:, -1]
    rows = [np.full(n, 1.0 / n)]
    for value in (0.0, 1.0):
        members = flag == value
        if not members.any():
            raise ValueError(f"no visitor has {FLAG} = {value:g} in a replicate of n = {n}")
        rows.append(members / members.sum())
    rows += [np.eye(1, n, j)[0] for j in range(num_probes)]
    return np.asarray(rows, np.float32)


# ------------------------------------------------------------------ spec -> problem
def hurdle_prior_problem(spec: Any) -> HurdlePriorProblem:
    """Build the problem from a validated `SweepSpec` (the registered factory).

    ``[dgp] kind = "prior_predictive"``. ``[model.params]``: ``num_arms`` (required),
    ``num_covariates`` (default 3), ``model`` (default the default model), ``num_probes``
    (default 1), ``conversion_rate`` (default 0.3), ``spend_center`` (3.0),
    ``spend_scale`` (0.5, see `HurdlePriorProblem`). ``[fit]``: any `BCFConfig` field
    except ``num_chains``, ``chain_method`` and ``store_forests``.
    """
    if spec.dgp.kind != "prior_predictive":
        raise ValueError(
            f"model {MODEL_NAME!r} simulates from the model's own prior: set [dgp] "
            f"kind = 'prior_predictive', got {spec.dgp.kind!r}"
        )
    params = dict(spec.model_params)
    unknown = sorted(set(params) - _MODEL_KEYS)
    if unknown:
        raise ValueError(
            f"[model.params] has unknown keys {unknown}; allowed: {sorted(_MODEL_KEYS)}"
        )
    if "num_arms" not in params:
        raise ValueError("[model.params] num_arms (arms including control) is required")
    fit = dict(spec.fit_params)
    unknown = sorted(set(fit) - _FIT_KEYS)
    if unknown:
        raise ValueError(f"[fit] has unknown keys {unknown}; allowed: {sorted(_FIT_KEYS)}")
    try:
        config = BCFConfig(**fit, num_chains=1, store_forests=False)
    except ValueError as error:
        raise ValueError(f"[fit] {error}") from None
    return HurdlePriorProblem(
        num_arms=params["num_arms"],
        num_covariates=params.get("num_covariates", 3),
        model=str(params.get("model", DEFAULT_MODEL)),
        config=config,
        conversion_rate=params.get("conversion_rate", 0.3),
        spend_center=params.get("spend_center", 3.0),
        spend_scale=params.get("spend_scale", 0.5),
        num_probes=params.get("num_probes", 1),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


register_sbc_problem(MODEL_NAME, hurdle_prior_problem)
