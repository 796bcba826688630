"""The ``hurdle_bcf`` SBC problem: simulation, sample-conditional truth, draws, a tiny sweep.

The truth is checked against a closed form: on the ``clustered`` template the baselines
and the effects are constant within a latent cluster (probit shift ``Φ⁻¹(b e^l) − Φ⁻¹(b)``
on conversion, ``γ`` on log spend), so the true RPV of a cluster-``c`` visitor under arm
``a`` is ``b_c e^{s t⁰_{ca}} · M_c e^{s t¹_{ca} + σ²/2}`` with the template's published
baseline conversion ``b_c`` and median spend ``M_c`` — computed here without the
generator's surfaces.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from pytyche.contracts import Metric, MetricFamily
from pytyche.generators.templates import _CLEAN_BASELINES, CLUSTERS
from pytyche.posterior import Posterior, PosteriorSpec
from pytyche.sbc import get_sbc_problem, load_spec, parse_spec, run_sweep
from pytyche.sbc.hurdle_bcf import (
    HurdleBCFProblem,
    _quantity_weights,
    quantity_draws,
    replicate_truth,
    simulate_replicate,
)
from pytyche.sbc.runner import replicate_keys, resolve_problem

ARMS = ("control", "low_promo", "free_ship")
SPEND_SIGMA = 0.6


def spec_text(
    *,
    template: str = "clustered",
    scales: tuple[int, ...] = (300,),
    replicates: int = 3,
    num_probes: int = 1,
    fit: str = (
        "num_mu_trees = 8\nnum_tau_trees = 4\nnum_warmup = 10\nnum_draws = 20\n"
        "max_depth = 3\nmax_cuts_mu = 16\nmax_cuts_tau = 16"
    ),
    extra_dgp: str = "",
    model_params: str = "",
    template_params: str = f"spend_sigma = {SPEND_SIGMA}",
) -> str:
    return f"""
[sweep]
id = "tiny-hurdle"
seed = 3
scales = {list(scales)}
replicates = {replicates}
chunk_size = {replicates}
num_rank_draws = 9
quantities = ["*"]

[dgp]
kind = "generator"
template = "{template}"
num_arms = 3
metric = "revenue_per_visitor"
{extra_dgp}
[dgp.randomize]
effect_scale = [0.05, 0.2]
effect_profiles = [-2.0, 3.0]
[dgp.template_params]
{template_params}

[model]
name = "hurdle_bcf"
[model.params]
num_probes = {num_probes}
{model_params}

[fit]
{fit}
"""


@pytest.fixture(scope="module")
def problem() -> HurdleBCFProblem:
    return resolve_problem(parse_spec(spec_text()))


def closed_form_rpv(parameters: dict, num_arms: int = 3) -> np.ndarray:
    """``(clusters, K)`` true RPV of the ``clustered`` template from its published tables."""
    scale = parameters["effect_scale"]
    table = parameters["effect_profiles"]
    out = np.empty((len(CLUSTERS), num_arms))
    for c, cluster in enumerate(CLUSTERS):
        conversion, median = _CLEAN_BASELINES[cluster]
        lifts = np.vstack([[0.0, 0.0], np.asarray(table[cluster])])
        p = conversion * np.exp(scale * lifts[:, 0])
        m = median * np.exp(scale * lifts[:, 1] + SPEND_SIGMA**2 / 2)
        out[c] = p * m
    return out


def test_registered_and_names(problem):
    assert get_sbc_problem("hurdle_bcf") is not None
    assert problem.arms == ARMS
    assert problem.segments == CLUSTERS
    names = problem.quantity_names(300)
    assert names[:2] == ("ate_low_promo", "ate_free_ship")
    assert names[2:4] == ("gate_loyal_regulars_low_promo", "gate_loyal_regulars_free_ship")
    assert names[-2:] == ("cate_probe_0_low_promo", "cate_probe_0_free_ship")
    assert len(names) == 2 * (1 + len(CLUSTERS) + 1)
    regime = problem.regime
    assert regime.family is MetricFamily.HURDLE and regime.num_arms == 3
    assert regime.metric is Metric.REVENUE_PER_VISITOR and regime.model == "hurdle_bcf"
    assert hash(problem) == hash(resolve_problem(parse_spec(spec_text())))


def test_truth_is_the_segment_mean_of_the_covariate_conditional_cate_closed_form(problem):
    """The clustered template's effects are cluster constants, so E[CATE | x] = P(c | x) @ table."""
    replicate = simulate_replicate(problem, 12345, 4000)
    rpv = closed_form_rpv(replicate.parameters)  # (clusters, K)
    effect = rpv[:, 1:] - rpv[:, :1]
    codes = replicate.segment_codes
    counts = np.bincount(codes, minlength=len(CLUSTERS))
    assert np.all(counts > 0)
    scenario = problem.build_scenario(replicate.parameters)
    posterior = scenario.covariates.cluster_probabilities(replicate.data.frame)  # (n, clusters)
    visitor_effect = posterior @ effect  # (n, K-1)
    gates = np.stack([visitor_effect[codes == c].mean(axis=0) for c in range(len(CLUSTERS))])
    expected = np.concatenate([visitor_effect.mean(axis=0), gates.ravel(), visitor_effect[0]])
    truth = replicate_truth(replicate, Metric.REVENUE_PER_VISITOR, num_probes=1)
    np.testing.assert_allclose(truth, expected, rtol=1e-10, atol=1e-10)
    # the latent-cluster values (diagnosis) are the published table at each visitor's cluster
    latent = replicate.latent_values[Metric.REVENUE_PER_VISITOR.value]
    np.testing.assert_allclose(latent, rpv[codes], rtol=1e-12)
    # identifiable GATEs are pulled towards the average: not the latent-cluster table
    assert np.max(np.abs(gates - effect)) > 0.01 * np.ptp(effect)
    # the effects were randomised: not the template's default table
    assert 0.05 <= replicate.parameters["effect_scale"] <= 0.2
    assert np.ptp(effect) > 0


def test_truth_is_sample_conditional_on_a_template_with_within_segment_variation():
    problem = resolve_problem(parse_spec(spec_text(template="clustered_realistic")))
    replicate = simulate_replicate(problem, 7, 3000)
    values = replicate.true_values["revenue_per_visitor"]
    frame = pd.DataFrame(values[:, 1:] - values[:, :1], columns=["low", "free"])
    frame["segment"] = np.asarray(CLUSTERS)[replicate.segment_codes]
    by_segment = frame.groupby("segment").mean().loc[list(CLUSTERS)].to_numpy()
    truth = replicate_truth(replicate, Metric.REVENUE_PER_VISITOR, num_probes=0)
    np.testing.assert_allclose(truth[2:], by_segment.ravel(), rtol=1e-12)
    np.testing.assert_allclose(truth[:2], frame[["low", "free"]].mean().to_numpy(), rtol=1e-12)
    # within-segment variation: another draw of visitors gives another sample GATE
    other = replicate_truth(simulate_replicate(problem, 8, 3000), Metric.REVENUE_PER_VISITOR)
    assert not np.allclose(truth, other)


def test_replicates_are_deterministic_and_differ(problem):
    a = simulate_replicate(problem, 5, 500)
    b = simulate_replicate(problem, 5, 500)
    c = simulate_replicate(problem, 6, 500)
    pd.testing.assert_frame_equal(a.data.frame, b.data.frame)
    assert a.parameters == b.parameters and a.parameters != c.parameters
    counts = np.bincount(a.data.arm_index, minlength=3)
    assert counts.max() - counts.min() <= 1  # complete randomisation


def test_quantity_draws_match_posterior_gate_and_ate(problem):
    """The device-side per-draw quantities equal `Posterior.gate/ate` (float64 NumPy)."""
    replicate = simulate_replicate(problem, 99, 600)
    rng = np.random.default_rng(0)
    draws, n = 7, replicate.data.n_visitors
    fit = rng.normal([-1.2, 0.0], 0.4, size=(draws, n, 3, 2)).transpose(0, 3, 1, 2)
    fit = fit.astype(np.float32)
    sigma2 = rng.uniform(0.3, 0.8, size=draws).astype(np.float32)
    center, scale = 3.7, 0.65
    spec = PosteriorSpec(
        family=MetricFamily.HURDLE,
        channels=("conversion", "severity"),
        arms=ARMS,
        offset=np.zeros(2),
        outcome_center=center,
        outcome_scale=scale,
        mu_bins=None,
        tau_bins=None,
        mean_propensity=np.full(2, 1 / 3),
    )
    posterior = Posterior(
        fit=fit[None],
        sites={"sigma2": sigma2[None]},
        info={},
        spec=spec,
        data=replicate.data,
        forests=None,
        metric=Metric.REVENUE_PER_VISITOR,
    )
    weights = jnp.asarray(_quantity_weights(replicate, num_probes=1))
    for metric in (Metric.REVENUE_PER_VISITOR, Metric.CONVERSION_RATE):
        ours = np.asarray(
            quantity_draws(jnp.asarray(fit), jnp.asarray(sigma2), center, scale, weights, metric)
        ).reshape(draws, -1, 2)
        np.testing.assert_allclose(
            ours[:, 0], posterior.ate(metric=metric).values[0], rtol=2e-5, atol=1e-5
        )
        for s in range(len(CLUSTERS)):
            gate = posterior.gate(replicate.segment_codes == s, metric=metric).values[0]
            np.testing.assert_allclose(ours[:, 1 + s], gate, rtol=2e-5, atol=1e-5)
        cate = posterior.cate(metric=metric).values[0, :, 0]
        np.testing.assert_allclose(ours[:, -1], cate, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra_dgp": "spend_sigma_typo = 1\n"}, "unknown keys"),
        ({"template_params": "spend_sigma_typo = 1"}, "refuses its arguments"),
        ({"fit": "num_trees = 3"}, r"\[fit\] has unknown keys"),
        ({"fit": "num_chains = 2"}, r"\[fit\] has unknown keys"),
        ({"model_params": 'model = "no_such_model"'}, "no_such_model"),
        ({"model_params": "bogus = 1"}, r"\[model.params\] has unknown keys"),
        ({"template": "no_such_template"}, "not a generator template"),
    ],
)
def test_bad_specs_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        resolve_problem(parse_spec(spec_text(**change)))


def test_prior_predictive_dgp_is_refused():
    text = """
[sweep]
id = "prior"
seed = 0
scales = [300]
replicates = 2
[dgp]
kind = "prior_predictive"
[model]
name = "hurdle_bcf"
"""
    with pytest.raises(ValueError, match="generator template"):
        resolve_problem(parse_spec(text))


def test_tiny_sweep_end_to_end(tmp_path):
    """n = 300, 3 replicates, a tiny chain: result layout, truths, ranks and intervals."""
    spec = parse_spec(spec_text())
    outcome = run_sweep(spec, tmp_path / "tiny.nc")
    result = outcome.result
    problem = resolve_problem(spec)
    assert outcome.complete
    assert result.sizes == {"replicate": 3, "quantity": 12, "level": 4}
    assert tuple(result["quantity"].values) == problem.quantity_names(300)
    assert result.attrs["model"] == "hurdle_bcf" and result.attrs["family"] == "hurdle"
    assert result.attrs["num_arms"] == 3
    # the stored truths are the replicates' own (same keys as the runner: split, first half)
    keys = replicate_keys(spec.seed, 300, np.arange(3))
    simulate_keys = jax.vmap(jax.random.split)(keys)[:, 0]
    for r, words in enumerate(np.asarray(jax.random.key_data(simulate_keys))):
        replicate = simulate_replicate(problem, np.random.SeedSequence(words.tolist()), 300)
        expected = replicate_truth(replicate, Metric.REVENUE_PER_VISITOR, num_probes=1)
        np.testing.assert_allclose(result["truth"].values[r], expected, rtol=1e-5, atol=1e-5)
    rank = result["rank"].values
    assert rank.min() >= 0 and rank.max() <= 9
    lower, upper = result["lower"].values, result["upper"].values
    assert np.all(np.isfinite(lower)) and np.all(upper >= lower)
    assert np.all(np.diff(result["width"].values, axis=-1) >= -1e-6)  # nested levels
    truth = result["truth"].values[..., None]
    np.testing.assert_array_equal(result["covered"].values, (lower <= truth) & (truth <= upper))
    # ranks agree with the intervals: truth below every thinned draw ⇒ below the median
    median = result["median"].values
    assert np.all(median[rank == 0] >= result["truth"].values[rank == 0])
    assert np.all(median[rank == 9] <= result["truth"].values[rank == 9])
    # the posterior informs: errors are of the size of the intervals, not wild
    sd = result["posterior_sd"].values
    assert np.all(sd > 0)
    assert np.median(np.abs(result["error"].values) / sd) < 4


@pytest.mark.parametrize(
    "path",
    sorted(
        path
        for path in (Path(__file__).resolve().parents[2] / "sbc" / "sweeps").glob(
            "hurdle-bcf-*.toml"
        )
        if path.stem != "hurdle-bcf-prior-predictive"  # tests/sbc/test_hurdle_prior.py
    ),
    ids=lambda p: p.stem,
)
def test_committed_hurdle_specs_build_their_problem(path):
    problem = resolve_problem(load_spec(path))
    assert isinstance(problem, HurdleBCFProblem)
    assert problem.template == "clustered" and problem.num_arms == 3
    assert sum(name.startswith("gate_") for name in problem.quantity_names(1000)) == 8
