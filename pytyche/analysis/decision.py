"""Decision evidence for one (treatment, segment) pair from posterior draws of its effect.

Input: ``effect_draws``, shape (n_draws,), joint posterior draws of the effect
``delta = GATE`` of the treatment vs control in the segment, in outcome units (e.g.
revenue per visitor). Every quantity below is in those units or is a probability.

Expected loss (Raiffa & Schlaifer 1961; the "expected loss" stopping rule of
Stucchio 2015 for Bayesian A/B tests)
    ``loss_ship = E[max(-delta, 0)]`` (what shipping loses if the treatment is worse) and
    ``loss_not_ship = E[max(delta, 0)]`` (what keeping control loses if it is better).

Probabilities
    ``P(beats control) = P(delta > 0)``; ``P(meaningful) = P(delta >= m)`` and
    ``P(harmful) = P(delta <= -m)`` with ``m = min_practical_effect``.

Threshold units
    ``min_practical_effect`` and ``expected_loss_max`` mean the same thing for every metric
    when they are **relative** (``units="relative"``, the experiment loop's default):
    fractions of the control's mean ``b`` in the segment (the posterior mean of the control
    arm's metric), as experimentation platforms express lift and risk. The defaults, 0.02
    and 0.005, are a 2% lift and an expected loss of 0.5% of the control's mean: $0.074 and
    $0.0185 on a revenue per visitor of $3.70, 0.08 and 0.02 percentage points on a 4%
    conversion rate.
    ``units="absolute"`` reads both in outcome units (the original pytyche's convention).
    The summary keeps the effect, the losses and ``min_practical_effect`` in outcome units
    (the relative threshold times ``b``) and records ``b`` as ``baseline``.

Expected value of one more round (EVOR)
    The preposterior value of sample information of the two-action problem
    "ship (payoff delta) or keep control (payoff 0)" (Raiffa & Schlaifer 1961, ch. 5;
    the same two-action EVSI as Frazier & Powell's knowledge gradient). Approximate the
    posterior by ``N(mu, sigma**2)`` and let the next round add information ``rho`` times
    the information already in the posterior (``rho = 1``: one more round as large as all
    data so far, the convention of the original pytyche; pass
    ``rho = n_next_round / n_so_far`` otherwise). The next round's estimate is
    ``y ~ N(delta, sigma**2 / rho)``; the posterior mean after it is
    ``mu' = (mu + rho y) / (1 + rho)``, whose preposterior law is ``N(mu, s**2)`` with

    ``s**2 = sigma**2 - sigma**2 / (1 + rho) = sigma**2 rho / (1 + rho)``
    (``s = sigma / sqrt(2)`` at ``rho = 1``).

    Acting after the round is worth ``E[max(mu', 0)] = mu Phi(mu/s) + s phi(mu/s)``, acting
    now ``max(mu, 0)``; the difference is the unit-normal loss integral

    ``EVOR = s * (phi(z) - z * Phi(-z))``, ``z = |mu| / s``,

    which is >= 0, equals ``s / sqrt(2 pi)`` at ``mu = 0`` and is 0 when ``sigma = 0``.

    The **draw-based** EVOR keeps the posterior's shape: the draws are the prior of the
    next round, the next estimate is simulated as ``y_j = delta_j + e_j`` with
    ``e_j ~ N(0, sigma**2 / rho)`` for draws ``delta_j``, and the updated mean is the
    likelihood-weighted draw average ``mu'_j = sum_d w_jd delta_d / sum_d w_jd`` with
    ``w_jd = phi((y_j - delta_d) / (sigma / sqrt(rho)))``; then
    ``EVOR = mean_j max(mu'_j, 0) - max(mean delta, 0)``. On normal draws it converges
    to the closed form.

References
----------
Raiffa, H. & Schlaifer, R. (1961). Applied Statistical Decision Theory. Harvard.
Frazier, P., Powell, W. & Dayanik, S. (2008). A knowledge-gradient policy for sequential
information collection. SIAM J. Control Optim. 47(5).
Stucchio, C. (2015). Bayesian A/B testing at VWO. VWO technical report.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from pytyche.contracts import ClaimLevel

__all__ = [
    "THRESHOLD_UNITS",
    "Decision",
    "DecisionThresholds",
    "RecommendationSummary",
    "expected_loss",
    "expected_value_of_one_more_round",
    "expected_value_of_one_more_round_draws",
    "recommendation_summary",
    "threshold_scale",
    "unit_normal_loss",
]


THRESHOLD_UNITS = ("relative", "absolute")
"""Units of ``min_practical_effect`` and ``expected_loss_max`` (see the module docstring)."""


class Decision(enum.StrEnum):
    """What the evidence supports for a (treatment, segment) pair. Never auto-shipped."""

    SHIP = "ship"
    CONTINUE = "continue"
    STOP = "stop"


@dataclass(frozen=True)
class DecisionThresholds:
    """Thresholds of the decision label (defaults of the original pytyche).

    Attributes
    ----------
    expected_loss_max : float
        Ship only if the expected loss of shipping is below this: a fraction of the
        control's mean with relative units (default 0.005: 0.5%), else outcome units.
    p_beats_threshold : float
        Ship only if P(beats control) exceeds this; stop for harm if P(beats control) is
        below ``1 - p_beats_threshold``.
    p_meaningful_threshold : float
        Ship only if P(effect >= min_practical_effect) exceeds this.
    p_futile_threshold : float
        Stop for futility if P(effect >= min_practical_effect) is below this and the
        expected loss of not shipping is below ``expected_loss_max``.
    """

    expected_loss_max: float = 0.005
    p_beats_threshold: float = 0.95
    p_meaningful_threshold: float = 0.8
    p_futile_threshold: float = 0.05

    def __post_init__(self) -> None:
        if not (math.isfinite(self.expected_loss_max) and self.expected_loss_max >= 0):
            raise ValueError(f"expected_loss_max must be >= 0, got {self.expected_loss_max}")
        for name in ("p_beats_threshold", "p_meaningful_threshold", "p_futile_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclass(frozen=True)
class RecommendationSummary:
    """Decision evidence of one (treatment, segment) pair, with its label. Never NaN.

    Attributes
    ----------
    treatment : str
        The treatment arm compared with control.
    segment_id : int or None
        Segment (policy-tree leaf) id; None for all visitors.
    effect_mean : float
        Posterior mean effect vs control (outcome units).
    effect_sd : float
        Posterior standard deviation of the effect.
    expected_loss_ship : float
        ``E[max(-delta, 0)]``.
    expected_loss_not_ship : float
        ``E[max(delta, 0)]``.
    probability_beats_control : float
        ``P(delta > 0)``.
    probability_meaningful : float
        ``P(delta >= min_practical_effect)``.
    probability_harmful : float
        ``P(delta <= -min_practical_effect)``.
    expected_value_of_one_more_round : float
        EVOR, normal approximation (closed form).
    expected_value_of_one_more_round_draws : float
        EVOR from the draws (see the module docstring).
    min_practical_effect : float
        Smallest effect worth shipping, outcome units (relative threshold x ``baseline``
        when ``units`` is relative).
    information_ratio : float
        Information of one more round relative to the current posterior.
    thresholds : DecisionThresholds
        The thresholds the decision used (in ``units``).
    decision : Decision
        ship / continue / stop.
    reason : str
        One sentence on why.
    n_draws : int
        Number of posterior draws used.
    claim_level : ClaimLevel
        What backs the numbers (uncalibrated posterior unless stated).
    baseline : float or None
        The control's mean in the segment that relative thresholds scale by (None when
        not given).
    units : str
        ``"relative"`` or ``"absolute"``: how ``thresholds`` and the requested
        ``min_practical_effect`` were expressed.
    """

    treatment: str
    segment_id: int | None
    effect_mean: float
    effect_sd: float
    expected_loss_ship: float
    expected_loss_not_ship: float
    probability_beats_control: float
    probability_meaningful: float
    probability_harmful: float
    expected_value_of_one_more_round: float
    expected_value_of_one_more_round_draws: float
    min_practical_effect: float
    information_ratio: float
    thresholds: DecisionThresholds = field(default_factory=DecisionThresholds)
    decision: Decision = Decision.CONTINUE
    reason: str = ""
    n_draws: int = 0
    claim_level: ClaimLevel = ClaimLevel.POSTERIOR
    baseline: float | None = None
    units: str = "absolute"

    @property
    def expected_loss_ship_relative(self) -> float | None:
        """Expected loss of shipping as a fraction of the control's mean (None without one)."""
        if self.baseline is None or self.baseline <= 0:
            return None
        return self.expected_loss_ship / self.baseline


def threshold_scale(units: str, baseline: float | None) -> float:
    """Outcome units per threshold unit: ``baseline`` if relative, 1 if absolute.

    Raises
    ------
    ValueError
        On unknown ``units``, or relative units without a positive finite ``baseline``.
    """
    if units not in THRESHOLD_UNITS:
        raise ValueError(f"units must be one of {THRESHOLD_UNITS}; got {units!r}")
    if units == "absolute":
        return 1.0
    if baseline is None or not (math.isfinite(baseline) and baseline > 0):
        raise ValueError(
            "relative thresholds need the control's mean in the segment to be positive; got "
            f"baseline={baseline!r}. Pass units='absolute' (threshold_units='absolute' in "
            "ExperimentConfig) to give min_practical_effect and expected_loss_max in outcome "
            "units"
        )
    return float(baseline)


def expected_loss(effect_draws: np.ndarray) -> tuple[float, float]:
    """Expected loss of shipping and of not shipping.

    Parameters
    ----------
    effect_draws : ndarray, shape (n_draws,)
        Posterior draws of the effect vs control.

    Returns
    -------
    loss_ship, loss_not_ship : float
        ``E[max(-delta, 0)]`` and ``E[max(delta, 0)]``.
    """
    draws = _validate_draws(effect_draws)
    return float(np.mean(np.maximum(-draws, 0.0))), float(np.mean(np.maximum(draws, 0.0)))


def unit_normal_loss(z: float | np.ndarray) -> float | np.ndarray:
    """Unit-normal loss integral ``L(z) = phi(z) - z Phi(-z) = E[max(Z - z, 0)]``."""
    return stats.norm.pdf(z) - z * stats.norm.sf(z)


def expected_value_of_one_more_round(
    mean: float, sd: float, *, information_ratio: float = 1.0
) -> float:
    """EVOR of the two-action ship/keep problem under a normal posterior (closed form).

    Parameters
    ----------
    mean, sd : float
        Posterior mean and standard deviation of the effect.
    information_ratio : float
        Information of the next round relative to the current posterior (``rho``).

    Returns
    -------
    float
        ``s (phi(z) - z Phi(-z))`` with ``s = sd sqrt(rho / (1 + rho))``, ``z = |mean| / s``.
    """
    if not (math.isfinite(mean) and math.isfinite(sd) and sd >= 0):
        raise ValueError(f"mean and sd must be finite with sd >= 0, got {mean}, {sd}")
    _check_ratio(information_ratio)
    s = sd * math.sqrt(information_ratio / (1.0 + information_ratio))
    if s == 0.0:
        return 0.0
    return float(s * unit_normal_loss(abs(mean) / s))


def expected_value_of_one_more_round_draws(
    effect_draws: np.ndarray,
    *,
    information_ratio: float = 1.0,
    n_outcomes: int = 1000,
    max_draws: int = 2000,
    seed: int = 0,
) -> float:
    """EVOR from the draws themselves (likelihood-weighted preposterior; module docstring).

    Parameters
    ----------
    effect_draws : ndarray, shape (n_draws,)
        Posterior draws of the effect.
    information_ratio : float
        Information of the next round relative to the current posterior.
    n_outcomes : int
        Number of simulated next-round estimates.
    max_draws : int
        At most this many draws (a random subset) represent the posterior, bounding the
        cost at ``n_outcomes * max_draws``.
    seed : int
        Seed of the simulation.

    Returns
    -------
    float
        Non-negative expected value of one more round, outcome units.
    """
    draws = _validate_draws(effect_draws)
    _check_ratio(information_ratio)
    sd = float(np.std(draws))
    if sd == 0.0:
        return 0.0
    rng = np.random.default_rng(seed)
    if draws.size > max_draws:
        draws = rng.choice(draws, size=max_draws, replace=False)
    noise_sd = sd / math.sqrt(information_ratio)
    truth = draws[rng.integers(0, draws.size, n_outcomes)]
    estimate = truth + noise_sd * rng.standard_normal(n_outcomes)
    log_w = -0.5 * ((estimate[:, None] - draws[None, :]) / noise_sd) ** 2
    weights = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    updated_mean = weights @ draws / weights.sum(axis=1)
    value = float(np.mean(np.maximum(updated_mean, 0.0)) - max(float(draws.mean()), 0.0))
    return max(value, 0.0)


def recommendation_summary(
    effect_draws: np.ndarray,
    *,
    treatment: str,
    segment_id: int | None = None,
    min_practical_effect: float = 0.02,
    thresholds: DecisionThresholds | None = None,
    information_ratio: float = 1.0,
    claim_level: ClaimLevel = ClaimLevel.POSTERIOR,
    seed: int = 0,
    baseline: float | None = None,
    units: str = "absolute",
) -> RecommendationSummary:
    """Decision evidence and a ship / continue / stop label for one (treatment, segment).

    The label: **ship** if the expected loss of shipping is below
    ``thresholds.expected_loss_max`` and P(beats control) and P(meaningful) exceed their
    thresholds; else **stop** if P(beats control) is below ``1 - p_beats_threshold``
    (harm), or if P(meaningful) is below ``p_futile_threshold`` and not shipping is
    expected to lose less than ``expected_loss_max`` (futility); else **continue**.

    Parameters
    ----------
    effect_draws : ndarray, shape (n_draws,)
        Posterior draws of the effect vs control, outcome units.
    treatment : str
        Name of the treatment arm.
    segment_id : int, optional
        Segment id (None: all visitors).
    min_practical_effect : float
        Smallest effect worth shipping, in ``units`` (default 0.02: a 2% lift).
    thresholds : DecisionThresholds, optional
        Decision thresholds, in ``units``.
    information_ratio : float
        Information of one more round relative to the current posterior.
    claim_level : ClaimLevel
        Label of the draws (uncalibrated posterior by default).
    seed : int
        Seed of the draw-based EVOR.
    baseline : float, optional
        The control's mean in the segment (outcome units); required by relative units.
    units : {"absolute", "relative"}
        How ``min_practical_effect`` and ``thresholds.expected_loss_max`` are expressed
        (module docstring). This function sees effect draws only, so it defaults to outcome
        units; :func:`pytyche.analysis.segment_recommendations` and the experiment loop pass
        the segment's control mean and default to relative units.

    Returns
    -------
    RecommendationSummary
    """
    draws = _validate_draws(effect_draws)
    thresholds = DecisionThresholds() if thresholds is None else thresholds
    if not (math.isfinite(min_practical_effect) and min_practical_effect >= 0):
        raise ValueError(f"min_practical_effect must be >= 0, got {min_practical_effect}")
    scale = threshold_scale(units, baseline)
    practical = float(min_practical_effect) * scale
    loss_ship, loss_not_ship = expected_loss(draws)
    mean, sd = float(draws.mean()), float(draws.std())
    p_beats = float(np.mean(draws > 0))
    p_meaningful = float(np.mean(draws >= practical))
    p_harmful = float(np.mean(draws <= -practical))
    decision, reason = _decide(
        loss_ship,
        loss_not_ship,
        p_beats,
        p_meaningful,
        thresholds.expected_loss_max * scale,
        thresholds,
    )
    return RecommendationSummary(
        treatment=treatment,
        segment_id=segment_id,
        effect_mean=mean,
        effect_sd=sd,
        expected_loss_ship=loss_ship,
        expected_loss_not_ship=loss_not_ship,
        probability_beats_control=p_beats,
        probability_meaningful=p_meaningful,
        probability_harmful=p_harmful,
        expected_value_of_one_more_round=expected_value_of_one_more_round(
            mean, sd, information_ratio=information_ratio
        ),
        expected_value_of_one_more_round_draws=expected_value_of_one_more_round_draws(
            draws, information_ratio=information_ratio, seed=seed
        ),
        min_practical_effect=practical,
        information_ratio=float(information_ratio),
        thresholds=thresholds,
        decision=decision,
        reason=reason,
        n_draws=int(draws.size),
        claim_level=ClaimLevel(claim_level),
        baseline=None if baseline is None else float(baseline),
        units=units,
    )


def _decide(
    loss_ship: float,
    loss_not_ship: float,
    p_beats: float,
    p_meaningful: float,
    loss_max: float,
    thresholds: DecisionThresholds,
) -> tuple[Decision, str]:
    """The label; ``loss_max`` is ``thresholds.expected_loss_max`` in outcome units."""
    if (
        loss_ship < loss_max
        and p_beats > thresholds.p_beats_threshold
        and p_meaningful > thresholds.p_meaningful_threshold
    ):
        return Decision.SHIP, (
            f"expected loss of shipping {loss_ship:.4g} < {loss_max:.4g}, "
            f"P(beats control) {p_beats:.3f} > {thresholds.p_beats_threshold:g} and "
            f"P(meaningful) {p_meaningful:.3f} > {thresholds.p_meaningful_threshold:g}"
        )
    if p_beats < 1.0 - thresholds.p_beats_threshold:
        return Decision.STOP, f"likely harmful: P(beats control) is only {p_beats:.3f}"
    if p_meaningful < thresholds.p_futile_threshold and loss_not_ship < loss_max:
        return Decision.STOP, (
            f"futile: P(meaningful) {p_meaningful:.3f} < {thresholds.p_futile_threshold:g} "
            f"and keeping control loses only {loss_not_ship:.4g} in expectation"
        )
    return Decision.CONTINUE, "evidence not yet decisive: gather another round"


def _validate_draws(effect_draws: np.ndarray) -> np.ndarray:
    draws = np.asarray(effect_draws, dtype=float)
    if draws.ndim != 1 or draws.size < 2:
        raise ValueError(
            f"effect_draws must be a 1-D array of at least 2 posterior draws, got {draws.shape}"
        )
    if not np.all(np.isfinite(draws)):
        raise ValueError("effect_draws has NaN or infinite values")
    return draws


def _check_ratio(information_ratio: float) -> None:
    if not (math.isfinite(information_ratio) and information_ratio > 0):
        raise ValueError(f"information_ratio must be > 0, got {information_ratio}")
