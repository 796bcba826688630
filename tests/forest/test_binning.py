"""Binning: cutpoints fitted once, identical bins for new covariates."""

import numpy as np
import pytest

from pytyche.forest.binning import bin_covariates, fit_bins


def test_bins_count_cutpoints_below_each_value() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    spec = fit_bins(X, max_cuts=31)
    bins = bin_covariates(spec, X)
    assert bins.dtype == np.uint8 and bins.shape == (3, 2000)
    for v in range(3):
        cuts = spec.cutpoints[v, : spec.num_cuts[v]]
        assert spec.num_cuts[v] <= 31
        assert np.all(np.diff(cuts) > 0)
        expected = (X[:, v][:, None] > cuts[None, :]).sum(axis=1)
        np.testing.assert_array_equal(bins[v], expected)
    # Quantile cutpoints: bins are roughly equally filled.
    counts = np.bincount(bins[0], minlength=32)
    assert counts.min() > 0.5 * 2000 / 32


def test_at_most_255_cutpoints_and_new_x_binned_identically() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(5000, 2))
    spec = fit_bins(X)
    assert spec.num_cuts.max() == 255
    X_new = rng.uniform(-0.1, 1.1, size=(700, 2))
    stacked = bin_covariates(spec, np.vstack([X, X_new]))
    np.testing.assert_array_equal(stacked[:, 5000:], bin_covariates(spec, X_new))
    assert stacked.max() == 255 and stacked.min() == 0


def test_few_unique_values_and_categorical_codes() -> None:
    X = np.array([[0.0, 2], [1.0, 0], [1.0, 5], [3.0, 2]])
    spec = fit_bins(X, categorical=[1])
    np.testing.assert_array_equal(spec.num_cuts, [2, 2])
    np.testing.assert_array_equal(bin_covariates(spec, X), [[0, 1, 1, 2], [1, 0, 2, 1]])
    assert spec.is_categorical.tolist() == [False, True]


@pytest.mark.parametrize(
    ("X", "kwargs", "message"),
    [
        (np.ones(5), {}, "2-D"),
        (np.array([[np.nan, 1.0]]), {}, "NaN"),
        (np.ones((3, 2)), {"max_cuts": 300}, "max_cuts"),
        (np.array([[0.5], [1.0]]), {"categorical": [0]}, "integer codes"),
        (np.ones((3, 2)), {"categorical": [4]}, "categorical indices"),
    ],
)
def test_bad_input_is_named(X: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_bins(X, **kwargs)


def test_new_x_with_wrong_columns_is_rejected() -> None:
    spec = fit_bins(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="2 columns"):
        bin_covariates(spec, np.ones((4, 3)))
