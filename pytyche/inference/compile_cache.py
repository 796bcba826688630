"""JAX's persistent compilation cache, switched on for pytyche's fits.

A BCF fit's program takes seconds to compile on a CPU (≈ 10 s for the default forests,
more on a loaded machine) and the MCMC at small n takes less. Within a process
:mod:`pytyche.inference.driver` reuses compiled programs; across processes (a notebook
re-run, the next round of a deployment, ``make demo`` again) JAX's persistent cache does,
keyed on the program text, so another dataset of the same shapes hits it too.

On the first fit, unless the user already configured ``jax_compilation_cache_dir``, the
cache goes to ``$PYTYCHE_JAX_CACHE``, else ``$XDG_CACHE_HOME/pytyche/jax`` (default
``~/.cache/pytyche/jax``). ``PYTYCHE_JAX_CACHE=off`` leaves JAX's configuration alone.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jax

__all__ = ["DISABLE", "ENV_VAR", "compile_cache_dir", "enable_compile_cache"]

ENV_VAR = "PYTYCHE_JAX_CACHE"
DISABLE = "off"


def compile_cache_dir() -> Path | None:
    """The directory pytyche would use (None when switched off by ``PYTYCHE_JAX_CACHE``)."""
    chosen = os.environ.get(ENV_VAR, "").strip()
    if chosen.lower() == DISABLE:
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pytyche" / "jax"


@functools.cache
def enable_compile_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`compile_cache_dir` (once).

    Returns
    -------
    Path or None
        The cache directory in use, or None when there is none (switched off, or the
        directory cannot be created). A directory the user configured is left as is and
        returned.
    """
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    path = compile_cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # read-only home and the like: run without a persistent cache
    jax.config.update("jax_compilation_cache_dir", str(path))
    return path
