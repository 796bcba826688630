"""fit() warns when a deliberately short chain has not mixed; Posterior.mixing labels GATEs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from bcf_synthetic import continuous_experiment, hurdle_experiment

from pytyche.analysis.convergence import ConvergenceWarning
from pytyche.inference import BCFConfig, fit

SHORT = BCFConfig(
    num_mu_trees=10, num_tau_trees=5, max_depth=4, num_warmup=5, num_draws=8, num_chains=2
)


def test_a_short_chain_warns_and_names_the_quantity():
    planted = hurdle_experiment(seed=1, n=400, num_arms=3)
    with pytest.warns(ConvergenceWarning, match=r"fit: mixing WARNING: .*ate\["):
        posterior = fit(planted.data, config=SHORT, seed=0)
    first = planted.data.arm_index >= 0
    first[: len(first) // 2] = False
    table = posterior.mixing({"half": first})
    assert list(table["quantity"])[-2:] == [f"gate[half, {a}]" for a in posterior.arms[1:]]
    # 16 draws in all: no quantity can reach a bulk ESS of 100
    assert not table["mixed"].any() and (table["ess_bulk"] < 100).all()
    assert np.isfinite(table["rhat"]).all()


def test_a_long_chain_on_an_easy_problem_does_not_warn():
    # n = 1,000 with 20 + 10 trees: ATE bulk ESS 295-840 of 800 over MCMC seeds 0-7. At
    # n = 300 with 10 + 5 trees it ranged 39-728: a five-tree τ forest on 150 visitors per
    # arm mixes erratically, so that was not an easy problem.
    planted = continuous_experiment(seed=2, n=1_000, num_arms=2)
    config = BCFConfig(
        num_mu_trees=20, num_tau_trees=10, max_depth=3, num_warmup=300, num_draws=400, num_chains=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        posterior = fit(planted.data, config=config, seed=0)
    table = posterior.mixing()
    assert table["mixed"].all(), table
