"""`BCFKernel`: the NumPyro ``MCMCKernel`` that runs a (joint hurdle) Bayesian Causal Forest.

One iteration (Hahn, Murray & Carvalho 2020 for BCF; Albert & Chib 1993 for probit):

1. Albert–Chib: on each probit channel draw ``z_i ~ N(f(x_i, a_i), 1)`` truncated to
   ``z_i > 0`` for converters and ``z_i < 0`` otherwise.
2. One grow/prune backfitting sweep of the prognostic forest μ (covariates + propensities,
   scalar leaves) and one of the treatment forest τ (covariates, leaf vectors over the
   K − 1 active arms), by :func:`pytyche.forest.sweep.sweep`. Arm ``a``'s fit is
   ``offset + μ(x) + τ(x)ᵀ(e_a − c)`` with ``e_0 = 0``: under the default centred coding
   ``c`` is the mean propensity of the active arms, so μ is the arm-averaged level and
   is nearly orthogonal to τ on a randomised round (the back-fitting of a one-hot basis,
   ``c = 0``, lets μ absorb part of every heterogeneous effect and hand it back slowly);
   ``τ_a(x)`` is arm ``a``'s effect over control under either coding. With
   ``pooling="joint"`` each forest has one tree structure shared by all channels (a move
   is accepted on the product of the channels' integrated likelihoods); with
   ``"independent"`` every channel has its own forests.
   With ``config.num_gfr > 0`` the first ``num_gfr`` (warmup) iterations regrow every tree
   from its root instead (:func:`pytyche.forest.gfr.grow_from_root`, XBART's warm start).
   After each forest's sweep its trees' levels are redrawn given their sum
   (:func:`pytyche.forest.shift.shift_tree_means`, exact; the fit is unchanged): the data see
   only the sum, and root-only trees otherwise drift far from their prior at large ``n``.
3. The model's scalar sites (see :mod:`pytyche.models.bcf`) given the forests: conjugate
   inverse-gamma Gibbs where the traced model allows it, random-walk Metropolis on the
   model's potential otherwise (:mod:`pytyche.inference.sites`).

The state is a NamedTuple with ``rng_key``; the large arrays (forests, leaf indices,
residuals) stay in the state and are not collected. Per draw, NumPyro collects the
requested fields only: ``z`` (scalar sites) and ``fit`` (every channel's fit at every
training visitor under every arm) by default, ``mu_trees``/``tau_trees`` (compact trees)
and ``info`` (move acceptance, depth, leaves) when asked with ``extra_fields``.

With ``chain_method="vectorized"`` NumPyro hands :meth:`BCFKernel.init` a batch of keys; the
kernel then ``vmap``s its own init and step, so chains give the same draws whether run
vectorised or one after the other with the same keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri
from numpyro.infer.initialization import init_to_median
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import initialize_model

from pytyche.forest.binning import BinSpec, bin_covariates, fit_bins
from pytyche.forest.gfr import grow_from_root
from pytyche.forest.predict import arm_contributions, forest_fit
from pytyche.forest.shift import shift_tree_means
from pytyche.forest.sweep import SweepInfo, TreePrior, sweep
from pytyche.forest.trees import (
    BinnedCovariates,
    ForestState,
    Trees,
    init_forest,
    is_leaf,
    num_leaves,
    tree_depth,
)
from pytyche.inference.config import BCFConfig
from pytyche.inference.expansion import ScaleMoveInputs, probit_scale_move, scale_move
from pytyche.inference.levels import LevelPrior, level_move, level_widths, probit_information
from pytyche.inference.sites import (
    SiteLayout,
    inspect_model,
    log_joint,
    model_variances,
    normal_prior_variance,
    update_sites,
)
from pytyche.models.bcf import bcf_model
from pytyche.models.likelihood import ForestStats, ForestVariances
from pytyche.models.problem import BCFProblem

__all__ = ["BCFInfo", "BCFKernel", "BCFState", "CompactTrees"]

INITIAL_LOG_STEP = float(np.log(0.3))


class CompactTrees(NamedTuple):
    """Trees of one forest as stored per draw.

    Attributes
    ----------
    split_var
        ``(G, trees, S)`` uint8/uint16 split covariates (``G`` channel groups: 1 for joint
        pooling, ``C`` for independent).
    split_bin
        ``(G, trees, S)`` uint8 split bins.
    leaf_value
        ``(G, trees, S, C / G, basis)`` float32 leaf values.
    """

    split_var: jax.Array
    split_bin: jax.Array
    leaf_value: jax.Array

    def to_trees(self) -> Trees:
        """The engine's `Trees` (int32 split arrays)."""
        return Trees(
            self.split_var.astype(jnp.int32), self.split_bin.astype(jnp.int32), self.leaf_value
        )


class BCFInfo(NamedTuple):
    """Per-iteration diagnostics (scalars per chain)."""

    mu_grow_acceptance: jax.Array
    mu_prune_acceptance: jax.Array
    tau_grow_acceptance: jax.Array
    tau_prune_acceptance: jax.Array
    mu_mean_depth: jax.Array
    tau_mean_depth: jax.Array
    mu_mean_leaves: jax.Array
    tau_mean_leaves: jax.Array
    scalar_acceptance: jax.Array


class BCFState(NamedTuple):
    """State of one chain (a leading chain axis on every field when vectorised).

    Attributes
    ----------
    z
        Constrained values of the model's scalar sites (the sample field).
    fit
        ``(C, n, K)`` float32 channel fit ``offset + μ + τ_a`` (model units) at every
        training visitor under every arm.
    mu_trees, tau_trees
        `CompactTrees` of the current forests (collected per draw on request).
    info
        `BCFInfo` of the last iteration.
    mu_forest, tau_forest
        Forest states with a leading group axis ``G``.
    targets, residuals, mu_fit
        ``(C, n)`` channel targets (latents on probit channels), targets minus the full
        fit, and the prognostic fit. On a channel the sweeps read at some rows only (the
        severity channel: converters) the other rows of ``residuals`` and ``mu_fit`` are
        stale; ``fit`` fills them by prediction.
    variances
        The model's `ForestVariances` at ``z``.
    log_steps
        Log random-walk step size of each Metropolis site.
    iteration
        Iterations done.
    rng_key
        PRNG key.
    """

    z: dict
    fit: jax.Array
    mu_trees: CompactTrees
    tau_trees: CompactTrees
    info: BCFInfo
    mu_forest: ForestState
    tau_forest: ForestState
    targets: jax.Array
    residuals: jax.Array
    mu_fit: jax.Array
    variances: ForestVariances
    log_steps: dict
    iteration: jax.Array
    rng_key: jax.Array


class PreparedData(NamedTuple):
    """Binned covariates and channel arrays of one problem (shared by all chains)."""

    mu_bins: BinnedCovariates
    tau_bins: BinnedCovariates
    mu_spec: BinSpec
    tau_spec: BinSpec
    basis: jax.Array
    center: jax.Array
    arm: jax.Array
    mu_rows: tuple[jax.Array | None, ...]
    tau_rows: tuple[jax.Array | None, ...]
    weights: jax.Array | None
    converted: jax.Array
    targets: jax.Array
    offset: jax.Array
    is_probit: jax.Array
    level_widths: jax.Array | None
    probit_information: jax.Array | None
    intercept_prior_var: jax.Array | None
    layout: SiteLayout
    supports: dict
    init_values: dict


def channel_rows(mask: np.ndarray, buckets: int = 16) -> np.ndarray | None:
    """The rows where ``mask`` ``(n,)`` holds, padded with ``n``; None when it holds everywhere.

    The length is rounded up to a multiple of ``⌈n / buckets⌉`` so that datasets of the same
    size usually share shapes (and so the compiled program).
    """
    n = mask.shape[0]
    rows = np.flatnonzero(mask).astype(np.int32)
    if rows.size == n:
        return None
    quantum = max(1, -(-n // buckets))
    capacity = min(n, max(quantum, -(-rows.size // quantum) * quantum))
    return np.concatenate([rows, np.full(capacity - rows.size, n, np.int32)])


def pad_rows(rows: list[np.ndarray | None], n: int) -> list[np.ndarray | None]:
    """Pad one channel's rows of several datasets (same ``n``) to a common length."""
    if any(r is None for r in rows):
        if not all(r is None for r in rows):
            raise ValueError("datasets differ in which channels cover every visitor")
        return rows
    length = max(r.size for r in rows)
    return [np.concatenate([r, np.full(length - r.size, n, np.int32)]) for r in rows]


def treatment_center(problem: BCFProblem, config: BCFConfig) -> np.ndarray:
    """``(K − 1,)`` the vector subtracted from the one-hot arm basis of the treatment forest.

    The training-mean propensities of the active arms under ``treatment_coding="centered"``
    (a design quantity: it does not depend on the outcomes), zeros under ``"indicator"``.
    """
    if config.treatment_coding == "indicator":
        return np.zeros(problem.num_arms - 1)
    return np.asarray(problem.propensity, np.float64).mean(axis=0)


def prepare_data(model: Callable, problem: BCFProblem, config: BCFConfig) -> PreparedData:
    """Bin covariates, build channel arrays and classify the model's sites (NumPy side)."""
    categorical = list(problem.categorical)
    mu_spec = fit_bins(
        problem.prognostic_covariates, max_cuts=config.max_cuts_mu, categorical=categorical
    )
    tau_spec = fit_bins(problem.covariates, max_cuts=config.max_cuts_tau, categorical=categorical)
    mu_bins = BinnedCovariates(
        jnp.asarray(bin_covariates(mu_spec, problem.prognostic_covariates)),
        jnp.asarray(mu_spec.num_cuts),
    )
    tau_bins = BinnedCovariates(
        jnp.asarray(bin_covariates(tau_spec, problem.covariates)), jnp.asarray(tau_spec.num_cuts)
    )
    arms = problem.arm_index
    center = treatment_center(problem, config)
    basis = (arms[:, None] == np.arange(1, problem.num_arms)[None, :]) - center
    weights = None if np.all(problem.weights == 1) else jnp.asarray(problem.weights, jnp.float32)
    # The sweeps read a channel only where it is informed: where the weight is positive,
    # and for τ under the indicator coding only at treated visitors (control has the zero
    # basis vector there). Channel weights are masks, so these rows carry them whole.
    if not np.all((problem.weights == 0) | (problem.weights == 1)):
        raise ValueError("problem.weights must be 0/1 channel masks")
    observed = problem.weights > 0
    mu_rows = tuple(channel_rows(mask) for mask in observed)
    treated = arms > 0 if config.treatment_coding == "indicator" else True
    tau_rows = tuple(channel_rows(mask & treated) for mask in observed)
    model_info = initialize_model(
        jax.random.PRNGKey(0),
        model,
        model_args=(problem, ForestStats.for_tracing(problem.num_channels)),
        init_strategy=init_to_median(num_samples=101),
    )
    trace = model_info.model_trace
    init_values = {
        name: jnp.asarray(site["value"])
        for name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    layout = inspect_model(model, problem, init_values)
    supports = {name: trace[name]["fn"].support for name in layout.metropolis}
    intercept_var = None
    if layout.tau_intercept is not None:
        intercept_var = normal_prior_variance(
            trace[layout.tau_intercept], (problem.num_channels, problem.num_arms - 1)
        )
        init_values[layout.tau_intercept] = jnp.zeros_like(init_values[layout.tau_intercept])
    widths = information = None
    if problem.is_probit[0]:
        # The level move's directions: μ's level, then each active arm's treatment level.
        directions = np.vstack([np.ones((1, arms.size)), basis.T])
        observed_rate = np.sum(problem.weights[0] * problem.targets[0]) / np.sum(problem.weights[0])
        widths = level_widths(directions, problem.weights[0], observed_rate)
        information = probit_information(observed_rate)
    return PreparedData(
        mu_bins=mu_bins,
        tau_bins=tau_bins,
        mu_spec=mu_spec,
        tau_spec=tau_spec,
        basis=jnp.asarray(basis, jnp.float32),
        center=jnp.asarray(center, jnp.float32),
        arm=jnp.asarray(arms, jnp.int32),
        mu_rows=tuple(None if r is None else jnp.asarray(r) for r in mu_rows),
        tau_rows=tuple(None if r is None else jnp.asarray(r) for r in tau_rows),
        weights=weights,
        converted=jnp.asarray(problem.targets[0] > 0) if problem.is_probit[0] else None,
        targets=jnp.asarray(problem.targets, jnp.float32),
        offset=jnp.asarray(problem.offset, jnp.float32),
        is_probit=jnp.asarray(problem.is_probit),
        level_widths=None if widths is None else jnp.asarray(widths, jnp.float32),
        probit_information=None if information is None else jnp.float32(information),
        intercept_prior_var=intercept_var,
        layout=layout,
        supports=supports,
        init_values=init_values,
    )


def _is_key_batch(key: jax.Array) -> bool:
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return key.ndim > (0 if typed else 1)


def _compact(forest: ForestState, var_dtype: np.dtype) -> CompactTrees:
    trees = forest.trees
    return CompactTrees(
        trees.split_var.astype(var_dtype), trees.split_bin.astype(jnp.uint8), trees.leaf_value
    )


def _sweep_info(info: SweepInfo, forest: ForestState) -> tuple[jax.Array, ...]:
    grow = info.proposed_grow
    grow_rate = jnp.sum(info.accepted & grow) / jnp.maximum(jnp.sum(grow), 1)
    prune_rate = jnp.sum(info.accepted & ~grow) / jnp.maximum(jnp.sum(~grow), 1)
    split_bin = forest.trees.split_bin
    return (
        grow_rate,
        prune_rate,
        jnp.mean(tree_depth(split_bin).astype(jnp.float32)),
        jnp.mean(num_leaves(split_bin).astype(jnp.float32)),
    )


def _leaf_stats(forest: ForestState) -> tuple[jax.Array, jax.Array]:
    """Per channel ``(Σ leaf value², number of leaf components)``, each ``(C,)``."""
    values = forest.trees.leaf_value  # (G, T, S, Cg, B)
    leaf = is_leaf(forest.trees.split_bin)[..., None, None]
    sum_sq = jnp.sum(jnp.where(leaf, values**2, 0.0), axis=(1, 2, 4)).reshape(-1)
    count = jnp.sum(leaf, axis=(1, 2, 4)) * values.shape[-1]
    count = jnp.broadcast_to(count, values.shape[0:1] + values.shape[3:4]).reshape(-1)
    return sum_sq, count.astype(sum_sq.dtype)


def _tau_per_arm(forest: ForestState) -> jax.Array:
    """``(C, n, K − 1)`` the treatment forest's value for every arm at every visitor."""

    def one_group(leaf_value: jax.Array, leaf_index: jax.Array) -> jax.Array:
        def add(total: jax.Array, tree: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
            value, index = tree
            return total + value[index], None

        n = leaf_index.shape[-1]
        init = jnp.zeros((n, *leaf_value.shape[-2:]), leaf_value.dtype)
        total, _ = jax.lax.scan(add, init, (leaf_value, leaf_index))
        return total  # (n, Cg, B)

    per_group = jax.vmap(one_group)(forest.trees.leaf_value, forest.leaf_index)
    groups, n, cg, b = per_group.shape
    return per_group.transpose(0, 2, 1, 3).reshape(groups * cg, n, b)


def _shift_means(key: jax.Array, forest: ForestState, leaf_var: jax.Array) -> ForestState:
    """`shift_tree_means` on every channel group of a forest (the fit is unchanged)."""
    values = forest.trees.leaf_value  # (G, T, S, Cg, B)
    groups, per_group, basis_dim = values.shape[0], values.shape[3], values.shape[4]
    leaf_var = jnp.broadcast_to(
        jnp.asarray(leaf_var).reshape(groups * per_group, -1), (groups * per_group, basis_dim)
    ).reshape(groups, per_group, -1)
    trees = jax.vmap(shift_tree_means)(jax.random.split(key, groups), forest.trees, leaf_var)
    return forest._replace(trees=trees)


def _channel_fit(forest: ForestState, channels: list[int]) -> jax.Array:
    """``(len(channels), n)`` a scalar-leaf forest's fit on the given channels."""
    per_group = forest.trees.leaf_value.shape[3]
    fits = []
    for c in channels:
        group, j = divmod(c, per_group)
        trees = jax.tree.map(lambda a, group=group: a[group], forest.trees)
        trees = trees._replace(leaf_value=trees.leaf_value[:, :, j : j + 1])
        fits.append(forest_fit(trees, forest.leaf_index[group])[0])
    return jnp.stack(fits)


def _one_sided_normal(key: jax.Array, mean: jax.Array, positive: jax.Array) -> jax.Array:
    """``e ~ N(0, 1)`` truncated to ``mean + e > 0`` where ``positive``, else ``< 0``.

    Inverse-CDF sampling in the tail that is kept (``e = −Φ⁻¹(u Φ(mean))`` above the bound,
    ``e = Φ⁻¹(u Φ(−mean))`` below it), which stays finite in float32 for bounds up to
    8 standard deviations away; farther bounds (a degenerate fit) are clamped to the bound.
    """
    bound = jnp.clip(-mean, -8.0, 8.0)
    # u ≥ 1e-12 keeps u·Φ(−8) a normal float32 (the excluded mass is 1e-12).
    u = jax.random.uniform(key, mean.shape, mean.dtype, minval=1e-12)
    above = -ndtri(u * ndtr(-bound))  # e > bound
    below = ndtri(u * ndtr(bound))  # e < bound
    return jnp.where(positive, jnp.maximum(above, -mean), jnp.minimum(below, -mean))


class BCFKernel(MCMCKernel):
    """NumPyro kernel for BCF with outcome channels (see the module docstring).

    Parameters
    ----------
    model
        Model function ``model(problem, stats=None) -> ForestVariances``
        (default :func:`pytyche.models.bcf.bcf_model`).
    config
        Forest sizes, tree priors, pooling and MCMC details (its MCMC lengths are used by
        :func:`pytyche.inference.fit`, not here).

    Examples
    --------
    >>> mcmc = numpyro.infer.MCMC(BCFKernel(bcf_model), num_warmup=200, num_samples=200)
    >>> mcmc.run(jax.random.PRNGKey(0), make_problem(data))  # doctest: +SKIP
    """

    sample_field = "z"

    def __init__(self, model: Callable = bcf_model, config: BCFConfig | None = None) -> None:
        config = BCFConfig() if config is None else config
        if not callable(model):
            raise TypeError(f"model must be a model function, got {type(model).__name__}")
        if not isinstance(config, BCFConfig):
            raise TypeError(f"config must be a BCFConfig, got {type(config).__name__}")
        self.model = model
        self.config = config
        self._num_warmup = 0
        self._prepared: tuple[BCFProblem, PreparedData] | None = None

    @property
    def default_fields(self) -> tuple[str, ...]:
        return ("z", "fit")

    def prepared(self, problem: BCFProblem) -> PreparedData:
        """Prepared arrays of ``problem`` (computed once per problem)."""
        if not isinstance(problem, BCFProblem):
            raise TypeError(
                f"the model argument must be a BCFProblem, got {type(problem).__name__}"
            )
        if self._prepared is None or self._prepared[0] is not problem:
            self._prepared = (problem, prepare_data(self.model, problem, self.config))
        return self._prepared[1]

    def _num_groups(self, problem: BCFProblem) -> int:
        return problem.num_channels if self.config.pooling == "independent" else 1

    # ----------------------------------------------------------------- init
    def init(
        self,
        rng_key: jax.Array,
        num_warmup: int,
        init_params: Any,
        model_args: tuple,
        model_kwargs: dict,
    ) -> BCFState:
        problem = model_args[0]
        data = self.prepared(problem)
        self._num_warmup = int(num_warmup)
        if _is_key_batch(rng_key):
            return jax.vmap(lambda key: self._init_one(key, problem, data))(rng_key)
        return self._init_one(rng_key, problem, data)

    def _init_one(self, rng_key: jax.Array, problem: BCFProblem, data: PreparedData) -> BCFState:
        cfg = self.config
        groups = self._num_groups(problem)
        per_group = problem.num_channels // groups
        n = problem.num_visitors

        def stacked(num_trees: int, basis_dim: int) -> ForestState:
            forest = init_forest(
                num_trees,
                n,
                max_depth=cfg.max_depth,
                num_channels=per_group,
                basis_dim=basis_dim,
            )
            return jax.tree.map(lambda x: jnp.broadcast_to(x, (groups, *x.shape)), forest)

        mu_forest = stacked(cfg.num_mu_trees, 1)
        tau_forest = stacked(cfg.num_tau_trees, problem.num_arms - 1)
        offset = data.offset[:, None]
        targets = jnp.where(data.is_probit[:, None], offset, data.targets)
        residuals = targets - offset
        if data.weights is not None:
            residuals = residuals * data.weights
        z = dict(data.init_values)
        stats = ForestStats.for_tracing(problem.num_channels)
        variances = model_variances(self.model, problem, stats, z)
        fit = jnp.broadcast_to(offset[:, :, None], (problem.num_channels, n, problem.num_arms))
        var_dtype = np.uint8 if data.mu_bins.bins.shape[0] <= 256 else np.uint16
        zero = jnp.zeros(())
        return BCFState(
            z=z,
            fit=fit.astype(jnp.float32),
            mu_trees=_compact(mu_forest, var_dtype),
            tau_trees=_compact(tau_forest, var_dtype),
            info=BCFInfo(*([zero] * len(BCFInfo._fields))),
            mu_forest=mu_forest,
            tau_forest=tau_forest,
            targets=targets,
            residuals=residuals,
            mu_fit=jnp.zeros_like(residuals),
            variances=variances,
            log_steps={
                name: jnp.asarray(INITIAL_LOG_STEP, jnp.float32) for name in data.layout.metropolis
            },
            iteration=jnp.zeros((), jnp.int32),
            rng_key=rng_key,
        )

    # --------------------------------------------------------------- sample
    def sample(self, state: BCFState, model_args: tuple, model_kwargs: dict) -> BCFState:
        problem = model_args[0]
        data = self.prepared(problem)
        if state.iteration.ndim == 1:
            return jax.vmap(lambda s: self._step(s, problem, data))(state)
        return self._step(state, problem, data)

    def _step(self, state: BCFState, problem: BCFProblem, data: PreparedData) -> BCFState:
        cfg = self.config
        key, key_latent, key_mu, key_tau, key_scale, key_sites = jax.random.split(state.rng_key, 6)
        marginal = cfg.marginal_probit_moves and data.level_widths is not None
        scale_site = data.layout.tau_scale if cfg.expand_tau_scale else None
        if marginal:
            state = self._level_move(jax.random.fold_in(key_latent, 1), state, data)
            if scale_site is not None:
                state = self._probit_scale_move(
                    jax.random.fold_in(key_latent, 2), problem, data, state
                )
        targets, residuals = self._update_latents(key_latent, state, data)
        variances = state.variances
        before = residuals
        # The first num_gfr iterations (all within warmup) regrow the forests from the root.
        grow = None
        if cfg.num_gfr > 0:
            grow = state.iteration < min(cfg.num_gfr, self._num_warmup)
        mu_forest, residuals, mu_info = self._update_forest(
            grow,
            key_mu,
            state.mu_forest,
            data.mu_bins,
            residuals,
            data,
            variances.noise_var,
            variances.mu_leaf_var,
            TreePrior(cfg.alpha_mu, cfg.beta_mu, cfg.min_leaf_count),
            False,
        )
        mu_fit = state.mu_fit + (before - residuals)
        if cfg.shift_tree_means:
            mu_forest = _shift_means(
                jax.random.fold_in(key_mu, 1), mu_forest, variances.mu_leaf_var
            )
        tau_forest, residuals, tau_info = self._update_forest(
            grow,
            key_tau,
            state.tau_forest,
            data.tau_bins,
            residuals,
            data,
            variances.noise_var,
            variances.tau_leaf_var,
            TreePrior(cfg.alpha_tau, cfg.beta_tau, cfg.min_leaf_count),
            True,
        )
        z = state.z
        intercept_site = data.layout.tau_intercept
        if intercept_site is not None:
            z, residuals = self._intercept_update(
                jax.random.fold_in(key_tau, 2), z, residuals, data, variances.noise_var
            )
        if cfg.shift_tree_means:
            # The intercept stays out of the shift: taking part, it would hand the trees a
            # share of the average effect (in proportion to the prior variances), which the
            # data pin, and the scale move (which scales the trees) would then stall
            # (measured: ATE bulk ESS 5 of 800 against 482 on a small Gaussian problem).
            tau_forest = _shift_means(
                jax.random.fold_in(key_tau, 1), tau_forest, variances.tau_leaf_var
            )
        stats = self._stats(mu_forest, tau_forest, residuals, data)
        if scale_site is not None:
            z, stats, tau_forest, residuals = self._scale_move(
                key_scale,
                problem,
                data,
                z,
                stats,
                tau_forest,
                targets,
                mu_fit,
                residuals,
                variances.noise_var,
                skip=(0,) if marginal else (),
            )
        adapt_weight = jnp.where(
            state.iteration < self._num_warmup, (state.iteration + 1.0) ** -0.6, 0.0
        )
        z, log_steps, scalar_acceptance = update_sites(
            key_sites,
            self.model,
            problem,
            data.layout,
            data.supports,
            stats,
            z,
            state.log_steps,
            adapt_weight,
            cfg.num_scalar_mh_steps,
        )
        variances = model_variances(self.model, problem, stats, z)
        keep = state.iteration >= self._num_warmup - 1
        fit = jax.lax.cond(
            keep,
            lambda: self._fit_per_arm(mu_fit, mu_forest, tau_forest, data, z),
            lambda: state.fit,
        )
        mu_grow, mu_prune, mu_depth, mu_leaves = _sweep_info(mu_info, mu_forest)
        tau_grow, tau_prune, tau_depth, tau_leaves = _sweep_info(tau_info, tau_forest)
        info = BCFInfo(
            mu_grow,
            mu_prune,
            tau_grow,
            tau_prune,
            mu_depth,
            tau_depth,
            mu_leaves,
            tau_leaves,
            scalar_acceptance,
        )
        var_dtype = state.mu_trees.split_var.dtype
        return BCFState(
            z=z,
            fit=fit,
            mu_trees=_compact(mu_forest, var_dtype),
            tau_trees=_compact(tau_forest, var_dtype),
            info=info,
            mu_forest=mu_forest,
            tau_forest=tau_forest,
            targets=targets,
            residuals=residuals,
            mu_fit=mu_fit,
            variances=variances,
            log_steps=log_steps,
            iteration=state.iteration + 1,
            rng_key=key,
        )

    def _scale_move(
        self,
        key: jax.Array,
        problem: BCFProblem,
        data: PreparedData,
        z: dict,
        stats: ForestStats,
        tau_forest: ForestState,
        targets: jax.Array,
        mu_fit: jax.Array,
        residuals: jax.Array,
        noise_var: jax.Array,
        skip: tuple[int, ...] = (),
    ) -> tuple[dict, ForestStats, ForestState, jax.Array]:
        """The parameter-expanded scale move (:mod:`pytyche.inference.expansion`).

        Channels in ``skip`` (a probit channel already moved with its latents integrated
        out, `_probit_scale_move`) keep their scale.
        """
        weights = jnp.ones_like(residuals) if data.weights is None else data.weights
        # The forest's τ at the observed arm, from the sweeps' invariant
        # residual = target − offset − μ − τ − intercept
        tau = weights * (targets - data.offset[:, None] - mu_fit - residuals)
        tau = tau - weights * self._intercept_term(z, data)
        gaussian = np.zeros(problem.num_channels, bool)
        if problem.gaussian_channel is not None:
            gaussian[problem.gaussian_channel] = True
        inputs = ScaleMoveInputs(
            residual_sq=stats.residual_sum_sq,
            residual_tau=jnp.sum(residuals * tau, axis=1),  # τ is 0 where a channel is unread
            tau_sq=jnp.sum(tau**2, axis=1),
            noise_var=noise_var,
            in_model=jnp.asarray(gaussian),
        )
        z, stats, factors = scale_move(
            key,
            lambda values, moved: log_joint(self.model, problem, moved, values),
            data.layout.tau_scale,
            z,
            stats,
            inputs,
            jnp.asarray(problem.tau_total_sd, residuals.dtype),
            skip=skip,
        )
        groups, per_group = (
            tau_forest.trees.leaf_value.shape[0],
            tau_forest.trees.leaf_value.shape[3],
        )
        factor = factors.reshape(groups, 1, 1, per_group, 1).astype(
            tau_forest.trees.leaf_value.dtype
        )
        trees = tau_forest.trees._replace(leaf_value=tau_forest.trees.leaf_value * factor)
        residuals = residuals + (1.0 - factors)[:, None] * tau
        return z, stats, tau_forest._replace(trees=trees), residuals

    def _level_move(self, key: jax.Array, state: BCFState, data: PreparedData) -> BCFState:
        """Channel 0's (probit) forest levels from their marginal conditional.

        :mod:`pytyche.inference.levels`; the latents it leaves stale are redrawn next.
        """
        weight = jnp.ones_like(state.residuals[0]) if data.weights is None else data.weights[0]
        fit = state.targets[0] - state.residuals[0]  # residual = target − fit, read rows only
        prior = []
        site = data.layout.tau_intercept
        forests = [(state.mu_forest, state.variances.mu_leaf_var)]
        if site is None:
            forests.append((state.tau_forest, state.variances.tau_leaf_var))
        for forest, leaf_var in forests:
            values = forest.trees.leaf_value[0, :, :, 0]  # channel 0: group 0, slot 0
            leaf = is_leaf(forest.trees.split_bin[0])[..., None]
            num_trees = values.shape[0]
            var = jnp.broadcast_to(
                jnp.asarray(leaf_var).reshape(data.targets.shape[0], -1)[0], values.shape[-1:]
            )
            total = jnp.sum(jnp.where(leaf, values, 0.0), axis=(0, 1))  # (B,)
            count = jnp.sum(leaf).astype(values.dtype)
            prior.append((total / (num_trees * var), count / (num_trees**2 * var)))
        if site is not None:  # each arm's level is its average effect, prior N(0, V₀)
            var = data.intercept_prior_var[0]
            prior.append((state.z[site][0] / var, 1.0 / var))
        directions = jnp.concatenate([weight[None], data.basis.T * weight])
        deltas, moved = level_move(
            key,
            fit,
            data.converted,
            weight,
            directions,
            LevelPrior(
                jnp.concatenate([prior[0][0], prior[1][0]]),
                jnp.concatenate([prior[0][1], prior[1][1]]),
            ),
            data.level_widths,
        )

        def shifted(forest: ForestState, delta: jax.Array) -> ForestState:
            trees = forest.trees
            num_trees = trees.leaf_value.shape[1]
            leaf = is_leaf(trees.split_bin[0])[..., None]
            values = trees.leaf_value[0, :, :, 0]
            values = values + jnp.where(leaf, delta / num_trees, 0.0)
            trees = trees._replace(leaf_value=trees.leaf_value.at[0, :, :, 0].set(values))
            return forest._replace(trees=trees)

        if site is None:
            tau_forest, z = shifted(state.tau_forest, deltas[1:]), state.z
        else:
            tau_forest = state.tau_forest
            z = {**state.z, site: state.z[site].at[0].add(deltas[1:])}
        return state._replace(
            z=z,
            mu_forest=shifted(state.mu_forest, deltas[:1]),
            tau_forest=tau_forest,
            residuals=state.residuals.at[0].add(weight * (fit - moved)),
            mu_fit=state.mu_fit.at[0].add(deltas[0]),
        )

    @staticmethod
    def _intercept_term(z: dict, data: PreparedData) -> jax.Array:
        """``(C, n)`` the arms' average effects at every visitor's basis (0 without them)."""
        site = data.layout.tau_intercept
        if site is None:
            return jnp.zeros((data.targets.shape[0], data.basis.shape[0]), data.basis.dtype)
        return jnp.einsum("ck,nk->cn", z[site], data.basis)

    def _intercept_update(
        self,
        key: jax.Array,
        z: dict,
        residuals: jax.Array,
        data: PreparedData,
        noise_var: jax.Array,
    ) -> tuple[dict, jax.Array]:
        """Conjugate normal draw of every channel's average effects given the residuals.

        Channel ``c``'s intercept ``β_c`` has prior ``N(0, diag V₀)`` and enters the fit as
        ``β_cᵀ b_i``: with ``r`` the residuals with ``β_c`` added back, the conditional is
        ``N(P⁻¹ h, P⁻¹)``, ``P = Σ w b bᵀ / σ² + V₀⁻¹``, ``h = Σ w b r / σ²`` (latents on a
        probit channel, where ``σ² = 1``).
        """
        site = data.layout.tau_intercept
        weights = jnp.ones_like(residuals) if data.weights is None else data.weights
        basis = data.basis
        partial = residuals + weights * self._intercept_term(z, data)
        gram = jnp.einsum("cn,nk,nl->ckl", weights, basis, basis)
        precision = gram / noise_var[:, None, None] + jax.vmap(jnp.diag)(
            1.0 / data.intercept_prior_var
        )
        h = jnp.einsum("cn,nk->ck", weights * partial, basis) / noise_var[:, None]
        chol = jnp.linalg.cholesky(precision)
        mean = jax.vmap(lambda p, v: jax.scipy.linalg.cho_solve((p, True), v))(chol, h)
        noise = jax.random.normal(key, mean.shape, mean.dtype)
        draw = mean + jax.vmap(lambda p, e: jax.scipy.linalg.solve_triangular(p.T, e, lower=False))(
            chol, noise
        )
        z = {**z, site: draw.astype(z[site].dtype)}
        return z, partial - weights * self._intercept_term(z, data)

    def _probit_scale_move(
        self, key: jax.Array, problem: BCFProblem, data: PreparedData, state: BCFState
    ) -> BCFState:
        """Channel 0's treatment scale and leaves, latents integrated out.

        :func:`pytyche.inference.expansion.probit_scale_move`; the variances are
        recomputed at the new scale for the sweeps that follow.
        """
        weight = jnp.ones_like(state.residuals[0]) if data.weights is None else data.weights[0]
        fit = state.targets[0] - state.residuals[0]
        tau = weight * (
            fit - data.offset[0] - state.mu_fit[0] - self._intercept_term(state.z, data)[0]
        )
        stats = self._stats(state.mu_forest, state.tau_forest, state.residuals, data)
        site = data.layout.tau_scale
        z, stats, factor = probit_scale_move(
            key,
            0,
            lambda values, moved: log_joint(self.model, problem, moved, values),
            site,
            state.z,
            stats,
            fit,
            tau,
            data.converted,
            weight,
            data.probit_information,
            jnp.asarray(problem.tau_total_sd, fit.dtype).reshape(-1)[0],
        )
        trees = state.tau_forest.trees
        trees = trees._replace(leaf_value=trees.leaf_value.at[0, :, :, 0].multiply(factor))
        return state._replace(
            z=z,
            tau_forest=state.tau_forest._replace(trees=trees),
            residuals=state.residuals.at[0].add((1.0 - factor) * tau),
            variances=model_variances(self.model, problem, stats, z),
        )

    def _update_latents(
        self, key: jax.Array, state: BCFState, data: PreparedData
    ) -> tuple[jax.Array, jax.Array]:
        """Albert–Chib truncated-normal draw of every probit channel's latent."""
        if data.converted is None:
            return state.targets, state.residuals
        mean = state.targets - state.residuals
        targets = jnp.where(
            data.is_probit[:, None],
            mean + _one_sided_normal(key, mean, data.converted),
            state.targets,
        )
        return targets, state.residuals + (targets - state.targets)

    def _update_forest(
        self,
        grow: jax.Array | None,
        *args: Any,
    ) -> tuple[ForestState, jax.Array, SweepInfo]:
        """A grow/prune sweep, or a grow-from-root sweep where ``grow`` is true.

        ``grow`` is None when the config has no GFR sweeps (nothing extra is compiled).
        """
        if grow is None:
            return self._sweep(*args)
        mh = functools.partial(self._sweep, *args)
        info_shape = jax.eval_shape(mh)[2]

        def regrow() -> tuple[ForestState, jax.Array, SweepInfo]:
            forest, residuals = self._sweep(*args, gfr=True)
            return (
                forest,
                residuals,
                jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), info_shape),
            )

        return jax.lax.cond(grow, regrow, mh)

    def _sweep(
        self,
        key: jax.Array,
        forest: ForestState,
        bins: BinnedCovariates,
        residuals: jax.Array,
        data: PreparedData,
        noise_var: jax.Array,
        leaf_var: jax.Array,
        prior: TreePrior,
        treatment: bool,
        gfr: bool = False,
    ) -> tuple:
        """One sweep of every channel group's forest.

        Grow/prune MH (returns forest, residuals, `SweepInfo`), or with ``gfr`` the
        grow-from-root warm start (returns forest, residuals). ``treatment`` selects the τ
        forest's one-hot arm basis (the MH sweep gets it as an arm index, and every channel
        only at its informative rows).
        """
        groups = forest.leaf_index.shape[0]
        num_channels, n = residuals.shape
        per_group = num_channels // groups
        rows = data.tau_rows if treatment else data.mu_rows
        keys = jax.random.split(key, groups)
        outputs = []
        for g in range(groups):
            channels = slice(g * per_group, (g + 1) * per_group)
            kwargs = {
                "noise_var": noise_var[channels],
                "leaf_prior_var": leaf_var[channels],
                "prior": prior,
            }
            one_forest = jax.tree.map(lambda a, g=g: a[g], forest)
            if gfr:
                kwargs["basis"] = data.basis if treatment else None
                kwargs["channel_weight"] = None if data.weights is None else data.weights[channels]
                update = grow_from_root
            else:
                kwargs["arm"] = data.arm if treatment else None
                kwargs["channel_rows"] = rows[channels]
                if treatment and self.config.treatment_coding == "centered":
                    kwargs["arm_center"] = data.center
                update = sweep
            outputs.append(update(keys[g], one_forest, bins, residuals[channels], **kwargs))
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *outputs)
        return (stacked[0], stacked[1].reshape(num_channels, n), *stacked[2:])

    def _stats(
        self,
        mu_forest: ForestState,
        tau_forest: ForestState,
        residuals: jax.Array,
        data: PreparedData,
    ) -> ForestStats:
        mu_sum_sq, mu_count = _leaf_stats(mu_forest)
        tau_sum_sq, tau_count = _leaf_stats(tau_forest)
        weights = jnp.ones_like(residuals) if data.weights is None else data.weights
        return ForestStats(
            mu_leaf_sum_sq=mu_sum_sq,
            mu_leaf_count=mu_count,
            tau_leaf_sum_sq=tau_sum_sq,
            tau_leaf_count=tau_count,
            residual_sum_sq=jnp.sum(weights * residuals**2, axis=1),
            residual_count=jnp.sum(weights, axis=1),
        )

    def _fit_per_arm(
        self,
        mu_fit: jax.Array,
        mu_forest: ForestState,
        tau_forest: ForestState,
        data: PreparedData,
        z: dict,
    ) -> jax.Array:
        """``(C, n, K)`` offset + μ + τ_a in model units."""
        # The μ sweeps track mu_fit only at a channel's informative rows: predict the rest.
        partial = [c for c, rows in enumerate(data.mu_rows) if rows is not None]
        if partial:
            predicted = _channel_fit(mu_forest, partial)
            mu_fit = mu_fit.at[jnp.asarray(partial)].set(predicted)
        tau = _tau_per_arm(tau_forest)
        if data.layout.tau_intercept is not None:
            tau = tau + z[data.layout.tau_intercept][:, None, :]
        per_arm = arm_contributions(tau, data.center)
        return (data.offset[:, None, None] + mu_fit[:, :, None] + per_arm).astype(jnp.float32)
