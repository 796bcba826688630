"""Tests of check_setup() and the `pytyche check` command."""

import dataclasses
import importlib.resources
import json
import os
import subprocess
import sys

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


def test_bundled_artifacts_are_listed_by_name():
    """The package ships at least one artifact; the report lists the JSON files by name."""
    report = check_setup()
    assert report.bundled_calibrations
    assert all(name.endswith(".json") for name in report.bundled_calibrations)
    assert f"bundled {', '.join(report.bundled_calibrations)};" in repr(report)


@pytest.mark.parametrize("layout", ["empty", "missing"])
def test_no_bundled_artifact_is_reported_as_none(monkeypatch, tmp_path, layout):
    """With an empty (or absent) artifact directory the report says "(none bundled)".

    The package's directory is swapped for one under ``tmp_path`` by patching the
    ``importlib.resources.files`` lookup the setup check uses for ``pytyche``.
    """
    artifacts = tmp_path / "calibration" / "artifacts"
    if layout == "empty":
        artifacts.mkdir(parents=True)
        (artifacts / "README.txt").write_text("not an artifact")  # only *.json counts
    real_files = importlib.resources.files

    def files(package):
        return tmp_path if package == "pytyche" else real_files(package)

    monkeypatch.setattr(importlib.resources, "files", files)
    report = check_setup()
    assert report.bundled_calibrations == ()
    assert "calibration artifacts: bundled (none bundled);" in repr(report)


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


def test_cli_cpu_threads_sizes_the_pool_before_jax_starts():
    env = {key: value for key, value in os.environ.items() if key != "PJRT_NPROC"}
    out = subprocess.run(
        [sys.executable, "-m", "pytyche.cli", "--cpu-threads", "1", "check"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"CPU runtime threads: 1 of {os.cpu_count()} cores" in out


def test_cli_cpu_threads_is_refused_inside_a_running_jax_program(capsys):
    jax.numpy.ones(1).block_until_ready()  # this process's backend exists
    with pytest.raises(SystemExit) as excinfo:
        main(["--cpu-threads", "7", "check"])
    assert excinfo.value.code == 2
    assert "--cpu-threads: set_cpu_threads must be called before" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--cpu-threads", "0", "check"])
    assert "expected a positive integer" in capsys.readouterr().err
