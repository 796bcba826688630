"""Pure-JAX Bayesian additive regression tree engine (shared topology, multi-channel leaves).

The engine is a set of pure functions over NamedTuple states; it jits, and chains are
vectorised with ``jax.vmap`` over a leading chain axis of every state array.

Data
----
``fit_bins(X) -> BinSpec`` fits ≤ 255 quantile cutpoints per covariate once (categoricals by
code); ``bin_covariates(spec, X) -> uint8 (p, n)`` bins training and new covariates
identically. The engine reads ``BinnedCovariates(bins (p, n) uint8, num_cuts (p,) int32)``.

Trees and state
---------------
Heap layout with ``S = 2**(max_depth + 1)`` slots per tree (root 1, children ``2i``/``2i+1``,
leaves at depth ≤ ``max_depth``, default 6). ``Trees(split_var (T, S) int32, split_bin (T, S)
int32 [0 = not a decision node; go left iff bin < split_bin], leaf_value (T, S, C, K))`` with
``C`` channels and basis dimension ``K``. ``ForestState(trees, leaf_index (T, n) uint8 for
max_depth ≤ 7, node_count (T, S) int32)``; ``init_forest(num_trees, n, max_depth=6,
num_channels=1, basis_dim=1, dtype=float32)`` builds root-only trees with zero leaves.

Sweep (the kernel the BCF sampler calls once per forest per iteration)
----------------------------------------------------------------------
``sweep(key, state, data, residuals, *, noise_var, leaf_prior_var, prior=TreePrior(),
basis=None, arm=None, channel_weight=None, channel_rows=None) -> (state, residuals, SweepInfo)``

* ``residuals`` ``(C, n)``: the channel targets minus the fit of **every** forest in the model
  (this one included). The returned residuals are the same quantity after the update (old fit
  of this forest added back, new fit subtracted), so a BCF step is
  ``r = sweep(μ-forest, r)`` then ``r = sweep(τ-forest, r, basis=one_hot_arm)``, with latent /
  σ² updates in between reading ``r``.
* ``basis`` ``(n, K)`` regresses each leaf's ``K``-vector on the visitor's basis (treatment
  forest: one-hot of the active arm, control = zeros); None is the scalar basis 1 (``K = 1``).
* ``arm`` ``(n,)`` int: the same one-hot basis given by index (``arm = 0``: zero vector,
  ``k``: unit vector ``e_k``); ``B`` is then diagonal and each channel's statistics are one
  scatter on ``leaf·(K + 1) + arm``, several times faster than ``basis``. The kernel uses it.
* ``channel_rows``: per channel None or the integer rows (padded with ``n``) of the only
  visitors informing it (converters for severity, treated visitors for τ); the sweep then
  touches only those rows of that channel (its other residuals are left as they were).
* ``channel_weight`` ``(C, n)`` ≥ 0: observation precision multipliers, 0 masks a visitor out
  of a channel (severity channel: converters only); None = 1. The model per channel is
  ``r_ci ~ N(b_iᵀ μ_leaf,c, σ_c² / w_ci)``, ``μ_leaf,c ~ N(0, diag(leaf_prior_var[c]))``.
* ``noise_var`` ``(C,)``; ``leaf_prior_var`` ``(C,)`` or ``(C, K)``.
* ``TreePrior(alpha=0.95, beta=2.0, min_leaf_count=5)``: split probability
  ``α(1+d)^−β`` (μ: .95, 2; τ: .25, 3), minimum training visitors per leaf (all channels).
* One grow/prune proposal per tree with the exact MH ratio (see `pytyche.forest.sweep`);
  channels share the tree and their integrated likelihoods multiply; every leaf of every tree
  is then redrawn from its conjugate posterior. ``SweepInfo`` holds per-tree
  ``proposed_grow``, ``allowed``, ``accepted``, ``log_accept_ratio``.

Prediction
----------
``forest_fit(trees, leaf_index, basis=None) -> (C, n)`` sums the trees for placed visitors;
``traverse(trees, bins) -> (T, n)`` places new visitors; ``predict(draws, bins, basis=None,
chunk_size=65536) -> numpy (draws, C, n)`` evaluates stored draws (``Trees`` with a leading
draw axis) chunk by chunk.

Grow-from-root warm start
-------------------------
``grow_from_root(key, state, data, residuals, *, noise_var, leaf_prior_var, prior, basis,
channel_weight) -> (state, residuals)`` regrows every tree from the root (XBART), with the
same residual convention as ``sweep``; run a few before MCMC (see `pytyche.forest.gfr`).

BART front end
--------------
``fit_bart(key, X, y, *, outcome_types=("gaussian",), observed=None, X_test=None,
config=BartConfig()) -> BartFit`` runs Gaussian (σ² inverse-gamma) and/or probit
(Albert–Chib) channels on one shared forest; used to validate the engine against peers.
"""

from pytyche.forest.bart import BartConfig, BartFit, fit_bart
from pytyche.forest.binning import BinSpec, bin_covariates, fit_bins
from pytyche.forest.gfr import grow_from_root
from pytyche.forest.predict import forest_fit, predict
from pytyche.forest.sweep import SweepInfo, TreePrior, sweep
from pytyche.forest.trees import (
    BinnedCovariates,
    ForestState,
    Trees,
    init_forest,
    num_leaves,
    traverse,
    tree_depth,
)

__all__ = [
    "BartConfig",
    "BartFit",
    "BinSpec",
    "BinnedCovariates",
    "ForestState",
    "SweepInfo",
    "TreePrior",
    "Trees",
    "bin_covariates",
    "fit_bart",
    "fit_bins",
    "forest_fit",
    "grow_from_root",
    "init_forest",
    "num_leaves",
    "predict",
    "sweep",
    "traverse",
    "tree_depth",
]
