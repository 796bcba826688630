"""A registry of BCF model functions, so research variants can be fitted by name.

A model function has the signature ``model(problem, stats=None) -> ForestVariances``
(see :mod:`pytyche.models.bcf`). Register one with :func:`register_model`; fit it with
``pytyche.inference.fit(data, model="name")``. Names not registered yet are looked up in
the repository's top-level ``models/`` folder: ``get_model("half_cauchy_tau")`` imports
``models/half_cauchy_tau.py`` (which registers itself on import).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from pytyche.models.bcf import bcf_model

__all__ = ["DEFAULT_MODEL", "available_models", "get_model", "register_model"]

DEFAULT_MODEL = "bcf"
MODELS_FOLDER = Path(__file__).resolve().parents[2] / "models"
_REGISTRY: dict[str, Callable] = {DEFAULT_MODEL: bcf_model}


def register_model(name: str, model: Callable, *, overwrite: bool = False) -> Callable:
    """Register a model function under ``name``.

    Parameters
    ----------
    name
        Registry key (a Python identifier).
    model
        ``model(problem, stats=None) -> ForestVariances``.
    overwrite
        Replace an existing entry of that name (otherwise an error).

    Returns
    -------
    Callable
        ``model``, so this works as a decorator helper.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"model name must be a Python identifier, got {name!r}")
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")
    if name in _REGISTRY and _REGISTRY[name] is not model and not overwrite:
        raise ValueError(f"a model named {name!r} is already registered; pass overwrite=True")
    _REGISTRY[name] = model
    return model


def get_model(name: str) -> Callable:
    """The model function registered as ``name`` (importing ``models/<name>.py`` if needed)."""
    if name not in _REGISTRY:
        path = MODELS_FOLDER / f"{name}.py"
        if isinstance(name, str) and name.isidentifier() and path.is_file():
            spec = importlib.util.spec_from_file_location(f"pytyche_models_{name}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {available_models()}")
    return _REGISTRY[name]


def available_models() -> list[str]:
    """Registered names plus the variant files found in ``models/``."""
    files = {p.stem for p in MODELS_FOLDER.glob("*.py") if not p.stem.startswith("_")}
    return sorted(set(_REGISTRY) | files)
