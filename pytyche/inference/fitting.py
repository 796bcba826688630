"""`fit`: the user-facing entry that fits a BCF to experiment data and returns a Posterior."""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Callable

import jax
import numpy as np
from numpyro.infer import MCMC

from pytyche.analysis.convergence import warn_if_poorly_mixed
from pytyche.contracts import Metric, MetricFamily
from pytyche.data import RoundData
from pytyche.inference.compile_cache import enable_compile_cache
from pytyche.inference.config import BCFConfig
from pytyche.inference.driver import (
    DEFAULT_FIELDS,
    FOREST_FIELDS,
    ChainDraws,
    PreparedRun,
    prepare_run,
    run_chains,
)
from pytyche.inference.kernel import BCFKernel
from pytyche.models.problem import make_problem
from pytyche.models.registry import DEFAULT_MODEL, get_model
from pytyche.posterior import Posterior

__all__ = ["LARGE_FIT_VISITORS", "PerformanceWarning", "fit"]

LARGE_FIT_VISITORS = 100_000
"""From this many visitors a fit on a CPU backend warns (once per process)."""


class PerformanceWarning(UserWarning):
    """A fit is large for the device it runs on."""


@functools.cache
def _warn_large_cpu_fit() -> None:
    # functools.cache makes this fire once per process, whatever the warnings filters say.
    warnings.warn(
        f"fitting a BCF to ≥ {LARGE_FIT_VISITORS:,} visitors on a CPU backend; this runs, "
        "slowly. Install pytyche[cuda12] and run on a GPU for production-scale fits.",
        PerformanceWarning,
        stacklevel=3,
    )


def fit(
    data: RoundData,
    *,
    metric: Metric | str | None = None,
    family: MetricFamily | str = "auto",
    config: BCFConfig | None = None,
    seed: int = 0,
    progress: bool = False,
    model: str | Callable = DEFAULT_MODEL,
    check_mixing: bool = True,
) -> Posterior:
    """Fit a (joint hurdle) Bayesian Causal Forest and return its posterior.

    Parameters
    ----------
    data
        Validated experiment data (control first).
    metric
        Default metric of the returned posterior (``revenue_per_visitor``,
        ``conversion_rate``, ``revenue_per_converter``, ``mean_outcome``); None picks the
        family's natural one.
    family
        ``"auto"`` (the data's family), ``"hurdle"``, ``"binary"`` or ``"continuous"``.
    config
        `BCFConfig`; defaults to ``BCFConfig()``.
    seed
        Seed of the MCMC; the same seed gives the same draws.
    progress
        Print each compiled run and its wall time (NumPyro's progress bar with
        ``chain_method="parallel"``). The run is one compiled loop, so there is no
        per-iteration bar.
    model
        A registered model name (see :mod:`pytyche.models.registry`) or a model function.
    check_mixing
        Warn (:class:`~pytyche.analysis.convergence.ConvergenceWarning`) when an arm's ATE
        has R-hat > 1.05 or bulk ESS < 100 (see ``Posterior.mixing``).

    Returns
    -------
    Posterior
    """
    if not isinstance(data, RoundData):
        raise TypeError(f"data must be a pytyche RoundData, got {type(data).__name__}")
    config = BCFConfig() if config is None else config
    if not isinstance(config, BCFConfig):
        raise TypeError(f"config must be a BCFConfig, got {type(config).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    resolved = data.family if family == "auto" else _family(family)
    model_fn = get_model(model) if isinstance(model, str) else model
    problem = make_problem(
        data, resolved, num_mu_trees=config.num_mu_trees, num_tau_trees=config.num_tau_trees
    )
    posterior_metric = Posterior.check_metric(resolved, metric)
    if data.n_visitors >= LARGE_FIT_VISITORS and jax.default_backend() == "cpu":
        _warn_large_cpu_fit()
    enable_compile_cache()
    extra = FOREST_FIELDS if config.store_forests else ()
    key = jax.random.PRNGKey(seed)
    if config.chain_method == "parallel":
        # One device per chain: NumPyro's pmap path (compiled per call).
        mcmc = MCMC(
            BCFKernel(model_fn, config),
            num_warmup=config.num_warmup,
            num_samples=config.num_draws,
            num_chains=config.num_chains,
            chain_method="parallel",
            progress_bar=progress,
        )
        mcmc.run(key, problem, extra_fields=("info", *extra))
        posterior = Posterior.from_mcmc(mcmc, data, problem, metric=posterior_metric)
        return _checked(posterior, check_mixing)
    run = prepare_run(problem, config, model=model_fn)
    fields = DEFAULT_FIELDS + extra
    if config.chain_method == "vectorized" or config.num_chains == 1:
        draws = _run(progress, config.num_chains, config, key, run, model_fn, fields)
    else:
        # Sequential: the keys NumPyro would use, one compiled single-chain run each.
        single = dataclasses.replace(config, num_chains=1)
        chains = [
            _run(progress, 1, single, chain_key, run, model_fn, fields)
            for chain_key in jax.random.split(key, config.num_chains)
        ]
        draws = jax.tree.map(lambda *a: np.concatenate(a), *chains)
    posterior = Posterior.from_draws(draws, data, problem, run, metric=posterior_metric)
    return _checked(posterior, check_mixing)


def _checked(posterior: Posterior, check_mixing: bool) -> Posterior:
    if check_mixing:
        warn_if_poorly_mixed(posterior.mixing(), "fit", stacklevel=3)
    return posterior


def _run(
    progress: bool,
    num_chains: int,
    config: BCFConfig,
    key: jax.Array,
    run: PreparedRun,
    model: Callable,
    fields: tuple[str, ...],
) -> ChainDraws:
    """`run_chains`, announcing the run and its wall time when ``progress``."""
    if progress:
        iterations = config.num_warmup + config.num_draws
        print(f"BCF: {num_chains} chain(s) × {iterations} iterations …", flush=True)
        start = time.perf_counter()
    draws = jax.block_until_ready(run_chains(key, run, model=model, config=config, fields=fields))
    if progress:
        print(f"BCF: done in {time.perf_counter() - start:.1f} s", flush=True)
    return draws


def _family(family: MetricFamily | str) -> MetricFamily:
    try:
        return MetricFamily(family)
    except ValueError:
        raise ValueError(
            f"family must be 'auto' or one of {[f.value for f in MetricFamily]}, got {family!r}"
        ) from None
