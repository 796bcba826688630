"""End-to-end SBC on the conjugate normal model, whose posterior is exact.

Tolerances: a coverage proportion from R replicates has Monte Carlo standard deviation
sqrt(γ(1−γ)/R); coverage pooled over the Q correlated quantities of a replicate is treated
as if it came from R replicates only (conservative). All runs are seeded, so results are
deterministic; the declared false-failure rate of each check under a correct pipeline is
below 1% (χ²: minimum p over 12 per-(n, quantity) tests above 1e-3 ⇒ ≤ 1.2%).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax
import numpy as np
import pytest
import xarray as xr
from sbc_testing import conjugate_spec

from pytyche.calibration import fit_calibration
from pytyche.sbc import rank_uniformity, run_sweep
from pytyche.sbc.conjugate import (
    ConjugateNormalConfig,
    ConjugateNormalProblem,
    ConjugateStats,
    conjugate_normal_problem,
)
from pytyche.sbc.diagnostics import coverage_table, coverage_vs_n, format_report
from pytyche.sbc.problem import SimulatedBatch
from pytyche.sbc.runner import load_result, resolve_problem

LEVELS = np.array([0.5, 0.8, 0.9, 0.95])
REPLICATES = 400


def _mc_tolerance(level: float, replicates: int = REPLICATES, z: float = 3.5) -> float:
    return z * np.sqrt(level * (1 - level) / replicates)


@pytest.fixture(scope="module")
def exact_result(tmp_path_factory):
    spec = conjugate_spec(
        sweep_id="exact", seed=1, scales=(20, 2000), replicates=REPLICATES, chunk_size=REPLICATES
    )
    outcome = run_sweep(spec, tmp_path_factory.mktemp("exact") / "exact.nc")
    assert outcome.complete
    return outcome.result


@pytest.fixture(scope="module")
def overconfident_results(tmp_path_factory):
    """Training and held-out sweeps of a sampler whose spread is 0.5 (n/1000)^-0.1 × exact."""
    directory = tmp_path_factory.mktemp("overconfident")
    common = {
        "replicates": REPLICATES,
        "chunk_size": REPLICATES,
        "posterior_scale": 0.5,
        "posterior_scale_exponent": -0.1,
    }
    train = conjugate_spec(sweep_id="train", seed=11, scales=(20, 2000), **common)
    held_out = conjugate_spec(sweep_id="held-out", seed=12, scales=(20, 200, 2000), **common)
    return (
        run_sweep(train, directory / "train.nc").result,
        run_sweep(held_out, directory / "held-out.nc").result,
    )


def test_result_layout_and_provenance(exact_result):
    assert exact_result.sizes == {"replicate": 2 * REPLICATES, "quantity": 6, "level": 4}
    assert list(exact_result["quantity"].values) == [
        "theta_0", "theta_1", "theta_2", "contrast_1", "contrast_2", "sample_mean",
    ]  # fmt: skip
    assert set(np.unique(exact_result["n"].values)) == {20, 2000}
    attrs = exact_result.attrs
    for key in ("spec_json", "spec_hash", "pytyche_version", "devices", "created", "jax_version"):
        assert attrs[key]
    assert attrs["family"] == "continuous" and attrs["num_arms"] == 3
    assert exact_result["rank"].min() >= 0 and exact_result["rank"].max() <= 99
    assert np.all(exact_result["wall_time"].values > 0)


def test_exact_posterior_ranks_are_uniform(exact_result):
    table = rank_uniformity(exact_result)
    assert len(table) == 12
    assert table["p_value"].min() > 1e-3, table
    assert table["ecdf_inside_band"].mean() >= 0.75, table


def test_exact_posterior_coverage_is_nominal(exact_result):
    table = coverage_table(exact_result)
    for row in table.itertuples():
        assert abs(row.coverage - row.level) < _mc_tolerance(row.level), row


def test_data_dependent_quantity_is_calibrated(exact_result):
    """sample_mean's truth uses the replicate's own arm shares (Modrák et al. 2023)."""
    per_quantity = coverage_table(exact_result, quantities=("sample_mean",), per_quantity=True)
    for row in per_quantity.itertuples():
        assert abs(row.coverage - row.level) < _mc_tolerance(row.level), row


def test_overconfident_sampler_is_detected(overconfident_results):
    train, _ = overconfident_results
    table = coverage_table(train)
    at_90 = table[table["level"] == 0.9]
    # exact: P(|Z| < 1.645 c(n)) with c = 0.74 (n=20), 0.47 (n=2000): 0.78 and 0.56
    assert np.all(at_90["coverage"] < 0.8) and np.all(at_90["mc_high"] < 0.85), at_90
    uniformity = rank_uniformity(train)
    assert uniformity["p_value"].max() < 0.01, uniformity  # χ² rejects at every (n, quantity)
    assert uniformity.loc[uniformity["n"] == 2000, "p_value"].max() < 1e-10


def test_fitted_correction_restores_coverage_on_held_out(overconfident_results):
    train, held_out = overconfident_results
    calibration = fit_calibration(train)
    assert calibration.scale_range == (20, 2000)
    np.testing.assert_allclose(
        calibration.coverage_after, LEVELS[:, None] * np.ones((1, 2)), atol=0.01
    )
    ratios = held_out["interval_ratio"]
    for n in (20, 200, 2000):  # 200 is between the training scales: log-n interpolation
        at_n = ratios.isel(replicate=np.flatnonzero(held_out["n"].values == n))
        raw = (at_n <= 1).mean(("replicate", "quantity")).values
        factors = calibration.factor(n, LEVELS)
        calibrated = (at_n <= xr.DataArray(factors, dims="level")).mean(("replicate", "quantity"))
        for level, before, after in zip(LEVELS, raw, calibrated.values, strict=True):
            assert before < level - 0.05
            assert abs(after - level) < _mc_tolerance(level), (n, level, after)


def test_inflation_matches_the_known_shrinkage(overconfident_results):
    """The true inflation is 1 / c(n) = 2 (n/1000)^0.1 at every level."""
    calibration = fit_calibration(overconfident_results[0])
    expected = 2 * (np.array([20, 2000]) / 1000) ** 0.1
    np.testing.assert_allclose(calibration.inflation, np.tile(expected, (4, 1)), rtol=0.12)


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    spec = conjugate_spec(sweep_id="resume", seed=3, replicates=30, chunk_size=10)
    interrupted = tmp_path / "interrupted.nc"
    first = run_sweep(spec, interrupted, max_chunks=1)
    assert not first.complete and first.result is None and not interrupted.exists()
    partial = tmp_path / "interrupted.nc.partial"
    assert len(list(partial.glob("*.nc"))) == 1
    (partial / ".n50_r0000010-0000020.nc.999.tmp").write_bytes(b"torn write")  # killed mid-write
    second = run_sweep(spec, interrupted)
    assert second.complete and second.chunks_run == 2 and second.chunks_skipped == 1
    assert not partial.exists()
    reference = run_sweep(spec, tmp_path / "reference.nc").result
    resumed = load_result(interrupted)
    timing = ["wall_time", "compile_time"]
    xr.testing.assert_identical(
        resumed.drop_vars(timing).drop_attrs(), reference.drop_vars(timing).drop_attrs()
    )
    again = run_sweep(spec, interrupted)
    assert again.complete and again.chunks_run == 0


@pytest.mark.slow
def test_results_do_not_depend_on_chunking(tmp_path):
    small = run_sweep(conjugate_spec(seed=3, chunk_size=16), tmp_path / "a.nc").result
    large = run_sweep(conjugate_spec(seed=3, chunk_size=60), tmp_path / "b.nc").result
    np.testing.assert_array_equal(small["rank"], large["rank"])
    np.testing.assert_array_equal(small["covered"], large["covered"])
    np.testing.assert_allclose(small["lower"], large["lower"], rtol=1e-5)


def test_resume_refuses_a_different_spec(tmp_path):
    out = tmp_path / "x.nc"
    run_sweep(conjugate_spec(seed=3, replicates=30, chunk_size=10), out, max_chunks=0)
    with pytest.raises(ValueError, match="different sweep spec"):
        run_sweep(conjugate_spec(seed=4, replicates=30, chunk_size=10), out)


def test_problem_resolution_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown keys \\['posterior_scal'\\]"):
        spec = conjugate_spec()
        bad = type(spec)(**{**spec.__dict__, "fit_params": {"posterior_scal": 1.0}})
        resolve_problem(bad)
    spec = conjugate_spec()
    with pytest.raises(ValueError, match="unknown SBC model 'nope'"):
        resolve_problem(type(spec)(**{**spec.__dict__, "model": "nope"}))
    with pytest.raises(ValueError, match="match none of the problem's quantities"):
        run_sweep(conjugate_spec(quantities=("gate_*",)), tmp_path / "q.nc", max_chunks=0)


def test_report_mentions_tables(exact_result):
    text = format_report(exact_result)
    assert "coverage vs nominal" in text and "rank uniformity" in text
    frame = coverage_vs_n(exact_result, level=0.9)
    assert list(frame.index) == [20, 2000] and "pooled" in frame.columns
    with pytest.raises(ValueError, match="level 0.7 is not"):
        coverage_vs_n(exact_result, level=0.7)


@dataclass(frozen=True)
class HostSimulatedConjugate:
    """The conjugate problem with its simulation in NumPy on the host (like the generators)."""

    inner: ConjugateNormalProblem
    host_simulation: ClassVar[bool] = True

    @property
    def regime(self):
        return self.inner.regime

    def quantity_names(self, n):
        return self.inner.quantity_names(n)

    def num_draws(self, n):
        return self.inner.num_draws(n)

    def simulate(self, keys, n):
        stats, truths = [], []
        for seed in np.asarray(jax.random.key_data(keys)):
            rng = np.random.default_rng(seed.tolist())
            theta = rng.normal(size=3)
            edges = np.floor(n * np.cumsum(rng.dirichlet(np.ones(3))))
            edges[-1] = n
            counts = np.diff(edges, prepend=0.0)
            sums = counts * theta + np.sqrt(counts) * rng.normal(size=3)
            weights = counts / n
            truths.append([*theta, theta[1] - theta[0], theta[2] - theta[0], weights @ theta])
            stats.append((counts, sums))
        counts, sums = (np.asarray(column, np.float32) for column in zip(*stats, strict=True))
        return SimulatedBatch(ConjugateStats(counts, sums), np.asarray(truths, np.float32))

    def fit(self, keys, data):
        return self.inner.fit(keys, data)


def test_host_simulated_problem_is_calibrated(tmp_path):
    problem = HostSimulatedConjugate(conjugate_normal_problem(ConjugateNormalConfig(num_draws=399)))
    spec = conjugate_spec(sweep_id="host", seed=7, scales=(100,), replicates=300, chunk_size=150)
    outcome = run_sweep(spec, tmp_path / "host.nc", problem=problem)
    result = outcome.result
    assert result["compile_time"].sum() > 0
    assert rank_uniformity(result)["p_value"].min() > 1e-3
    for row in coverage_table(result).itertuples():
        assert abs(row.coverage - row.level) < _mc_tolerance(row.level, 300), row


SHARDED_SCRIPT = """
import sys
sys.path.insert(0, {testdir!r})
import jax
from sbc_testing import conjugate_spec
from pytyche.sbc import run_sweep
assert len(jax.devices()) == 2, jax.devices()
result = run_sweep(conjugate_spec(seed=3, replicates=30, chunk_size=7), {out!r}).result
assert "x2" in result.attrs["devices"], result.attrs["devices"]
"""


@pytest.mark.slow
def test_sharded_over_two_devices_matches_one_device(tmp_path):
    """Two (virtual CPU) devices: chunks padded to a multiple of 2 and sharded; same ranks."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "sharded.nc"
    script = SHARDED_SCRIPT.format(testdir=str(Path(__file__).parent), out=str(out))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env["JAX_PLATFORMS"] = "cpu"
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=600)
    sharded = load_result(out)
    single = run_sweep(conjugate_spec(seed=3, replicates=30, chunk_size=7), tmp_path / "one.nc")
    np.testing.assert_array_equal(sharded["rank"], single.result["rank"])
    np.testing.assert_array_equal(sharded["covered"], single.result["covered"])
