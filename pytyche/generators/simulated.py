"""Simulated generators: a template turned into the callable the sequential loop pulls from.

``generator = simulated_experiment_generator(template="clustered_realistic", K=3, seed=42)``
gives a :class:`SimulatedGenerator`; ``generator(round_index, plan)`` returns the round's
observed :class:`~pytyche.data.RoundData` and its sealed :class:`~pytyche.contracts.Truth`.

Guarantees
----------
- Deterministic per (seed, round): the same seed, round and plan give identical frames.
  Covariates and potential outcomes do not depend on the plan (separate random streams),
  so two plans for the same round face the same visitors.
- Visitor ids are unique across rounds (``round * 10**9 + position``).
- Visitors are assigned by the plan's cells (Control → control, Explore → uniform, any other
  policy → its probabilities); the ``cell`` and the marginal propensities are recorded
  (see :mod:`pytyche.experiment.cells`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pytyche.contracts import Metric, Truth
from pytyche.data import RoundData
from pytyche.generators.core import (
    SUPPORTED_METRICS,
    Scenario,
    compute_potential_outcomes,
    sample_design,
    simulate_round,
)
from pytyche.generators.templates import TEMPLATES

if TYPE_CHECKING:
    from pytyche.experiment.cells import Cell
    from pytyche.experiment.plan import NextRoundPlan

__all__ = ["SimulatedGenerator", "generate_dataset", "simulated_experiment_generator"]


@dataclass(frozen=True, eq=False)
class SimulatedGenerator:
    """A round generator backed by a scenario template (build with
    :func:`simulated_experiment_generator`).

    Attributes
    ----------
    template : str
        Template name.
    scenario : Scenario
        The DGP regimes.
    metric : Metric
        Experiment metric (sets the outcome column and the truth's metric).
    effect_scale : float
    seed : int
    treatments : tuple of str
        Arm names, control first.
    template_kwargs : dict
        Extra template parameters the scenario was built with.
    """

    template: str
    scenario: Scenario
    metric: Metric
    effect_scale: float
    seed: int
    treatments: tuple[str, ...]
    template_kwargs: dict[str, Any] = field(default_factory=dict)

    simulated = True
    """Simulated generators return truth; real-data generators return ``None``."""

    def __call__(self, round_index: int, plan: NextRoundPlan) -> tuple[RoundData, Truth]:
        """Simulate round ``round_index`` of ``plan``.

        Parameters
        ----------
        round_index : int
            Non-negative round index; with the seed it fixes the round's randomness.
        plan : NextRoundPlan
            Visitors and cells; its treatments must equal this generator's.

        Returns
        -------
        (RoundData, Truth)
        """
        _check_round_index(round_index)
        _check_plan(plan, self.treatments)
        dgp = self.scenario.dgp_for_round(round_index)
        return simulate_round(dgp, plan, self.treatments, self.metric, self.seed, round_index)

    @property
    def config(self) -> dict[str, Any]:
        """Arguments that rebuild this generator: ``simulated_experiment_generator(**config)``.

        JSON-ready as long as the template kwargs are (the built-in ones are).
        """
        return {
            "template": self.template,
            "metric": self.metric.value,
            "effect_scale": self.effect_scale,
            "K": len(self.treatments),
            "seed": self.seed,
            "treatment_names": list(self.treatments),
            **self.template_kwargs,
        }

    def describe(self) -> str:
        """The scenario in words."""
        return (
            f"{self.template} (K={len(self.treatments)}, effect_scale={self.effect_scale:g}, "
            f"metric={self.metric.value}, seed={self.seed}): {self.scenario.description}"
        )

    def __repr__(self) -> str:
        return f"SimulatedGenerator({self.describe()}; arms {list(self.treatments)})"


def simulated_experiment_generator(
    template: str,
    metric: str = Metric.REVENUE_PER_VISITOR.value,
    effect_scale: float = 0.1,
    K: int | None = None,
    seed: int = 0,
    treatment_names: Sequence[str] | None = None,
    **template_kwargs: Any,
) -> SimulatedGenerator:
    """Wrap a scenario template as a round generator for the sequential loop.

    Parameters
    ----------
    template : str
        A key of :data:`pytyche.generators.TEMPLATES` (built-in or registered).
    metric : {"revenue_per_visitor", "conversion_rate", "revenue_per_converter"}
        Experiment metric.
    effect_scale : float
        Size of the planted effects (a log relative lift; 0.1 is about 10%). Non-negative.
    K : int, optional
        Number of arms, control included (>= 2). Defaults to ``len(treatment_names)``, or 3.
    seed : int
        Non-negative seed; each round's randomness is fixed by (seed, round).
    treatment_names : sequence of str, optional
        Arm names mapped onto the template's arms, control first (length K). Defaults to the
        template's names, else ``control, treatment_1, ...``.
    **template_kwargs
        Extra template parameters (see each template's docstring).

    Returns
    -------
    SimulatedGenerator
    """
    name = _check_template_name(template)
    metric_value = _check_metric(metric)
    effect_scale = _check_effect_scale(effect_scale)
    n_arms = _check_k(K, treatment_names)
    seed = _check_seed(seed)
    try:
        scenario = TEMPLATES[name](n_arms, effect_scale, **template_kwargs)
    except TypeError as error:
        raise TypeError(f"template {name!r} rejected its arguments: {error}") from None
    if not isinstance(scenario, Scenario) or scenario.n_arms != n_arms:
        raise TypeError(f"template {name!r} must return a Scenario with K={n_arms} arms")
    treatments = _resolve_treatments(treatment_names, n_arms, scenario.arm_names)
    _dry_run(name, scenario)
    return SimulatedGenerator(
        name, scenario, metric_value, effect_scale, seed, treatments, dict(template_kwargs)
    )


def generate_dataset(
    template: str,
    n_visitors: int,
    *,
    metric: str = Metric.REVENUE_PER_VISITOR.value,
    effect_scale: float = 0.1,
    K: int | None = None,
    seed: int = 0,
    treatment_names: Sequence[str] | None = None,
    cells: Sequence[Cell] | None = None,
    round_index: int = 0,
    **template_kwargs: Any,
) -> tuple[RoundData, Truth]:
    """One simulated dataset (e.g. for a calibration replicate or a quick fit).

    Same parameters as :func:`simulated_experiment_generator`, plus ``n_visitors``, the
    ``cells`` that assign them (default: one Explore cell, i.e. uniform randomisation) and
    the ``round_index`` to simulate.
    """
    from pytyche.experiment.cells import Cell, Explore  # deferred: experiment imports us
    from pytyche.experiment.plan import NextRoundPlan

    generator = simulated_experiment_generator(
        template, metric, effect_scale, K, seed, treatment_names, **template_kwargs
    )
    if cells is None:
        cells = (Cell("explore", Explore(), 1.0),)
    plan = NextRoundPlan(n_visitors=n_visitors, cells=tuple(cells), treatments=generator.treatments)
    return generator(round_index, plan)


# ------------------------------------------------------------------ validation
_DRY_RUN_VISITORS = 2_000


def _dry_run(name: str, scenario: Scenario) -> None:
    """Evaluate every regime on a few visitors so a bad scenario fails at construction."""
    for start, dgp in scenario.regimes:
        design = sample_design(dgp.covariates, np.random.default_rng(0), _DRY_RUN_VISITORS)
        outcomes = compute_potential_outcomes(dgp, design)
        dgp.segments.codes(design.frame)
        finite = all(
            np.all(np.isfinite(values))
            for values in (outcomes.conversion_index, outcomes.log_spend_location)
        )
        if not finite:
            raise ValueError(
                f"template {name!r} (regime from round {start}) produced non-finite conversion "
                "indices or spend locations"
            )


def _check_template_name(template: str) -> str:
    if not isinstance(template, str):
        raise TypeError(f"template must be a template name (str), got {type(template).__name__}")
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; available templates: {sorted(TEMPLATES)}")
    return template


def _check_metric(metric: str | Metric) -> Metric:
    allowed = [m.value for m in SUPPORTED_METRICS]
    try:
        value = Metric(metric)
    except ValueError:
        raise ValueError(f"metric must be one of {allowed}, got {metric!r}") from None
    if value not in SUPPORTED_METRICS:
        raise ValueError(f"metric must be one of {allowed}, got {metric!r}")
    return value


def _check_effect_scale(effect_scale: float) -> float:
    if isinstance(effect_scale, bool) or not isinstance(effect_scale, numbers.Real):
        raise TypeError(f"effect_scale must be a number, got {effect_scale!r}")
    if not math.isfinite(effect_scale) or effect_scale < 0:
        raise ValueError(f"effect_scale must be finite and >= 0, got {effect_scale!r}")
    return float(effect_scale)


def _check_k(K: int | None, treatment_names: Sequence[str] | None) -> int:
    if K is None:
        if treatment_names is None:
            return 3
        if isinstance(treatment_names, str) or not isinstance(treatment_names, Sequence):
            raise TypeError(f"treatment_names must be a sequence of str, got {treatment_names!r}")
        K = len(treatment_names)
    if isinstance(K, bool) or not isinstance(K, numbers.Integral):
        raise TypeError(f"K must be an integer number of arms, got {K!r}")
    if K < 2:
        raise ValueError(f"K must be at least 2 (control and one treatment), got {K}")
    return int(K)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return int(seed)


def _resolve_treatments(
    treatment_names: Sequence[str] | None, K: int, template_names: tuple[str, ...] | None
) -> tuple[str, ...]:
    if treatment_names is None:
        if template_names is not None and len(template_names) == K:
            return tuple(template_names)
        return ("control", *(f"treatment_{j}" for j in range(1, K)))
    if isinstance(treatment_names, str) or not isinstance(treatment_names, Sequence):
        raise TypeError(f"treatment_names must be a sequence of str, got {treatment_names!r}")
    names = tuple(treatment_names)
    if len(names) != K:
        raise ValueError(
            f"treatment_names has {len(names)} names {list(names)} but K={K}; give one name "
            "per arm, control first"
        )
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != K:
        raise ValueError(f"treatment_names must be unique non-empty strings, got {list(names)}")
    return names


def _check_round_index(round_index: int) -> None:
    if isinstance(round_index, bool) or not isinstance(round_index, numbers.Integral):
        raise TypeError(f"round_index must be an integer, got {round_index!r}")
    if round_index < 0:
        raise ValueError(f"round_index must be non-negative, got {round_index}")


def _check_plan(plan: NextRoundPlan, treatments: tuple[str, ...]) -> None:
    for attribute in ("n_visitors", "cells", "treatments"):
        if not hasattr(plan, attribute):
            raise TypeError(
                f"plan must be a NextRoundPlan (n_visitors, cells, treatments), got "
                f"{type(plan).__name__}"
            )
    if tuple(plan.treatments) != treatments:
        raise ValueError(
            f"plan.treatments {list(plan.treatments)} differ from the generator's arms "
            f"{list(treatments)}"
        )
