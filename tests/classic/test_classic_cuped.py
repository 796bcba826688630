"""CUPED: variance reduction ≈ ρ² on bivariate-normal data, no bias, θ = regression slope."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pytyche.classic import cuped_adjust, cuped_test, cuped_theta


def _experiment(n: int, rho: float, effect: float, seed: int) -> pd.DataFrame:
    """Pre-period X and outcome Y bivariate normal with correlation ρ; Y shifted by effect."""
    rng = np.random.default_rng(seed)
    covariance = [[1.0, rho], [rho, 1.0]]
    pre, post = rng.multivariate_normal([0.0, 0.0], covariance, size=n).T
    arm = rng.binomial(1, 0.5, size=n)
    return pd.DataFrame({"pre": 3.0 + pre, "y": 10.0 + post + effect * arm, "arm": arm})


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_variance_reduction_is_rho_squared(rho):
    """Tolerance from the delta method: SE(ρ̂²) ≈ 2ρ(1 − ρ²)/sqrt(n); we allow 4 SE."""
    n = 40_000
    result = cuped_test(_experiment(n, rho, effect=0.0, seed=int(100 * rho)), "y", "pre", "arm")
    se_rho_squared = 2 * rho * (1 - rho**2) / np.sqrt(n)
    assert result.variance_reduction == pytest.approx(rho**2, abs=4 * se_rho_squared + 1e-3)
    assert result.adjusted.se < result.unadjusted.se


def test_theta_is_the_ols_slope_and_adjustment_keeps_the_mean():
    frame = _experiment(5_000, 0.5, effect=0.0, seed=1)
    slope = sm.OLS(frame["y"], sm.add_constant(frame["pre"])).fit().params["pre"]
    assert cuped_theta(frame["y"], frame["pre"]) == pytest.approx(slope, rel=1e-10)
    adjusted = cuped_adjust(frame["y"], frame["pre"])
    assert adjusted.mean() == pytest.approx(frame["y"].mean(), rel=1e-12)
    np.testing.assert_allclose(
        cuped_adjust(frame["y"], frame["pre"], theta=0.0), frame["y"].to_numpy()
    )


def test_cuped_estimate_is_unbiased_with_planted_effect():
    """Across 200 replicates the mean CUPED estimate sits within 4 MC SE of the effect."""
    estimates = [
        cuped_test(_experiment(2_000, 0.7, effect=0.25, seed=s), "y", "pre", "arm").adjusted
        for s in range(200)
    ]
    values = np.array([e.estimate for e in estimates])
    assert values.mean() == pytest.approx(0.25, abs=4 * values.std(ddof=1) / np.sqrt(200))
    # The reported SE matches the replicate spread (SD of 200 draws: ±5% relative SE).
    assert np.mean([e.se for e in estimates]) == pytest.approx(values.std(ddof=1), rel=0.2)


def test_validation_messages():
    frame = _experiment(100, 0.5, effect=0.0, seed=2)
    with pytest.raises(ValueError, match=r"covariate: column\(s\) \['baseline'\] not found"):
        cuped_test(frame, "y", "baseline", "arm")
    with pytest.raises(ValueError, match="covariate is constant"):
        cuped_theta(frame["y"], np.ones(100))
    with pytest.raises(ValueError, match="same length"):
        cuped_adjust(frame["y"], frame["pre"][:50])
    with pytest.raises(ValueError, match="arm: column 'pre' must contain only 0 and 1"):
        cuped_test(frame, "y", "pre", "pre")
