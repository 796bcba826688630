"""Headless plotting for the viz tests, with real analysis objects built once."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from viz_testing import ARMS, planted_draws, planted_frame, staged_history

from pytyche.analysis import PolicyTreeConfig, fit_segments


@pytest.fixture(scope="session")
def planted():
    """(covariates, reward draws) with four planted segments."""
    frame = planted_frame(1500, seed=1)
    return frame, planted_draws(frame, n_draws=60, noise=3.0, seed=2)


@pytest.fixture(scope="session")
def segmentation(planted):
    frame, draws = planted
    return fit_segments(
        frame, draws, ARMS, config=PolicyTreeConfig(max_depth=2), n_bootstrap=8, seed=0
    )


@pytest.fixture(scope="session")
def history():
    """Three real rounds of a simulated experiment (planted draws in place of the fit)."""
    return staged_history(n_rounds=3, n_visitors=400)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
