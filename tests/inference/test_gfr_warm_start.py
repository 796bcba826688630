"""`BCFConfig.num_gfr`: grow-from-root warm-start sweeps inside the kernel's warmup."""

from __future__ import annotations

import dataclasses

import numpy as np
from bcf_synthetic import continuous_experiment

from pytyche.inference import BCFConfig, fit

SHORT = BCFConfig(
    num_mu_trees=5, num_tau_trees=3, max_depth=4, num_warmup=2, num_draws=1, num_chains=4
)


def _rmse(posterior, planted) -> float:
    spec = posterior.spec
    mean = spec.outcome_center + spec.outcome_scale * posterior.fit[:, -1, 0].astype(float)
    per_chain = np.sqrt(np.mean((mean - planted.metric[None]) ** 2, axis=(1, 2)))
    return float(per_chain.mean())


def test_gfr_warm_start_removes_the_initial_transient():
    """Two grow/prune iterations from root-only trees give each tree at most two splits;
    two grow-from-root sweeps build full trees, so with 5 μ trees the fit of the planted
    ``1 + x1 + τ_a`` is much closer after them. Measured (4-chain mean RMSE): 0.33 with GFR
    vs 0.50 without (outcome sd 1.19); a kernel that ignored ``num_gfr`` gives ratio ≈ 1.
    """
    planted = continuous_experiment(seed=0, n=800, noise=0.5)
    without = _rmse(fit(planted.data, config=SHORT, seed=1), planted)
    with_gfr = _rmse(
        fit(planted.data, config=dataclasses.replace(SHORT, num_gfr=2), seed=1), planted
    )
    spread = float(np.std(planted.metric))
    assert with_gfr < 0.8 * without, (with_gfr, without)
    assert with_gfr < 0.4 * spread, (with_gfr, spread)
