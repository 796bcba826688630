"""plot_segment_intervals: GATE intervals, P(best), stability and claim level per segment."""

from dataclasses import dataclass

import numpy as np
import pytest
from viz_testing import ARMS, PLANTED

from pytyche.analysis import PolicyTreeConfig, fit_segments
from pytyche.contracts import ClaimLevel
from pytyche.viz import plot_segment_intervals


def test_intervals_points_and_probabilities_match_the_segments(segmentation, tmp_path):
    fig = plot_segment_intervals(segmentation)
    interval_ax, probability_ax = fig.axes[:2]
    segments = segmentation.segments
    assert len(segments) == len(PLANTED)
    errorbars = interval_ax.containers
    assert [c.get_label() for c in errorbars] == ["a", "b"]
    for container, treatment in zip(errorbars, ["a", "b"], strict=True):
        line, _, (bars,) = container
        np.testing.assert_allclose(line.get_xdata(), [s.gate_estimate[treatment] for s in segments])
        # Each error bar spans the segment's interval exactly.
        spans = [tuple(sorted(p[:, 0])) for p in (seg for seg in bars.get_segments())]
        np.testing.assert_allclose(spans, [s.gate_ci[treatment] for s in segments])
    bar_containers = probability_ax.containers
    assert [c.get_label() for c in bar_containers] == list(ARMS)
    for container, arm in zip(bar_containers, ARMS, strict=True):
        assert len(container) == len(segments)
        np.testing.assert_allclose(
            [bar.get_width() for bar in container],
            [s.arm_best_probabilities[arm] for s in segments],
        )
    labels = [t.get_text().replace(" and\n", " and ") for t in interval_ax.get_yticklabels()]
    for label, segment in zip(labels, segments, strict=True):
        assert str(segment.rule) in label
        assert f"serve {segment.recommended_arm}" in label
    assert "80% interval" in interval_ax.get_xlabel()
    assert interval_ax.get_title(loc="left") == "Intervals: uncalibrated posterior"
    stability = [t.get_text() for t in probability_ax.texts]
    assert stability == [f"stability {s.stability_score:.2f}\ncredible" for s in segments]
    fig.savefig(tmp_path / "segments.png")


@dataclass(frozen=True)
class WideningCalibrator:
    """A calibration that doubles the posterior interval about its median."""

    @property
    def claim_level(self) -> ClaimLevel:
        return ClaimLevel.CALIBRATED

    def interval(self, gate_draws, level, n_visitors):
        low, median, high = np.quantile(gate_draws, [(1 - level) / 2, 0.5, (1 + level) / 2])
        return median - 2 * (median - low), median + 2 * (high - median)


def test_calibrated_label_and_missing_stability(planted):
    frame, draws = planted
    segmentation = fit_segments(
        frame,
        draws,
        ARMS,
        config=PolicyTreeConfig(max_depth=1),
        n_bootstrap=0,
        ci_level=0.9,
        calibrator=WideningCalibrator(),
    )
    fig = plot_segment_intervals(list(segmentation.segments))
    interval_ax, probability_ax = fig.axes[:2]
    assert interval_ax.get_title(loc="left") == "Intervals: calibrated posterior"
    assert "90% interval" in interval_ax.get_xlabel()
    assert len(interval_ax.get_yticklabels()) == len(segmentation.segments) == 2
    assert {t.get_text() for t in probability_ax.texts} == {"stability\nnot run"}


def test_bad_segments_are_rejected(segmentation):
    with pytest.raises(TypeError, match="segments must be a Segmentation"):
        plot_segment_intervals(segmentation.segments[0])
    with pytest.raises(ValueError, match="at least one Segment"):
        plot_segment_intervals([])
