"""Small synthetic experiments with planted effects, for the BCF tests (NumPy only)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import norm

from pytyche.data import RoundData

SEVERITY_SD = 0.5


class Planted(NamedTuple):
    """Data and the truth it was drawn from (truth arrays are ``(n, K)``)."""

    data: RoundData
    frame: pd.DataFrame
    conversion: np.ndarray
    spend: np.ndarray
    metric: np.ndarray

    @property
    def cate(self) -> np.ndarray:
        """``(n, K − 1)`` true effect of every active arm on the metric."""
        return self.metric[:, 1:] - self.metric[:, :1]


def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"x1": rng.normal(size=n), "x2": rng.uniform(size=n), "x3": rng.normal(size=n)}
    )


def _arms(num_arms: int) -> list[str]:
    return ["control", *(f"treatment_{a}" for a in range(1, num_arms))]


def hurdle_experiment(
    seed: int,
    n: int,
    num_arms: int = 3,
    base_rate: float = 0.15,
    effect: float = 1.0,
    shared_structure: bool = False,
) -> Planted:
    """Probit conversion x log-normal spend, heterogeneous effects on both channels.

    Conversion effects change at ``x2 = 0.5``; spend effects at ``x1 = 0``, or at
    ``x2 = 0.5`` too with ``shared_structure`` (the case joint pooling is built for).
    """
    rng = np.random.default_rng(seed)
    frame = _covariates(rng, n)
    x1, x2 = frame["x1"].to_numpy(), frame["x2"].to_numpy()
    arm = rng.integers(0, num_arms, n)
    slopes = np.linspace(0.15, 0.35, num_arms - 1) * effect
    tau_c = np.column_stack([np.zeros(n)] + [s * (0.5 + (x2 > 0.5)) for s in slopes])
    signs = np.where(np.arange(num_arms - 1) % 2 == 0, 1.0, -1.0)
    driver = (x2 > 0.5) if shared_structure else (x1 > 0)
    tau_s = np.column_stack([np.zeros(n)] + [0.2 * g * effect * driver for g in signs])
    f_c = norm.ppf(base_rate) + 0.3 * x1[:, None] + tau_c
    f_s = 3.0 + 0.4 * x1[:, None] + tau_s
    conversion = norm.cdf(f_c)
    spend = np.exp(f_s + SEVERITY_SD**2 / 2)
    rows = np.arange(n)
    converted = rng.uniform(size=n) < conversion[rows, arm]
    revenue = np.where(converted, np.exp(rng.normal(f_s[rows, arm], SEVERITY_SD)), 0.0)
    names = _arms(num_arms)
    frame = frame.assign(arm=np.array(names)[arm], revenue=revenue)
    data = RoundData.from_frame(frame, arms=names, family="hurdle")
    return Planted(data, frame, conversion, spend, conversion * spend)


def binary_experiment(seed: int, n: int, num_arms: int = 4) -> Planted:
    """Probit 0/1 outcome with heterogeneous arm effects."""
    rng = np.random.default_rng(seed)
    frame = _covariates(rng, n)
    x1, x2 = frame["x1"].to_numpy(), frame["x2"].to_numpy()
    arm = rng.integers(0, num_arms, n)
    slopes = np.linspace(-0.2, 0.4, num_arms - 1)
    f = (
        -0.5
        + 0.4 * x1[:, None]
        + np.column_stack([np.zeros(n)] + [s * (0.5 + (x2 > 0.5)) for s in slopes])
    )
    probability = norm.cdf(f)
    outcome = (rng.uniform(size=n) < probability[np.arange(n), arm]).astype(float)
    names = _arms(num_arms)
    frame = frame.assign(arm=np.array(names)[arm], converted=outcome)
    data = RoundData.from_frame(frame, arms=names, outcome="converted", family="binary")
    return Planted(data, frame, probability, np.ones_like(probability), probability)


def continuous_experiment(seed: int, n: int, num_arms: int = 3, noise: float = 1.0) -> Planted:
    """Gaussian outcome ``1 + x1 + τ_a(x) + ε`` with ``τ_a = c_a (1 + x2)``."""
    rng = np.random.default_rng(seed)
    frame = _covariates(rng, n)
    x1, x2 = frame["x1"].to_numpy(), frame["x2"].to_numpy()
    arm = rng.integers(0, num_arms, n)
    slopes = np.linspace(0.5, 1.0, num_arms - 1)
    mean = 1.0 + x1[:, None] + np.column_stack([np.zeros(n)] + [s * (1 + x2) for s in slopes])
    outcome = mean[np.arange(n), arm] + rng.normal(0, noise, n)
    names = _arms(num_arms)
    frame = frame.assign(arm=np.array(names)[arm], outcome=outcome)
    data = RoundData.from_frame(frame, arms=names, outcome="outcome", family="continuous")
    return Planted(data, frame, np.ones_like(mean), mean, mean)
