"""``check_setup()``: what pytyche will run on, in one small report.

The report lists the versions of pytyche and its numerical stack, the JAX backend and
devices, the default float dtype, the CPU runtime's thread count, whether a GPU is visible,
and the calibration artifacts found: bundled with the package
(``pytyche/calibration/artifacts/*.json``) and provided by the user (directories in the
``PYTYCHE_CALIBRATION_PATH`` environment variable, separated by ``os.pathsep``, plus
``~/.config/pytyche/calibration``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SetupReport", "calibration_search_paths", "check_setup"]

USER_CALIBRATION_ENV = "PYTYCHE_CALIBRATION_PATH"


@dataclass(frozen=True)
class SetupReport:
    """Frozen description of the runtime pytyche sees.

    Attributes
    ----------
    pytyche_version, jax_version, numpyro_version, arviz_version : str
        Installed versions.
    backend : str
        JAX default backend (``"cpu"``, ``"gpu"``, ...).
    devices : tuple of str
        JAX devices, e.g. ``("cpu:0",)`` or ``("cuda:0",)``.
    default_float : str
        ``"float64"`` when ``jax_enable_x64`` is on, else ``"float32"``.
    gpu_available : bool
        Whether JAX sees a GPU.
    bundled_calibrations : tuple of str
        Calibration artifacts shipped with the package.
    user_calibrations : tuple of str
        Calibration artifacts found in the user's calibration directories.
    compile_cache : str
        Where compiled fits are cached across processes (JAX's persistent compilation
        cache, see :mod:`pytyche.inference.compile_cache`), or ``"off"``.
    cpu_threads : int or None
        Threads of JAX's CPU runtime pool requested with `pytyche.set_cpu_threads` (or
        ``PJRT_NPROC``); None for XLA's default of one per core.
    cpu_count : int or None
        Cores the operating system reports.
    """

    pytyche_version: str
    jax_version: str
    numpyro_version: str
    arviz_version: str
    backend: str
    devices: tuple[str, ...]
    default_float: str
    gpu_available: bool
    bundled_calibrations: tuple[str, ...]
    user_calibrations: tuple[str, ...]
    compile_cache: str = "off"
    cpu_threads: int | None = None
    cpu_count: int | None = None

    def __repr__(self) -> str:
        bundled = ", ".join(self.bundled_calibrations) or "(none bundled)"
        user = ", ".join(self.user_calibrations) or "(none found)"
        threads = self.cpu_threads or "one per core (default)"
        lines = [
            f"pytyche {self.pytyche_version} / jax {self.jax_version} / "
            f"numpyro {self.numpyro_version} / arviz {self.arviz_version}",
            f"JAX backend: {self.backend}; devices: {', '.join(self.devices)}; "
            f"default float: {self.default_float}; GPU available: {self.gpu_available}",
            f"calibration artifacts: bundled {bundled}; user {user}",
            f"compile cache: {self.compile_cache}",
            f"CPU runtime threads: {threads} of {self.cpu_count or '?'} cores",
        ]
        return "\n".join(lines)

    __str__ = __repr__


def calibration_search_paths() -> tuple[Path, ...]:
    """Directories searched for user-provided calibration artifacts, in order."""
    paths = [Path(p) for p in os.environ.get(USER_CALIBRATION_ENV, "").split(os.pathsep) if p]
    paths.append(Path.home() / ".config" / "pytyche" / "calibration")
    return tuple(paths)


def _bundled_artifacts() -> tuple[str, ...]:
    root = importlib.resources.files("pytyche") / "calibration" / "artifacts"
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if p.name.endswith(".json")))


def _user_artifacts() -> tuple[str, ...]:
    found = []
    for directory in calibration_search_paths():
        if directory.is_dir():
            found.extend(str(p) for p in sorted(directory.glob("*.json")))
    return tuple(found)


def check_setup() -> SetupReport:
    """Report versions, JAX devices and calibration artifacts.

    Returns
    -------
    SetupReport
        A frozen report; its ``repr`` is a readable five-line summary.

    Examples
    --------
    >>> import pytyche as pt
    >>> report = pt.check_setup()
    >>> report.backend in {"cpu", "gpu", "tpu"}
    True
    """
    import jax

    from pytyche._version import __version__
    from pytyche.inference.compile_cache import compile_cache_dir
    from pytyche.inference.cpu_threads import cpu_threads

    cache = jax.config.jax_compilation_cache_dir or compile_cache_dir()

    devices = jax.devices()
    return SetupReport(
        pytyche_version=__version__,
        jax_version=jax.__version__,
        numpyro_version=importlib.metadata.version("numpyro"),
        arviz_version=importlib.metadata.version("arviz"),
        backend=jax.default_backend(),
        devices=tuple(f"{d.platform}:{d.id}" for d in devices),
        default_float="float64" if jax.config.read("jax_enable_x64") else "float32",
        gpu_available=any(d.platform == "gpu" for d in devices),
        bundled_calibrations=_bundled_artifacts(),
        user_calibrations=_user_artifacts(),
        compile_cache=str(cache) if cache else "off",
        cpu_threads=cpu_threads(),
        cpu_count=os.cpu_count(),
    )
