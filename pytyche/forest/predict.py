"""Sum-of-trees predictions at (new) binned covariates for stored forest draws, chunked."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pytyche.forest.trees import Trees, traverse


def forest_fit(trees: Trees, leaf_index: jax.Array, basis: jax.Array | None = None) -> jax.Array:
    """``(C, n)`` sum of trees for visitors already placed in leaves.

    Parameters
    ----------
    trees
        ``(trees, S)`` one forest.
    leaf_index
        ``(trees, n)`` leaf slots (from the sampler state or `traverse`).
    basis
        ``(n, K)`` leaf basis, or None for the scalar basis.
    """

    def add_tree(total: jax.Array, tree: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        leaf_value, index = tree
        values = leaf_value[index]  # (n, C, K)
        if basis is None:
            return total + values[:, :, 0].T, None
        return total + jnp.einsum("nck,nk->cn", values, basis), None

    num_channels = trees.leaf_value.shape[-2]
    init = jnp.zeros((num_channels, leaf_index.shape[-1]), trees.leaf_value.dtype)
    total, _ = jax.lax.scan(add_tree, init, (trees.leaf_value, leaf_index))
    return total


@jax.jit
def _predict_chunk(draws: Trees, bins: jax.Array, basis: jax.Array | None) -> jax.Array:
    def one_draw(trees: Trees) -> jax.Array:
        return forest_fit(trees, traverse(trees, bins), basis)

    return jax.lax.map(one_draw, draws)


def predict(
    draws: Trees,
    bins: np.ndarray | jax.Array,
    basis: np.ndarray | jax.Array | None = None,
    *,
    chunk_size: int = 65_536,
) -> np.ndarray:
    """Sum of trees at new visitors for every stored draw.

    Parameters
    ----------
    draws
        `Trees` with a leading draw axis: ``split_var`` ``(draws, trees, S)``, …,
        ``leaf_value`` ``(draws, trees, S, C, K)``.
    bins
        ``(p, n)`` uint8 covariates binned with the training cutpoints
        (`pytyche.forest.binning.bin_covariates`).
    basis
        ``(n, K)`` leaf basis at the new visitors, or None for the scalar basis.
    chunk_size
        Visitors per chunk; memory is about ``trees × chunk_size`` bytes of leaf indices
        plus the ``(draws, C, chunk_size)`` output chunk, so 1M visitors × 200 draws run
        in bounded memory (the result itself is ``draws × C × n`` floats).

    Returns
    -------
    numpy.ndarray
        ``(draws, C, n)`` predictions.
    """
    bins = jnp.asarray(bins)
    if bins.ndim != 2:
        raise ValueError(f"bins must be (p, n); got shape {bins.shape}")
    if draws.split_bin.ndim != 3:
        raise ValueError("draws must have a leading draw axis: split_bin (draws, trees, S)")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be ≥ 1; got {chunk_size}")
    n = bins.shape[1]
    num_draws = draws.split_bin.shape[0]
    num_channels = draws.leaf_value.shape[-2]
    if basis is not None:
        basis = jnp.asarray(basis, draws.leaf_value.dtype)
        if basis.shape != (n, draws.leaf_value.shape[-1]):
            msg = f"basis must have shape {(n, draws.leaf_value.shape[-1])}; got {basis.shape}"
            raise ValueError(msg)
    out = np.empty((num_draws, num_channels, n), dtype=np.dtype(draws.leaf_value.dtype))
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        width = stop - start
        # Pad the last chunk to the common width so it reuses the compiled function.
        chunk_bins = bins[:, start:stop]
        chunk_basis = None if basis is None else basis[start:stop]
        if width < chunk_size and n > chunk_size:
            pad = chunk_size - width
            chunk_bins = jnp.pad(chunk_bins, ((0, 0), (0, pad)))
            if chunk_basis is not None:
                chunk_basis = jnp.pad(chunk_basis, ((0, pad), (0, 0)))
        result = _predict_chunk(draws, chunk_bins, chunk_basis)
        out[:, :, start:stop] = np.asarray(result)[:, :, :width]
    return out


def arm_contributions(tau: jax.Array | np.ndarray, center: jax.Array | np.ndarray):
    """``(..., K + 1)`` a treatment forest's term in each arm's fit, control first.

    ``tau`` ``(..., K)`` holds the forest's leaf vectors summed over trees (the effect of
    each active arm over control); with the basis ``e_a − c`` (``e_0 = 0``, ``center``
    ``c`` ``(K,)``, zeros for the plain indicator basis) arm ``a`` gets ``τᵀ(e_a − c)``.
    NumPy in, NumPy out; JAX in, JAX out.
    """
    xp = jnp if isinstance(tau, jax.Array) else np
    control = xp.zeros((*tau.shape[:-1], 1), tau.dtype)
    return xp.concatenate([control, tau], axis=-1) - (tau @ center)[..., None]
