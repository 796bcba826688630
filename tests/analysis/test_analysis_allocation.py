"""Thompson weights: sum to one, floor holds after renormalising, order kept."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pytyche.analysis import floored_weights, thompson_weights
from pytyche.analysis.rules import SegmentRule
from pytyche.analysis.segments import Segment
from pytyche.contracts import ClaimLevel


@given(
    arrays(np.float64, st.integers(2, 8), elements=st.floats(0, 1)).filter(lambda p: p.sum() > 0),
    st.floats(0.0, 1.0),
)
def test_weights_sum_to_one_respect_the_floor_and_keep_order(probabilities, fraction):
    epsilon = fraction / len(probabilities)
    weights = floored_weights(probabilities, epsilon)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(weights >= epsilon - 1e-12)
    order = np.argsort(probabilities, kind="stable")
    assert np.all(np.diff(weights[order]) >= -1e-12)


def test_known_values():
    np.testing.assert_allclose(floored_weights([0.99, 0.01, 0.0], 0.02), [0.96, 0.02, 0.02])
    # Naive max(p, eps) / sum would put the last two arms at 0.0198 < eps.
    np.testing.assert_allclose(floored_weights([0.5, 0.5, 0.0, 0.0], 0.1), [0.4, 0.4, 0.1, 0.1])
    np.testing.assert_allclose(floored_weights([0.6, 0.3, 0.1], 0.02), [0.6, 0.3, 0.1])
    np.testing.assert_allclose(floored_weights([[1.0, 0.0], [0.0, 1.0]], 0.5), 0.5)


def test_thompson_weights_of_a_segment():
    segment = Segment(
        id=0,
        rule=SegmentRule(),
        share=1.0,
        count=10,
        recommended_arm="a",
        gate_estimate={"a": 0.1},
        gate_ci={"a": (0.0, 0.2)},
        ci_level=0.8,
        claim_level=ClaimLevel.POSTERIOR,
        arm_best_probabilities={"control": 0.005, "a": 0.995},
        stability_score=None,
        credible=False,
    )
    weights = thompson_weights(segment)
    assert weights == pytest.approx({"control": 0.02, "a": 0.98})


@pytest.mark.parametrize(
    ("probabilities", "epsilon", "match"),
    [
        ([0.5, 0.5], 0.6, "epsilon"),
        ([0.0, 0.0], 0.1, "positive sum"),
        ([-0.1, 1.1], 0.0, "non-neg"),
    ],
)
def test_invalid_input_raises(probabilities, epsilon, match):
    with pytest.raises(ValueError, match=match):
        floored_weights(probabilities, epsilon)
