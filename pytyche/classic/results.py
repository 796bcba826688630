"""Result containers of the classic toolkit: small frozen dataclasses with a readable repr.

Every classic estimator reports an :class:`EffectEstimate` (estimate, standard error,
confidence interval, p-value, sample size and the method's name). Estimators with extra
diagnostics wrap one: :class:`CupedResult`, :class:`InstrumentalResult`. All numbers are
computed from observed data, so they carry :attr:`~pytyche.contracts.ClaimLevel.OBSERVED`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd
from scipy import stats

from pytyche.contracts import ClaimLevel

__all__ = [
    "CupedResult",
    "EffectEstimate",
    "InstrumentalResult",
    "SampleRatioResult",
    "estimates_table",
]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True)
class EffectEstimate:
    """A treatment-effect (or difference) estimate with its frequentist uncertainty.

    Attributes
    ----------
    method
        Human-readable name of the estimator, e.g. ``"Welch t-test"``.
    estimate
        Point estimate (treatment minus control, in outcome units).
    se
        Standard error of the estimate.
    ci
        ``(lower, upper)`` confidence interval at level ``ci_level``.
    p_value
        Two-sided p-value for the null hypothesis of no effect.
    n
        Number of observations used.
    ci_level
        Confidence level of ``ci`` (e.g. 0.95).
    claim
        What backs the numbers; always observed data for classic estimators.
    """

    method: str
    estimate: float
    se: float
    ci: tuple[float, float]
    p_value: float
    n: int
    ci_level: float = 0.95
    claim: ClaimLevel = ClaimLevel.OBSERVED

    def __repr__(self) -> str:
        level = f"{100 * self.ci_level:g}%"
        return (
            f"EffectEstimate({self.method}: {_fmt(self.estimate)} (SE {_fmt(self.se)}), "
            f"{level} CI [{_fmt(self.ci[0])}, {_fmt(self.ci[1])}], "
            f"p={self.p_value:.3g}, n={self.n})"
        )

    def to_dict(self) -> dict[str, object]:
        """Flat dictionary (CI split into ``ci_lower``/``ci_upper``) for tables."""
        row = asdict(self)
        lower, upper = row.pop("ci")
        row["ci_lower"], row["ci_upper"] = lower, upper
        row["claim"] = str(self.claim)
        return row

    @classmethod
    def from_normal(
        cls, method: str, estimate: float, se: float, n: int, ci_level: float = 0.95
    ) -> EffectEstimate:
        """Build an estimate whose CI and p-value use the normal approximation."""
        z = stats.norm.ppf(0.5 + ci_level / 2)
        p_value = float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else float("nan")
        return cls(
            method=method,
            estimate=float(estimate),
            se=float(se),
            ci=(float(estimate - z * se), float(estimate + z * se)),
            p_value=p_value,
            n=int(n),
            ci_level=ci_level,
        )


def estimates_table(estimates: Iterable[EffectEstimate]) -> pd.DataFrame:
    """Stack estimates into one table indexed by method (for side-by-side comparisons)."""
    items = list(estimates)
    if not items:
        raise ValueError("estimates must contain at least one EffectEstimate")
    wrong = [type(e).__name__ for e in items if not isinstance(e, EffectEstimate)]
    if wrong:
        raise TypeError(f"estimates must contain EffectEstimate objects, got {wrong}")
    rows = [e.to_dict() for e in items]
    columns = ["estimate", "se", "ci_lower", "ci_upper", "p_value", "n", "ci_level", "claim"]
    return pd.DataFrame(rows).set_index("method")[columns]


@dataclass(frozen=True)
class SampleRatioResult:
    """Sample-ratio-mismatch check: χ² goodness of fit of arm counts to planned shares.

    Attributes
    ----------
    observed
        Visitors per arm.
    expected
        Expected visitors per arm under the planned shares.
    chi2
        Pearson χ² statistic.
    p_value
        Upper-tail p-value with ``len(observed) - 1`` degrees of freedom.
    alpha
        Threshold below which the split is flagged.
    mismatch
        ``p_value < alpha``: the assignment is probably broken; do not trust the test.
    """

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    alpha: float
    mismatch: bool

    def __repr__(self) -> str:
        verdict = "MISMATCH" if self.mismatch else "ok"
        return (
            f"SampleRatioResult({verdict}: observed={list(self.observed)}, "
            f"expected={[round(e, 1) for e in self.expected]}, chi2={self.chi2:.3g}, "
            f"p={self.p_value:.3g}, alpha={self.alpha:g})"
        )


@dataclass(frozen=True)
class CupedResult:
    """CUPED-adjusted A/B comparison (Deng, Xu, Kohavi & Walker 2013).

    Attributes
    ----------
    adjusted
        Welch comparison of the CUPED-adjusted outcome.
    unadjusted
        Welch comparison of the raw outcome, for reference.
    theta
        ``Cov(Y, X) / Var(X)`` pooled over arms.
    variance_reduction
        ``1 − Var(Y*) / Var(Y)`` pooled over arms; ≈ ρ²(X, Y).
    """

    adjusted: EffectEstimate
    unadjusted: EffectEstimate
    theta: float
    variance_reduction: float

    def __repr__(self) -> str:
        return (
            f"CupedResult(theta={_fmt(self.theta)}, "
            f"variance_reduction={100 * self.variance_reduction:.1f}%,\n"
            f"  adjusted={self.adjusted!r},\n  unadjusted={self.unadjusted!r})"
        )


@dataclass(frozen=True)
class InstrumentalResult:
    """Two-stage least-squares estimate with first-stage diagnostics.

    Attributes
    ----------
    effect
        The 2SLS estimate of the treatment coefficient.
    first_stage_f
        Wald F statistic of the excluded instruments in the first stage (same covariance
        type as the second stage). Rule of thumb: > 10 means a strong instrument.
    first_stage_coefficients
        First-stage coefficients of the instruments, by name.
    """

    effect: EffectEstimate
    first_stage_f: float
    first_stage_coefficients: dict[str, float]

    def __repr__(self) -> str:
        coefs = {k: round(v, 4) for k, v in self.first_stage_coefficients.items()}
        return (
            f"InstrumentalResult(first_stage_f={self.first_stage_f:.4g}, "
            f"first_stage={coefs},\n  effect={self.effect!r})"
        )
