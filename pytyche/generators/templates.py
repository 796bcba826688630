"""Scenario templates: named DGPs with documented planted structure, and their registry.

A template is a callable ``template(K, effect_scale, **kwargs) -> Scenario``. Every built-in
template plants effects on both hurdle channels by default, so each metric (revenue per visitor,
conversion rate, revenue per converter) has signal, and documents which visitors gain.

``effect_scale`` is a **log relative lift**: an effect of size ℓ multiplies the conversion
probability (at the template's reference rate, through a probit shift) or the mean spend by
exp(ℓ). With ``effect_scale=0.1`` a unit of planted effect is about a 10% lift.

Storefront templates (``constant``, ``reversal``, ``sparse_benefit``, ``nonlinear``,
``monotone_gradient``, ``interaction_only``, ``null``) share one covariate model of an online
shop's visitors — ``visits_30d`` (count), ``tenure_days`` (count), ``cart_value`` ($),
``device`` (mobile/desktop/tablet), ``region`` (north/south/east/west), ``is_member`` (0/1),
joined by a Gaussian copula — a baseline conversion of about 4% that rises with visits,
tenure, membership and desktop use, and log-normal spend (σ = 1 by default, mean ≈ $80)
rising with cart value. Their arm effects are a log-lift surface ℓ_a(x): conversion moves
by ℓ_a(x) and spend by ℓ_a(x)/2. Their shared keyword options (:class:`StorefrontOptions`)
change the reference conversion and the spend spread, move one channel only
(``effect_channels="conversion"`` or ``"spend"``), or mix "whales" into the converters
(``whale_share``, ``whale_multiplier``: spend that is not log-normal).

Cluster templates (``clustered``, ``clustered_realistic``, ``drift``) draw a latent customer
cluster first — ``loyal_regulars``, ``bargain_hunters``, ``new_visitors``, ``big_basket`` —
and the covariates from it, and plant a per-cluster effect profile per arm (the best arm
differs by cluster, and control is best for ``loyal_regulars``). The covariates reveal the
cluster only noisily, so the truth these templates hand out is covariate-conditional: the
cluster profiles averaged with the exact ``P(cluster | x)`` (see
:mod:`pytyche.generators.core`). With ``clustered_realistic`` at effect_scale 0.1 and K = 3
that gives, per visitor, about $3.89 for the best policy of the covariates against $4.0 for
one that knew each visitor's cluster, $3.74 for the best single arm (free_ship) and $3.46
for uniform assignment; the GATEs of the clusters are pulled towards each other (free_ship
on ``big_basket``: about 1.76 given x against 2.40 given the cluster).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from pytyche.generators.core import HurdleDGP, Scenario, Segmentation
from pytyche.generators.covariates import (
    BinaryCovariate,
    CategoricalCovariate,
    ContinuousCovariate,
    CovariateModel,
    MixtureCovariateModel,
)
from pytyche.generators.surfaces import (
    LATENT_CLUSTER,
    ConstantSurface,
    FunctionSurface,
    LevelSurface,
    LinearSurface,
    LinearTerm,
    ProbitLiftSurface,
    Surface,
    ThresholdSurface,
    add_surfaces,
    scale_surface,
)

__all__ = [
    "CHANNELS",
    "CLUSTERS",
    "TEMPLATES",
    "StorefrontOptions",
    "Template",
    "clustered",
    "clustered_realistic",
    "constant",
    "drift",
    "interaction_only",
    "monotone_gradient",
    "nonlinear",
    "null",
    "register_template",
    "reversal",
    "sparse_benefit",
]


Template = Callable[..., Scenario]
"""A scenario template: ``template(K, effect_scale, **kwargs) -> Scenario``."""


# ------------------------------------------------------------------ storefront visitors
STOREFRONT_CONVERSION = 0.04
"""Reference conversion probability of the storefront templates."""
_DEVICE_LEVELS = ("mobile", "desktop", "tablet")
_REGION_LEVELS = ("north", "south", "east", "west")
# log1p-scale centre and spread of the count covariates, used to standardise them
_VISITS_CENTER, _VISITS_SCALE = 1.2, 0.68
_TENURE_CENTER, _TENURE_SCALE = 5.0, 0.9
_CART_CENTER, _CART_SCALE = 3.8, 0.6


def _storefront_covariates() -> CovariateModel:
    specs = (
        ContinuousCovariate("visits_30d", "lognormal", 1.0, 0.8, integer=True),
        ContinuousCovariate("tenure_days", "lognormal", 5.0, 0.9, integer=True),
        ContinuousCovariate("cart_value", "lognormal", 3.8, 0.6),
        CategoricalCovariate("device", _DEVICE_LEVELS, (0.55, 0.35, 0.10)),
        CategoricalCovariate("region", _REGION_LEVELS, (0.25, 0.25, 0.25, 0.25)),
        BinaryCovariate("is_member", 0.3),
    )
    correlation = np.eye(6)
    for i, j, rho in [(0, 1, 0.35), (0, 5, 0.30), (1, 5, 0.40), (1, 2, 0.15), (2, 3, 0.20)]:
        correlation[i, j] = correlation[j, i] = rho
    return CovariateModel(specs, correlation)


def _standardized(design: pd.DataFrame, column: str) -> np.ndarray:
    centers = {
        "visits_30d": (_VISITS_CENTER, _VISITS_SCALE),
        "tenure_days": (_TENURE_CENTER, _TENURE_SCALE),
        "cart_value": (_CART_CENTER, _CART_SCALE),
    }
    center, scale = centers[column]
    return (np.log1p(design[column].to_numpy(dtype=np.float64)) - center) / scale


def _storefront_baselines(base_conversion: float) -> tuple[Surface, Surface]:
    conversion = add_surfaces(
        LinearSurface(
            float(ndtri(base_conversion)),
            (
                LinearTerm("visits_30d", 0.15, _VISITS_CENTER, _VISITS_SCALE, log=True),
                LinearTerm("tenure_days", 0.08, _TENURE_CENTER, _TENURE_SCALE, log=True),
                LinearTerm("is_member", 0.10, 0.3),
            ),
        ),
        LevelSurface("device", (("mobile", -0.04), ("desktop", 0.06))),
    )
    spend = LinearSurface(
        float(np.log(45.0)),
        (
            LinearTerm("cart_value", 0.35, _CART_CENTER, _CART_SCALE, log=True),
            LinearTerm("tenure_days", 0.05, _TENURE_CENTER, _TENURE_SCALE, log=True),
        ),
    )
    return conversion, spend


CHANNELS = ("both", "conversion", "spend")
"""Which hurdle channels a storefront template's effects move (``effect_channels``)."""


class StorefrontOptions(TypedDict, total=False):
    """Keyword options shared by the storefront templates (all optional).

    Attributes
    ----------
    base_conversion : float
        Reference conversion probability (default 0.04).
    spend_sigma : float
        Log-scale standard deviation of a converter's spend (default 1).
    effect_channels : str
        ``"both"`` (default): conversion moves by the log-lift ℓ_a(x) and spend by ℓ_a(x)/2;
        ``"conversion"``: conversion only (spend per converter is unaffected);
        ``"spend"``: spend only, by the full ℓ_a(x) (conversion is unaffected).
    whale_share, whale_multiplier : float
        A share ``w`` of converters (default 0) are "whales" who spend ``whale_multiplier``
        times as much (default 1): log spend becomes a two-component normal mixture.
    """

    base_conversion: float
    spend_sigma: float
    effect_channels: str
    whale_share: float
    whale_multiplier: float


def _storefront_scenario(
    name: str,
    description: str,
    lifts: Sequence[Surface],
    segments: Segmentation,
    *,
    base_conversion: float = STOREFRONT_CONVERSION,
    spend_sigma: float = 1.0,
    effect_channels: str = "both",
    whale_share: float = 0.0,
    whale_multiplier: float = 1.0,
) -> Scenario:
    """Storefront DGP whose arm a moves the channels named by ``effect_channels`` by ℓ_a(x)."""
    base_conversion = _check_probability(base_conversion, "base_conversion")
    if effect_channels not in CHANNELS:
        raise ValueError(f"effect_channels must be one of {CHANNELS}; got {effect_channels!r}")
    if not (np.isfinite(whale_multiplier) and whale_multiplier > 0):
        raise ValueError(f"whale_multiplier must be positive; got {whale_multiplier!r}")
    conversion, spend = _storefront_baselines(base_conversion)
    zero = [ConstantSurface(0.0) for _ in lifts]
    spend_share = {"both": 0.5, "conversion": 0.0, "spend": 1.0}[effect_channels]
    conversion_effects = (
        zero
        if effect_channels == "spend"
        else [ProbitLiftSurface(lift, base_conversion) for lift in lifts]
    )
    spend_effects = (
        zero if spend_share == 0 else [scale_surface(lift, spend_share) for lift in lifts]
    )
    dgp = HurdleDGP(
        covariates=_storefront_covariates(),
        conversion_baseline=conversion,
        spend_baseline=spend,
        conversion_effects=tuple(conversion_effects),
        spend_effects=tuple(spend_effects),
        spend_sigma=spend_sigma,
        segments=segments,
        whale_share=float(whale_share),
        whale_log_shift=float(np.log(whale_multiplier)),
    )
    return Scenario(name, ((0, dgp),), description)


def _ascending(K: int) -> np.ndarray:
    """Arm weights j/(K-1) for j = 1..K-1: the last arm has the largest effect."""
    return np.arange(1, K) / (K - 1)


def _descending(K: int) -> np.ndarray:
    """Arm magnitudes from 1 down to about 1/2, distinct so no two arms tie."""
    return 1.0 - (np.arange(1, K) - 1) / (2.0 * (K - 1))


def _alternating(K: int) -> np.ndarray:
    """+1 for odd arms, -1 for even arms."""
    return np.where(np.arange(1, K) % 2 == 1, 1.0, -1.0)


def constant(K: int, effect_scale: float, **options: Unpack[StorefrontOptions]) -> Scenario:
    """Homogeneous effect: every visitor gains the same lift.

    Arm j (1..K-1) has log-lift ℓ_j = effect_scale · j/(K-1) for everyone, so the last arm is
    best everywhere and there is no heterogeneity to find. Planted segment: ``all``.
    """
    lifts = [ConstantSurface(effect_scale * w) for w in _ascending(K)]
    return _storefront_scenario(
        "constant",
        "every visitor gains the same lift; the last arm is best everywhere",
        lifts,
        Segmentation.from_rules([("all", "True")]),
        **options,
    )


def null(K: int, effect_scale: float, **options: Unpack[StorefrontOptions]) -> Scenario:
    """No effect anywhere: every arm has exactly the control's potential outcomes.

    ``effect_scale`` is accepted for a uniform signature and ignored. Planted segment: ``all``.
    """
    lifts = [ConstantSurface(0.0) for _ in range(K - 1)]
    scenario = _storefront_scenario(
        "null",
        "no arm has any effect on any visitor",
        lifts,
        Segmentation.from_rules([("all", "True")]),
        **options,
    )
    dgp = scenario.regimes[0][1]
    zero = tuple(ConstantSurface(0.0) for _ in range(K - 1))
    exact = dataclasses.replace(dgp, conversion_effects=zero, spend_effects=zero)
    return Scenario("null", ((0, exact),), scenario.description)


def reversal(K: int, effect_scale: float, **options: Unpack[StorefrontOptions]) -> Scenario:
    """Sign reversal between new and established customers.

    Segment ``new_customers`` is ``tenure_days < 90``, ``established`` the rest. Odd arms
    lift new customers by +m_j·effect_scale and harm established ones by the same amount;
    even arms do the opposite; m_j falls from 1 (arm 1) to about 1/2 so arms never tie.
    """
    signs, magnitudes = _alternating(K), _descending(K)
    lifts = [
        ThresholdSurface(
            "tenure_days", 90.0, above=-s * m * effect_scale, below=s * m * effect_scale
        )
        for s, m in zip(signs, magnitudes, strict=True)
    ]
    return _storefront_scenario(
        "reversal",
        "odd arms help new customers (tenure_days < 90) and hurt established ones; even arms "
        "the reverse",
        lifts,
        Segmentation.from_rules([("new_customers", "tenure_days < 90"), ("established", "True")]),
        **options,
    )


_SPARSE_RULE = "is_member == 1 and visits_30d >= 4"


def sparse_benefit(K: int, effect_scale: float, **options: Unpack[StorefrontOptions]) -> Scenario:
    """Only a small segment responds.

    Segment ``engaged_members`` (``is_member == 1 and visits_30d >= 4``, about 6% of visitors)
    gains a log-lift of 2·effect_scale·j/(K-1) from arm j; everyone else (``no_effect``) has
    exactly zero effect.
    """
    lifts = [
        FunctionSurface(
            functools.partial(_sparse_lift, size=2.0 * effect_scale * w),
            f"{2.0 * effect_scale * w:g} if {_SPARSE_RULE} else 0",
        )
        for w in _ascending(K)
    ]
    return _storefront_scenario(
        "sparse_benefit",
        f"only engaged members ({_SPARSE_RULE}) respond; zero effect elsewhere",
        lifts,
        Segmentation.from_rules([("engaged_members", _SPARSE_RULE), ("no_effect", "True")]),
        **options,
    )


def _sparse_lift(design: pd.DataFrame, size: float) -> np.ndarray:
    engaged = (design["is_member"].to_numpy() == 1) & (design["visits_30d"].to_numpy() >= 4)
    return np.where(engaged, size, 0.0)


def nonlinear(K: int, effect_scale: float, **options: Unpack[StorefrontOptions]) -> Scenario:
    """Smooth non-monotone effects in cart value, modulated by visits.

    With z_cart and z_visits the standardised log cart value and log visits, arm j has
    ℓ_j(x) = effect_scale · sin(1.5·z_cart + φ_j) · (1 + 0.5·tanh(z_visits)), phases
    φ_j = π(j-1)/(K-1): for K = 3 arm 1 follows a sine and arm 2 a cosine in cart value, so
    the best arm changes twice along ``cart_value``. Planted segments: ``low_cart``
    (< $30), ``mid_cart`` (< $70), ``high_cart``.
    """
    lifts = [
        FunctionSurface(
            functools.partial(_nonlinear_lift, size=effect_scale, phase=np.pi * j / (K - 1)),
            f"{effect_scale:g}*sin(1.5*z_cart + {np.pi * j / (K - 1):.3g})*(1+0.5*tanh(z_visits))",
        )
        for j in range(K - 1)
    ]
    return _storefront_scenario(
        "nonlinear",
        "sinusoidal effects in cart value (phase shifted per arm), modulated by visits",
        lifts,
        Segmentation.from_rules(
            [
                ("low_cart", "cart_value < 30"),
                ("mid_cart", "cart_value < 70"),
                ("high_cart", "True"),
            ]
        ),
        **options,
    )


def _nonlinear_lift(design: pd.DataFrame, size: float, phase: float) -> np.ndarray:
    z_cart = _standardized(design, "cart_value")
    z_visits = _standardized(design, "visits_30d")
    return size * np.sin(1.5 * z_cart + phase) * (1.0 + 0.5 * np.tanh(z_visits))


def monotone_gradient(
    K: int, effect_scale: float, **options: Unpack[StorefrontOptions]
) -> Scenario:
    """Effect rising monotonically with engagement.

    Arm j has ℓ_j(x) = 2·effect_scale·(j/(K-1))·(2Φ(z_visits) - 1): harmful for rare visitors,
    helpful for frequent ones, crossing zero near the median of ``visits_30d``. Planted
    segments: ``visits_0_1``, ``visits_2_3``, ``visits_4_6``, ``visits_7_plus``.
    """
    lifts = [
        FunctionSurface(
            functools.partial(_gradient_lift, size=2.0 * effect_scale * w),
            f"{2.0 * effect_scale * w:g}*(2*Phi(z_visits)-1)",
        )
        for w in _ascending(K)
    ]
    return _storefront_scenario(
        "monotone_gradient",
        "effects increase monotonically with visits_30d, from harm to benefit",
        lifts,
        Segmentation.from_rules(
            [
                ("visits_0_1", "visits_30d <= 1"),
                ("visits_2_3", "visits_30d <= 3"),
                ("visits_4_6", "visits_30d <= 6"),
                ("visits_7_plus", "True"),
            ]
        ),
        **options,
    )


def _gradient_lift(design: pd.DataFrame, size: float) -> np.ndarray:
    return size * (2.0 * ndtr(_standardized(design, "visits_30d")) - 1.0)


def interaction_only(K: int, effect_scale: float, **options: Unpack[StorefrontOptions]) -> Scenario:
    """Effect through an interaction only, with no main effect of either covariate.

    ℓ_j(x) = s_j·m_j·effect_scale·d(x)·g(x) with d = +1 on mobile, -1 otherwise, g = +1 for
    members, -1 otherwise, s_j = ±1 alternating over arms and m_j from 1 down to about 1/2.
    Planted segments: ``mobile_member``, ``mobile_guest``, ``other_member``, ``other_guest``.
    """
    lifts = [
        FunctionSurface(
            functools.partial(_interaction_lift, size=s * m * effect_scale),
            f"{s * m * effect_scale:g}*(±1 mobile)*(±1 member)",
        )
        for s, m in zip(_alternating(K), _descending(K), strict=True)
    ]
    return _storefront_scenario(
        "interaction_only",
        "effect = device (mobile or not) x membership interaction, no main effects",
        lifts,
        Segmentation.from_rules(
            [
                ("mobile_member", "device == 'mobile' and is_member == 1"),
                ("mobile_guest", "device == 'mobile'"),
                ("other_member", "is_member == 1"),
                ("other_guest", "True"),
            ]
        ),
        **options,
    )


def _interaction_lift(design: pd.DataFrame, size: float) -> np.ndarray:
    mobile = np.where(design["device"].astype(object).to_numpy() == "mobile", 1.0, -1.0)
    member = np.where(design["is_member"].to_numpy() == 1, 1.0, -1.0)
    return size * mobile * member


# ------------------------------------------------------------------ cluster templates
CLUSTERS = ("loyal_regulars", "bargain_hunters", "new_visitors", "big_basket")
"""Latent customer clusters of the cluster templates."""
_CLUSTER_WEIGHTS = (0.25, 0.30, 0.30, 0.15)
_CLUSTER_ARM_NAMES = ("control", "low_promo", "free_ship", "loyalty_points", "bundle_discount")

# Per-cluster covariate components: (visits loc, tenure loc, cart loc, device probs,
# region probs, member probability). Log-normal scales are shared (see _cluster_covariates).
_CLUSTER_COMPONENTS = {
    "loyal_regulars": (2.0, 6.3, 4.0, (0.35, 0.55, 0.10), (0.25, 0.25, 0.25, 0.25), 0.70),
    "bargain_hunters": (1.7, 5.3, 3.3, (0.70, 0.22, 0.08), (0.20, 0.40, 0.20, 0.20), 0.35),
    "new_visitors": (0.3, 3.0, 3.7, (0.60, 0.30, 0.10), (0.25, 0.25, 0.25, 0.25), 0.05),
    "big_basket": (1.0, 5.5, 4.8, (0.25, 0.60, 0.15), (0.35, 0.15, 0.35, 0.15), 0.40),
}

# Effect profiles in effect_scale units: cluster -> (conversion log-lift, spend log-lift),
# one profile per active arm (arm j uses profile (j-1) mod 4, halved for every full cycle).
_EFFECT_PROFILES = (
    {  # low_promo: a small discount converts bargain hunters, cannibalises loyal spend
        "loyal_regulars": (-0.5, -1.5),
        "bargain_hunters": (3.0, -0.5),
        "new_visitors": (1.0, -0.25),
        "big_basket": (-0.25, -0.5),
    },
    {  # free_ship: free shipping above $50 wins new visitors and big baskets
        "loyal_regulars": (-0.5, -0.5),
        "bargain_hunters": (0.5, -0.25),
        "new_visitors": (2.0, 0.5),
        "big_basket": (1.0, 1.5),
    },
    {  # loyalty_points: rewards regulars, annoys the others
        "loyal_regulars": (1.0, 0.5),
        "bargain_hunters": (-0.25, -0.5),
        "new_visitors": (-0.5, -0.25),
        "big_basket": (0.5, 0.25),
    },
    {  # bundle_discount: bigger baskets, fewer orders among big spenders
        "loyal_regulars": (0.25, 0.5),
        "bargain_hunters": (0.5, 0.25),
        "new_visitors": (0.25, -0.5),
        "big_basket": (-0.5, 2.0),
    },
)

# (conversion under control, median spend of a converter in $) per cluster.
_REALISTIC_BASELINES = {
    "loyal_regulars": (0.06, 45.0),
    "bargain_hunters": (0.04, 28.0),
    "new_visitors": (0.02, 38.0),
    "big_basket": (0.05, 85.0),
}
_CLEAN_BASELINES = {
    "loyal_regulars": (0.14, 60.0),
    "bargain_hunters": (0.10, 35.0),
    "new_visitors": (0.06, 45.0),
    "big_basket": (0.12, 110.0),
}


def _cluster_covariates(spread: float) -> MixtureCovariateModel:
    """Mixture over CLUSTERS; ``spread`` scales the within-cluster log-normal spreads."""
    components = []
    for name in CLUSTERS:
        visits, tenure, cart, device, region, member = _CLUSTER_COMPONENTS[name]
        specs = (
            ContinuousCovariate("visits_30d", "lognormal", visits, 0.6 * spread, integer=True),
            ContinuousCovariate("tenure_days", "lognormal", tenure, 0.8 * spread, integer=True),
            ContinuousCovariate("cart_value", "lognormal", cart, 0.5 * spread),
            CategoricalCovariate("device", _DEVICE_LEVELS, device),
            CategoricalCovariate("region", _REGION_LEVELS, region),
            BinaryCovariate("is_member", member),
        )
        correlation = np.eye(6)
        correlation[0, 1] = correlation[1, 0] = 0.2
        components.append(CovariateModel(specs, correlation))
    return MixtureCovariateModel(CLUSTERS, _CLUSTER_WEIGHTS, tuple(components))


def _profile_table(
    K: int, override: Mapping[str, Sequence[Sequence[float]]] | None
) -> dict[str, np.ndarray]:
    """cluster -> array (K-1, 2) of (conversion, spend) lifts in effect_scale units."""
    table = {}
    for cluster in CLUSTERS:
        rows = []
        for j in range(1, K):
            profile = _EFFECT_PROFILES[(j - 1) % len(_EFFECT_PROFILES)][cluster]
            rows.append(np.asarray(profile) / (1 + (j - 1) // len(_EFFECT_PROFILES)))
        table[cluster] = np.array(rows)
    for cluster, pairs in (override or {}).items():
        if cluster not in CLUSTERS:
            raise ValueError(f"effect_profiles names unknown cluster {cluster!r}; use {CLUSTERS}")
        array = np.asarray(pairs, dtype=np.float64)
        if array.shape != (K - 1, 2) or not np.all(np.isfinite(array)):
            raise ValueError(
                f"effect_profiles[{cluster!r}] must be finite (conversion, spend) pairs for "
                f"each of the K-1 = {K - 1} active arms, got shape {array.shape}"
            )
        table[cluster] = array
    return table


def _cluster_dgp(
    covariates: MixtureCovariateModel,
    baselines: Mapping[str, tuple[float, float]],
    table: Mapping[str, np.ndarray],
    effect_scale: float,
    spend_sigma: float,
    within_cluster: float,
) -> HurdleDGP:
    conversion = add_surfaces(
        LevelSurface(LATENT_CLUSTER, tuple((c, float(ndtri(baselines[c][0]))) for c in CLUSTERS)),
        LinearSurface(0.0, (LinearTerm("visits_30d", 0.08 * within_cluster, 1.5, 1.0, log=True),)),
        LevelSurface(
            "device", (("mobile", -0.03 * within_cluster), ("desktop", 0.05 * within_cluster))
        ),
    )
    spend = add_surfaces(
        LevelSurface(LATENT_CLUSTER, tuple((c, float(np.log(baselines[c][1]))) for c in CLUSTERS)),
        LinearSurface(0.0, (LinearTerm("cart_value", 0.2 * within_cluster, 3.9, 1.0, log=True),)),
    )
    conversion_effects, spend_effects = [], []
    for j in range(len(next(iter(table.values())))):
        conversion_effects.append(
            LevelSurface(
                LATENT_CLUSTER,
                tuple(
                    (c, _probit_shift(baselines[c][0], effect_scale * table[c][j, 0]))
                    for c in CLUSTERS
                ),
            )
        )
        spend_effects.append(
            LevelSurface(
                LATENT_CLUSTER, tuple((c, effect_scale * table[c][j, 1]) for c in CLUSTERS)
            )
        )
    return HurdleDGP(
        covariates=covariates,
        conversion_baseline=conversion,
        spend_baseline=spend,
        conversion_effects=tuple(conversion_effects),
        spend_effects=tuple(spend_effects),
        spend_sigma=spend_sigma,
        segments=Segmentation.from_clusters(CLUSTERS),
    )


def _probit_shift(reference_probability: float, lift: float) -> float:
    """Probit shift multiplying ``reference_probability`` by exp(lift) (see ProbitLiftSurface)."""
    target = reference_probability * np.exp(lift)
    if target >= 1.0:
        raise ValueError(
            f"effect_scale is too large: a planted lift of {lift:g} pushes conversion "
            f"{reference_probability:g} to {target:g} >= 1"
        )
    return float(ndtri(target) - ndtri(reference_probability))


def clustered_realistic(
    K: int,
    effect_scale: float,
    *,
    spend_sigma: float = 1.0,
    effect_profiles: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> Scenario:
    """Four-cluster e-commerce mixture at realistic scale.

    Latent clusters (weights): ``loyal_regulars`` (25%: frequent, long-tenured, members,
    desktop), ``bargain_hunters`` (30%: frequent, mobile, small carts), ``new_visitors`` (30%:
    short tenure, few visits), ``big_basket`` (15%: large carts, desktop). Covariates are
    drawn from overlapping cluster components, so they predict the cluster only noisily.

    Baseline: conversion about 6% / 4% / 2% / 5% by cluster (about 4.3% overall), nudged by
    visits and device; log-normal spend with σ = ``spend_sigma`` (1: heavy tail) and median
    about $45 / $28 / $38 / $85 rising with cart value; revenue per visitor about $3.3.

    Effects (log-lifts in units of ``effect_scale``, (conversion, spend)):

    ================  ==============  ==============  ==============  ==============
    arm               loyal_regulars  bargain_hunters new_visitors    big_basket
    ================  ==============  ==============  ==============  ==============
    1 (low_promo)     (-0.5, -1.5)    (3.0, -0.5)     (1.0, -0.25)    (-0.25, -0.5)
    2 (free_ship)     (-0.5, -0.5)    (0.5, -0.25)    (2.0, 0.5)      (1.0, 1.5)
    3 (loyalty_pts)   (1.0, 0.5)      (-0.25, -0.5)   (-0.5, -0.25)   (0.5, 0.25)
    4 (bundle)        (0.25, 0.5)     (0.5, 0.25)     (0.25, -0.5)    (-0.5, 2.0)
    ================  ==============  ==============  ==============  ==============

    Arms beyond the fourth reuse the profiles, halved for each full cycle. With K = 3 the
    revenue-optimal arm is control for ``loyal_regulars``, low_promo for
    ``bargain_hunters`` and free_ship for ``new_visitors`` and ``big_basket``. Default arm
    names: control, low_promo, free_ship, loyalty_points, bundle_discount.

    Parameters
    ----------
    K : int
        Number of arms.
    effect_scale : float
        Size of one unit of planted log-lift. At 0.1 each cluster's best arm lifts its revenue
        per visitor by about 25-30% (conversion and spend lifts of 5-35%) and the worst loses
        about 10-20%: with σ = 1 spend, a difference-in-means z of about 3-4 per cluster at
        350,000 cold-start visitors, so finding them takes the tutorial's scale.
    spend_sigma : float
        Log-scale spread of spend.
    effect_profiles : mapping, optional
        Replace the table for some clusters: cluster -> K-1 (conversion, spend) pairs in
        effect_scale units (e.g. randomised profiles for calibration sweeps).
    """
    table = _profile_table(K, effect_profiles)
    dgp = _cluster_dgp(
        _cluster_covariates(spread=1.0), _REALISTIC_BASELINES, table, effect_scale, spend_sigma, 1.0
    )
    return Scenario(
        "clustered_realistic",
        ((0, dgp),),
        "four-cluster e-commerce mixture; the best arm differs by cluster",
        arm_names=_default_cluster_arms(K),
    )


def clustered(
    K: int,
    effect_scale: float,
    *,
    spend_sigma: float = 0.6,
    effect_profiles: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> Scenario:
    """The cluster mixture in textbook form: separated clusters, pure cluster effects.

    The same clusters, weights and effect table as :func:`clustered_realistic`, but with
    within-cluster covariate spreads halved (clusters far easier to recover from
    covariates), conversion 14% / 10% / 6% / 12%, spend σ = 0.6, and baselines that depend on
    the cluster only. Planted segments: the clusters.
    """
    table = _profile_table(K, effect_profiles)
    dgp = _cluster_dgp(
        _cluster_covariates(spread=0.5), _CLEAN_BASELINES, table, effect_scale, spend_sigma, 0.0
    )
    return Scenario(
        "clustered",
        ((0, dgp),),
        "four well-separated clusters with cluster-constant effects",
        arm_names=_default_cluster_arms(K),
    )


def drift(
    K: int,
    effect_scale: float,
    *,
    drift_round: int = 2,
    drift_segment: str = "bargain_hunters",
    spend_sigma: float = 1.0,
) -> Scenario:
    """:func:`clustered_realistic` whose ``drift_segment`` reverses at ``drift_round``.

    Rounds before ``drift_round`` are exactly ``clustered_realistic``; from ``drift_round``
    on (round indices as passed to the generator), every arm's effect profile in
    ``drift_segment`` changes sign (e.g. promo fatigue: low_promo now loses bargain hunters),
    while every other cluster, the covariates and the baselines stay the same.
    """
    if drift_segment not in CLUSTERS:
        raise ValueError(f"drift_segment must be one of {CLUSTERS}, got {drift_segment!r}")
    if isinstance(drift_round, bool) or not isinstance(drift_round, int) or drift_round < 1:
        raise ValueError(f"drift_round must be a positive integer, got {drift_round!r}")
    before = clustered_realistic(K, effect_scale, spend_sigma=spend_sigma)
    table = _profile_table(K, None)
    table[drift_segment] = -table[drift_segment]
    first = before.regimes[0][1]
    assert isinstance(first.covariates, MixtureCovariateModel)
    after = _cluster_dgp(
        first.covariates, _REALISTIC_BASELINES, table, effect_scale, spend_sigma, 1.0
    )
    return Scenario(
        "drift",
        ((0, first), (drift_round, after)),
        f"clustered_realistic; {drift_segment}'s effects reverse from round {drift_round}",
        arm_names=before.arm_names,
    )


def _default_cluster_arms(K: int) -> tuple[str, ...]:
    names = list(_CLUSTER_ARM_NAMES[:K])
    names += [f"treatment_{j}" for j in range(len(names), K)]
    return tuple(names)


def _check_probability(value: float, name: str) -> float:
    if not 0.0 < float(value) < 0.5:
        raise ValueError(f"{name} must be in (0, 0.5), got {value!r}")
    return float(value)


# ------------------------------------------------------------------ registry
TEMPLATES: dict[str, Template] = {
    "constant": constant,
    "reversal": reversal,
    "sparse_benefit": sparse_benefit,
    "nonlinear": nonlinear,
    "monotone_gradient": monotone_gradient,
    "interaction_only": interaction_only,
    "clustered": clustered,
    "clustered_realistic": clustered_realistic,
    "null": null,
    "drift": drift,
}
"""Registered templates by name; extend with :func:`register_template`."""


def register_template(
    name: str, template: Callable[..., Scenario], *, overwrite: bool = False
) -> Callable[..., Scenario]:
    """Register a user template so generators can use it by name.

    Parameters
    ----------
    name : str
        Registry key.
    template : callable
        ``template(K, effect_scale, **kwargs) -> Scenario``.
    overwrite : bool
        Allow replacing an existing template of the same name.

    Returns
    -------
    callable
        ``template`` itself.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"template name must be a non-empty string, got {name!r}")
    if not callable(template):
        raise TypeError(f"template must be callable, got {type(template).__name__}")
    if name in TEMPLATES and not overwrite:
        raise ValueError(f"template {name!r} is already registered; pass overwrite=True")
    TEMPLATES[name] = template
    return template
