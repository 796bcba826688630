"""Mixing diagnostics: independent draws mix, a random walk does not; the warning fires."""

from __future__ import annotations

import warnings

import arviz
import numpy as np
import pytest
import xarray as xr

from pytyche.analysis.convergence import (
    ConvergenceWarning,
    MixingThresholds,
    describe_mixing,
    mixing_table,
    warn_if_poorly_mixed,
)


def _draws(values: np.ndarray, dims: tuple[str, ...]) -> xr.DataArray:
    coords = {
        d: [f"{d}{i}" for i in range(n)] for d, n in zip(dims[2:], values.shape[2:], strict=True)
    }
    return xr.DataArray(values, dims=dims, coords=coords)


def test_independent_draws_mix_and_a_random_walk_does_not():
    rng = np.random.default_rng(0)
    iid = _draws(rng.normal(size=(4, 500, 2)), ("chain", "draw", "arm"))
    # four random walks from different starts: R-hat far above 1, ESS a handful
    walk = np.cumsum(rng.normal(size=(4, 500, 3)), axis=1) + np.arange(4)[:, None, None] * 20
    table = mixing_table({"ate": iid, "gate": _draws(walk, ("chain", "draw", "segment"))})
    assert list(table["quantity"]) == [
        "ate[arm0]",
        "ate[arm1]",
        "gate[segment0]",
        "gate[segment1]",
        "gate[segment2]",
    ]
    ate, gate = table.iloc[:2], table.iloc[2:]
    # iid: ESS ≈ 2000 (sd of the estimate well under 20%), R-hat ≈ 1
    assert ate["mixed"].all() and (ate["ess_bulk"] > 1000).all() and (ate["rhat"] < 1.01).all()
    assert not gate["mixed"].any() and (gate["rhat"] > 2).all() and (gate["ess_bulk"] < 20).all()
    assert "3 of 5" in describe_mixing(table)
    with pytest.warns(ConvergenceWarning, match="round 2: mixing WARNING: 3 of 5"):
        assert not warn_if_poorly_mixed(table, "round 2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_poorly_mixed(table.iloc[:2], "fit")


def test_thresholds_are_validated_and_used():
    rng = np.random.default_rng(1)
    iid = _draws(rng.normal(size=(2, 60, 1)), ("chain", "draw", "arm"))
    strict = mixing_table({"ate": iid}, MixingThresholds(ess_bulk_min=200))  # ESS ≈ 120
    assert not strict["mixed"].item()
    assert mixing_table({"ate": iid}, MixingThresholds(ess_bulk_min=20))["mixed"].item()
    with pytest.raises(ValueError, match="rhat_max"):
        MixingThresholds(rhat_max=0.9)
    with pytest.raises(ValueError, match="dims"):
        mixing_table({"ate": iid.transpose("arm", "chain", "draw")})


def test_one_chain_gets_the_split_rhat_of_its_halves():
    """With one chain R-hat is the two halves' R-hat: near 1 when stationary, large on drift."""
    rng = np.random.default_rng(0)
    stationary = rng.standard_normal((1, 400, 2))
    drifting = stationary + np.linspace(0.0, 3.0, 400)[None, :, None]
    rhat = {}
    for name, values in (("stationary", stationary), ("drifting", drifting)):
        array = xr.DataArray(values, dims=("chain", "draw", "arm"), coords={"arm": ["a", "b"]})
        table = mixing_table({"ate": array})
        halves = xr.Dataset({"x": (("chain", "draw", "arm"), values.reshape(2, 200, 2))})
        np.testing.assert_allclose(table["rhat"], arviz.rhat(halves)["x"].values, rtol=1e-12)
        rhat[name] = table["rhat"].to_numpy()
    assert np.all(rhat["stationary"] < 1.02) and np.all(rhat["drifting"] > 1.2), rhat
