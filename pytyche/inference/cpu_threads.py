"""The number of threads JAX's CPU runtime runs a compiled program on.

XLA's CPU client gives each process a pool of one thread per core, and a compiled fit runs
its operations on that pool. The BCF sweep is a long chain of small operations (one tree's
pass over the visitors after another), so on a machine with few cores the hand-offs
between pool threads can cost more than the parallel work saves: on a 2-core machine a
joint hurdle iteration ran 13% / 26% / 4% faster with one runtime thread at n = 10k / 50k /
200k (medians of paired rounds, ``experiments/bench_cpu_threads.py``), while bartz's BCF,
which works on all trees at once, ran slower. On many cores the pool may pay; measure
before choosing.

The pool is sized once, when JAX first creates its CPU backend (its first computation or
device query), from the ``PJRT_NPROC`` environment variable. :func:`set_cpu_threads` sets
that variable and refuses once the backend exists, in the spirit of
``numpyro.set_host_device_count``.
"""

from __future__ import annotations

import os

__all__ = ["ENV_VAR", "cpu_threads", "set_cpu_threads"]

ENV_VAR = "PJRT_NPROC"


def _backend_initialized() -> bool:
    try:
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:  # a JAX without the helper: assume the caller knows
        return False
    return backends_are_initialized()


def cpu_threads() -> int | None:
    """The CPU runtime's thread count requested through ``PJRT_NPROC``, or None (one
    thread per core, XLA's default)."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    try:
        threads = int(value)
    except ValueError:
        return None
    return threads if threads > 0 else None


def set_cpu_threads(threads: int | None) -> None:
    """Size the thread pool JAX's CPU runtime runs compiled fits on.

    Call it at the start of the program, before the first JAX computation: the pool is
    created with JAX's CPU backend and keeps its size for the life of the process.

    Parameters
    ----------
    threads : int or None
        Threads of the pool (≥ 1); ``1`` was fastest for BCF fits on a 2-core machine.
        None restores XLA's default of one thread per core.

    Raises
    ------
    ValueError
        If ``threads`` is not a positive integer or None.
    RuntimeError
        If JAX's backend already exists and ``threads`` differs from the size it was
        created with; set ``PJRT_NPROC`` in the environment before Python starts instead.

    Examples
    --------
    >>> import pytyche as pt
    >>> pt.set_cpu_threads(1)  # doctest: +SKIP
    >>> posterior = pt.fit(data)  # doctest: +SKIP
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    if threads == cpu_threads():
        return
    if _backend_initialized():
        setting = f"unset {ENV_VAR}" if threads is None else f"set {ENV_VAR}={threads}"
        raise RuntimeError(
            "set_cpu_threads must be called before JAX's first computation: its CPU backend "
            "already runs on the thread pool it was created with. Call it at the start of "
            f"the program, or {setting} in the environment before Python starts."
        )
    if threads is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = str(threads)
