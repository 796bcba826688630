"""Sweep specifications: what an SBC sweep simulates, fits and records (TOML, validated).

A spec is a TOML file under ``sbc/sweeps/`` with four tables::

    [sweep]
    id = "conjugate-normal-check"      # names the sweep; recorded in results and artifacts
    description = "..."
    seed = 20261123                     # non-negative; fixes every replicate
    scales = [100, 1_000, 10_000]       # the grid of scales n (visitors), increasing
    replicates = 400                    # per scale: one int, or one per scale
    chunk_size = 100                    # replicates per vectorised batch (omit: auto)
    memory_budget_mb = 2048             # device memory a batch may use when chunk_size is auto
    levels = [0.5, 0.8, 0.9, 0.95]      # nominal central-interval levels
    num_rank_draws = 99                 # L: thinned draws the truth is ranked among
    quantities = ["*"]                  # glob patterns over the problem's quantity names

    [dgp]
    kind = "prior_predictive"           # or "generator"
    # generator only: a template of pytyche.generators.TEMPLATES, with randomised
    # effect parameters drawn per replicate from uniform ranges
    template = "clustered"
    num_arms = 3
    metric = "revenue_per_visitor"
    [dgp.randomize]
    effect_scale = [0.05, 0.2]
    [dgp.template_params]               # fixed extra template arguments

    [model]
    name = "conjugate_normal"           # a registered SBC problem (pytyche.sbc.problem)
    [model.params]                      # model parameters, validated by the problem

    [fit]                               # fit configuration, validated by the problem

Unknown tables or keys are errors (a typo must not silently change a sweep). The model
and fit tables are handed to the named problem's factory, which validates them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_LEVELS",
    "DGP_KINDS",
    "DGPSpec",
    "SpecError",
    "SweepSpec",
    "load_spec",
    "parse_spec",
]

DEFAULT_LEVELS = (0.5, 0.8, 0.9, 0.95)
DGP_KINDS = ("prior_predictive", "generator")
DEFAULT_MEMORY_BUDGET_MB = 2048.0
DEFAULT_RANK_DRAWS = 99

_TABLES = {"sweep", "dgp", "model", "fit"}
_SWEEP_KEYS = {
    "id",
    "description",
    "seed",
    "scales",
    "replicates",
    "chunk_size",
    "memory_budget_mb",
    "levels",
    "num_rank_draws",
    "quantities",
}
_DGP_KEYS = {"kind", "template", "num_arms", "metric", "randomize", "template_params"}
_MODEL_KEYS = {"name", "params"}


class SpecError(ValueError):
    """A sweep spec is malformed; the message names the table and key."""


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class DGPSpec:
    """The data-generating family of a sweep.

    Attributes
    ----------
    kind
        ``"prior_predictive"``: parameters drawn from the model's own prior (SBC proper:
        ranks are uniform for an exact posterior). ``"generator"``: a scenario template
        of :mod:`pytyche.generators` with effect parameters drawn per replicate from
        ``randomize`` (coverage at planted effects; ranks need not be uniform).
    template, num_arms, metric
        Generator template name, arms including control, metric (generator only).
    randomize
        Parameter name -> ``(low, high)``: drawn uniformly per replicate.
    template_params
        Fixed extra template arguments.
    """

    kind: str
    template: str | None = None
    num_arms: int | None = None
    metric: str | None = None
    randomize: Mapping[str, tuple[float, float]] = field(default_factory=lambda: _frozen({}))
    template_params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))

    def __post_init__(self) -> None:
        if self.kind not in DGP_KINDS:
            raise SpecError(f"[dgp] kind must be one of {DGP_KINDS}, got {self.kind!r}")
        if self.kind == "prior_predictive":
            extra = [k for k in ("template", "num_arms", "metric") if getattr(self, k) is not None]
            if extra or self.randomize or self.template_params:
                raise SpecError(
                    "[dgp] kind = 'prior_predictive' draws every parameter from the model's "
                    f"prior; remove the generator keys {extra or ['randomize/template_params']}"
                )
            return
        if not isinstance(self.template, str) or not self.template:
            raise SpecError("[dgp] kind = 'generator' needs template = '<template name>'")
        if self.num_arms is None or not _is_int(self.num_arms) or self.num_arms < 2:
            raise SpecError(f"[dgp] num_arms must be an integer >= 2, got {self.num_arms!r}")
        if not isinstance(self.metric, str):
            raise SpecError(f"[dgp] metric must be a metric name, got {self.metric!r}")
        for name, bounds in self.randomize.items():
            low, high = bounds
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise SpecError(
                    f"[dgp.randomize] {name} must be [low, high] with low <= high, got {bounds}"
                )


@dataclass(frozen=True)
class SweepSpec:
    """A validated SBC sweep specification (see the module docstring for the TOML form).

    Attributes
    ----------
    id, description
        Sweep identifier and free text.
    seed
        Non-negative root seed.
    scales
        Increasing scales n.
    replicates
        Replicates per scale (one per scale).
    chunk_size
        Replicates per vectorised batch; None picks it from ``memory_budget_mb``.
    memory_budget_mb
        Device memory one batch may use when ``chunk_size`` is None.
    levels
        Increasing nominal levels in (0, 1).
    num_rank_draws
        ``L``; ranks lie in ``0..L``.
    quantities
        Glob patterns selecting tracked quantities of the problem.
    dgp
        `DGPSpec`.
    model
        Registered SBC problem name.
    model_params, fit_params
        Read-only tables handed to the problem's factory.
    source
        The TOML text the spec was parsed from (provenance).
    """

    id: str
    seed: int
    scales: tuple[int, ...]
    replicates: tuple[int, ...]
    dgp: DGPSpec
    model: str
    description: str = ""
    chunk_size: int | None = None
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB
    levels: tuple[float, ...] = DEFAULT_LEVELS
    num_rank_draws: int = DEFAULT_RANK_DRAWS
    quantities: tuple[str, ...] = ("*",)
    model_params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    fit_params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise SpecError(f"[sweep] id must be a non-empty string, got {self.id!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise SpecError(f"[sweep] seed must be a non-negative integer, got {self.seed!r}")
        _check_scales(self.scales)
        if len(self.replicates) != len(self.scales):
            raise SpecError(
                f"[sweep] replicates must be one integer or one per scale "
                f"({len(self.scales)}), got {list(self.replicates)}"
            )
        if not all(_is_int(r) and r >= 1 for r in self.replicates):
            raise SpecError(f"[sweep] replicates must be positive integers, got {self.replicates}")
        if self.chunk_size is not None and (not _is_int(self.chunk_size) or self.chunk_size < 1):
            raise SpecError(
                f"[sweep] chunk_size must be a positive integer, got {self.chunk_size!r}"
            )
        if not _is_real(self.memory_budget_mb) or not self.memory_budget_mb > 0:
            raise SpecError(
                f"[sweep] memory_budget_mb must be a positive number, got {self.memory_budget_mb!r}"
            )
        _check_levels(self.levels)
        if not _is_int(self.num_rank_draws) or self.num_rank_draws < 1:
            raise SpecError(
                f"[sweep] num_rank_draws must be a positive integer, got {self.num_rank_draws!r}"
            )
        if not self.quantities or not all(isinstance(q, str) and q for q in self.quantities):
            raise SpecError(
                f"[sweep] quantities must be non-empty glob patterns, got {self.quantities}"
            )
        if not isinstance(self.model, str) or not self.model:
            raise SpecError(f"[model] name must be a non-empty string, got {self.model!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready form (the TOML tables)."""
        sweep: dict[str, Any] = {
            "id": self.id,
            "description": self.description,
            "seed": self.seed,
            "scales": list(self.scales),
            "replicates": list(self.replicates),
            "memory_budget_mb": self.memory_budget_mb,
            "levels": list(self.levels),
            "num_rank_draws": self.num_rank_draws,
            "quantities": list(self.quantities),
        }
        if self.chunk_size is not None:
            sweep["chunk_size"] = self.chunk_size
        dgp: dict[str, Any] = {"kind": self.dgp.kind}
        for key in ("template", "num_arms", "metric"):
            if getattr(self.dgp, key) is not None:
                dgp[key] = getattr(self.dgp, key)
        if self.dgp.randomize:
            dgp["randomize"] = {k: list(v) for k, v in self.dgp.randomize.items()}
        if self.dgp.template_params:
            dgp["template_params"] = dict(self.dgp.template_params)
        return {
            "sweep": sweep,
            "dgp": dgp,
            "model": {"name": self.model, "params": dict(self.model_params)},
            "fit": dict(self.fit_params),
        }

    @property
    def spec_hash(self) -> str:
        """SHA-256 of the canonical JSON form; a resumed sweep must match it."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def total_replicates(self) -> int:
        """Replicates over all scales."""
        return sum(self.replicates)


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec from a TOML file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    SpecError
        If the TOML is invalid or a table/key is missing, unknown or ill-typed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep spec {str(path)!r} does not exist")
    return parse_spec(path.read_text(), origin=str(path))


def parse_spec(text: str, origin: str = "<string>") -> SweepSpec:
    """Parse and validate the TOML text of a sweep spec (``origin`` names it in errors)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{origin}: invalid TOML: {error}") from None
    try:
        return _build(document, text)
    except SpecError as error:
        raise SpecError(f"{origin}: {error}") from None


def _build(document: dict[str, Any], text: str) -> SweepSpec:
    _check_keys(document, _TABLES, "top level")
    for table in ("sweep", "dgp", "model"):
        if table not in document or not isinstance(document[table], dict):
            raise SpecError(f"missing table [{table}]")
    sweep = document["sweep"]
    _check_keys(sweep, _SWEEP_KEYS, "[sweep]")
    for key in ("id", "seed", "scales", "replicates"):
        if key not in sweep:
            raise SpecError(f"[sweep] is missing the key {key!r}")
    scales = _int_tuple(sweep["scales"], "[sweep] scales")
    replicates = sweep["replicates"]
    replicates = (
        (replicates,) * len(scales)
        if _is_int(replicates)
        else _int_tuple(replicates, "[sweep] replicates")
    )
    levels = sweep.get("levels", list(DEFAULT_LEVELS))
    if not isinstance(levels, list) or not all(_is_real(v) for v in levels):
        raise SpecError(f"[sweep] levels must be a list of numbers, got {levels!r}")
    quantities = sweep.get("quantities", ["*"])
    if isinstance(quantities, str):
        quantities = [quantities]
    return SweepSpec(
        id=sweep["id"],
        description=str(sweep.get("description", "")),
        seed=sweep["seed"],
        scales=scales,
        replicates=tuple(replicates),
        chunk_size=sweep.get("chunk_size"),
        memory_budget_mb=sweep.get("memory_budget_mb", DEFAULT_MEMORY_BUDGET_MB),
        levels=tuple(float(v) for v in levels),
        num_rank_draws=sweep.get("num_rank_draws", DEFAULT_RANK_DRAWS),
        quantities=tuple(quantities) if isinstance(quantities, list) else quantities,
        dgp=_build_dgp(document["dgp"]),
        model=_build_model_name(document["model"]),
        model_params=_frozen(document["model"].get("params", {})),
        fit_params=_frozen(_table(document.get("fit", {}), "[fit]")),
        source=text,
    )


def _build_dgp(table: dict[str, Any]) -> DGPSpec:
    _check_keys(table, _DGP_KEYS, "[dgp]")
    if "kind" not in table:
        raise SpecError(f"[dgp] is missing the key 'kind' (one of {DGP_KINDS})")
    randomize = _table(table.get("randomize", {}), "[dgp.randomize]")
    ranges = {}
    for name, bounds in randomize.items():
        if not isinstance(bounds, list) or len(bounds) != 2 or not all(_is_real(b) for b in bounds):
            raise SpecError(f"[dgp.randomize] {name} must be [low, high], got {bounds!r}")
        ranges[name] = (float(bounds[0]), float(bounds[1]))
    return DGPSpec(
        kind=table["kind"],
        template=table.get("template"),
        num_arms=table.get("num_arms"),
        metric=table.get("metric"),
        randomize=_frozen(ranges),
        template_params=_frozen(_table(table.get("template_params", {}), "[dgp.template_params]")),
    )


def _build_model_name(table: dict[str, Any]) -> str:
    _check_keys(table, _MODEL_KEYS, "[model]")
    if "name" not in table:
        raise SpecError("[model] is missing the key 'name' (a registered SBC model)")
    _table(table.get("params", {}), "[model.params]")
    return table["name"]


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a table, got {value!r}")
    return value


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(f"{where} has unknown keys {unknown}; allowed: {sorted(allowed)}")


def _int_tuple(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
        raise SpecError(f"{where} must be a non-empty list of integers, got {value!r}")
    return tuple(value)


def _check_scales(scales: tuple[int, ...]) -> None:
    if not scales or not all(_is_int(n) and n >= 1 for n in scales):
        raise SpecError(f"[sweep] scales must be positive integers, got {list(scales)}")
    if any(b <= a for a, b in itertools.pairwise(scales)):
        raise SpecError(f"[sweep] scales must be strictly increasing, got {list(scales)}")
    if max(scales) >= 2**31:
        raise SpecError(f"[sweep] scales must be below 2**31, got {max(scales)}")


def _check_levels(levels: tuple[float, ...]) -> None:
    if not levels or not all(_is_real(v) and 0 < v < 1 for v in levels):
        raise SpecError(f"[sweep] levels must be numbers in (0, 1), got {list(levels)}")
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise SpecError(f"[sweep] levels must be strictly increasing, got {list(levels)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
