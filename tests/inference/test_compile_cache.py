"""Where pytyche puts JAX's persistent compilation cache, and how to switch it off."""

from __future__ import annotations

import os
import subprocess
import sys

from pytyche.inference.compile_cache import ENV_VAR, compile_cache_dir

PROBE = (
    "import jax; from pytyche.inference.compile_cache import enable_compile_cache; "
    "print(enable_compile_cache()); print(jax.config.jax_compilation_cache_dir)"
)


def test_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    assert compile_cache_dir() == tmp_path / "mine"
    monkeypatch.setenv(ENV_VAR, "OFF")
    assert compile_cache_dir() is None
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache_dir() == tmp_path / "xdg" / "pytyche" / "jax"


def _probe(env: dict) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_enabling_sets_jax_config_unless_switched_off(tmp_path):
    env = {**os.environ, ENV_VAR: str(tmp_path / "cache")}
    assert _probe(env) == [str(tmp_path / "cache")] * 2
    assert (tmp_path / "cache").is_dir()
    env[ENV_VAR] = "off"
    assert _probe(env) == ["None", "None"]
    # A directory the user configured for JAX wins over pytyche's default.
    env.pop(ENV_VAR)
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path / "users")
    assert _probe(env) == [str(tmp_path / "users")] * 2
