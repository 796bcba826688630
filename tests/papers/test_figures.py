"""The paper figure scripts: each draws what its results say, and fails clearly without them.

Figures are built from the committed results (the SBC sweeps and benchmarks) or from small
synthetic result files whose numbers are known, and the drawn lines are compared with
those numbers.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest

PAPERS = Path(__file__).resolve().parents[2] / "papers"
REPO = PAPERS.parent


@pytest.fixture
def papers(monkeypatch):
    """Import a figure script of ``papers/`` by name (they import ``figure_inputs``)."""
    monkeypatch.syspath_prepend(str(PAPERS))

    def load(name: str):
        return importlib.import_module(name)

    yield load
    plt.close("all")


def labelled_lines(ax):
    lines = ax.get_lines()
    return {line.get_label(): line for line in lines if not line.get_label().startswith("_")}


def figure_content(figure) -> dict:
    """What a figure draws: per axes its labels, scales, limits, lines and collections."""
    axes = []
    for ax in figure.axes:
        legend = ax.get_legend()
        axes.append(
            {
                "labels": (ax.get_xlabel(), ax.get_ylabel(), ax.get_title(), ax.get_title("left")),
                "scales": (ax.get_xscale(), ax.get_yscale()),
                "limits": (ax.get_xlim(), ax.get_ylim()),
                "xticks": [tick.get_text() for tick in ax.get_xticklabels()],
                "lines": [
                    (
                        line.get_label(),
                        np.asarray(line.get_xydata(), float),
                        line.get_linestyle(),
                        line.get_marker(),
                        mcolors.to_hex(line.get_color(), keep_alpha=True),
                    )
                    for line in ax.get_lines()
                ],
                "collections": [
                    (
                        np.asarray(collection.get_offsets(), float),
                        [np.asarray(s, float) for s in getattr(collection, "get_segments", list)()],
                    )
                    for collection in ax.collections
                ],
                "legend": None if legend is None else [t.get_text() for t in legend.get_texts()],
            }
        )
    title = figure._suptitle.get_text() if figure._suptitle is not None else None
    return {"suptitle": title, "axes": axes}


def capture_saved_figures(monkeypatch, module) -> list[tuple[str, dict]]:
    """Record ``(name, figure_content)`` of every figure ``module`` saves, then save it."""
    saved = []
    real_save = module.save

    def save(figure, out_dir, name, fmt="png"):
        saved.append((name, figure_content(figure)))
        return real_save(figure, out_dir, name, fmt)

    monkeypatch.setattr(module, "save", save)
    return saved


def assert_same_drawing(saved: dict, expected_figure) -> None:
    """The saved figure draws exactly what ``expected_figure`` (from build_figure) draws."""
    expected = figure_content(expected_figure)
    plt.close(expected_figure)
    assert len(saved["axes"]) == len(expected["axes"])
    assert any(ax["lines"] for ax in expected["axes"]), "a figure with no line proves nothing"
    np.testing.assert_equal(saved, expected)


def loop_result(rounds_per_run: dict[tuple[str, int], list[dict]]) -> dict:
    """A synthetic loop_accuracy result with the given rounds per (template, seed)."""
    runs = [
        {"template": template, "seed": seed, "rounds": rounds}
        for (template, seed), rounds in rounds_per_run.items()
    ]
    return {
        "experiment": "loop_accuracy",
        "jax_backend": "cpu",
        "config": {"effect_scale": 0.4, "fit": "demo"},
        "runs": runs,
    }


def loop_round(number, accuracy, gap, oracle, uniform, ari, shares, arms, best=None) -> dict:
    best = oracle - 2.0 * gap if best is None else best  # value captured 0.5 by default
    return {
        "round": number,
        "n_visitors": 1000 * 2 ** (number - 1),
        "cumulative_visitors": 1000 * (2**number - 1),
        "personalization_captured": ((oracle - gap) - best) / (oracle - best),
        "policy_accuracy": accuracy,
        "oracle_gap": gap,
        "rpv_policy": oracle - gap,
        "rpv_oracle": oracle,
        "rpv_best_arm": best,
        "best_arm": "x",
        "rpv_uniform": uniform,
        "rpv_latent_oracle": oracle + 0.1,
        "latent_policy_accuracy": accuracy / 2,
        "segment_recovery": {
            "adjusted_rand_index": ari,
            "cluster_optimal_share": shares,
            "cluster_optimal_arm": arms,
            "cluster_share": {c: 1 / len(shares) for c in shares},
        },
    }


SYNTHETIC_LOOP = loop_result(
    {
        ("clustered", 1): [
            loop_round(1, 0.4, 0.9, 5.0, 4.0, 0.1, {"a": 0.2, "b": 0.6}, {"a": "x", "b": "y"}),
            loop_round(2, 0.6, 0.5, 5.0, 4.0, 0.3, {"a": 0.4, "b": 0.8}, {"a": "x", "b": "y"}),
        ],
        ("clustered", 2): [
            loop_round(1, 0.2, 1.1, 5.0, 4.2, 0.3, {"a": 0.0, "b": 0.4}, {"a": "x", "b": "y"}),
            loop_round(2, 0.8, 0.3, 5.0, 4.2, 0.5, {"a": 0.6, "b": 1.0}, {"a": "x", "b": "y"}),
        ],
        ("clustered_realistic", 1): [
            loop_round(1, 0.5, 0.7, 4.0, 3.5, 0.0, {"c": 0.5}, {"c": "z"}),
            loop_round(2, 0.7, 0.2, 4.0, 3.5, 0.2, {"c": 0.9}, {"c": "z"}),
        ],
    }
)


# ----------------------------------------------------------------------- coverage vs n
def test_coverage_figure_draws_the_held_out_coverage(papers):
    coverage = papers("coverage_vs_n")
    from pytyche.calibration import Calibration, evaluate_calibration
    from pytyche.sbc import load_result

    result = load_result(coverage.DEFAULT_RESULT)
    calibration = Calibration.load(coverage.DEFAULT_CALIBRATION)
    figure = coverage.build_figure(result, calibration, levels=(0.8, 0.9))
    (ax,) = figure.axes
    lines = labelled_lines(ax)
    assert set(lines) == {
        "uncalibrated, 80%",
        "calibrated, 80%",
        "uncalibrated, 90%",
        "calibrated, 90%",
    }
    assert ax.get_xlabel() == "scale n (visitors per dataset)"
    assert ax.get_ylabel() == "empirical coverage (held-out sweep)"
    assert ax.get_xscale() == "log"
    expected = evaluate_calibration(calibration, result)
    at_90 = expected[expected["level"] == 0.9].sort_values("n")
    for kind, column in (("uncalibrated", "raw_coverage"), ("calibrated", "calibrated_coverage")):
        x, y = lines[f"{kind}, 90%"].get_data()
        np.testing.assert_array_equal(x, at_90["n"].to_numpy(float))
        np.testing.assert_allclose(y, at_90[column].to_numpy())
    # The committed sweep's story: raw coverage falls with n, calibrated stays at 90%.
    raw = lines["uncalibrated, 90%"].get_ydata()
    assert np.all(np.diff(raw) < 0) and raw[-1] < 0.5
    assert np.all(np.abs(lines["calibrated, 90%"].get_ydata() - 0.9) < 0.03)


def test_coverage_script_writes_png(papers, tmp_path, capsys, monkeypatch):
    """main() saves, under the given name, the figure build_figure draws from its inputs."""
    coverage = papers("coverage_vs_n")
    from pytyche.calibration import Calibration
    from pytyche.sbc import load_result

    saved = capture_saved_figures(monkeypatch, coverage)
    assert coverage.main(["--out-dir", str(tmp_path), "--levels", "0.9", "--name", "cov"]) == 0
    [(name, drawn)] = saved
    assert name == "cov"
    expected = coverage.build_figure(
        load_result(coverage.DEFAULT_RESULT),
        Calibration.load(coverage.DEFAULT_CALIBRATION),
        levels=(0.9,),
    )
    assert_same_drawing(drawn, expected)
    written = tmp_path / "cov.png"
    assert plt.imread(written).ndim == 3
    assert str(written) in capsys.readouterr().out


def test_coverage_script_names_the_missing_file(papers, tmp_path, capsys):
    coverage = papers("coverage_vs_n")
    missing = tmp_path / "nothing.nc"
    assert coverage.main(["--result", str(missing), "--out-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert str(missing) in error and "pytyche sbc run" in error
    assert not list(tmp_path.glob("*.png"))


# ----------------------------------------------------------------------- speed-up vs n
def bench_bcf(backend: str, date: str, times: dict[int, tuple[float, float, float]]) -> dict:
    """(pytyche, stochtree binary, stochtree one-hot) seconds per iteration per n."""
    return {
        "benchmark": "bcf_iteration_time",
        "jax_backend": backend,
        "date": date,
        "rows": [
            {
                "n": n,
                "mu_trees": 250,
                "tau_trees": 100,
                "pytyche_joint_hurdle_k3": {"s_per_iter": ours},
                "stochtree_bcf_binary": {"s_per_iter": binary},
                "stochtree_bcf_onehot": {"s_per_iter": onehot},
            }
            for n, (ours, binary, onehot) in times.items()
        ]
        + [{"n": 10, "mu_trees": 1, "tau_trees": 1, "pytyche_joint_hurdle_k3": {"s_per_iter": 1}}],
    }


def test_speedup_figure_plots_peer_over_pytyche_time(papers, tmp_path):
    speedup = papers("speedup_vs_n")
    old = bench_bcf("cpu", "2026-01-01", {1000: (1.0, 9.0, 9.0)})
    new = bench_bcf("cpu", "2026-02-01", {1000: (1.0, 2.0, 4.0), 8000: (2.0, 10.0, 30.0)})
    for name, result in (("bench_bcf_cpu_a.json", new), ("bench_bcf_cpu_b.json", old)):
        (tmp_path / name).write_text(json.dumps(result))
    newest = speedup.newest_bcf_results(tmp_path)
    assert newest == [tmp_path / "bench_bcf_cpu_a.json"]  # by date, not by file name
    rerun = bench_bcf("cpu", "2026-03-01", {8000: (2.0, 10.0, 30.0)})
    (tmp_path / "bench_bcf_cpu_c.json").write_text(json.dumps(rerun))
    # A later run of fewer sizes does not displace the full run.
    assert speedup.newest_bcf_results(tmp_path) == [tmp_path / "bench_bcf_cpu_a.json"]
    # A run with another CPU thread count is another setting, drawn as its own line.
    one_thread = {
        **bench_bcf("cpu", "2026-01-15", {1000: (0.5, 2.0, 4.0)}),
        "cpu_threads": {"pytyche": 1, "bartz": None},
    }
    (tmp_path / "bench_bcf_cpu_t1_d.json").write_text(json.dumps(one_thread))
    assert set(speedup.newest_bcf_results(tmp_path)) == {
        tmp_path / "bench_bcf_cpu_a.json",
        tmp_path / "bench_bcf_cpu_t1_d.json",
    }
    forest = {
        "meta": {"device": "cpu:0", "num_trees": 200},
        "rows": [
            {"n": 1000, "ours_s": 0.5, "stochtree_s": 1.5},
            {"n": 8000, "ours_s": 1.0, "stochtree_s": None},
        ],
    }
    labels = labelled_lines(speedup.build_figure([one_thread], forest).axes[0])
    np.testing.assert_allclose(
        labels["vs StochTree BCF, binary treatment (cpu, 1 thread)"].get_ydata(), [4.0]
    )
    figure = speedup.build_figure([new], forest)
    bcf_ax, forest_ax = figure.axes
    bcf_lines = labelled_lines(bcf_ax)
    assert set(bcf_lines) == {
        "vs StochTree BCF, binary treatment (cpu)",
        "vs StochTree BCF, K = 3 one-hot (cpu)",
    }
    x, y = bcf_lines["vs StochTree BCF, binary treatment (cpu)"].get_data()
    np.testing.assert_array_equal(x, [1000, 8000])
    np.testing.assert_allclose(y, [2.0, 5.0])
    onehot = bcf_lines["vs StochTree BCF, K = 3 one-hot (cpu)"]
    np.testing.assert_allclose(onehot.get_ydata(), [4.0, 15.0])
    (forest_line,) = labelled_lines(forest_ax).values()
    np.testing.assert_allclose(forest_line.get_xydata(), [[1000, 3.0]])  # the None row is dropped
    for ax in figure.axes:
        assert ax.get_xlabel() == "n (visitors)"
        assert ax.get_ylabel() == "speed-up (StochTree time / pytyche time)"


def test_speedup_script_on_committed_benchmarks(papers, tmp_path, monkeypatch):
    """main() draws build_figure of the newest committed BCF runs and the forest benchmark."""
    speedup = papers("speedup_vs_n")
    saved = capture_saved_figures(monkeypatch, speedup)
    assert speedup.main(["--out-dir", str(tmp_path)]) == 0
    [(name, drawn)] = saved
    assert name == "speedup_vs_n"
    newest = speedup.newest_bcf_results(REPO / "experiments" / "results")
    assert newest, "the committed benchmarks include bench_bcf results"
    bcf = [json.loads(path.read_text()) for path in newest]
    forest = json.loads((REPO / "experiments" / "results" / "bench_forest_cpu.json").read_text())
    assert_same_drawing(drawn, speedup.build_figure(bcf, forest))
    assert plt.imread(tmp_path / "speedup_vs_n.png").ndim == 3


def test_speedup_script_names_the_missing_file(papers, tmp_path, capsys):
    speedup = papers("speedup_vs_n")
    missing = tmp_path / "bench_forest_cpu.json"
    assert speedup.main(["--forest", str(missing), "--out-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert str(missing) in error and "experiments/bench_forest.py" in error


# --------------------------------------------------------------- loop: accuracy and recovery
def test_policy_accuracy_figure_averages_seeds(papers):
    accuracy = papers("policy_accuracy_by_round")
    figure = accuracy.build_figure(SYNTHETIC_LOOP)
    captured_ax, accuracy_ax, gap_ax = figure.axes
    lines = labelled_lines(accuracy_ax)
    assert set(lines) == {"clustered", "clustered_realistic"}
    np.testing.assert_allclose(lines["clustered"].get_xydata(), [[1, 0.3], [2, 0.7]])
    np.testing.assert_allclose(lines["clustered_realistic"].get_ydata(), [0.5, 0.7])
    # the synthetic rounds put the best single arm twice as far from the oracle as the policy
    np.testing.assert_allclose(labelled_lines(captured_ax)["clustered"].get_ydata(), [0.5, 0.5])
    gaps = labelled_lines(gap_ax)
    assert len(gaps) == 6
    np.testing.assert_allclose(gaps["clustered"].get_ydata(), [1.0, 0.4])
    np.testing.assert_allclose(gaps["clustered, uniform"].get_ydata(), [0.9, 0.9])
    np.testing.assert_allclose(gaps["clustered, best single arm"].get_ydata(), [2.0, 0.8])
    assert captured_ax.get_ylabel() == "personalisation value\ncaptured (share)"
    assert accuracy_ax.get_ylabel() == "policy accuracy vs covariate oracle"
    assert gap_ax.get_ylabel() == "gap to covariate oracle\n(true revenue per visitor)"
    assert gap_ax.get_xlabel() == "round (cumulative visitors)"
    # two seeds of "clustered": their rounds are also drawn as dots
    assert sum(len(c.get_offsets()) for c in accuracy_ax.collections) == 4


def test_policy_accuracy_figure_refuses_a_latent_truth_result(papers):
    stale = json.loads(json.dumps(SYNTHETIC_LOOP))
    for run in stale["runs"]:
        for r in run["rounds"]:
            del r["rpv_best_arm"]
    with pytest.raises(ValueError, match="re-run experiments/loop_accuracy.py"):
        papers("policy_accuracy_by_round").build_figure(stale)


def test_segment_recovery_figure(papers):
    recovery = papers("segment_recovery")
    figure = recovery.build_figure(SYNTHETIC_LOOP)
    ari_ax, clustered_ax, realistic_ax = figure.axes
    ari = labelled_lines(ari_ax)
    np.testing.assert_allclose(ari["clustered"].get_ydata(), [0.2, 0.4])
    np.testing.assert_allclose(ari["clustered_realistic"].get_ydata(), [0.0, 0.2])
    assert ari_ax.get_ylabel() == "adjusted Rand index (segments vs clusters)"
    clusters = labelled_lines(clustered_ax)
    assert set(clusters) == {"a (x)", "b (y)"}
    np.testing.assert_allclose(clusters["a (x)"].get_ydata(), [0.1, 0.5])
    np.testing.assert_allclose(clusters["b (y)"].get_ydata(), [0.5, 0.9])
    assert set(labelled_lines(realistic_ax)) == {"c (z)"}
    assert realistic_ax.get_title(loc="left") == "clustered_realistic"


@pytest.mark.parametrize("script", ["policy_accuracy_by_round", "segment_recovery"])
def test_loop_figures_from_a_result_file(papers, tmp_path, script, capsys, monkeypatch):
    """A missing result is named; a present one is drawn exactly as build_figure draws it."""
    module = papers(script)
    saved = capture_saved_figures(monkeypatch, module)
    missing = tmp_path / "loop_accuracy_cpu.json"
    assert module.main(["--result", str(missing), "--out-dir", str(tmp_path)]) == 2
    assert "experiments/loop_accuracy.py" in capsys.readouterr().err
    assert saved == []
    missing.write_text(json.dumps(SYNTHETIC_LOOP))
    assert module.main(["--result", str(missing), "--out-dir", str(tmp_path)]) == 0
    [(name, drawn)] = saved
    assert name == script
    assert_same_drawing(drawn, module.build_figure(SYNTHETIC_LOOP))
    assert plt.imread(tmp_path / f"{script}.png").ndim == 3


def test_committed_loop_result_is_complete():
    """The committed result has every round of every run with the fields the figures read."""
    path = REPO / "experiments" / "results" / "loop_accuracy_cpu.json"
    result = json.loads(path.read_text())
    config = result["config"]
    assert {run["template"] for run in result["runs"]} == {"clustered", "clustered_realistic"}
    for run in result["runs"]:
        assert [r["round"] for r in run["rounds"]] == list(range(1, config["rounds"] + 1))
        for r in run["rounds"]:
            assert 0 <= r["policy_accuracy"] <= 1
            assert r["oracle_gap"] >= 0
            assert np.isclose(r["oracle_gap"], r["rpv_oracle"] - r["rpv_policy"])
            # the covariate oracle is the best policy of x: no single arm, and no policy, beats
            # it; the latent oracle knows more still
            assert r["rpv_best_arm"] <= r["rpv_oracle"] + 1e-12
            assert r["rpv_latent_oracle"] >= r["rpv_oracle"] - 1e-12
            room = r["rpv_oracle"] - r["rpv_best_arm"]
            assert np.isclose(
                r["personalization_captured"], (r["rpv_policy"] - r["rpv_best_arm"]) / room
            )
            shares = r["segment_recovery"]["cluster_share"]
            assert np.isclose(sum(shares.values()), 1.0)


# ------------------------------------------------------------------------- make figures
def test_make_figures_writes_every_figure(papers, tmp_path, monkeypatch):
    """Every figure make_figures writes is build_figure of that script's default inputs.

    (The BCF coverage figures use the held-out sweep / artifact pairs it finds.)
    """
    from pytyche.calibration import Calibration
    from pytyche.sbc import load_result

    make_figures = papers("make_figures")
    scripts = {name: papers(name) for name in make_figures.FIGURE_SCRIPTS}
    saved = {name: capture_saved_figures(monkeypatch, module) for name, module in scripts.items()}
    assert make_figures.main(["--out-dir", str(tmp_path)]) == 0

    coverage, speedup = scripts["coverage_vs_n"], scripts["speedup_vs_n"]
    results = REPO / "experiments" / "results"
    loop = json.loads((results / "loop_accuracy_cpu.json").read_text())
    coverage_inputs = [
        (coverage.DEFAULT_RESULT, coverage.DEFAULT_CALIBRATION),
        *make_figures.bcf_coverage_inputs(),
    ]
    expected = {
        "coverage_vs_n": [
            (
                f"coverage_vs_n_{load_result(result).attrs['sweep_id']}",
                lambda r=result, c=calibration: coverage.build_figure(
                    load_result(r), Calibration.load(c), levels=(0.8, 0.9)
                ),
            )
            for result, calibration in coverage_inputs
        ],
        "speedup_vs_n": [
            (
                "speedup_vs_n",
                lambda: speedup.build_figure(
                    [json.loads(p.read_text()) for p in speedup.newest_bcf_results(results)],
                    json.loads((results / "bench_forest_cpu.json").read_text()),
                ),
            )
        ],
        "policy_accuracy_by_round": [
            (
                "policy_accuracy_by_round",
                lambda: scripts["policy_accuracy_by_round"].build_figure(loop),
            )
        ],
        "segment_recovery": [
            ("segment_recovery", lambda: scripts["segment_recovery"].build_figure(loop))
        ],
    }
    for script, figures in expected.items():
        assert [name for name, _ in saved[script]] == [name for name, _ in figures], script
        for (_, drawn), (name, build) in zip(saved[script], figures, strict=True):
            assert_same_drawing(drawn, build())
            assert (tmp_path / f"{name}.png").is_file()
    names = {path.name for path in tmp_path.glob("*.png")}
    assert "coverage_vs_n_conjugate-normal-overconfident-holdout.png" in names
    assert len(names) == sum(len(figures) for figures in expected.values())


def test_make_figures_pairs_bcf_artifacts_with_their_held_out_sweep(papers, tmp_path, monkeypatch):
    make_figures = papers("make_figures")
    results, bundled = tmp_path / "results", tmp_path / "bundled"
    results.mkdir()
    bundled.mkdir()
    artifact = json.loads((REPO / "sbc/results/conjugate-normal-overconfident.json").read_text())
    for sweep, directory in (("with-holdout", bundled), ("without-holdout", results)):
        payload = {**artifact, "model": "hurdle_bcf", "sweep_id": sweep}
        (directory / f"{sweep}.json").write_text(json.dumps(payload))
    (results / "with-holdout-holdout.nc").write_bytes(b"")
    (results / "conjugate.json").write_text(json.dumps(artifact))  # the default figure's
    monkeypatch.setattr(make_figures, "SBC_RESULTS", results)
    monkeypatch.setattr(make_figures, "ARTIFACT_DIRS", (results, bundled))
    assert make_figures.bcf_coverage_inputs() == [
        (results / "with-holdout-holdout.nc", bundled / "with-holdout.json")
    ]
    runs = make_figures.planned_runs(tmp_path / "out")
    assert [script for script, _ in runs] == [*make_figures.FIGURE_SCRIPTS, "coverage_vs_n"]
    assert runs[-1][1][:4] == [
        "--result",
        str(results / "with-holdout-holdout.nc"),
        "--calibration",
        str(bundled / "with-holdout.json"),
    ]
