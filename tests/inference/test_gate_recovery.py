"""The default BCF recovers planted segment effects: GATE slope and 90% interval coverage.

One seeded data set with a strong planted signal (``interaction_only``: effects of opposite
signs in four device x membership segments, K = 4, 30% conversion). The yardstick is the
difference in means per segment, whose standard errors give the Monte-Carlo error of the
slope of estimated on true GATE; a flattened fit (slope ≈ 0.3, as before issue 19's
measurements) fails.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from pytyche.contracts import reveal_truth
from pytyche.generators import generate_dataset
from pytyche.inference import fit

LEVEL = 0.90
SHRINKAGE_ALLOWANCE = 0.2  # a regularised estimator may pull GATEs in by up to a fifth


def test_default_fit_recovers_planted_gates_with_calibrated_intervals():
    data, sealed = generate_dataset(
        "interaction_only", 6_000, K=4, effect_scale=0.5, base_conversion=0.3, seed=1
    )
    truth = reveal_truth(sealed)
    posterior = fit(data, seed=1, check_mixing=False)
    y, arm = data.frame["revenue"].to_numpy(), data.arm_index
    estimate, true_gate, covered, se = [], [], [], []
    for segment in dict.fromkeys(truth.segment_labels):
        mask = truth.segment_labels == segment
        draws = posterior.gate(mask).values.reshape(-1, data.n_arms - 1)
        low, high = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
        target = truth.cate[mask].mean(axis=0)
        estimate += list(draws.mean(axis=0))
        true_gate += list(target)
        covered += list((low <= target) & (target <= high))
        control = y[mask & (arm == 0)]
        for a in range(1, data.n_arms):
            treated = y[mask & (arm == a)]
            se.append(np.sqrt(control.var() / control.size + treated.var() / treated.size))
    estimate, true_gate, se = map(np.asarray, (estimate, true_gate, se))
    spread = true_gate - true_gate.mean()
    slope = np.sum(spread * (estimate - estimate.mean())) / np.sum(spread**2)
    slope_se = np.sqrt(np.sum(se**2 * spread**2)) / np.sum(spread**2)
    assert 1 - SHRINKAGE_ALLOWANCE - 3 * slope_se < slope < 1 + 3 * slope_se, (slope, slope_se)
    # 12 GATEs; under nominal coverage fewer than 9 covered has probability < 0.03
    assert binom.cdf(8, len(covered), LEVEL) < 0.03
    assert sum(covered) >= 9, (sum(covered), estimate, true_gate)
