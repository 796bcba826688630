"""Response surfaces: functions of a visitor's covariates that set the hurdle outcome.

A :class:`Surface` maps a *design frame* (the observed covariates, plus the latent cluster in
column :data:`LATENT_CLUSTER` when the covariate model is a mixture) to one number per
visitor. The DGP core uses surfaces on the two hurdle channels' link scales:

- conversion: a **probit index** η, with P(convert) = Φ(η) (Albert & Chib 1993);
- spend: the **log-scale location** μ of a log-normal, with E[spend | convert] =
  exp(μ + σ²/2).

Baselines are surfaces; each active arm adds an effect surface per channel. Surfaces compose
with :func:`add_surfaces`, :func:`multiply_surfaces` and :func:`scale_surface`.
:class:`ProbitLiftSurface` turns a *relative* conversion lift (on the log scale: a lift ℓ
multiplies a reference conversion probability by exp(ℓ)) into the probit shift that
produces it, which is how templates plant "about 10% more conversions" on the probit scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy.special import ndtri

__all__ = [
    "LATENT_CLUSTER",
    "ConstantSurface",
    "FunctionSurface",
    "LevelSurface",
    "LinearSurface",
    "LinearTerm",
    "ProbitLiftSurface",
    "ProductSurface",
    "SigmoidSurface",
    "SumSurface",
    "Surface",
    "ThresholdSurface",
    "add_surfaces",
    "evaluate",
    "multiply_surfaces",
    "scale_surface",
]

LATENT_CLUSTER = "latent_cluster"
"""Design-frame column holding the latent cluster of mixture covariate models."""


@runtime_checkable
class Surface(Protocol):
    """A function of the design frame giving one value per visitor."""

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Values, shape (n_visitors,) (a scalar is broadcast)."""
        ...

    def describe(self) -> str:
        """A short formula a person can read."""
        ...


def evaluate(surface: Surface, design: pd.DataFrame) -> np.ndarray:
    """Evaluate ``surface`` and broadcast to a float64 array of shape (n_visitors,)."""
    values = np.asarray(surface(design), dtype=np.float64)
    return np.array(np.broadcast_to(values, (len(design),)))


@dataclass(frozen=True)
class ConstantSurface:
    """The same value for every visitor."""

    value: float

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Constant values."""
        return np.full(len(design), float(self.value))

    def describe(self) -> str:
        """Readable formula."""
        return f"{self.value:g}"


@dataclass(frozen=True)
class LinearTerm:
    """``coefficient * (f(x) - center) / scale`` with f = log1p when ``log`` else identity."""

    column: str
    coefficient: float
    center: float = 0.0
    scale: float = 1.0
    log: bool = False

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"LinearTerm {self.column!r}: scale must be positive")

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """The term's values."""
        x = design[self.column].to_numpy(dtype=np.float64)
        if self.log:
            x = np.log1p(x)
        return self.coefficient * (x - self.center) / self.scale


@dataclass(frozen=True)
class LinearSurface:
    """``intercept + Σ terms`` over numeric covariates."""

    intercept: float
    terms: tuple[LinearTerm, ...] = ()

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Linear predictor."""
        values = np.full(len(design), float(self.intercept))
        for term in self.terms:
            values += term(design)
        return values

    def describe(self) -> str:
        """Readable formula."""
        parts = [f"{self.intercept:g}"]
        for t in self.terms:
            x = f"log1p({t.column})" if t.log else t.column
            parts.append(f"{t.coefficient:+g}*({x}-{t.center:g})/{t.scale:g}")
        return " ".join(parts)


@dataclass(frozen=True)
class ThresholdSurface:
    """``above`` where ``column >= cutoff``, else ``below``."""

    column: str
    cutoff: float
    above: float
    below: float

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Step values."""
        x = design[self.column].to_numpy(dtype=np.float64)
        return np.where(x >= self.cutoff, self.above, self.below)

    def describe(self) -> str:
        """Readable formula."""
        return f"{self.above:g} if {self.column} >= {self.cutoff:g} else {self.below:g}"


@dataclass(frozen=True)
class SigmoidSurface:
    """``low + (high - low) / (1 + exp(-(f(x) - center) / width))``, f = log1p if ``log``."""

    column: str
    center: float
    width: float
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"SigmoidSurface {self.column!r}: width must be positive")

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Smooth step values."""
        x = design[self.column].to_numpy(dtype=np.float64)
        if self.log:
            x = np.log1p(x)
        return self.low + (self.high - self.low) / (1.0 + np.exp(-(x - self.center) / self.width))

    def describe(self) -> str:
        """Readable formula."""
        x = f"log1p({self.column})" if self.log else self.column
        return f"sigmoid({x}; center {self.center:g}, {self.low:g} -> {self.high:g})"


@dataclass(frozen=True)
class LevelSurface:
    """A value per level of a categorical, binary or latent-cluster column.

    Parameters
    ----------
    column : str
        Column to read (e.g. ``"device"``, ``"is_member"`` or :data:`LATENT_CLUSTER`).
    values : tuple of (level, value) pairs
        Value of each listed level.
    default : float
        Value for levels not listed.
    """

    column: str
    values: tuple[tuple[object, float], ...]
    default: float = 0.0

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Per-level values."""
        column = design[self.column]
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Look values up per category, then index by code: O(n) without string compares.
            lookup = dict(self.values)
            table = np.array(
                [lookup.get(level, self.default) for level in column.cat.categories] + [0.0],
                dtype=np.float64,
            )
            return table[column.cat.codes.to_numpy()]
        raw = column.to_numpy()
        out = np.full(len(design), float(self.default))
        for level, value in self.values:
            out[raw == level] = value
        return out

    def describe(self) -> str:
        """Readable formula."""
        pairs = ", ".join(f"{level}: {value:g}" for level, value in self.values)
        return f"by {self.column} {{{pairs}; else {self.default:g}}}"


@dataclass(frozen=True)
class FunctionSurface:
    """Any vectorised function of the design frame (prefer module-level functions)."""

    function: Callable[[pd.DataFrame], np.ndarray]
    description: str

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Function values."""
        return self.function(design)

    def describe(self) -> str:
        """Readable formula."""
        return self.description


@dataclass(frozen=True)
class SumSurface:
    """Sum of surfaces."""

    parts: tuple[Surface, ...]

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Elementwise sum."""
        total = np.zeros(len(design))
        for part in self.parts:
            total = total + evaluate(part, design)
        return total

    def describe(self) -> str:
        """Readable formula."""
        return " + ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class ProductSurface:
    """Product of surfaces."""

    parts: tuple[Surface, ...]

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Elementwise product."""
        total = np.ones(len(design))
        for part in self.parts:
            total = total * evaluate(part, design)
        return total

    def describe(self) -> str:
        """Readable formula."""
        return " * ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class ProbitLiftSurface:
    """Probit shift that multiplies a reference conversion probability by exp(lift).

    ``Φ⁻¹(p_ref · exp(ℓ(x))) − Φ⁻¹(p_ref)``: added to a probit index near Φ⁻¹(p_ref) it
    lifts conversion by a relative ``exp(ℓ) − 1`` (exactly at the reference, approximately
    around it).

    Parameters
    ----------
    lift : Surface
        Log relative lift ℓ(x).
    reference_probability : float
        p_ref in (0, 1).
    """

    lift: Surface
    reference_probability: float

    def __post_init__(self) -> None:
        if not 0.0 < self.reference_probability < 1.0:
            raise ValueError(
                f"reference_probability must be in (0, 1), got {self.reference_probability!r}"
            )

    def __call__(self, design: pd.DataFrame) -> np.ndarray:
        """Probit shifts."""
        target = self.reference_probability * np.exp(evaluate(self.lift, design))
        if np.any(target >= 1.0):
            raise ValueError(
                f"a conversion lift pushes the reference probability {self.reference_probability:g}"
                " to 1 or above; lower effect_scale"
            )
        return ndtri(target) - ndtri(self.reference_probability)

    def describe(self) -> str:
        """Readable formula."""
        return f"probit lift of exp({self.lift.describe()}) at p={self.reference_probability:g}"


def add_surfaces(*surfaces: Surface) -> SumSurface:
    """Sum of ``surfaces``."""
    return SumSurface(_check_surfaces(surfaces))


def multiply_surfaces(*surfaces: Surface) -> ProductSurface:
    """Product of ``surfaces``."""
    return ProductSurface(_check_surfaces(surfaces))


def scale_surface(surface: Surface, factor: float) -> ProductSurface:
    """``factor * surface``."""
    return ProductSurface((ConstantSurface(float(factor)), *_check_surfaces((surface,))))


def _check_surfaces(surfaces: Sequence[Surface]) -> tuple[Surface, ...]:
    surfaces = tuple(surfaces)
    if not surfaces:
        raise ValueError("expected at least one surface")
    for position, surface in enumerate(surfaces):
        if not isinstance(surface, Surface):
            raise TypeError(
                f"surface {position} must be callable on a design frame with a describe() "
                f"method, got {type(surface).__name__}"
            )
    return surfaces
