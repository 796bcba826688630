"""A simulated user population with an instrument, an eligibility filter, a mediator and a collider.

This is the teaching population of the classic toolkit: a world whose causal structure is
known, so that each estimator can be checked against the truth. Its structural equations
follow the end-to-end experimentation walkthrough this project was seeded with; with
``seed=123`` and the default parameters the draws are made in the same order, so the
walkthrough's reported estimates (naive OLS ≈ 1.97, back-door OLS ≈ 1.90, 2SLS ≈ 1.45,
first-stage F ≈ 3780 at n = 50 000) are reproduced.

The causal graph (``→`` is a direct cause)::

    covariates X = (age, activity_score, segment, signup_month)      unobserved U
         activity_score ─────────────► E (eligibility)
         E, U, Z, 1[activity > 2.5] ──► T (treatment taken)
         T, activity_score, E ────────► exposure (mediator, a Poisson dose)
         T, U ────────────────────────► C (collider: never adjust for it)
         activity_score, age, U ──────► pre_metric (pre-period baseline, for CUPED)
         T, exposure, age, activity_score, segment, U ──► Y (outcome)
    Z (randomised encouragement) affects Y only through T (exclusion restriction).

Structural equations (σ(x) = 1 / (1 + e^{−x}); ``a_std`` is activity standardised in-sample)::

    signup_month ~ U{1..6};  segment ~ Cat(casual .5, regular .4, vip .1)
    age ~ clip(N(35, 10²), 18, 75);  activity_score ~ Gamma(shape 2, scale 2);  U ~ N(0, 1)
    pre_metric = 5 + 0.25 activity + 0.02 (age − 35) + 0.8 U + N(0, 1)
    Z ~ Bernoulli(0.5);  E ~ Bernoulli(σ(−0.5 + 0.3 a_std))
    T ~ Bernoulli(σ(−0.4 + 1.2 Z + 0.6 U + 0.5 E + 0.15·1[activity > 2.5]))
    exposure ~ Poisson(0.3 + 1.2 T + 0.35 activity + 0.8 E)
    C ~ Bernoulli(σ(−0.2 + T + 0.8 U))
    Y = 2 + τ(segment) T + 0.15 exposure + 0.02 (age − 35) + 0.3 activity
          + {casual 0, regular 0.4, vip 1.0}[segment] + U + N(0, 1)

What the estimators should find (all exact consequences of the equations):

* the **direct** effect of T on Y is τ = 1.2 (``true_effect``);
* T also raises the expected exposure dose by exactly 1.2, and each unit of exposure adds
  0.15 to Y, so the **total** effect of T on Y is 1.2 + 0.15 × 1.2 = 1.38. A valid
  instrument recovers this total effect: with constant effects the LATE equals it, and the
  walkthrough's 2SLS estimate of 1.45 is 1.38 plus about one standard error of noise;
* naive and back-door OLS are biased upward because U raises both T and Y;
* conditioning on C or on the mediator would bias the estimate further.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from pytyche.classic._validation import check_positive_int, check_probability

__all__ = [
    "SEGMENTS",
    "PopulationParameters",
    "simulate_instrumented_population",
]

SEGMENTS: tuple[str, ...] = ("casual", "regular", "vip")
"""Segment labels, in the order of their sampling probabilities (0.5, 0.4, 0.1)."""

_SEGMENT_SHARES = (0.5, 0.4, 0.1)
_SEGMENT_BASELINE = {"casual": 0.0, "regular": 0.4, "vip": 1.0}
_EXPOSURE_PER_TREATMENT = 1.2  # Poisson-rate increase of the dose when treated


@dataclass(frozen=True)
class PopulationParameters:
    """Causal parameters of :func:`simulate_instrumented_population`.

    Parameters
    ----------
    true_effect
        Direct effect τ of the treatment on the outcome (outcome units). Default 1.2.
    mediator_effect
        Effect of one unit of exposure dose on the outcome. Default 0.15.
    latent_confounding
        Coefficient of the unobserved confounder U in the outcome equation. Default 1.0;
        0 removes the confounding bias of OLS (U still drives treatment uptake).
    effect_shift_by_segment
        Optional additive shift of the direct effect per segment, e.g.
        ``{"vip": 0.8}`` makes the direct effect 2.0 for VIPs. Segments not named keep
        ``true_effect``. Default: no shift (a constant effect, as in the walkthrough).
    randomized_treated_share
        ``None`` (default) draws the treatment from the observational model (Z, U, E and
        activity drive uptake). A probability p instead assigns T ~ Bernoulli(p)
        independently of everything, turning the population into a clean randomised A/B
        test with the same outcome model.
    """

    true_effect: float = 1.2
    mediator_effect: float = 0.15
    latent_confounding: float = 1.0
    effect_shift_by_segment: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({})
    )
    randomized_treated_share: float | None = None

    def __post_init__(self) -> None:
        for name in ("true_effect", "mediator_effect", "latent_confounding"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not np.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if not isinstance(self.effect_shift_by_segment, Mapping):
            raise TypeError("effect_shift_by_segment must be a mapping from segment to shift")
        unknown = sorted(set(self.effect_shift_by_segment) - set(SEGMENTS))
        if unknown:
            raise ValueError(
                f"effect_shift_by_segment: unknown segment(s) {unknown}; "
                f"expected a subset of {list(SEGMENTS)}"
            )
        shifts = {str(k): float(v) for k, v in self.effect_shift_by_segment.items()}
        if not all(np.isfinite(v) for v in shifts.values()):
            raise ValueError("effect_shift_by_segment: shifts must be finite numbers")
        object.__setattr__(self, "effect_shift_by_segment", MappingProxyType(shifts))
        if self.randomized_treated_share is not None:
            check_probability(self.randomized_treated_share, "randomized_treated_share")

    def direct_effect(self, segment: str) -> float:
        """Direct effect of T on Y for one segment (simulation truth, outcome units)."""
        if segment not in SEGMENTS:
            raise ValueError(f"segment must be one of {list(SEGMENTS)}, got {segment!r}")
        return self.true_effect + self.effect_shift_by_segment.get(segment, 0.0)

    def total_effect(self, segment: str) -> float:
        """Direct plus mediated effect of T on Y for one segment (simulation truth).

        The mediated part is ``mediator_effect × 1.2``: treatment raises the Poisson rate of
        the exposure dose by exactly 1.2.
        """
        return self.direct_effect(segment) + self.mediator_effect * _EXPOSURE_PER_TREATMENT

    def segment_effects(self) -> pd.DataFrame:
        """Table of direct and total effects per segment (simulation truth)."""
        return pd.DataFrame(
            {
                "segment": list(SEGMENTS),
                "direct_effect": [self.direct_effect(s) for s in SEGMENTS],
                "total_effect": [self.total_effect(s) for s in SEGMENTS],
            }
        ).set_index("segment")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate_instrumented_population(
    n: int = 50_000,
    seed: int = 123,
    params: PopulationParameters | None = None,
    *,
    include_latent: bool = False,
) -> pd.DataFrame:
    """Simulate the instrumented teaching population (see the module docstring for the DAG).

    Parameters
    ----------
    n
        Number of users (rows).
    seed
        Seed of the NumPy generator; the same seed gives the same population.
    params
        Causal parameters; default :class:`PopulationParameters` (constant direct effect 1.2,
        observational treatment uptake driven by the instrument Z and confounders).
    include_latent
        Add the unobserved confounder as column ``u_latent``. Off by default: an analysis
        of real logs would not see it.

    Returns
    -------
    pandas.DataFrame
        One row per user with columns ``signup_month``, ``segment`` (categorical),
        ``age``, ``activity_score``, ``pre_metric``, ``Z`` (instrument), ``E``
        (eligibility), ``T`` (treatment taken), ``exposure`` (mediator dose), ``C``
        (collider) and ``Y`` (outcome), plus ``u_latent`` when requested.
    """
    n = check_positive_int(n, "n")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if params is None:
        params = PopulationParameters()
    if not isinstance(params, PopulationParameters):
        raise TypeError(f"params must be PopulationParameters, got {type(params).__name__}")
    rng = np.random.default_rng(seed)

    # The draw order below is part of the contract: it reproduces the walkthrough at seed 123.
    signup_month = rng.integers(1, 7, size=n)
    segment = rng.choice(np.array(SEGMENTS), size=n, p=_SEGMENT_SHARES)
    age = rng.normal(35.0, 10.0, size=n).clip(18.0, 75.0)
    activity = rng.gamma(shape=2.0, scale=2.0, size=n)
    latent = rng.normal(0.0, 1.0, size=n)
    pre_metric = (
        5.0 + 0.25 * activity + 0.02 * (age - 35.0) + 0.8 * latent + rng.normal(0.0, 1.0, n)
    )
    instrument = rng.binomial(1, 0.5, size=n)
    activity_std = (activity - activity.mean()) / activity.std() if n > 1 else activity * 0.0
    eligible = rng.binomial(1, _sigmoid(-0.5 + 0.3 * activity_std))
    if params.randomized_treated_share is None:
        uptake_logit = (
            -0.4 + 1.2 * instrument + 0.6 * latent + 0.5 * eligible + 0.15 * (activity > 2.5)
        )
        treated = rng.binomial(1, _sigmoid(uptake_logit))
    else:
        treated = rng.binomial(1, params.randomized_treated_share, size=n)
    dose_rate = 0.3 + _EXPOSURE_PER_TREATMENT * treated + 0.35 * activity + 0.8 * eligible
    exposure = rng.poisson(dose_rate)
    collider = rng.binomial(1, _sigmoid(-0.2 + 1.0 * treated + 0.8 * latent))
    segment_codes = pd.Categorical(segment, categories=list(SEGMENTS)).codes
    direct = np.array([params.direct_effect(s) for s in SEGMENTS])[segment_codes]
    segment_baseline = np.array([_SEGMENT_BASELINE[s] for s in SEGMENTS])[segment_codes]
    outcome = (
        2.0
        + direct * treated
        + params.mediator_effect * exposure
        + 0.02 * (age - 35.0)
        + 0.3 * activity
        + segment_baseline
        + params.latent_confounding * latent
        + rng.normal(0.0, 1.0, n)
    )
    frame = pd.DataFrame(
        {
            "signup_month": signup_month,
            "segment": pd.Categorical.from_codes(segment_codes, categories=list(SEGMENTS)),
            "age": age,
            "activity_score": activity,
            "pre_metric": pre_metric,
            "Z": instrument,
            "E": eligible,
            "T": treated,
            "exposure": exposure,
            "C": collider,
            "Y": outcome,
        }
    )
    if include_latent:
        frame["u_latent"] = latent
    return frame
