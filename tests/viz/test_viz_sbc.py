"""plot_coverage and plot_rank_histogram on a real (small) conjugate-normal SBC sweep.

The fit's posterior standard deviation is the exact one times ``c(n) = (n / 100) ** -0.15``:
exact at n = 100 and overconfident by half at n = 10,000. Every central interval at level γ
then covers with probability ``2 Φ(c z_γ) − 1`` (all tracked quantities are linear in θ),
the closed form the plotted coverage is checked against.
"""

import numpy as np
import pytest
from scipy.stats import norm

from pytyche.calibration import fit_calibration
from pytyche.contracts import ClaimLevel
from pytyche.sbc.ranks import chi2_uniformity
from pytyche.sbc.runner import run_sweep
from pytyche.sbc.spec import parse_spec
from pytyche.viz import coverage_table, plot_coverage, plot_rank_histogram

REPLICATES = 200
SPEC = f"""
[sweep]
id = "viz-conjugate"
seed = 11
scales = [100, 10000]
replicates = {REPLICATES}
chunk_size = {REPLICATES}
levels = [0.5, 0.8, 0.9, 0.95]
num_rank_draws = 19
[dgp]
kind = "prior_predictive"
[model]
name = "conjugate_normal"
[model.params]
num_groups = 2
[fit]
num_draws = 199
posterior_scale = 1.0
posterior_scale_exponent = -0.15
reference_n = 100.0
"""


def spread(n):
    return (n / 100) ** -0.15


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    outcome = run_sweep(parse_spec(SPEC), tmp_path_factory.mktemp("sbc") / "sweep.nc")
    assert outcome.complete
    return outcome.result


@pytest.fixture(scope="module")
def calibration(sweep):
    return fit_calibration(sweep, created="2026-11-23T00:00:00+00:00")


def test_coverage_table_matches_the_result_and_the_closed_form(sweep):
    table = coverage_table(sweep)
    assert set(table["claim_level"]) == {ClaimLevel.POSTERIOR.value}
    covered = sweep["covered"].transpose("replicate", "quantity", "level").values
    for row in table.itertuples():
        at_n = sweep["n"].values == row.n
        level_index = list(sweep["level"].values).index(row.level)
        assert row.coverage == covered[at_n, :, level_index].mean()
        assert row.lower <= row.coverage <= row.upper
        truth = 2 * norm.cdf(spread(row.n) * norm.ppf((1 + row.level) / 2)) - 1
        # Quantities of a replicate are dependent: Monte Carlo error from replicates alone.
        tolerance = 4 * np.sqrt(truth * (1 - truth) / REPLICATES)
        assert abs(row.coverage - truth) < tolerance


def test_coverage_plot_draws_raw_and_calibrated_curves(sweep, calibration, tmp_path):
    fig = plot_coverage(sweep, calibration)
    nominal_ax, scale_ax = fig.axes[:2]
    table = coverage_table(sweep, calibration)
    levels = sorted(table["level"].unique())
    curves = {c.get_label(): c.lines[0] for c in nominal_ax.containers}
    assert set(curves) == {
        f"{claim.value}, n={n:,}"
        for claim in (ClaimLevel.POSTERIOR, ClaimLevel.CALIBRATED)
        for n in (100, 10_000)
    }
    for label, line in curves.items():
        claim, n = label.split(", n=")
        rows = table[(table["claim_level"] == claim) & (table["n"] == int(n.replace(",", "")))]
        np.testing.assert_allclose(line.get_xdata(), levels)
        np.testing.assert_allclose(line.get_ydata(), rows.sort_values("level")["coverage"])
        assert line.get_linestyle() == ("--" if claim == ClaimLevel.CALIBRATED.value else "-")
    # In-sample calibrated coverage is the artifact's own coverage_after, near nominal.
    calibrated = curves["calibrated posterior, n=10,000"].get_ydata()
    np.testing.assert_allclose(calibrated, calibration.coverage_after[:, 1])
    assert np.all(np.abs(calibrated - levels) < 0.01)
    # The raw curve at n = 10,000 under-covers at every level.
    assert np.all(curves["uncalibrated posterior, n=10,000"].get_ydata() < np.array(levels) - 0.1)
    per_level = {c.get_label() for c in scale_ax.containers}
    assert "uncalibrated posterior, 90%" in per_level and len(per_level) == 8
    assert scale_ax.get_xscale() == "log"
    assert nominal_ax.get_xlabel() == "nominal level of the central interval"
    assert scale_ax.get_xlabel() == "scale n (visitors)"
    assert "in-sample" in fig.get_suptitle()
    fig.savefig(tmp_path / "coverage.png")


def test_rank_histograms_show_uniform_then_overconfident_ranks(sweep, tmp_path):
    fig = plot_rank_histogram(sweep, quantities=["contrast_1"])
    panels = fig.axes
    assert len(panels) == 2
    for ax, n in zip(panels, (100, 10_000), strict=True):
        (bars,) = ax.containers
        ranks = sweep["rank"].sel(quantity="contrast_1").values[sweep["n"].values == n]
        test = chi2_uniformity(ranks, 19)
        assert len(bars) == test.num_bins == 20
        assert sum(bar.get_height() for bar in bars) == REPLICATES
        assert ax.get_title() == f"n = {n:,}: χ² p = {test.p_value:.2g}"
    p_exact = chi2_uniformity(
        sweep["rank"].sel(quantity="contrast_1").values[sweep["n"].values == 100], 19
    ).p_value
    p_overconfident = chi2_uniformity(
        sweep["rank"].sel(quantity="contrast_1").values[sweep["n"].values == 10_000], 19
    ).p_value
    assert p_exact > 1e-3  # exact posterior: uniform ranks (false-failure rate 0.1 %)
    assert p_overconfident < 1e-6
    # Overconfidence piles ranks into the extreme bins.
    heights = [bar.get_height() for bar in panels[1].containers[0]]
    assert heights[0] + heights[-1] > 4 * REPLICATES / 20
    fig.savefig(tmp_path / "ranks.png")


def test_bad_inputs_are_rejected(sweep):
    with pytest.raises(TypeError, match="sbc_result must be"):
        plot_coverage({"covered": []})
    with pytest.raises(ValueError, match="match none"):
        plot_rank_histogram(sweep, quantities=["gate_*"])
    with pytest.raises(TypeError, match="calibration must be"):
        plot_coverage(sweep, calibration="artifact.json")
    with pytest.raises(ValueError, match="num_rank_draws"):
        plot_rank_histogram(sweep.drop_attrs())
