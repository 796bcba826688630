"""Mixing diagnostics of the quantities a round reports: bulk ESS and R-hat, with a warning.

A posterior interval is only as good as the chain behind it. For every quantity pytyche
reports (the ATE of each arm, each segment's GATE) this module computes ArviZ's rank-
normalised split R-hat and bulk effective sample size (Vehtari, Gelman, Simpson,
Carpenter & Bürkner 2021) over the chains and draws of the fit, and warns with
:class:`ConvergenceWarning` when one fails the thresholds (default R-hat > 1.05 or bulk
ESS < 100, the values Vehtari et al. recommend). The warning means: run more chains or
longer ones before reading the intervals; the round summary says it in words.

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved R-hat for assessing
convergence of MCMC. Bayesian Analysis 16(2).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import arviz
import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "ConvergenceWarning",
    "MixingThresholds",
    "describe_mixing",
    "mixing_table",
    "warn_if_poorly_mixed",
]


class ConvergenceWarning(UserWarning):
    """A reported quantity's chains have not mixed (R-hat or bulk ESS out of bounds)."""


@dataclass(frozen=True)
class MixingThresholds:
    """Bounds a reported quantity's chains must meet.

    Attributes
    ----------
    rhat_max
        Largest acceptable rank-normalised split R-hat (default 1.05).
    ess_bulk_min
        Smallest acceptable bulk effective sample size over all chains (default 100).
    """

    rhat_max: float = 1.05
    ess_bulk_min: float = 100.0

    def __post_init__(self) -> None:
        if not (isinstance(self.rhat_max, int | float) and self.rhat_max >= 1.0):
            raise ValueError(f"rhat_max must be a number ≥ 1; got {self.rhat_max!r}")
        if not (isinstance(self.ess_bulk_min, int | float) and self.ess_bulk_min > 0):
            raise ValueError(f"ess_bulk_min must be a positive number; got {self.ess_bulk_min!r}")


def _halves(array: xr.DataArray) -> xr.Dataset:
    """One chain's draws as two chains: its first and second half (an odd draw is dropped)."""
    half = array.sizes["draw"] // 2
    values = np.asarray(array.values[0, : 2 * half], np.float64)
    split = values.reshape(2, half, *values.shape[1:])
    coords = {d: array[d].values for d in array.dims[2:] if d in array.coords}
    return xr.Dataset({"x": (array.dims, split)}, coords=coords)


def mixing_table(
    draws: dict[str, xr.DataArray], thresholds: MixingThresholds | None = None
) -> pd.DataFrame:
    """Bulk ESS and R-hat of every element of every quantity.

    Parameters
    ----------
    draws
        Name -> draws with dimensions ``chain`` and ``draw`` first; every other dimension
        (``arm``, ``segment``) labels one reported quantity per element.
    thresholds
        Bounds of the ``mixed`` column (default `MixingThresholds`).

    Returns
    -------
    pandas.DataFrame
        One row per quantity element: ``quantity`` (e.g. ``ate[low_promo]``,
        ``gate[2, low_promo]``), ``ess_bulk``, ``rhat``, ``mixed`` (both within bounds;
        a NaN diagnostic counts as not mixed).

    Notes
    -----
    With one chain (the fit's default) R-hat is that of the chain's two halves: the split
    R-hat of Gelman et al. (2013, §11.4) with one chain, which detects a chain still
    drifting but not a second mode the chain never visited (run more chains for that).
    """
    thresholds = MixingThresholds() if thresholds is None else thresholds
    rows = []
    for name, array in draws.items():
        if array.dims[:2] != ("chain", "draw"):
            raise ValueError(f"draws[{name!r}] must have dims (chain, draw, ...); got {array.dims}")
        dataset = xr.Dataset({"x": array.astype(np.float64)})
        ess = arviz.ess(dataset, method="bulk")["x"]
        rhat = arviz.rhat(_halves(array) if array.sizes["chain"] == 1 else dataset)["x"]
        others = array.dims[2:]
        for position in np.ndindex(*array.shape[2:]):
            labels = [str(array[d].values[i]) for d, i in zip(others, position, strict=True)]
            label = name if not labels else f"{name}[{', '.join(labels)}]"
            e, r = float(ess.values[position]), float(rhat.values[position])
            rows.append((label, e, r))
    table = pd.DataFrame(rows, columns=["quantity", "ess_bulk", "rhat"])
    table["mixed"] = (table["rhat"] <= thresholds.rhat_max) & (
        table["ess_bulk"] >= thresholds.ess_bulk_min
    )
    return table


def describe_mixing(table: pd.DataFrame, thresholds: MixingThresholds | None = None) -> str:
    """One sentence on ``table`` (from `mixing_table`) for a summary."""
    thresholds = MixingThresholds() if thresholds is None else thresholds
    bounds = f"R-hat ≤ {thresholds.rhat_max:g} and bulk ESS ≥ {thresholds.ess_bulk_min:g}"
    failing = table[~table["mixed"]]
    if failing.empty:
        return f"mixing: all {len(table)} reported quantities have {bounds}"
    worst = failing.sort_values("ess_bulk").iloc[0]
    return (
        f"mixing WARNING: {len(failing)} of {len(table)} reported quantities miss {bounds} "
        f"(worst {worst['quantity']}: R-hat {worst['rhat']:.2f}, bulk ESS "
        f"{worst['ess_bulk']:.0f}); run more or longer chains before trusting their intervals"
    )


def warn_if_poorly_mixed(
    table: pd.DataFrame,
    context: str,
    thresholds: MixingThresholds | None = None,
    stacklevel: int = 2,
) -> bool:
    """Warn (`ConvergenceWarning`) when a quantity of ``table`` has not mixed.

    Parameters
    ----------
    table
        From `mixing_table`.
    context
        What was fitted, for the message (e.g. ``"fit"`` or ``"round 2"``).
    thresholds
        The bounds (default `MixingThresholds`).
    stacklevel
        Passed to :func:`warnings.warn`.

    Returns
    -------
    bool
        True when every quantity mixed.
    """
    if bool(table["mixed"].all()):
        return True
    warnings.warn(
        f"{context}: {describe_mixing(table, thresholds)}",
        ConvergenceWarning,
        stacklevel=stacklevel + 1,
    )
    return False
