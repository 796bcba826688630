"""Tests of check_setup() and the `pytyche check` command."""

import dataclasses
import json

import jax
import pytest

import pytyche
from pytyche.cli import main
from pytyche.setup_check import USER_CALIBRATION_ENV, check_setup


def test_report_describes_this_runtime():
    report = check_setup()
    assert report.pytyche_version == pytyche.__version__
    assert report.jax_version == jax.__version__
    assert report.backend == jax.default_backend()
    assert len(report.devices) == len(jax.devices())
    assert report.gpu_available == any(d.platform == "gpu" for d in jax.devices())
    assert report.default_float in {"float32", "float64"}
    text = repr(report)
    assert f"pytyche {pytyche.__version__}" in text
    assert "calibration artifacts" in text


def test_report_is_frozen():
    report = check_setup()
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.backend = "tpu"


def test_user_calibration_artifacts_are_found(tmp_path, monkeypatch):
    artifact = tmp_path / "my_deployment.json"
    artifact.write_text(json.dumps({"kind": "calibration"}))
    (tmp_path / "notes.txt").write_text("not an artifact")
    monkeypatch.setenv(USER_CALIBRATION_ENV, str(tmp_path))
    report = check_setup()
    assert report.user_calibrations == (str(artifact),)
    assert str(artifact) in repr(report)


def test_no_bundled_artifact_is_reported_as_none(monkeypatch, tmp_path):
    report = check_setup()
    if not report.bundled_calibrations:
        assert "(none bundled)" in repr(report)
    else:
        assert all(name.endswith(".json") for name in report.bundled_calibrations)


def test_cli_check_prints_the_report(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "JAX backend" in out and pytyche.__version__ in out


def test_cli_rejects_unknown_commands_and_bad_sizes(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["frobnicate"])
    assert excinfo.value.code == 2
    with pytest.raises(SystemExit):
        main(["demo", "--n", "0"])
    assert "expected a positive integer" in capsys.readouterr().err
