"""The `pytyche sbc` subcommands, driven through their argparse parser."""

from __future__ import annotations

import argparse
import json

import pytest
from sbc_testing import conjugate_spec_text

from pytyche.calibration import Calibration
from pytyche.sbc.cli import add_sbc_subcommands


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pytyche")
    add_sbc_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_run_report_fit_calibration(tmp_path, capsys):
    spec = tmp_path / "cli.toml"
    text = conjugate_spec_text(sweep_id="cli", seed=5, replicates=30, chunk_size=10)
    spec.write_text(text.replace("posterior_scale = 1.0", "posterior_scale = 0.5"))
    result = tmp_path / "cli.nc"
    run = ["sbc", "run", str(spec), "--out", str(result), "--no-progress"]
    assert _main([*run, "--max-chunks", "1"]) == 3
    assert "run the same command again" in capsys.readouterr().out
    assert _main(run) == 0
    assert result.exists()

    artifact = tmp_path / "calibration.json"
    assert _main(["sbc", "fit-calibration", str(result), "--out", str(artifact)]) == 0
    calibration = Calibration.load(artifact)
    assert calibration.sweep_id == "cli" and calibration.scales == (50,)
    assert json.loads(artifact.read_text())["family"] == "continuous"
    assert calibration.inflation.min() > 1.3  # the sampler is twice too narrow

    capsys.readouterr()
    code = _main(
        ["sbc", "report", str(result), "--csv", str(tmp_path / "tables"),
         "--calibration", str(artifact)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "coverage vs nominal" in out and "raw vs calibrated coverage" in out
    assert (tmp_path / "tables" / "cli-coverage.csv").exists()
    assert (tmp_path / "tables" / "cli-calibrated.csv").exists()


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit):
        _main(["sbc", "report", "x.nc", "--level", "1.5"])
    assert "expected a level in (0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _main(["sbc", "fit-calibration", "x.nc"])  # --out is required
