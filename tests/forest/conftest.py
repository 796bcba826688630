"""Forest-engine tests run with JAX's key-reuse checker and NaN checks switched on."""

from collections.abc import Iterator

import jax
import pytest


@pytest.fixture(autouse=True)
def strict_jax() -> Iterator[None]:
    """Fail on reused PRNG keys and on NaNs produced inside jitted code."""
    previous = (jax.config.jax_debug_key_reuse, jax.config.jax_debug_nans)
    jax.config.update("jax_debug_key_reuse", True)
    jax.config.update("jax_debug_nans", True)
    yield
    jax.config.update("jax_debug_key_reuse", previous[0])
    jax.config.update("jax_debug_nans", previous[1])
