"""`BCFConfig`: the validated settings of a BCF fit."""

from __future__ import annotations

from dataclasses import dataclass

from pytyche.forest.binning import MAX_CUTPOINTS
from pytyche.forest.trees import MAX_SUPPORTED_DEPTH

__all__ = ["POOLINGS", "TREATMENT_CODINGS", "BCFConfig"]

POOLINGS = ("joint", "independent")
TREATMENT_CODINGS = ("centered", "indicator")


@dataclass(frozen=True)
class BCFConfig:
    """Settings of a joint hurdle BCF fit (defaults of the original pytyche).

    Attributes
    ----------
    num_mu_trees, num_tau_trees
        Trees of the prognostic (μ) and treatment (τ) forests.
    max_depth
        Deepest leaf (root has depth 0).
    alpha_mu, beta_mu, alpha_tau, beta_tau
        Tree priors ``α (1 + d)^−β`` (BCF: μ 0.95, 2; τ 0.25, 3).
    min_leaf_count
        Minimum number of visitors per leaf.
    max_cuts_mu, max_cuts_tau
        Quantile cutpoints per covariate (≤ 255) of the μ and τ forests' binnings.
    num_warmup, num_draws, num_chains
        MCMC lengths.
    num_gfr
        Grow-from-root warm-start sweeps (XBART; :mod:`pytyche.forest.gfr`): the first
        ``num_gfr`` warmup iterations regrow every tree from its root instead of a
        grow/prune move (0: none). Must be ≤ ``num_warmup``.
    pooling
        ``"joint"``: one tree structure shared by all channels; ``"independent"``:
        separate forests per channel.
    num_scalar_mh_steps
        Random-walk Metropolis steps per iteration for each non-conjugate scalar site.
    treatment_coding
        Basis of the treatment forest's leaf vectors. ``"centered"`` (default): visitor
        ``i`` has ``e_a(i) − π̄`` over the active arms, with ``π̄`` the training-mean
        propensities, so the prognostic forest models the arm-averaged level and is
        orthogonal to the treatment forest on a randomised round (the coding of Hahn,
        Murray & Carvalho 2020 §5.3 and StochTree's adaptive coding, with the arms' shares
        in place of sampled codes); ``"indicator"``: the one-hot basis with control at
        zero (control's level is μ itself), whose μ–τ back-fitting mixes slowly.
    expand_tau_scale
        Also move the treatment scale jointly with the treatment leaves each iteration
        (parameter expansion, :mod:`pytyche.inference.expansion`); False leaves only the
        Metropolis update of ``tau_scale`` given the leaves, which mixes slowly.
    marginal_probit_moves
        Begin each iteration by drawing the probit channel's levels (the prognostic
        forest's and each arm's treatment level, :mod:`pytyche.inference.levels`) and,
        with ``expand_tau_scale``, its treatment scale with the latents integrated out:
        given Albert–Chib latents these move slowly at low conversion rates. False:
        augmentation only (for ablations).
    shift_tree_means
        After each forest's sweep, redraw the trees' mean leaf values given their sum
        (:mod:`pytyche.forest.shift`): the data see only the sum, and without this move
        the levels of root-only trees random-walk far from their prior at large ``n``,
        dragging the leaf-scale sites with them. False: sweeps alone (for ablations).
    chain_method
        NumPyro chain method: ``"vectorized"``, ``"sequential"`` or ``"parallel"``.
    store_forests
        Keep every kept draw's trees (needed for CATEs at new covariates).
    """

    num_mu_trees: int = 200
    num_tau_trees: int = 50
    max_depth: int = 6
    alpha_mu: float = 0.95
    beta_mu: float = 2.0
    alpha_tau: float = 0.25
    beta_tau: float = 3.0
    min_leaf_count: int = 5
    max_cuts_mu: int = 255
    max_cuts_tau: int = 100
    num_warmup: int = 200
    num_draws: int = 200
    num_chains: int = 1
    num_gfr: int = 0
    pooling: str = "joint"
    num_scalar_mh_steps: int = 3
    treatment_coding: str = "centered"
    expand_tau_scale: bool = True
    marginal_probit_moves: bool = True
    shift_tree_means: bool = True
    chain_method: str = "vectorized"
    store_forests: bool = True

    def __post_init__(self) -> None:
        positive = ("num_mu_trees", "num_tau_trees", "num_draws", "num_chains")
        for name in positive:
            _require_int(name, getattr(self, name), 1)
        for name in ("num_warmup", "num_gfr", "min_leaf_count", "num_scalar_mh_steps"):
            _require_int(name, getattr(self, name), 0)
        _require_int("max_depth", self.max_depth, 1)
        if self.max_depth > MAX_SUPPORTED_DEPTH:
            raise ValueError(f"max_depth must be ≤ {MAX_SUPPORTED_DEPTH}; got {self.max_depth}")
        for name in ("max_cuts_mu", "max_cuts_tau"):
            value = getattr(self, name)
            _require_int(name, value, 1)
            if value > MAX_CUTPOINTS:
                raise ValueError(f"{name} must be in 1..{MAX_CUTPOINTS}; got {value}")
        for name in ("alpha_mu", "alpha_tau"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1); got {getattr(self, name)}")
        for name in ("beta_mu", "beta_tau"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be ≥ 0; got {getattr(self, name)}")
        flags = ("expand_tau_scale", "marginal_probit_moves", "shift_tree_means", "store_forests")
        for name in flags:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if self.treatment_coding not in TREATMENT_CODINGS:
            raise ValueError(
                f"treatment_coding must be one of {TREATMENT_CODINGS}; "
                f"got {self.treatment_coding!r}"
            )
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {self.pooling!r}")
        if self.chain_method not in ("vectorized", "sequential", "parallel"):
            raise ValueError(
                "chain_method must be 'vectorized', 'sequential' or 'parallel'; "
                f"got {self.chain_method!r}"
            )
        if self.num_gfr > self.num_warmup:
            raise ValueError(
                f"num_gfr must be ≤ num_warmup (grow-from-root sweeps are warmup iterations); "
                f"got num_gfr={self.num_gfr}, num_warmup={self.num_warmup}"
            )


def _require_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer ≥ {low}; got {value!r}")
