"""The SBC sweep runner: vectorised, chunked, sharded, resumable.

For each scale ``n`` of a :class:`~pytyche.sbc.spec.SweepSpec` the runner jits one
function ``keys (C,) -> summaries`` that simulates ``C`` replicate datasets, fits them and
summarises the draws against the truth (:func:`~pytyche.sbc.ranks.summarize_draws`), all
vectorised (``jax.vmap`` inside the problem) — the draws never leave the device. Replicates
run in chunks of ``C`` (the spec's ``chunk_size``, or as many as fit ``memory_budget_mb``
by XLA's compiled memory analysis); with several visible devices each chunk's replicate
axis is sharded over a 1-D device mesh (``jax.sharding``), so the same code runs on one CPU,
one GPU or a multi-GPU host. Problems with ``traceable = True`` share one program across
scales and parameter values; problems with ``host_simulation = True`` simulate eagerly on
the host and only the (vectorised) fit and summaries are compiled (see
:mod:`pytyche.sbc.problem`).

Randomness: replicate ``r`` at scale ``n`` uses the key
``fold_in(fold_in(key(seed), n), r)``, so its result depends on neither the chunking nor
the order of execution, and adding a scale to a spec leaves the others unchanged.

Resumability: every finished chunk is written atomically (temporary file + rename) to
``<out>.partial/`` with the spec's hash; a restarted sweep skips replicates already on disk
and refuses chunks written by a different spec. When every replicate is done the chunks
are merged into ``<out>`` (NetCDF, h5netcdf engine) and the partial directory is removed.

Result layout (:func:`load_result`): an ``xarray.Dataset`` with dimensions
``replicate`` (all replicates of all scales; coordinates ``n`` and ``replicate_index``),
``quantity`` and ``level``; variables ``truth``, ``rank``, ``posterior_mean``,
``posterior_sd``, ``median``, ``error`` (replicate, quantity), ``lower``, ``upper``,
``covered``, ``width``, ``interval_ratio`` (replicate, quantity, level), ``wall_time`` and
``compile_time`` (replicate; seconds, the chunk's time divided by its replicates); and
provenance attributes (spec, package and JAX versions, devices, dates, regime).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from pytyche._version import __version__
from pytyche.sbc.problem import SBCProblem, get_sbc_problem
from pytyche.sbc.ranks import DrawSummary, summarize_draws
from pytyche.sbc.spec import SweepSpec

__all__ = [
    "RESULT_ENGINE",
    "SweepOutcome",
    "load_result",
    "replicate_keys",
    "resolve_problem",
    "run_sweep",
]

RESULT_ENGINE = "h5netcdf"
_SPEC_MARKER = "SPEC_HASH"
_CHUNK_NAME = re.compile(r"^n(\d+)_r(\d+)-(\d+)\.nc$")
_PER_QUANTITY = ("truth", "rank", "posterior_mean", "posterior_sd", "median", "error")
_PER_LEVEL = ("lower", "upper", "covered", "width", "interval_ratio")


@dataclass(frozen=True)
class SweepOutcome:
    """What one call of :func:`run_sweep` did.

    Attributes
    ----------
    path
        The result file (exists only when ``complete``).
    complete
        Whether every replicate of the spec is done.
    chunks_run, chunks_skipped
        Chunks computed by this call / already on disk from an earlier call.
    result
        The merged result when ``complete``, else None.
    """

    path: Path
    complete: bool
    chunks_run: int
    chunks_skipped: int
    result: xr.Dataset | None


def resolve_problem(spec: SweepSpec) -> SBCProblem:
    """Build the spec's registered SBC problem (validates its model and fit tables)."""
    factory = get_sbc_problem(spec.model)
    return factory(spec)


def replicate_keys(seed: int, n: int, indices: np.ndarray) -> jax.Array:
    """``(len(indices),)`` keys of replicates ``indices`` at scale ``n`` (see module doc)."""
    scale_key = jax.random.fold_in(jax.random.key(seed), n)
    return jax.vmap(lambda r: jax.random.fold_in(scale_key, r))(jnp.asarray(indices, jnp.uint32))


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    problem: SBCProblem | None = None,
    progress: bool = False,
    max_chunks: int | None = None,
) -> SweepOutcome:
    """Run (or resume) an SBC sweep and write its result to ``out``.

    Parameters
    ----------
    spec
        Validated sweep spec.
    out
        Result path (``.nc``); chunks go to ``<out>.partial/`` until the sweep completes.
    problem
        The SBC problem; default: the registered problem named by ``spec.model``.
    progress
        Show a tqdm progress bar over replicates.
    max_chunks
        Stop after computing this many chunks (a time-boxed run; call again to resume).

    Returns
    -------
    SweepOutcome

    Raises
    ------
    ValueError
        If ``out`` or the partial directory holds results of a different spec, or the
        problem's quantities do not match the spec's patterns.
    """
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec, got {type(spec).__name__}")
    if max_chunks is not None and (not isinstance(max_chunks, int) or max_chunks < 0):
        raise ValueError(f"max_chunks must be a non-negative integer, got {max_chunks!r}")
    out = Path(out)
    if out.exists():
        existing = load_result(out)
        _check_hash(existing.attrs.get("spec_hash"), spec, str(out))
        return SweepOutcome(out, True, 0, 0, existing)
    problem = resolve_problem(spec) if problem is None else problem
    for n in spec.scales:
        _quantity_index(spec, problem, n)  # fail before any work on a bad pattern
    partial = _partial_dir(out)
    done = _finished_replicates(partial, spec)
    devices = jax.devices()
    todo = _plan(spec, problem, done, len(devices))
    skipped = len(list(partial.glob("n*_r*.nc")))
    budget = len(todo) if max_chunks is None else min(max_chunks, len(todo))
    bar = _progress_bar(spec, done, progress)
    runners: dict[int, Callable] = {}
    for n, indices, chunk_size in todo[:budget]:
        if n not in runners:
            runners[n] = _chunk_runner(spec, problem, n, devices)
        summary, wall, compile_seconds = runners[n](indices, chunk_size)
        chunk = _chunk_dataset(spec, problem, n, indices, summary, wall, compile_seconds)
        _write_atomic(chunk, partial / f"n{n}_r{indices[0]:07d}-{indices[-1] + 1:07d}.nc")
        bar.update(len(indices))
    bar.close()
    if budget < len(todo):
        return SweepOutcome(out, False, budget, skipped, None)
    result = _merge(spec, problem, partial)
    _write_atomic(result, out)
    shutil.rmtree(partial)
    return SweepOutcome(out, True, budget, skipped, result)


def load_result(path: str | Path) -> xr.Dataset:
    """Load an SBC result (or chunk) NetCDF file fully into memory."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SBC result {str(path)!r} does not exist")
    return xr.load_dataset(path, engine=RESULT_ENGINE)


# ------------------------------------------------------------------ planning
def _partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _check_hash(found: Any, spec: SweepSpec, where: str) -> None:
    if found != spec.spec_hash:
        raise ValueError(
            f"{where} holds results of a different sweep spec (hash {found!r}, this spec "
            f"{spec.spec_hash!r}); use another output path or delete it"
        )


def _finished_replicates(partial: Path, spec: SweepSpec) -> dict[int, set[int]]:
    """Replicates already on disk per scale; creates ``partial`` with its spec marker.

    The marker file holds the spec hash (every chunk's attributes hold it too), so chunks of
    a different spec are refused without opening them.
    """
    marker = partial / _SPEC_MARKER
    if partial.exists() and marker.exists():
        _check_hash(marker.read_text().strip(), spec, str(partial))
    else:
        partial.mkdir(parents=True, exist_ok=True)
        if any(_CHUNK_NAME.match(p.name) for p in partial.iterdir()):
            raise ValueError(f"{partial} holds chunks but no {_SPEC_MARKER} marker; delete it")
        marker.write_text(spec.spec_hash + "\n")
    done: dict[int, set[int]] = {}
    for path in sorted(partial.iterdir()):
        match = _CHUNK_NAME.match(path.name)
        if match is None:
            continue  # the marker, and temporary files of a killed write (overwritten)
        n, start, stop = (int(g) for g in match.groups())
        done.setdefault(n, set()).update(range(start, stop))
    return done


def _plan(
    spec: SweepSpec, problem: SBCProblem, done: dict[int, set[int]], num_devices: int
) -> list[tuple[int, np.ndarray, int]]:
    """``(n, replicate indices, padded chunk size)`` of every chunk still to run."""
    plan: list[tuple[int, np.ndarray, int]] = []
    for n, num_replicates in zip(spec.scales, spec.replicates, strict=True):
        remaining = np.array(sorted(set(range(num_replicates)) - done.get(n, set())), int)
        if remaining.size == 0:
            continue
        size = spec.chunk_size or _auto_chunk_size(spec, problem, n, num_replicates)
        size = -(-min(size, num_replicates) // num_devices) * num_devices
        runs = np.split(remaining, np.flatnonzero(np.diff(remaining) != 1) + 1)
        for run in runs:
            plan.extend((n, run[i : i + size], size) for i in range(0, run.size, size))
    return plan


def _auto_chunk_size(spec: SweepSpec, problem: SBCProblem, n: int, num_replicates: int) -> int:
    """Replicates per chunk that fit ``memory_budget_mb``, from XLA's memory analysis."""
    keys = replicate_keys(spec.seed, n, np.arange(1))
    program = _compile(spec, problem, n, keys)
    if isinstance(program, _HostSimulatedProgram):
        program(keys)  # shapes come from simulated data: compile on one replicate
    analysis = program.memory_analysis()
    if analysis is None:  # some backends do not report; bound by the draws' size instead
        per_replicate = 8 * 4 * problem.num_draws(n) * len(problem.quantity_names(n))
    else:
        per_replicate = (
            analysis.temp_size_in_bytes
            + analysis.argument_size_in_bytes
            + analysis.output_size_in_bytes
        )
    budget = spec.memory_budget_mb * 2**20
    return int(max(1, min(num_replicates, budget // max(per_replicate, 1))))


# ------------------------------------------------------------------ computing
def _quantity_index(spec: SweepSpec, problem: SBCProblem, n: int) -> np.ndarray:
    names = problem.quantity_names(n)
    keep = [
        i for i, name in enumerate(names) if any(fnmatch.fnmatch(name, p) for p in spec.quantities)
    ]
    if not keep:
        raise ValueError(
            f"[sweep] quantities {list(spec.quantities)} match none of the problem's "
            f"quantities at n={n}: {list(names)}"
        )
    return np.asarray(keep)


def _chunk_body(
    keys: jax.Array,
    problem: SBCProblem,
    n: int | jax.Array,
    index: tuple[int, ...],
    levels: tuple[float, ...],
    num_rank_draws: int,
) -> DrawSummary:
    """Simulate, fit and summarise one chunk of replicates (one key each)."""
    pairs = jax.vmap(jax.random.split)(keys)
    batch = problem.simulate(pairs[:, 0], n)
    draws = problem.fit(pairs[:, 1], batch.data)
    selected = jnp.asarray(index)
    summarize = jax.vmap(summarize_draws, in_axes=(0, 0, None, None))
    return summarize(draws[..., selected], batch.truth[:, selected], levels, num_rank_draws)


# Static problems are hashed into the compiled program (frozen dataclasses compare by
# value, so equal problems share it); traceable problems are pytrees whose parameters and
# scale are traced, so one program serves every scale and parameter value.
_run_static = jax.jit(
    _chunk_body, static_argnames=("problem", "n", "index", "levels", "num_rank_draws")
)
_run_traced = jax.jit(_chunk_body, static_argnames=("index", "levels", "num_rank_draws"))


def _fit_body(
    fit_keys: jax.Array,
    data: Any,
    truth: jax.Array,
    problem: SBCProblem,
    index: tuple[int, ...],
    levels: tuple[float, ...],
    num_rank_draws: int,
) -> DrawSummary:
    """Fit and summarise a chunk simulated on the host."""
    draws = problem.fit(fit_keys, data)
    selected = jnp.asarray(index)
    summarize = jax.vmap(summarize_draws, in_axes=(0, 0, None, None))
    return summarize(draws[..., selected], truth[:, selected], levels, num_rank_draws)


_run_host_simulated = jax.jit(
    _fit_body, static_argnames=("problem", "index", "levels", "num_rank_draws")
)
_split_pairs = jax.jit(jax.vmap(jax.random.split))


@dataclass
class _HostSimulatedProgram:
    """``keys -> summary`` for problems with ``host_simulation = True``.

    ``simulate`` runs eagerly on the host (e.g. NumPy/pandas generators); only the fit and
    the summaries are compiled. Simulated data of one scale can differ in shape between
    chunks (the hurdle BCF reads its severity channel at the converters only, a number
    padded to one of a few lengths), so one program is compiled per distinct data
    signature (array shapes, dtypes and static auxiliary data) and reused.
    ``compile_seconds`` is the time spent compiling in the latest call (0 on reuse).
    """

    problem: Any
    n: int
    static: dict
    sharding: Any
    compiled: dict = field(default_factory=dict)
    compile_seconds: float = 0.0

    def __call__(self, keys: jax.Array) -> DrawSummary:
        pairs = _split_pairs(keys)
        batch = self.problem.simulate(pairs[:, 0], self.n)
        data, truth = batch.data, jnp.asarray(batch.truth)
        if self.sharding is not None:
            data, truth = jax.device_put((data, truth), self.sharding)
        arguments = (pairs[:, 1], data, truth)
        signature = _data_signature(arguments)
        self.compile_seconds = 0.0
        if signature not in self.compiled:
            start = time.perf_counter()
            lowered = _run_host_simulated.lower(*arguments, problem=self.problem, **self.static)
            self.compiled[signature] = lowered.compile()
            self.compile_seconds = time.perf_counter() - start
        return self.compiled[signature](*arguments)

    def memory_analysis(self) -> Any:
        if not self.compiled:
            return None
        return next(iter(self.compiled.values())).memory_analysis()


def _data_signature(arguments: Any) -> tuple:
    """Tree structure (with static auxiliary data), shapes and dtypes of ``arguments``."""
    leaves, structure = jax.tree.flatten(arguments)
    return (structure, tuple((np.shape(x), str(getattr(x, "dtype", type(x)))) for x in leaves))


def _compile(
    spec: SweepSpec, problem: SBCProblem, n: int, keys: jax.Array, sharding: Any = None
) -> Any:
    """The compiled chunk program (``keys -> DrawSummary``) and its memory analysis."""
    static = {
        "index": tuple(int(i) for i in _quantity_index(spec, problem, n)),
        "levels": tuple(spec.levels),
        "num_rank_draws": spec.num_rank_draws,
    }
    if getattr(problem, "host_simulation", False):
        return _HostSimulatedProgram(problem, n, static, sharding)
    if getattr(problem, "traceable", False):
        scale = jnp.asarray(n, jnp.int32)
        compiled = _run_traced.lower(keys, problem, scale, **static).compile()
        return _Bound(compiled, (problem, scale))
    return _run_static.lower(keys, problem=problem, n=n, **static).compile()


@dataclass(frozen=True)
class _Bound:
    """A compiled traced program with its problem and scale bound (``keys -> summary``)."""

    compiled: Any
    arguments: tuple

    def __call__(self, keys: jax.Array) -> DrawSummary:
        return self.compiled(keys, *self.arguments)

    def memory_analysis(self) -> Any:
        return self.compiled.memory_analysis()


def _chunk_runner(
    spec: SweepSpec, problem: SBCProblem, n: int, devices: list
) -> Callable[[np.ndarray, int], tuple[DrawSummary, float, float]]:
    """Runner of padded chunks at scale ``n`` (compiles once per chunk size)."""
    sharding = None
    if len(devices) > 1:
        mesh = jax.sharding.Mesh(np.asarray(devices), ("replicate",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("replicate"))
    compiled: dict[int, Any] = {}

    def run(indices: np.ndarray, chunk_size: int) -> tuple[DrawSummary, float, float]:
        # pad to the chunk size (repeating the last replicate) so every chunk reuses one
        # compiled program and splits evenly over the devices
        padded = np.concatenate([indices, np.full(chunk_size - indices.size, indices[-1])])
        keys = replicate_keys(spec.seed, n, padded)
        if sharding is not None:
            keys = jax.device_put(keys, sharding)
        compile_seconds = 0.0
        if chunk_size not in compiled:
            start = time.perf_counter()
            compiled[chunk_size] = _compile(spec, problem, n, keys, sharding)
            compile_seconds = time.perf_counter() - start
        program = compiled[chunk_size]
        start = time.perf_counter()
        summary = jax.block_until_ready(program(keys))
        wall = time.perf_counter() - start
        if isinstance(program, _HostSimulatedProgram) and program.compile_seconds:
            # compiled during its first call: move that time from wall to compile
            wall -= program.compile_seconds
            compile_seconds += program.compile_seconds
            program.compile_seconds = 0.0
        trimmed = DrawSummary(*(np.asarray(field)[: indices.size] for field in summary))  # type: ignore[arg-type]
        return trimmed, wall, compile_seconds

    return run


# ------------------------------------------------------------------ storing
def _chunk_dataset(
    spec: SweepSpec,
    problem: SBCProblem,
    n: int,
    indices: np.ndarray,
    summary: DrawSummary,
    wall: float,
    compile_seconds: float,
) -> xr.Dataset:
    names = np.asarray(problem.quantity_names(n))[_quantity_index(spec, problem, n)]
    count = indices.size
    variables: dict[str, Any] = {}
    for name in _PER_QUANTITY:
        variables[name] = (("replicate", "quantity"), getattr(summary, name))
    for name in _PER_LEVEL:
        variables[name] = (("replicate", "quantity", "level"), getattr(summary, name))
    variables["wall_time"] = ("replicate", np.full(count, wall / count))
    variables["compile_time"] = ("replicate", np.full(count, compile_seconds / count))
    coords = {
        "n": ("replicate", np.full(count, n, np.int64)),
        "replicate_index": ("replicate", indices.astype(np.int64)),
        "quantity": [str(q) for q in names],
        "level": np.asarray(spec.levels, float),
    }
    chunk = xr.Dataset(variables, coords=coords)
    chunk.attrs = {
        "spec_hash": spec.spec_hash,
        "device": _device_description(),
        "num_draws": int(problem.num_draws(n)),
    }
    return chunk


def _merge(spec: SweepSpec, problem: SBCProblem, partial: Path) -> xr.Dataset:
    chunks, devices, num_draws = [], set(), {}
    for path in sorted(partial.glob("n*_r*.nc")):
        if _CHUNK_NAME.match(path.name):
            chunk = load_result(path)
            devices.add(chunk.attrs["device"])
            num_draws[int(chunk["n"][0])] = int(chunk.attrs["num_draws"])
            chunks.append(chunk)
    names = {tuple(c["quantity"].values) for c in chunks}
    if len(names) > 1:
        raise ValueError(f"the problem's quantities differ between scales: {sorted(names)}")
    merged = xr.concat(chunks, dim="replicate", combine_attrs="drop")
    order = np.lexsort((merged["replicate_index"].values, merged["n"].values))
    merged = merged.isel(replicate=order)
    merged.attrs = _provenance(spec, problem, sorted(devices), num_draws)
    return merged


def _provenance(
    spec: SweepSpec, problem: SBCProblem, devices: list[str], num_draws: dict[int, int]
) -> dict[str, Any]:
    regime = problem.regime
    return {
        "title": f"pytyche SBC sweep {spec.id}",
        "sweep_id": spec.id,
        "spec_hash": spec.spec_hash,
        "spec_json": json.dumps(spec.to_dict(), sort_keys=True),
        "spec_toml": spec.source,
        "dgp_kind": spec.dgp.kind,
        "model": regime.model,
        "model_version": regime.model_version,
        "family": str(regime.family),
        "metric": str(regime.metric),
        "num_arms": int(regime.num_arms),
        "num_rank_draws": int(spec.num_rank_draws),
        "num_draws_per_scale": json.dumps({str(k): v for k, v in sorted(num_draws.items())}),
        "pytyche_version": __version__,
        "jax_version": jax.__version__,
        "devices": "; ".join(devices),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _device_description() -> str:
    devices = jax.devices()
    kinds = sorted({getattr(d, "device_kind", d.platform) for d in devices})
    return f"{jax.default_backend()} x{len(devices)} ({', '.join(kinds)})"


def _write_atomic(dataset: xr.Dataset, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # compressed: results are mostly small integers and repeated coordinates
    encoding = {name: {"zlib": True, "complevel": 4} for name in dataset.data_vars}
    dataset.to_netcdf(str(temporary), engine="h5netcdf", encoding=encoding)
    os.replace(temporary, path)


def _progress_bar(spec: SweepSpec, done: dict[int, set[int]], enabled: bool) -> Any:
    from tqdm.auto import tqdm

    finished = sum(len(v) for v in done.values())
    return tqdm(
        total=spec.total_replicates,
        initial=finished,
        disable=not enabled,
        desc=f"SBC {spec.id}",
        unit="replicate",
    )
