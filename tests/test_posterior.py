"""Posterior: per-draw metrics, CATE/GATE/ATE/decomposition, prediction, ArviZ, NetCDF."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from inference.bcf_synthetic import hurdle_experiment
from scipy.special import ndtr

from pytyche.contracts import ClaimLevel
from pytyche.inference import BCFConfig, fit
from pytyche.posterior import Posterior

SMALL = BCFConfig(num_mu_trees=20, num_tau_trees=10, num_warmup=150, num_draws=100, num_chains=2)


@pytest.fixture(scope="module")
def planted():
    return hurdle_experiment(seed=1, n=1500, num_arms=3, base_rate=0.3)


@pytest.fixture(scope="module")
def posterior(planted) -> Posterior:
    return fit(planted.data, config=SMALL, seed=3)


def test_labels_and_claim_level(posterior):
    for value in (posterior.cate(), posterior.gate(np.ones(1500, bool)), posterior.ate()):
        assert value.attrs["claim_level"] == ClaimLevel.POSTERIOR.value
        assert value.dims[:2] == ("chain", "draw")
        assert list(value["arm"].values) == ["treatment_1", "treatment_2"]
    assert posterior.cate().shape == (2, 100, 1500, 2)


def test_rpv_is_computed_per_draw_not_plug_in(posterior):
    """RPV draws equal Φ(f^c)·exp(c + s f^s + s²σ²/2) draw by draw."""
    rewards = posterior.reward_draws("revenue_per_visitor").reshape(2, 100, 1500, 3)
    spec = posterior.spec
    sigma2 = posterior.sites["sigma2"][:, :, None, None]
    fit_c, fit_s = posterior.fit[:, :, 0].astype(float), posterior.fit[:, :, 1].astype(float)
    expected = ndtr(fit_c) * np.exp(
        spec.outcome_center + spec.outcome_scale * fit_s + spec.outcome_scale**2 * sigma2 / 2
    )
    np.testing.assert_allclose(rewards, expected, rtol=1e-6)
    cate = posterior.cate().values
    np.testing.assert_allclose(cate, rewards[..., 1:] - rewards[..., :1], rtol=1e-10)


def test_reward_draws_of_a_subset_of_visitors(posterior):
    rows = np.array([3, 0, 1499, 700])
    full = posterior.reward_draws("conversion_rate")
    subset = posterior.reward_draws("conversion_rate", visitors=rows)
    assert subset.shape == (200, 4, 3)
    np.testing.assert_array_equal(subset, full[:, rows])
    with pytest.raises(IndexError, match="visitors"):
        posterior.reward_draws(visitors=np.array([1500]))
    with pytest.raises(TypeError, match="visitors"):
        posterior.reward_draws(visitors=np.array([0.5]))


def test_gate_is_mean_of_cate_and_ate_is_gate_of_all(posterior, planted):
    mask = planted.frame["x2"].to_numpy() > 0.5
    gate = posterior.gate(mask)
    cate = posterior.cate()
    np.testing.assert_allclose(gate.values, cate.values[:, :, mask].mean(axis=2), rtol=1e-10)
    np.testing.assert_allclose(posterior.ate().values, cate.values.mean(axis=2), rtol=1e-10)


def test_decomposition_adds_up_to_rpv_effect(posterior):
    parts = posterior.decompose()
    np.testing.assert_allclose(parts["total"].values, posterior.ate().values, rtol=1e-9)
    np.testing.assert_allclose(
        parts["conversion"].values + parts["spend"].values, parts["total"].values, rtol=1e-12
    )
    assert parts.attrs["claim_level"] == ClaimLevel.POSTERIOR.value


def test_conversion_effects_recovered(posterior, planted):
    """The planted conversion ATE lies in each arm's 95% interval."""
    truth = (planted.conversion[:, 1:] - planted.conversion[:, :1]).mean(axis=0)
    draws = posterior.ate(metric="conversion_rate").values.reshape(-1, 2)
    low, high = np.quantile(draws, [0.025, 0.975], axis=0)
    assert np.all((low < truth) & (truth < high)), (low, truth, high)


def test_cate_at_new_covariates_matches_training_fit(posterior, planted):
    rows = planted.frame.iloc[:64]
    new = posterior.cate(rows)
    train = posterior.cate().isel(visitor=slice(0, 64))
    np.testing.assert_allclose(new.values, train.values, rtol=2e-3, atol=2e-3)


def test_bad_metric_and_mask(posterior):
    with pytest.raises(ValueError, match="metric"):
        posterior.cate(metric="clicks")
    with pytest.raises(ValueError, match="mask"):
        posterior.gate(np.ones(3, bool))
    with pytest.raises(ValueError, match="no visitor"):
        posterior.gate(np.zeros(1500, bool))


def test_datatree_groups_and_summary(posterior):
    tree = posterior.to_datatree()
    assert isinstance(tree, xr.DataTree)
    for group in ("posterior", "sample_stats", "observed_data"):
        assert group in tree.children
    post = tree["posterior"]
    assert {"sigma2", "mu_leaf_var", "tau_scale", "ate"} <= set(post.data_vars)
    assert post["ate"].dims == ("chain", "draw", "arm")
    assert "mu_grow_acceptance" in tree["sample_stats"].data_vars
    acceptance = tree["sample_stats"]["mu_grow_acceptance"].values
    assert np.all((acceptance >= 0) & (acceptance <= 1))
    summary = posterior.summary()
    assert "r_hat" in summary.columns and "ess_bulk" in summary.columns


def test_save_and_load_round_trip(posterior, planted, tmp_path):
    path = tmp_path / "posterior.nc"
    posterior.save(path)
    loaded = Posterior.load(path)
    np.testing.assert_allclose(loaded.ate().values, posterior.ate().values, rtol=1e-6)
    rows = planted.frame.iloc[:16]
    np.testing.assert_allclose(loaded.cate(rows).values, posterior.cate(rows).values, rtol=1e-6)
