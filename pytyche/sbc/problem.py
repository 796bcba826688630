"""What an SBC sweep runs: an `SBCProblem` (simulate + fit), and the registry of problems.

An SBC problem is the model-dependent half of a sweep. It is two **batched, pure** JAX
functions of a random key:

- ``simulate(keys, n) -> SimulatedBatch``: one dataset of scale ``n`` per key of the
  ``(R,)`` key array, with their true quantity values ``(R, Q)``;
- ``fit(keys, data) -> draws``: ``(R, S, Q)`` posterior draws of the same quantities,
  computed from ``data`` (a pytree whose leaves have a leading replicate axis ``R``).

Keys are per replicate (derived from the sweep seed, the scale and the replicate index),
so a replicate's result does not depend on how replicates are chunked.

The runner (:mod:`pytyche.sbc.runner`) jits ``simulate → fit → summarise`` once per scale
and chunk shape and never loops over replicates in Python. Two optional class attributes
change how a problem is compiled:

- ``traceable = True``: the problem is a JAX pytree (numeric parameters as leaves) whose
  functions accept a traced scale ``n``; one compiled program then serves every scale and
  parameter value (:class:`~pytyche.sbc.conjugate.ConjugateNormalProblem`);
- ``host_simulation = True``: ``simulate`` runs eagerly on the host (NumPy/pandas
  generators) and returns arrays stacked along the replicate axis; only ``fit`` and the
  summaries are compiled (``fit`` stays vectorised over replicates). A problem built from
*per-replicate* functions with :func:`vmapped_problem` is vectorised with ``jax.vmap``;
a problem whose simulation must run on the host (e.g. pandas-based generators) can
implement the batched functions itself (see ``sbc/README.md``, "BCF adapter").

Problems are registered by name (:func:`register_sbc_problem`) with a factory that turns a
validated :class:`~pytyche.sbc.spec.SweepSpec` into a problem, so a TOML spec can name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax

from pytyche.contracts import Metric, MetricFamily

__all__ = [
    "ProblemRegime",
    "SBCProblem",
    "SimulatedBatch",
    "VmappedProblem",
    "available_sbc_problems",
    "get_sbc_problem",
    "register_sbc_problem",
    "vmapped_problem",
]


class SimulatedBatch(NamedTuple):
    """Replicate datasets and their truths.

    Attributes
    ----------
    data
        Pytree of arrays with a leading replicate axis ``R`` (whatever ``fit`` consumes).
    truth
        ``(R, Q)`` true values of the tracked quantities. For data-dependent quantities
        (e.g. a segment GATE over the replicate's own visitors) this is the quantity
        evaluated at the true parameters **and the replicate's data** (Modrák et al. 2023).
    """

    data: Any
    truth: jax.Array


class ProblemRegime(NamedTuple):
    """The regime a problem's posteriors belong to (recorded in results and artifacts).

    Attributes
    ----------
    family
        Outcome family of the fitted model.
    metric
        Metric the quantities are expressed in.
    num_arms
        ``K``: arms including control.
    model
        Model name (e.g. ``"conjugate_normal"``, ``"hurdle_bcf"``).
    model_version
        Version string of that model (package version unless the model says otherwise).
    """

    family: MetricFamily
    metric: Metric
    num_arms: int
    model: str
    model_version: str


@runtime_checkable
class SBCProblem(Protocol):
    """A family of simulated datasets with known truth, and the fit under test."""

    @property
    def regime(self) -> ProblemRegime:
        """Family, metric, K and model of the posteriors."""
        ...

    def quantity_names(self, n: int) -> tuple[str, ...]:
        """Names of the ``Q`` quantities simulated and fitted at scale ``n``."""
        ...

    def num_draws(self, n: int) -> int:
        """``S``: posterior draws per replicate returned by :meth:`fit`."""
        ...

    def simulate(self, keys: jax.Array, n: Any) -> SimulatedBatch:
        """One dataset at scale ``n`` per key of ``keys (R,)`` (jit-traceable; ``n`` static)."""
        ...

    def fit(self, keys: jax.Array, data: Any) -> jax.Array:
        """``(R, S, Q)`` posterior draws, one key per replicate (jit-traceable)."""
        ...


@dataclass(frozen=True)
class VmappedProblem:
    """An `SBCProblem` built from per-replicate functions, vectorised with ``jax.vmap``.

    Attributes
    ----------
    regime
        `ProblemRegime`.
    names
        ``n -> tuple of Q quantity names``.
    draws
        ``n -> S``.
    simulate_one
        ``(key, n) -> (data, truth (Q,))`` for one replicate; ``n`` is static.
    fit_one
        ``(key, data) -> (S, Q)`` draws for one replicate.
    """

    regime: ProblemRegime
    names: Callable[[int], tuple[str, ...]]
    draws: Callable[[int], int]
    simulate_one: Callable[[jax.Array, int], tuple[Any, jax.Array]]
    fit_one: Callable[[jax.Array, Any], jax.Array]

    def quantity_names(self, n: int) -> tuple[str, ...]:
        return self.names(n)

    def num_draws(self, n: int) -> int:
        return self.draws(n)

    def simulate(self, keys: jax.Array, n: int) -> SimulatedBatch:
        data, truth = jax.vmap(lambda k: self.simulate_one(k, n))(keys)
        return SimulatedBatch(data, truth)

    def fit(self, keys: jax.Array, data: Any) -> jax.Array:
        return jax.vmap(self.fit_one)(keys, data)


def vmapped_problem(
    regime: ProblemRegime,
    quantity_names: Callable[[int], tuple[str, ...]],
    num_draws: Callable[[int], int],
    simulate_one: Callable[[jax.Array, int], tuple[Any, jax.Array]],
    fit_one: Callable[[jax.Array, Any], jax.Array],
) -> VmappedProblem:
    """Vectorise per-replicate ``simulate_one`` / ``fit_one`` into an `SBCProblem`.

    Use it for models whose simulation and fit are both JAX functions of one replicate.
    """
    return VmappedProblem(regime, quantity_names, num_draws, simulate_one, fit_one)


ProblemFactory = Callable[[Any], SBCProblem]
_REGISTRY: dict[str, ProblemFactory] = {}


def register_sbc_problem(
    name: str, factory: ProblemFactory, *, overwrite: bool = False
) -> ProblemFactory:
    """Make an SBC problem available to sweep specs as ``[model] name = "<name>"``.

    Parameters
    ----------
    name
        Registry key.
    factory
        ``factory(spec: SweepSpec) -> SBCProblem``; it validates ``spec.model_params`` and
        ``spec.fit_params`` and raises ``ValueError`` naming any bad key.
    overwrite
        Replace an existing registration of ``name``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {type(factory).__name__}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"an SBC problem named {name!r} is already registered")
    _REGISTRY[name] = factory
    return factory


def available_sbc_problems() -> list[str]:
    """Names of the registered SBC problems."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_sbc_problem(name: str) -> ProblemFactory:
    """The factory registered as ``name`` (clear error listing the available names)."""
    _load_builtins()
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown SBC model {name!r}; registered SBC models: {sorted(_REGISTRY)}. "
            "Register one with pytyche.sbc.register_sbc_problem"
        )
    return _REGISTRY[name]


def _load_builtins() -> None:
    # The built-in problems register themselves on import; deferred to avoid a cycle.
    import pytyche.sbc.conjugate
    import pytyche.sbc.hurdle_bcf
    import pytyche.sbc.hurdle_prior  # noqa: F401
