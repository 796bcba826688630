"""A compiled, cached chain runner for `BCFKernel` (what :func:`pytyche.fit` runs).

``numpyro.infer.MCMC`` traces and compiles its sampling loop on every ``run``, and the
kernel's step closes over the problem's arrays, so every fit paid the whole compile (≈ 10 s
on a laptop CPU for the default forests, several times that on a loaded machine). Here the
per-dataset arrays are *arguments* of the compiled function and everything that shapes the
program (model, config, MCMC lengths, the problem's static layout) is its cache key, so
fits of other datasets with the same shapes reuse the executable: SBC replicates, a
benchmark's repetitions, a test suite's fits, a notebook re-run.

The draws are those of ``numpyro.infer.MCMC(BCFKernel(model, config), ...)`` with the same
key: one chain uses the key as is, ``C`` chains split it into ``C`` keys; the kernel is
initialised, stepped ``num_warmup`` times, then ``num_draws`` times with the requested
fields collected after each step.

The pieces are public so the SBC runner can ``vmap`` one chain over replicate datasets:

>>> run = prepare_run(problem, config)  # doctest: +SKIP
>>> sample = chain_sampler(bcf_model, config, run.static, 100, 100)  # doctest: +SKIP
>>> draws = jax.jit(jax.vmap(sample))(keys, stacked_arrays)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pytyche.forest.binning import BinSpec
from pytyche.inference.config import BCFConfig
from pytyche.inference.kernel import (
    BCFInfo,
    BCFKernel,
    CompactTrees,
    PreparedData,
    pad_rows,
    prepare_data,
)
from pytyche.models.bcf import bcf_model
from pytyche.models.problem import BCFProblem

__all__ = [
    "ChainDraws",
    "PreparedRun",
    "RunSignature",
    "chain_sampler",
    "prepare_run",
    "run_chains",
    "stack_arrays",
]

_PROBLEM_ARRAYS = (
    "covariates",
    "propensity",
    "arm_index",
    "targets",
    "weights",
    "offset",
    "outcome_center",
    "outcome_scale",
    "mu_total_sd",
    "tau_total_sd",
)
"""Fields of `BCFProblem` that vary between datasets (traced arguments)."""

_DATA_ARRAYS = (
    "mu_bins",
    "tau_bins",
    "basis",
    "center",
    "arm",
    "mu_rows",
    "tau_rows",
    "weights",
    "converted",
    "targets",
    "offset",
    "is_probit",
    "level_widths",
    "probit_information",
    "intercept_prior_var",
)
"""Fields of `PreparedData` that vary between datasets (traced arguments)."""

DEFAULT_FIELDS = ("z", "fit", "info")
FOREST_FIELDS = ("mu_trees", "tau_trees")


@dataclasses.dataclass(frozen=True)
class RunSignature:
    """Everything about a problem that shapes the compiled program (hashable).

    Shapes are not part of it: ``jax.jit`` keys its own cache on them. The Metropolis
    sites' supports (NumPyro constraints, which do not hash) enter the key through
    `support_key`, their type and parameters.
    """

    family: Any
    channels: tuple[str, ...]
    arms: tuple[str, ...]
    categorical: tuple[int, ...]
    is_probit: tuple[bool, ...]
    num_mu_trees: int
    num_tau_trees: int
    has_weights: bool
    has_converted: bool
    layout: Any
    split_var_dtype: str
    support_key: tuple
    supports: dict = dataclasses.field(compare=False, hash=False, repr=False)


class RunArrays(NamedTuple):
    """The per-dataset arrays of a run (a pytree; traced by the compiled runner)."""

    problem: dict[str, jax.Array]
    data: dict[str, Any]
    init_values: dict[str, jax.Array]


class PreparedRun(NamedTuple):
    """A problem made ready for :func:`chain_sampler` / :func:`run_chains`.

    Attributes
    ----------
    static
        `RunSignature` (the compile-cache key).
    arrays
        `RunArrays` of this dataset.
    mu_spec, tau_spec
        Host-side binnings (needed to predict at new covariates).
    """

    static: RunSignature
    arrays: RunArrays
    mu_spec: BinSpec
    tau_spec: BinSpec


class ChainDraws(NamedTuple):
    """Collected fields of one chain (leading axis: kept draws; a chain axis before it
    when returned by :func:`run_chains`).

    Attributes
    ----------
    z
        Constrained scalar sites, ``site -> (draws, ...)``.
    fit
        ``(draws, C, n, K)`` float32 channel fits in model units.
    info
        `BCFInfo` per draw.
    mu_trees, tau_trees
        `CompactTrees` per draw, or None when not collected.
    """

    z: dict[str, jax.Array]
    fit: jax.Array
    info: BCFInfo
    mu_trees: CompactTrees | None = None
    tau_trees: CompactTrees | None = None


def prepare_run(
    problem: BCFProblem, config: BCFConfig, *, model: Callable = bcf_model
) -> PreparedRun:
    """Bin, build channel arrays and classify the model's sites (host side).

    Parameters
    ----------
    problem
        From :func:`pytyche.models.problem.make_problem`.
    config
        The fit's `BCFConfig`.
    model
        The model function.

    Returns
    -------
    PreparedRun
    """
    if not isinstance(problem, BCFProblem):
        raise TypeError(f"problem must be a BCFProblem, got {type(problem).__name__}")
    data = prepare_data(model, problem, config)
    num_vars = data.mu_bins.bins.shape[0]
    static = RunSignature(
        family=problem.family,
        channels=problem.channels,
        arms=problem.arms,
        categorical=problem.categorical,
        is_probit=problem.is_probit,
        num_mu_trees=problem.num_mu_trees,
        num_tau_trees=problem.num_tau_trees,
        has_weights=data.weights is not None,
        has_converted=data.converted is not None,
        layout=data.layout,
        split_var_dtype="uint8" if num_vars <= 256 else "uint16",
        support_key=tuple(
            (name, type(support), repr(sorted(vars(support).items())))
            for name, support in sorted(data.supports.items())
        ),
        supports=dict(data.supports),
    )
    problem_arrays = {
        name: jnp.asarray(getattr(problem, name), _dtype(getattr(problem, name)))
        for name in _PROBLEM_ARRAYS
    }
    arrays = RunArrays(
        problem=problem_arrays,
        data={name: getattr(data, name) for name in _DATA_ARRAYS},
        init_values=dict(data.init_values),
    )
    return PreparedRun(static, arrays, data.mu_spec, data.tau_spec)


def stack_arrays(datasets: list[RunArrays]) -> RunArrays:
    """Stack several datasets' `RunArrays` on a leading axis (to ``vmap`` a chain over them).

    The datasets must share a `RunSignature` and their number of visitors; the rows a
    channel is read at (which differ in number between datasets) are padded to a common
    length, which changes no draw.
    """
    n = int(np.shape(datasets[0].data["arm"])[0])
    data = [dict(arrays.data) for arrays in datasets]
    for name in ("mu_rows", "tau_rows"):
        columns = [
            pad_rows([None if r is None else np.asarray(r) for r in rows], n)
            for rows in zip(*(d[name] for d in data), strict=True)
        ]
        for i, d in enumerate(data):
            d[name] = tuple(column[i] for column in columns)
    datasets = [arrays._replace(data=d) for arrays, d in zip(datasets, data, strict=True)]
    return jax.tree.map(lambda *a: np.stack([np.asarray(x) for x in a]), *datasets)


def _dtype(value: Any) -> Any:
    kind = np.asarray(value).dtype.kind
    return jnp.int32 if kind in "iub" else jnp.float32


def _skeleton(static: RunSignature) -> BCFProblem:
    """A `BCFProblem` with the static fields set; its arrays come from `RunArrays`."""
    return BCFProblem(
        family=static.family,
        channels=static.channels,
        arms=static.arms,
        covariates=None,
        propensity=None,
        categorical=static.categorical,
        arm_index=None,
        targets=None,
        weights=None,
        is_probit=static.is_probit,
        offset=None,
        outcome_center=None,
        outcome_scale=None,
        num_mu_trees=static.num_mu_trees,
        num_tau_trees=static.num_tau_trees,
        mu_total_sd=None,
        tau_total_sd=None,
    )


def chain_sampler(
    model: Callable,
    config: BCFConfig,
    static: RunSignature,
    num_warmup: int,
    num_draws: int,
    fields: tuple[str, ...] = DEFAULT_FIELDS,
) -> Callable[[jax.Array, RunArrays], ChainDraws]:
    """A pure function ``(key, arrays) -> ChainDraws`` running one chain.

    Not jitted: jit it, ``vmap`` it over chains or over replicate datasets (arrays stacked
    on a leading axis; every replicate must share ``static``), or both.

    Parameters
    ----------
    model, config
        As for :class:`~pytyche.inference.kernel.BCFKernel`.
    static
        `RunSignature` of the datasets it will see (from :func:`prepare_run`).
    num_warmup, num_draws
        Iterations discarded, then kept.
    fields
        Collected fields: a subset of ``("z", "fit", "info", "mu_trees", "tau_trees")``
        containing ``"z"``, ``"fit"`` and ``"info"``.

    Returns
    -------
    Callable
    """
    unknown = set(fields) - set(DEFAULT_FIELDS + FOREST_FIELDS)
    if unknown or not set(DEFAULT_FIELDS) <= set(fields):
        raise ValueError(
            f"fields must contain {DEFAULT_FIELDS} and may add {FOREST_FIELDS}; got {fields}"
        )
    kernel = BCFKernel(model, config)
    kernel._num_warmup = int(num_warmup)
    skeleton = _skeleton(static)
    supports = static.supports

    def sample(key: jax.Array, arrays: RunArrays) -> ChainDraws:
        problem = dataclasses.replace(skeleton, **arrays.problem)
        data = PreparedData(
            mu_spec=None,
            tau_spec=None,
            layout=static.layout,
            supports=supports,
            init_values=arrays.init_values,
            **arrays.data,
        )
        state = kernel._init_one(key, problem, data)

        def collect(state: Any) -> dict:
            return {name: getattr(state, name) for name in fields}

        # One loop over warmup and kept iterations, so the step is compiled once;
        # iteration i writes draw max(i − num_warmup, 0), warmup writes are overwritten.
        template = jax.eval_shape(collect, state)
        buffer = jax.tree.map(lambda a: jnp.zeros((num_draws, *a.shape), a.dtype), template)

        def body(i: jax.Array, carry: tuple[Any, dict]) -> tuple[Any, dict]:
            state, buffer = carry
            state = kernel._step(state, problem, data)
            slot = jnp.maximum(i - num_warmup, 0)
            buffer = jax.tree.map(
                lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v, slot, 0),
                buffer,
                collect(state),
            )
            return state, buffer

        _, collected = jax.lax.fori_loop(0, num_warmup + num_draws, body, (state, buffer))
        return ChainDraws(**collected)

    return sample


def program_config(config: BCFConfig) -> BCFConfig:
    """``config`` with the settings that do not change the step normalised (cache key).

    MCMC lengths, chains and collected fields are keyed separately; ``chain_method`` and
    ``store_forests`` only choose how :func:`pytyche.fit` calls the runner.
    """
    return dataclasses.replace(
        config,
        num_warmup=config.num_gfr,
        num_draws=1,
        num_chains=1,
        chain_method="vectorized",
        store_forests=False,
    )


@functools.lru_cache(maxsize=16)
def _compiled(
    model: Callable,
    config: BCFConfig,
    static: RunSignature,
    num_warmup: int,
    num_draws: int,
    num_chains: int,
    fields: tuple[str, ...],
) -> Callable[[jax.Array, RunArrays], ChainDraws]:
    sample = chain_sampler(model, config, static, num_warmup, num_draws, fields)

    def run(key: jax.Array, arrays: RunArrays) -> ChainDraws:
        if num_chains == 1:
            return jax.tree.map(lambda a: a[None], sample(key, arrays))
        keys = jax.random.split(key, num_chains)
        return jax.vmap(sample, in_axes=(0, None))(keys, arrays)

    return jax.jit(run)


def run_chains(
    key: jax.Array,
    run: PreparedRun,
    *,
    model: Callable = bcf_model,
    config: BCFConfig,
    fields: tuple[str, ...] = DEFAULT_FIELDS,
) -> ChainDraws:
    """Run ``config.num_chains`` vectorised chains of ``config``'s lengths.

    The compiled program is cached on ``(model, config, run.static, fields)`` and the
    arrays' shapes, so a second dataset of the same shapes runs without recompiling.

    Parameters
    ----------
    key
        PRNG key (split into one key per chain when there are several).
    run
        From :func:`prepare_run`.
    model, config
        The model function and the fit's `BCFConfig`.
    fields
        Collected fields (see :func:`chain_sampler`).

    Returns
    -------
    ChainDraws
        Every field with leading ``(chain, draw)`` axes.
    """
    runner = _compiled(
        model,
        program_config(config),
        run.static,
        config.num_warmup,
        config.num_draws,
        config.num_chains,
        tuple(fields),
    )
    return runner(key, run.arrays)
