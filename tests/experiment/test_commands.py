"""The ``pytyche rehearse`` and ``pytyche round`` commands (with the fast stand-in fit)."""

import argparse
import json

import pytest

import pytyche as pt
from pytyche.experiment import load_experiment, plan_from_dict
from pytyche.experiment.commands import add_experiment_subcommands

ARMS = ("control", "low_promo", "free_ship")


def parser():
    root = argparse.ArgumentParser(prog="pytyche")
    add_experiment_subcommands(root.add_subparsers(dest="command", required=True))
    return root


def run(argv):
    args = parser().parse_args(argv)
    return args.handler(args)


def test_rehearse_writes_a_store_a_report_and_the_next_plan(fast_fit, tmp_path, capsys):
    out = tmp_path / "rehearsal"
    argv = ["rehearse", "--rounds", "2", "--initial", "800", "--growth", "2", "--out", str(out)]
    assert (
        run([*argv, "--effect-scale", "0.5", "--bootstrap", "3", "--no-progress", "--no-figures"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "round 1 of 2" in printed and "round 2 of 2" in printed
    report = (out / "report.md").read_text()
    assert "## Truth comparison (simulation truth)" in report
    assert "uncalibrated" in report
    plan = plan_from_dict(json.loads((out / "next_plan.json").read_text()))
    exp = load_experiment(out / "store")
    assert plan == exp.next_recommendation
    assert [r.n_visitors for r in exp.history] == [800, 1_600]


def test_round_ingests_real_rounds_and_writes_the_next_plan(fast_fit, tmp_path, capsys):
    simulator = pt.simulated_experiment_generator(
        template="clustered_realistic", effect_scale=0.5, K=3, seed=5, treatment_names=ARMS
    )
    first, _ = simulator(0, pt.cold_start_plan(ARMS, 1_200))
    first.frame.to_parquet(tmp_path / "round_0.parquet")
    directory = tmp_path / "platform"
    common = ["--experiment", str(directory), "--bootstrap", "3", "--no-progress"]
    with pytest.raises(ValueError, match="--treatments"):
        run(["round", *common, "--data", str(tmp_path / "round_0.parquet")])
    argv = ["round", *common, "--data", str(tmp_path / "round_0.parquet")]
    treatments = ["--treatments", ",".join(ARMS), "--id-column", "visitor_id"]
    assert run([*argv, *treatments, "--categorical", "device,region"]) == 0
    plan = plan_from_dict(json.loads((directory / "next_plan.json").read_text()))
    assert plan.cell_ids == ("control", "explore", "optimized")

    second, _ = simulator(1, plan)
    second.frame.to_parquet(tmp_path / "round_1.parquet")
    assert run(["round", *common, "--data", str(tmp_path / "round_1.parquet")]) == 0
    printed = capsys.readouterr().out
    assert "round 2" in printed and "next plan written" in printed
    exp = load_experiment(directory / "store")
    assert exp.mode == "real"
    assert [r.n_visitors for r in exp.history] == [1_200, 1_200]
    assert all(r.truth_comparison is None for r in exp.history)
