"""Covariate specs (Gaussian copula, mixtures) and response surfaces."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import ndtr, ndtri

from pytyche.generators.covariates import (
    BinaryCovariate,
    CategoricalCovariate,
    ContinuousCovariate,
    CovariateModel,
    MixtureCovariateModel,
)
from pytyche.generators.surfaces import (
    LATENT_CLUSTER,
    ConstantSurface,
    FunctionSurface,
    LevelSurface,
    LinearSurface,
    LinearTerm,
    ProbitLiftSurface,
    SigmoidSurface,
    ThresholdSurface,
    add_surfaces,
    evaluate,
    multiply_surfaces,
    scale_surface,
)

ALPHA = 1e-3
"""Declared false-failure rate of each goodness-of-fit test (fixed seeds)."""


def model(rho=0.6):
    specs = (
        ContinuousCovariate("spend_score", "normal", 2.0, 3.0),
        ContinuousCovariate("visits", "lognormal", 1.0, 0.5, integer=True),
        CategoricalCovariate("device", ("mobile", "desktop", "tablet"), (0.5, 0.3, 0.2)),
        BinaryCovariate("member", 0.25),
        ContinuousCovariate("share", "uniform", 10.0, 5.0),
    )
    correlation = np.eye(5)
    correlation[0, 1] = correlation[1, 0] = rho
    return CovariateModel(specs, correlation)


def test_copula_marginals_are_exact_and_correlation_sets_dependence():
    n = 40_000
    frame, clusters = model().sample(np.random.default_rng(0), n)
    assert clusters is None
    assert list(frame.columns) == ["spend_score", "visits", "device", "member", "share"]
    assert stats.kstest(frame["spend_score"], stats.norm(2.0, 3.0).cdf).pvalue > ALPHA
    assert stats.kstest(frame["share"], stats.uniform(10.0, 5.0).cdf).pvalue > ALPHA
    # floor(exp(1 + 0.5 z)) <= v  <=>  z < (log(v + 1) - 1) / 0.5
    for v in (1, 2, 3, 5):
        expected = ndtr((np.log(v + 1) - 1.0) / 0.5)
        observed = np.mean(frame["visits"] <= v)
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    assert isinstance(frame["device"].dtype, pd.CategoricalDtype)
    counts = frame["device"].value_counts().reindex(["mobile", "desktop", "tablet"])
    assert stats.chisquare(counts, n * np.array([0.5, 0.3, 0.2])).pvalue > ALPHA
    assert abs(frame["member"].mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)
    # Gaussian-copula Spearman correlation: (6/π) asin(ρ/2) (Kruskal 1958).
    rho_s = stats.spearmanr(frame["spend_score"], frame["visits"]).statistic
    assert rho_s == pytest.approx(6 / np.pi * np.arcsin(0.3), abs=0.03)
    independent = stats.spearmanr(frame["spend_score"], frame["share"]).statistic
    assert abs(independent) < 0.03


def test_mixture_draws_clusters_by_weight_and_covariates_from_each_component():
    def component(loc):
        return CovariateModel(
            (
                ContinuousCovariate("x", "normal", loc, 1.0),
                CategoricalCovariate("c", ("a", "b"), (0.5, 0.5)),
            )
        )

    mixture = MixtureCovariateModel(("low", "high"), (0.3, 0.7), (component(-5.0), component(5.0)))
    frame, clusters = mixture.sample(np.random.default_rng(1), 20_000)
    labels = np.asarray(clusters.astype(object))
    assert (
        stats.chisquare([np.sum(labels == "low"), np.sum(labels == "high")], [6_000, 14_000]).pvalue
        > ALPHA
    )
    assert frame["x"][labels == "low"].mean() == pytest.approx(-5.0, abs=0.05)
    assert frame["x"][labels == "high"].mean() == pytest.approx(5.0, abs=0.05)
    assert list(frame["c"].cat.categories) == ["a", "b"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ContinuousCovariate("bad name", "normal"), "Python identifier"),
        (lambda: ContinuousCovariate("x", "gamma"), "distribution must be"),
        (lambda: ContinuousCovariate("x", "normal", 0.0, -1.0), "scale positive"),
        (lambda: CategoricalCovariate("c", ("a",), (1.0,)), "at least 2 unique"),
        (lambda: CategoricalCovariate("c", ("a", "b"), (0.5, 0.6)), "sum to 1"),
        (lambda: CategoricalCovariate("c", ("a", "b"), (1.0,)), "2 levels but 1"),
        (lambda: BinaryCovariate("b", 1.0), "probability must be in"),
        (lambda: CovariateModel(()), "at least one covariate"),
        (
            lambda: CovariateModel((BinaryCovariate("b", 0.5), BinaryCovariate("b", 0.2))),
            "unique",
        ),
        (
            lambda: CovariateModel(
                (BinaryCovariate("a", 0.5), BinaryCovariate("b", 0.2)),
                np.array([[1.0, 1.5], [1.5, 1.0]]),
            ),
            "positive definite",
        ),
        (
            lambda: MixtureCovariateModel(
                ("p", "q"),
                (0.5, 0.5),
                (
                    CovariateModel((BinaryCovariate("a", 0.5),)),
                    CovariateModel((BinaryCovariate("z", 0.5),)),
                ),
            ),
            "same names and kinds",
        ),
    ],
)
def test_covariate_specs_validate(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def design():
    return pd.DataFrame(
        {
            "x": [0.0, 1.0, 2.0, 3.0],
            "count": [0, 1, 3, 7],
            "device": pd.Categorical(["mobile", "desktop", "mobile", "tablet"]),
            LATENT_CLUSTER: pd.Categorical(["a", "b", "a", "c"]),
            "member": [0, 1, 1, 0],
        }
    )


def test_surfaces_compute_their_formulas():
    d = design()
    np.testing.assert_array_equal(evaluate(ConstantSurface(2.5), d), [2.5] * 4)
    linear = LinearSurface(
        1.0, (LinearTerm("x", 2.0, 1.0, 2.0), LinearTerm("count", 1.0, log=True))
    )
    np.testing.assert_allclose(linear(d), 1.0 + (d["x"] - 1.0) + np.log1p(d["count"]))
    np.testing.assert_array_equal(ThresholdSurface("x", 2.0, 5.0, -1.0)(d), [-1, -1, 5, 5])
    sigmoid = SigmoidSurface("x", 1.5, 0.5, 0.0, 2.0)
    np.testing.assert_allclose(sigmoid(d), 2.0 / (1 + np.exp(-(d["x"] - 1.5) / 0.5)))
    by_device = LevelSurface("device", (("mobile", 1.0), ("tablet", 3.0)), default=-1.0)
    np.testing.assert_array_equal(by_device(d), [1.0, -1.0, 1.0, 3.0])
    by_cluster = LevelSurface(LATENT_CLUSTER, (("b", 4.0),))
    np.testing.assert_array_equal(by_cluster(d), [0.0, 4.0, 0.0, 0.0])
    by_member = LevelSurface("member", ((1, 0.5),))
    np.testing.assert_array_equal(by_member(d), [0.0, 0.5, 0.5, 0.0])
    function = FunctionSurface(lambda f: f["x"].to_numpy() ** 2, "x^2")
    total = add_surfaces(function, ConstantSurface(1.0))
    np.testing.assert_array_equal(total(d), [1.0, 2.0, 5.0, 10.0])
    product = multiply_surfaces(function, by_member)
    np.testing.assert_array_equal(product(d), [0.0, 0.5, 2.0, 0.0])
    np.testing.assert_array_equal(scale_surface(function, -2.0)(d), [0.0, -2.0, -8.0, -18.0])
    assert "x^2" in total.describe() and "by device" in by_device.describe()
    with pytest.raises(TypeError, match="surface 0 must be callable"):
        add_surfaces(3.0)


def test_probit_lift_multiplies_the_reference_probability_exactly():
    lift = ProbitLiftSurface(ThresholdSurface("x", 2.0, 0.2, -0.1), 0.04)
    shift = lift(design())
    np.testing.assert_allclose(ndtr(ndtri(0.04) + shift), 0.04 * np.exp([-0.1, -0.1, 0.2, 0.2]))
    with pytest.raises(ValueError, match="lower effect_scale"):
        ProbitLiftSurface(ConstantSurface(4.0), 0.04)(design())
    with pytest.raises(ValueError, match="reference_probability"):
        ProbitLiftSurface(ConstantSurface(0.0), 1.0)
