"""Calibration artifacts: JSON round trip, regime checks, and the corrections they apply."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import norm

from pytyche.calibration import (
    Calibration,
    CalibrationMismatchError,
    CalibrationRangeWarning,
    Regime,
    fit_calibration,
    inflation_factors,
    isotonic_increasing,
)
from pytyche.contracts import ClaimLevel
from pytyche.data import RoundData

LEVELS = (0.5, 0.8, 0.9, 0.95)


def make_calibration(inflation=None, scales=(100, 10_000), **overrides) -> Calibration:
    shape = (len(LEVELS), len(scales))
    values = np.full(shape, 1.5) if inflation is None else np.asarray(inflation, float)
    fields = {
        "family": "hurdle",
        "metric": "revenue_per_visitor",
        "num_arms": 3,
        "model": "hurdle_bcf",
        "model_version": "0.1.0",
        "sweep_id": "unit",
        "spec_hash": "abc",
        "created": "2026-01-01T00:00:00+00:00",
        "levels": LEVELS,
        "scales": scales,
        "inflation": values,
        "num_replicates": (100,) * len(scales),
        "quantities": ("gate_a",),
        "coverage_before": np.full(shape, 0.6),
        "coverage_after": np.tile(np.asarray(LEVELS)[:, None], (1, len(scales))),
    }
    fields.update(overrides)
    return Calibration(**fields)


def test_json_round_trip(tmp_path):
    inflation = np.array([[1.1, 1.3], [1.2, 1.4], [1.25, 1.5], [1.3, 1.6]])
    original = make_calibration(inflation)
    path = original.save(tmp_path / "artifact.json")
    loaded = Calibration.load(path)
    assert loaded.to_dict() == original.to_dict()
    np.testing.assert_array_equal(loaded.inflation, inflation)
    assert loaded.scale_range == (100, 10_000)
    assert "n in [100, 10,000]" in repr(loaded)


def test_load_rejects_bad_artifacts(tmp_path):
    payload = make_calibration().to_dict()
    with pytest.raises(ValueError, match="schema_version"):
        Calibration.from_dict({**payload, "schema_version": 99})
    del payload["inflation"]
    with pytest.raises(ValueError, match=r"missing the keys \['inflation'\]"):
        Calibration.from_dict(payload)
    with pytest.raises(FileNotFoundError):
        Calibration.load(tmp_path / "none.json")
    with pytest.raises(ValueError, match="inflation must have shape"):
        make_calibration(np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite and positive"):
        make_calibration(np.zeros((4, 2)))


def test_applies_to_refuses_other_metric_and_K():
    calibration = make_calibration()
    assert calibration.applies_to(Regime("hurdle", "revenue_per_visitor", 3, 1000))
    assert not calibration.applies_to(Regime("hurdle", "conversion_rate", 3, 1000))
    assert not calibration.applies_to(Regime("hurdle", "revenue_per_visitor", 4, 1000))
    assert not calibration.applies_to(Regime("binary", "revenue_per_visitor", 3, 1000))
    with pytest.raises(CalibrationMismatchError, match="K = 2 arms != calibrated K = 3"):
        calibration.check(Regime("hurdle", "revenue_per_visitor", 2, 1000))
    with pytest.raises(TypeError, match="RoundData or a calibration Regime"):
        calibration.applies_to({"family": "hurdle"})


def _round_data(arms: tuple[str, ...], n: int = 60) -> RoundData:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "arm": [arms[i % len(arms)] for i in range(n)],
            "revenue": np.where(rng.uniform(size=n) < 0.5, 0.0, rng.lognormal(size=n)),
        }
    )
    return RoundData.from_frame(frame, arms=list(arms), family="hurdle")


def test_applies_to_round_data():
    calibration = make_calibration()
    three = _round_data(("control", "a", "b"), n=300)
    assert calibration.applies_to(three)  # natural metric of a hurdle: revenue per visitor
    assert not calibration.applies_to(three, metric="conversion_rate")
    assert not calibration.applies_to(_round_data(("control", "a"), n=300))


def test_warns_outside_the_fitted_scale_range():
    calibration = make_calibration()
    with pytest.warns(CalibrationRangeWarning, match="outside"):
        assert calibration.applies_to(Regime("hurdle", "revenue_per_visitor", 3, 50_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibration.applies_to(Regime("hurdle", "revenue_per_visitor", 3, 5_000))


def test_factor_interpolates_in_log_n_and_level():
    inflation = np.array([[1.2, 1.8]] * 4)
    calibration = make_calibration(inflation)
    assert calibration.factor(1_000, 0.9) == pytest.approx(1.5)  # log-midpoint of 100, 10k
    assert calibration.factor(10, 0.9) == pytest.approx(1.2)  # flat below the range
    assert calibration.factor(10**6, 0.9) == pytest.approx(1.8)
    graded = make_calibration(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [3.0, 3.0]]))
    assert graded.factor(100, 0.85) == pytest.approx(2.5)
    assert graded.factor(100, 0.2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        calibration.factor(0, 0.9)


def test_known_correction_widens_intervals_by_the_factor():
    draws = np.random.default_rng(1).gamma(2.0, size=(5000, 3))  # skewed, 3 quantities
    calibration = make_calibration(np.full((4, 2), 1.5))
    lower, upper = calibration.calibrated_interval(draws, 1_000, 0.9, axis=0)
    median = np.median(draws, axis=0)
    raw_lower, raw_upper = np.quantile(draws, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(upper - lower, 1.5 * (raw_upper - raw_lower))
    np.testing.assert_allclose(median - lower, 1.5 * (median - raw_lower))  # asymmetry kept
    np.testing.assert_allclose(upper - median, 1.5 * (raw_upper - median))


def test_constant_factor_spreads_draws_about_the_median():
    draws = np.random.default_rng(2).normal(3.0, 0.2, size=(2001, 4))
    calibrated = make_calibration(np.full((4, 2), 2.0)).calibrated_draws(draws, 1_000)
    median = np.median(draws, axis=0)
    np.testing.assert_allclose(calibrated - median, 2.0 * (draws - median))


def test_calibrated_draws_reproduce_calibrated_intervals():
    draws = np.random.default_rng(3).normal(size=(8001, 2))
    inflation = np.array([[1.1, 1.1], [1.3, 1.3], [1.4, 1.4], [1.5, 1.5]])
    calibration = make_calibration(inflation)
    calibrated = calibration.calibrated_draws(draws, 1_000)
    for level in LEVELS:
        lower, upper = calibration.calibrated_interval(draws, 1_000, level)
        q = np.quantile(calibrated, [(1 - level) / 2, (1 + level) / 2], axis=0)
        np.testing.assert_allclose(q[0], lower, atol=0.01)
        np.testing.assert_allclose(q[1], upper, atol=0.01)
    # order of draws is kept (monotone effective z), so ranks-based summaries are consistent
    np.testing.assert_array_equal(np.argsort(calibrated[:, 0]), np.argsort(draws[:, 0]))


def test_apply_labels_draws_and_intervals_calibrated():
    values = np.random.default_rng(4).normal(size=(2, 500, 2))
    draws = xr.DataArray(
        values,
        dims=("chain", "draw", "arm"),
        coords={"arm": ["a", "b"]},
        attrs={"claim_level": ClaimLevel.POSTERIOR.value, "metric": "revenue_per_visitor"},
    )
    calibration = make_calibration(np.full((4, 2), 2.0))
    out = calibration.apply(draws, data=Regime("hurdle", "revenue_per_visitor", 3, 1_000))
    assert out.attrs["claim_level"] == ClaimLevel.CALIBRATED.value
    assert out["draws"].attrs["claim_level"] == ClaimLevel.CALIBRATED.value
    assert out["draws"].dims == ("chain", "draw", "arm")
    assert out["lower"].dims == ("level", "arm")
    assert list(out["arm"].values) == ["a", "b"]
    flat = values.reshape(-1, 2)
    median = np.median(flat, axis=0)
    np.testing.assert_allclose(out["draws"].values, median + 2 * (values - median))
    with pytest.raises(CalibrationMismatchError, match="metric"):
        calibration.apply(draws, data=Regime("hurdle", "conversion_rate", 3, 1_000))
    with pytest.raises(ValueError, match="pass n"):
        calibration.apply(draws)


def test_isotonic_increasing_pools_violators():
    np.testing.assert_allclose(isotonic_increasing([1.0, 3.0, 2.0, 4.0]), [1.0, 2.5, 2.5, 4.0])
    np.testing.assert_allclose(isotonic_increasing([3.0, 2.0, 1.0]), [2.0, 2.0, 2.0])


def test_inflation_factors_recover_a_known_inflation():
    """Ratios of a posterior too narrow by k: r_γ = |Z| / (z_γ / k) ⇒ c(γ) = k."""
    z = np.abs(np.random.default_rng(5).normal(size=20_000))
    k = 1.7
    ratios = np.column_stack([z * k / norm.ppf((1 + g) / 2) for g in LEVELS])
    factors = inflation_factors(ratios, LEVELS)
    np.testing.assert_allclose(factors, k, rtol=0.03)
    effective_z = factors * norm.ppf((1 + np.asarray(LEVELS)) / 2)
    assert np.all(np.diff(effective_z) >= 0)


def _synthetic_result(k_by_n: dict[int, float], replicates: int, seed: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    n = np.repeat(list(k_by_n), replicates)
    k = np.repeat(list(k_by_n.values()), replicates)
    z = np.abs(rng.normal(size=(n.size, 2)))
    z_levels = norm.ppf((1 + np.asarray(LEVELS)) / 2)
    ratios = z[:, :, None] * k[:, None, None] / z_levels
    return xr.Dataset(
        {
            "interval_ratio": (("replicate", "quantity", "level"), ratios),
            "covered": (("replicate", "quantity", "level"), ratios <= 1),
        },
        coords={"n": ("replicate", n), "quantity": ["gate_a", "ate"], "level": list(LEVELS)},
        attrs={
            "sweep_id": "synthetic",
            "spec_hash": "0",
            "family": "continuous",
            "metric": "mean_outcome",
            "num_arms": 2,
            "model": "synthetic",
            "model_version": "0",
        },
    )


def test_fit_calibration_per_scale_and_quantity_selection():
    result = _synthetic_result({100: 1.2, 10_000: 2.0}, replicates=5000, seed=6)
    calibration = fit_calibration(result, quantities=("gate_*",), created="now")
    assert calibration.quantities == ("gate_a",)
    assert calibration.scales == (100, 10_000)
    np.testing.assert_allclose(calibration.inflation[:, 0], 1.2, rtol=0.05)
    np.testing.assert_allclose(calibration.inflation[:, 1], 2.0, rtol=0.05)
    before = 2 * norm.cdf(norm.ppf((1 + np.asarray(LEVELS)) / 2) / 2.0) - 1
    np.testing.assert_allclose(calibration.coverage_before[:, 1], before, atol=0.03)
    with pytest.raises(ValueError, match="match none"):
        fit_calibration(result, quantities=("cate_*",))
    with pytest.raises(ValueError, match="not an SBC sweep result"):
        fit_calibration(result.drop_vars("interval_ratio"))
