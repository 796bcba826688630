"""The data-generating core: covariates, potential outcomes, assignment, outcomes, truth.

One round is simulated in four pure stages:

1. :func:`sample_design` — draw visitors' covariates (and latent cluster);
2. :func:`compute_potential_outcomes` — for **every visitor under every arm**: the probit
   conversion index η_a(x) = η_0(x) + δ_a(x), the log-spend location μ_a(x) = μ_0(x) +
   γ_a(x), the conversion probability p_a(x) = Φ(η_a(x)), the mean spend of a converter
   m_a(x) = exp(μ_a(x) + σ²/2) and the revenue per visitor p_a(x)·m_a(x) (with a whale
   share w, ``m_a(x) = exp(μ_a(x) + σ²/2)·(1 − w + w·e^Δ)``);
3. assignment by the plan's cells (:func:`pytyche.experiment.cells.assign_visitors`);
4. :func:`draw_outcomes` — conversion ~ Bernoulli(p_a(x)) and, for converters,
   log spend ~ N(μ_a(x), σ²) for the arm a actually received; with a whale share w, each
   converter is independently a "whale" with probability w, whose log spend is shifted
   by Δ (a two-component log-normal mixture, not log-normal).

Because stage 2 covers all arms, the truth handed out (sealed in a
:class:`~pytyche.contracts.Truth`) is exact, not estimated. Covariates, assignment and
outcomes use three independent random streams spawned from (seed, round), so the same
visitors and potential outcomes appear whatever the plan.

The truth is covariate-conditional
----------------------------------
Outcomes are drawn from the potential outcomes of each visitor's own latent cluster, but an
estimator sees only the covariates, so what it can learn is ``E[· | X = x]``.
:func:`expected_outcomes` computes it: with π_c(x) = P(c | x) the exact posterior cluster
probabilities of the mixture
(:meth:`~pytyche.generators.covariates.MixtureCovariateModel.cluster_probabilities`),

- conversion ``P(convert | x, a) = Σ_c π_c(x) p_a(x, c)``;
- revenue per visitor ``Σ_c π_c(x) p_a(x, c) m_a(x, c)``;
- revenue per converter ``E[spend | convert, x, a]`` = revenue per visitor / conversion
  (converters weight the clusters by their conversion probability).

Without latent clusters these are the potential outcomes themselves. The sealed truth holds
these values; the latent-cluster-conditional ones travel beside them as
``latent_rpv`` for diagnosis only.

Metrics
-------
``revenue_per_visitor``: outcome column ``revenue`` (0 for non-converters); truth metric
p·m. ``revenue_per_converter``: the same observed ``revenue`` column; truth metric m.
``conversion_rate``: outcome column ``converted`` (0/1); truth metric p.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr

from pytyche.contracts import Metric, MetricFamily, Truth, TruthData
from pytyche.data import CELL_COLUMN, PROPENSITY_PREFIX, ROUND_COLUMN, RoundData
from pytyche.generators.covariates import CovariateModel, MixtureCovariateModel
from pytyche.generators.surfaces import LATENT_CLUSTER, Surface, evaluate

if TYPE_CHECKING:
    from pytyche.experiment.plan import NextRoundPlan

__all__ = [
    "ARM_COLUMN",
    "ID_COLUMN",
    "SUPPORTED_METRICS",
    "VISITOR_ID_STRIDE",
    "Design",
    "ExpectedOutcomes",
    "HurdleDGP",
    "PotentialOutcomes",
    "Scenario",
    "Segmentation",
    "compute_potential_outcomes",
    "draw_outcomes",
    "expected_outcomes",
    "metric_values",
    "outcome_column",
    "round_streams",
    "sample_design",
    "segment_means",
    "simulate_round",
]

ARM_COLUMN = "arm"
ID_COLUMN = "visitor_id"
VISITOR_ID_STRIDE = 10**9
"""Visitor ids are ``round_index * VISITOR_ID_STRIDE + position``: unique across rounds."""
SUPPORTED_METRICS = (
    Metric.REVENUE_PER_VISITOR,
    Metric.CONVERSION_RATE,
    Metric.REVENUE_PER_CONVERTER,
)


@dataclass(frozen=True)
class Segmentation:
    """The planted segments of a scenario, used for segment-level truth.

    Build with :meth:`from_clusters` (segments are the latent clusters) or
    :meth:`from_rules` (the first matching rule names a visitor's segment).
    """

    names: tuple[str, ...]
    rules: tuple[str, ...] | None = None

    @classmethod
    def from_clusters(cls, clusters: Sequence[str]) -> Segmentation:
        """Segments equal to the latent clusters of a mixture covariate model."""
        return cls(tuple(clusters), None)

    @classmethod
    def from_rules(cls, named_rules: Sequence[tuple[str, str]]) -> Segmentation:
        """Segments from ``(name, rule)`` pairs in ``DataFrame.eval`` syntax; first match wins.

        The last rule should be ``"True"`` (or otherwise cover everyone left).
        """
        names = tuple(name for name, _ in named_rules)
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"segment names must be unique and non-empty, got {names}")
        return cls(names, tuple(rule for _, rule in named_rules))

    def codes(self, design: pd.DataFrame) -> np.ndarray:
        """Segment of each visitor as an index into :attr:`names`, shape (n,)."""
        if self.rules is None:
            clusters = pd.Categorical(design[LATENT_CLUSTER], categories=list(self.names))
            codes = np.asarray(clusters.codes, dtype=np.int64)
        else:
            codes = np.full(len(design), -1, dtype=np.int64)
            for position, rule in enumerate(self.rules):
                mask = np.asarray(design.eval(rule, engine="python"), dtype=bool)
                codes[np.broadcast_to(mask, codes.shape) & (codes < 0)] = position
        if np.any(codes < 0):
            raise ValueError(f"segments {self.names} leave some visitors unlabelled")
        return codes

    def labels(self, design: pd.DataFrame) -> np.ndarray:
        """Segment name of each visitor, shape (n,), dtype object."""
        return np.asarray(self.names, dtype=object)[self.codes(design)]


@dataclass(frozen=True, eq=False)
class HurdleDGP:
    """A hurdle data-generating process for K arms (arm 0 = control).

    Parameters
    ----------
    covariates : CovariateModel or MixtureCovariateModel
        Visitor covariates (and latent cluster).
    conversion_baseline : Surface
        Probit index η_0(x) of conversion under control.
    spend_baseline : Surface
        Log-scale location μ_0(x) of a converter's spend under control.
    conversion_effects : tuple of Surface
        δ_a(x) added to the probit index for each active arm a = 1..K-1.
    spend_effects : tuple of Surface
        γ_a(x) added to the log-spend location for each active arm.
    spend_sigma : float
        Log-scale standard deviation σ of spend (σ ≈ 1 is a heavy tail).
    segments : Segmentation
        Planted segments reported in the truth.
    whale_share : float, default 0
        Probability w that a converter is a "whale", independent of arm and covariates.
    whale_log_shift : float, default 0
        Δ added to a whale's log spend (``e^Δ`` times the spend of an ordinary converter).
    """

    covariates: CovariateModel | MixtureCovariateModel
    conversion_baseline: Surface
    spend_baseline: Surface
    conversion_effects: tuple[Surface, ...]
    spend_effects: tuple[Surface, ...]
    spend_sigma: float
    segments: Segmentation
    whale_share: float = 0.0
    whale_log_shift: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "conversion_effects", tuple(self.conversion_effects))
        object.__setattr__(self, "spend_effects", tuple(self.spend_effects))
        if len(self.conversion_effects) != len(self.spend_effects):
            raise ValueError(
                f"{len(self.conversion_effects)} conversion effects but "
                f"{len(self.spend_effects)} spend effects; expected one of each per active arm"
            )
        if not self.conversion_effects:
            raise ValueError("expected effects for at least one active arm (K >= 2)")
        if not (np.isfinite(self.spend_sigma) and self.spend_sigma > 0):
            raise ValueError(f"spend_sigma must be positive, got {self.spend_sigma!r}")
        if not 0.0 <= self.whale_share < 1.0:
            raise ValueError(f"whale_share must be in [0, 1), got {self.whale_share!r}")
        if not np.isfinite(self.whale_log_shift):
            raise ValueError(f"whale_log_shift must be finite, got {self.whale_log_shift!r}")

    @property
    def whale_factor(self) -> float:
        """``1 − w + w·e^Δ``: the whales' factor on the mean spend of a converter."""
        return 1.0 - self.whale_share + self.whale_share * float(np.exp(self.whale_log_shift))

    @property
    def n_arms(self) -> int:
        """Number of arms K, control included."""
        return len(self.conversion_effects) + 1


@dataclass(frozen=True, eq=False)
class Scenario:
    """A template's output: one or more DGP regimes over rounds.

    Parameters
    ----------
    name : str
        Template name.
    regimes : tuple of (int, HurdleDGP)
        ``(first_round, dgp)`` pairs sorted by first round, the first starting at round 0.
        Round r uses the last regime whose first round is <= r (``drift`` has two).
    description : str
        The planted structure in words.
    arm_names : tuple of str, optional
        The template's default arm names (control first); generic names when omitted.
    """

    name: str
    regimes: tuple[tuple[int, HurdleDGP], ...]
    description: str
    arm_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        regimes = tuple(self.regimes)
        starts = [start for start, _ in regimes]
        if not regimes or starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError(f"regimes must start at round 0 and increase, got starts {starts}")
        first = regimes[0][1]
        for _, dgp in regimes[1:]:
            if dgp.n_arms != first.n_arms or dgp.covariates is not first.covariates:
                raise ValueError("all regimes must share the covariate model and arm count")
        object.__setattr__(self, "regimes", regimes)

    @property
    def n_arms(self) -> int:
        """Number of arms K."""
        return self.regimes[0][1].n_arms

    @property
    def covariates(self) -> CovariateModel | MixtureCovariateModel:
        """The (shared) covariate model."""
        return self.regimes[0][1].covariates

    def dgp_for_round(self, round_index: int) -> HurdleDGP:
        """The DGP in force at ``round_index``."""
        current = self.regimes[0][1]
        for start, dgp in self.regimes:
            if start <= round_index:
                current = dgp
        return current


class Design(NamedTuple):
    """Sampled visitors.

    Attributes
    ----------
    covariates : pandas.DataFrame
        Observed covariates, one row per visitor.
    frame : pandas.DataFrame
        ``covariates`` plus the latent cluster column when the model has clusters (what
        surfaces read).
    """

    covariates: pd.DataFrame
    frame: pd.DataFrame


class PotentialOutcomes(NamedTuple):
    """Every visitor under every arm; arrays of shape (n_visitors, K).

    Attributes
    ----------
    conversion_index : probit index η.
    log_spend_location : log-normal location μ.
    conversion_probability : Φ(η).
    mean_spend : exp(μ + σ²/2)·(1 − w + w·e^Δ), mean spend of a converter.
    spend_sigma : σ (scalar).
    whale_share, whale_log_shift : w and Δ of the whale mixture (scalars).
    """

    conversion_index: np.ndarray
    log_spend_location: np.ndarray
    conversion_probability: np.ndarray
    mean_spend: np.ndarray
    spend_sigma: float
    whale_share: float = 0.0
    whale_log_shift: float = 0.0

    @property
    def revenue_per_visitor(self) -> np.ndarray:
        """p · m, shape (n_visitors, K)."""
        return self.conversion_probability * self.mean_spend


class ExpectedOutcomes(NamedTuple):
    """Covariate-conditional expected outcomes, ``E[· | X = x]``; arrays (n_visitors, K).

    Attributes
    ----------
    conversion_probability : P(convert | x, a).
    mean_spend : E[spend | convert, x, a], mean spend of a converter.
    revenue_per_visitor : E[revenue | x, a].
    """

    conversion_probability: np.ndarray
    mean_spend: np.ndarray
    revenue_per_visitor: np.ndarray


def round_streams(seed: int, round_index: int) -> tuple[np.random.Generator, ...]:
    """Three independent generators (covariates, assignment, outcomes) for one round."""
    children = np.random.SeedSequence([int(seed), int(round_index)]).spawn(3)
    return tuple(np.random.default_rng(child) for child in children)


def sample_design(
    covariates: CovariateModel | MixtureCovariateModel, rng: np.random.Generator, n: int
) -> Design:
    """Draw ``n`` visitors from a covariate model."""
    observed, clusters = covariates.sample(rng, n)
    if clusters is None:
        return Design(covariates=observed, frame=observed)
    frame = observed.assign(**{LATENT_CLUSTER: clusters})
    return Design(covariates=observed, frame=frame)


def compute_potential_outcomes(dgp: HurdleDGP, design: Design) -> PotentialOutcomes:
    """Potential outcomes of every visitor under every arm (see the module docstring)."""
    frame = design.frame
    eta0 = evaluate(dgp.conversion_baseline, frame)
    mu0 = evaluate(dgp.spend_baseline, frame)
    eta = np.column_stack([eta0] + [eta0 + evaluate(s, frame) for s in dgp.conversion_effects])
    mu = np.column_stack([mu0] + [mu0 + evaluate(s, frame) for s in dgp.spend_effects])
    sigma = float(dgp.spend_sigma)
    return PotentialOutcomes(
        conversion_index=eta,
        log_spend_location=mu,
        conversion_probability=ndtr(eta),
        mean_spend=np.exp(mu + 0.5 * sigma**2) * dgp.whale_factor,
        spend_sigma=sigma,
        whale_share=float(dgp.whale_share),
        whale_log_shift=float(dgp.whale_log_shift),
    )


def expected_outcomes(
    dgp: HurdleDGP, design: Design, outcomes: PotentialOutcomes | None = None
) -> ExpectedOutcomes:
    """Covariate-conditional expected outcomes of every visitor under every arm.

    Parameters
    ----------
    dgp : HurdleDGP
    design : Design
        The visitors (their latent clusters are not used: only the covariates).
    outcomes : PotentialOutcomes, optional
        ``compute_potential_outcomes(dgp, design)`` when already computed (reused as the
        answer when the covariate model has no latent clusters).

    Returns
    -------
    ExpectedOutcomes
        See "The truth is covariate-conditional" in the module docstring.
    """
    covariates = dgp.covariates
    if not isinstance(covariates, MixtureCovariateModel):
        own = compute_potential_outcomes(dgp, design) if outcomes is None else outcomes
        return ExpectedOutcomes(own.conversion_probability, own.mean_spend, own.revenue_per_visitor)
    weights = covariates.cluster_probabilities(design.covariates)  # (n, C)
    conversion = np.zeros((len(design.covariates), dgp.n_arms))
    revenue = np.zeros_like(conversion)
    for c in range(len(covariates.clusters)):
        label = pd.Categorical.from_codes(
            np.full(len(design.covariates), c), categories=list(covariates.clusters)
        )
        frame = design.covariates.assign(**{LATENT_CLUSTER: label})
        given = compute_potential_outcomes(dgp, Design(design.covariates, frame))
        conversion += weights[:, c, None] * given.conversion_probability
        revenue += weights[:, c, None] * given.revenue_per_visitor
    return ExpectedOutcomes(conversion, revenue / conversion, revenue)


def metric_values(outcomes: PotentialOutcomes | ExpectedOutcomes, metric: Metric) -> np.ndarray:
    """Per-visitor expected metric under each arm, shape (n_visitors, K)."""
    if metric is Metric.CONVERSION_RATE:
        return outcomes.conversion_probability
    if metric is Metric.REVENUE_PER_CONVERTER:
        return outcomes.mean_spend
    return outcomes.revenue_per_visitor


def outcome_column(metric: Metric) -> str:
    """Name of the observed outcome column for ``metric``."""
    return "converted" if metric is Metric.CONVERSION_RATE else "revenue"


def draw_outcomes(
    rng: np.random.Generator, outcomes: PotentialOutcomes, arm_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each visitor's conversion and revenue under the arm received.

    Returns
    -------
    converted : ndarray of int64, shape (n,)
    revenue : ndarray of float64, shape (n,), 0 for non-converters
    """
    rows = np.arange(len(arm_index))
    p = outcomes.conversion_probability[rows, arm_index]
    mu = outcomes.log_spend_location[rows, arm_index]
    # Draw both uniforms and normals for everyone so a visitor's randomness does not depend
    # on the arms of the others.
    converted = (rng.random(len(rows)) < p).astype(np.int64)
    log_spend = mu + outcomes.spend_sigma * rng.standard_normal(len(rows))
    if outcomes.whale_share > 0:  # an extra stream only then: whale-free draws stay as they were
        whale = rng.random(len(rows)) < outcomes.whale_share
        log_spend = log_spend + np.where(whale, outcomes.whale_log_shift, 0.0)
    spend = np.exp(log_spend)
    return converted, np.where(converted == 1, spend, 0.0)


def simulate_round(
    dgp: HurdleDGP,
    plan: NextRoundPlan,
    arms: tuple[str, ...],
    metric: Metric,
    seed: int,
    round_index: int,
) -> tuple[RoundData, Truth]:
    """Simulate one round of ``plan`` under ``dgp``.

    Parameters
    ----------
    dgp : HurdleDGP
    plan : NextRoundPlan
        Size and cells of the round (validated by the caller).
    arms : tuple of str
        Arm names, control first, ``len(arms) == dgp.n_arms``.
    metric : Metric
    seed, round_index : int
        The round's randomness is fixed by this pair.

    Returns
    -------
    RoundData
        Columns ``visitor_id``, ``round``, the covariates, ``cell``, ``arm``,
        ``propensity_<arm>`` per arm, and the outcome (``revenue`` or ``converted``).
    Truth
        Sealed per-visitor truth aligned with the rows.
    """
    from pytyche.experiment.cells import assign_visitors  # deferred: experiment imports us

    covariate_rng, assignment_rng, outcome_rng = round_streams(seed, round_index)
    design = sample_design(dgp.covariates, covariate_rng, plan.n_visitors)
    outcomes = compute_potential_outcomes(dgp, design)
    assignment = assign_visitors(assignment_rng, plan.cells, design.covariates, arms)
    converted, revenue = draw_outcomes(outcome_rng, outcomes, assignment.arm_index)

    n = plan.n_visitors
    visitor_id = np.int64(round_index) * VISITOR_ID_STRIDE + np.arange(n, dtype=np.int64)
    columns: dict[str, object] = {ID_COLUMN: visitor_id, ROUND_COLUMN: np.full(n, round_index)}
    columns.update({name: design.covariates[name] for name in design.covariates.columns})
    cell_ids = np.asarray([cell.id for cell in plan.cells], dtype=object)
    columns[CELL_COLUMN] = cell_ids[assignment.cell_index]
    columns[ARM_COLUMN] = np.asarray(arms, dtype=object)[assignment.arm_index]
    for k, arm in enumerate(arms):
        columns[PROPENSITY_PREFIX + arm] = assignment.propensity[:, k]
    outcome = outcome_column(metric)
    columns[outcome] = converted if metric is Metric.CONVERSION_RATE else revenue
    frame = pd.DataFrame(columns)

    family = MetricFamily.BINARY if metric is Metric.CONVERSION_RATE else MetricFamily.HURDLE
    data = RoundData.from_frame(
        frame,
        arms=arms,
        outcome=outcome,
        arm=ARM_COLUMN,
        covariates=tuple(design.covariates.columns),
        categorical=dgp.covariates.categorical,
        id_column=ID_COLUMN,
        family=family,
        require_all_arms=False,
    )
    return data, Truth(_truth_data(dgp, design, outcomes, arms, metric, visitor_id))


def _truth_data(
    dgp: HurdleDGP,
    design: Design,
    outcomes: PotentialOutcomes,
    arms: tuple[str, ...],
    metric: Metric,
    visitor_id: np.ndarray,
) -> TruthData:
    expected = expected_outcomes(dgp, design, outcomes)
    values = metric_values(expected, metric)
    codes = dgp.segments.codes(design.frame)
    labels = np.asarray(dgp.segments.names, dtype=object)[codes]
    latent = None
    latent_effects = None
    if isinstance(dgp.covariates, MixtureCovariateModel):
        latent = metric_values(outcomes, metric)
        latent_effects = segment_means(latent, codes, dgp.segments.names)
    return TruthData(
        arms=tuple(arms),
        visitor_id=visitor_id,
        conversion_probability=expected.conversion_probability,
        mean_spend=expected.mean_spend,
        rpv=values,
        segment_effects=segment_means(values, codes, dgp.segments.names),
        segment_labels=labels,
        metric=metric.value,
        latent_rpv=latent,
        latent_segment_effects=latent_effects,
    )


def segment_means(
    values: np.ndarray, codes: np.ndarray, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Mean of ``values`` (n, K) over each segment's visitors: name -> (K,), present only."""
    counts = np.bincount(codes, minlength=len(names))
    sums = np.column_stack(
        [
            np.bincount(codes, weights=values[:, k], minlength=len(names))
            for k in range(values.shape[1])
        ]
    )
    return {name: sums[s] / counts[s] for s, name in enumerate(names) if counts[s] > 0}
