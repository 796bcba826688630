"""Project-wide test set-up: CPU JAX, headless matplotlib, deterministic hypothesis."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings

settings.register_profile("pytyche", deadline=None, derandomize=True, max_examples=50)
settings.load_profile("pytyche")
