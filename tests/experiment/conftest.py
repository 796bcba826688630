"""Fixtures of the sequential-experiment tests.

``group_means_fit`` is a fast stand-in for the BCF fit used by the loop-mechanics tests
(floors, plans, persistence, resume): a normal approximation to the posterior of each
arm's mean outcome within coarse covariate groups. It learns real heterogeneity from the
data, so allocation and drift behave as with a model, but it fits in milliseconds. The
end-to-end test uses the real joint hurdle BCF.
"""

import numpy as np
import pytest

from pytyche.data import RoundData

N_DRAWS = 64


class GroupMeansPosterior:
    """Posterior draws of per-(group, arm) mean outcomes, broadcast to visitors."""

    def __init__(self, data: RoundData, seed: int):
        frame = data.frame
        groups = (
            frame["device"].astype(str)
            + "|"
            + (frame["visits_30d"] >= frame["visits_30d"].median()).astype(str)
        )
        codes, labels = groups.factorize()
        y, arm = data.y, data.arm_index
        n_groups, n_arms = len(labels), data.n_arms
        rng = np.random.default_rng(seed)
        overall = y.mean()
        table = np.empty((N_DRAWS, n_groups, n_arms))
        for g in range(n_groups):
            for k in range(n_arms):
                values = y[(codes == g) & (arm == k)]
                n = len(values)
                # Shrink towards the overall mean with a 20-visitor pseudo-count prior.
                mean = (values.sum() + 20 * overall) / (n + 20)
                sd = np.sqrt((values.var() if n > 1 else y.var()) / (n + 20))
                table[:, g, k] = mean + sd * rng.standard_normal(N_DRAWS)
        self._draws = np.ascontiguousarray(table[:, codes, :])
        self.arms = data.arms
        self.n_visitors = data.n_visitors

    def reward_draws(self, metric=None, *, visitors=None):
        return self._draws if visitors is None else self._draws[:, visitors]


def group_means_fit(data, *, config=None, seed=0, progress=False, check_mixing=True):
    return GroupMeansPosterior(data, seed)


@pytest.fixture
def fast_fit(monkeypatch):
    """Replace the BCF fit of the loop by :func:`group_means_fit`."""
    monkeypatch.setattr("pytyche.experiment.sequential.fit", group_means_fit)
    return group_means_fit
