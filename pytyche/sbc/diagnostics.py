"""Tables from an SBC result: coverage vs nominal, coverage vs n, rank uniformity.

All functions take the ``xarray.Dataset`` written by :func:`pytyche.sbc.run_sweep` and
return pandas DataFrames. Coverage comes with its Monte Carlo error as a Clopper–Pearson
95% interval (coverage is a binomial proportion over replicates). Pooled over several
quantities, the interval counts replicate × quantity pairs as independent; quantities of
one replicate are dependent, so read it as a lower bound on the Monte Carlo error (per
quantity, ``per_quantity=True``, it is exact). Rank uniformity uses
one χ² test per (scale, quantity) — ranks of different quantities of the same replicate are
dependent, so they are not pooled — and the PIT-ECDF simultaneous band of Säilynoja et al.
(2022) per (scale, quantity).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from pytyche.sbc.ranks import chi2_uniformity, coverage_interval, pit_ecdf_bands, pit_values

__all__ = [
    "coverage_table",
    "coverage_vs_n",
    "coverage_vs_nominal",
    "format_report",
    "rank_uniformity",
]


def _select(result: xr.Dataset, quantities: Sequence[str]) -> xr.Dataset:
    names = [str(q) for q in result["quantity"].values]
    keep = [q for q in names if any(fnmatch.fnmatch(q, p) for p in quantities)]
    if not keep:
        raise ValueError(f"quantities {list(quantities)} match none of {names}")
    return result.sel(quantity=keep)


def coverage_table(
    result: xr.Dataset, *, quantities: Sequence[str] = ("*",), per_quantity: bool = False
) -> pd.DataFrame:
    """Empirical coverage per scale n and level (and per quantity if asked).

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, (``quantity``), ``level``, ``coverage``, ``mc_low``, ``mc_high``
        (Clopper–Pearson 95%), ``count`` (replicate × quantity pairs), ``mean_width``,
        ``rmse`` (of the posterior mean).
    """
    subset = _select(result, quantities)
    covered = subset["covered"].transpose("replicate", "quantity", "level").values
    width = subset["width"].transpose("replicate", "quantity", "level").values
    error = subset["error"].transpose("replicate", "quantity").values
    scales = subset["n"].values
    names = [str(q) for q in subset["quantity"].values]
    groups = [([i], name) for i, name in enumerate(names)] if per_quantity else [(None, None)]
    rows = []
    for n in np.unique(scales):
        at = scales == n
        for index, name in groups:
            cols = slice(None) if index is None else index
            rmse = float(np.sqrt(np.mean(error[at][:, cols] ** 2)))
            for v, level in enumerate(subset["level"].values):
                hits = covered[at][:, cols, v]
                row: dict[str, object] = {"n": int(n), "level": float(level)}
                if per_quantity:
                    row["quantity"] = name
                row.update(
                    covered=int(hits.sum()),
                    count=int(hits.size),
                    mean_width=float(width[at][:, cols, v].mean()),
                    rmse=rmse,
                )
                rows.append(row)
    table = pd.DataFrame(rows)
    table["coverage"] = table["covered"] / table["count"]
    low, high = coverage_interval(table["covered"].to_numpy(), table["count"].to_numpy())
    table["mc_low"], table["mc_high"] = low, high
    keys = ["n", "quantity", "level"] if per_quantity else ["n", "level"]
    columns = [*keys, "coverage", "mc_low", "mc_high", "count", "mean_width", "rmse"]
    return table[columns]


def coverage_vs_nominal(result: xr.Dataset, *, quantities: Sequence[str] = ("*",)) -> pd.DataFrame:
    """Coverage pooled over scales, one row per nominal level (columns as coverage_table)."""
    subset = _select(result, quantities)
    covered = subset["covered"].sum(("replicate", "quantity")).values
    count = subset.sizes["replicate"] * subset.sizes["quantity"]
    low, high = coverage_interval(covered, np.full_like(covered, count))
    return pd.DataFrame(
        {
            "level": subset["level"].values,
            "coverage": covered / count,
            "mc_low": low,
            "mc_high": high,
            "count": count,
        }
    )


def coverage_vs_n(
    result: xr.Dataset, *, level: float = 0.9, quantities: Sequence[str] = ("*",)
) -> pd.DataFrame:
    """Coverage at one nominal level, rows n, one column per quantity plus ``pooled``."""
    levels = np.asarray(result["level"].values, float)
    if not np.any(np.isclose(levels, level)):
        raise ValueError(f"level {level} is not in the result's levels {levels.tolist()}")
    subset = _select(result, quantities).sel(level=levels[np.isclose(levels, level)][0])
    frame = subset["covered"].astype(float).groupby("n").mean("replicate").to_pandas()
    frame["pooled"] = frame.mean(axis=1)
    frame.columns.name = f"coverage at {level:g}"
    return frame


def rank_uniformity(
    result: xr.Dataset,
    *,
    quantities: Sequence[str] = ("*",),
    num_bins: int | None = None,
    band_prob: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """χ² uniformity test and PIT-ECDF band check per (scale n, quantity).

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``quantity``, ``replicates``, ``chi2``, ``dof``, ``p_value``,
        ``ecdf_inside_band`` (the PIT ECDF stays in the simultaneous ``band_prob`` band).
    """
    subset = _select(result, quantities)
    num_rank_draws = int(result.attrs["num_rank_draws"])
    rows = []
    for n in np.unique(subset["n"].values):
        at_scale = subset.isel(replicate=np.flatnonzero(subset["n"].values == n))
        ranks = at_scale["rank"].transpose("replicate", "quantity").values
        bands = pit_ecdf_bands(pit_values(ranks, num_rank_draws, seed), band_prob, seed=seed)
        for q, quantity in enumerate(at_scale["quantity"].values):
            test = chi2_uniformity(ranks[:, q], num_rank_draws, num_bins)
            rows.append(
                {
                    "n": int(n),
                    "quantity": str(quantity),
                    "replicates": ranks.shape[0],
                    "chi2": test.statistic,
                    "dof": test.dof,
                    "p_value": test.p_value,
                    "ecdf_inside_band": bool(np.asarray(bands.inside)[q]),
                }
            )
    return pd.DataFrame(rows)


def format_report(result: xr.Dataset, *, level: float = 0.9) -> str:
    """A plain-text report of a sweep: provenance, coverage tables, rank uniformity."""
    attrs = result.attrs
    lines = [
        f"SBC sweep {attrs.get('sweep_id')} (spec {attrs.get('spec_hash')}), "
        f"model {attrs.get('model')} {attrs.get('model_version')}, "
        f"{attrs.get('family')}/{attrs.get('metric')}, K={attrs.get('num_arms')}",
        f"created {attrs.get('created')} on {attrs.get('devices')}; "
        f"pytyche {attrs.get('pytyche_version')}, jax {attrs.get('jax_version')}",
        f"replicates: {result.sizes['replicate']}, quantities: {result.sizes['quantity']}, "
        f"wall time {float(result['wall_time'].sum()):.1f} s "
        f"(+ compile {float(result['compile_time'].sum()):.1f} s)",
        "",
        "coverage vs nominal (pooled over n):",
        coverage_vs_nominal(result).to_string(index=False, float_format="%.3f"),
        "",
        f"coverage vs n at level {level:g}:",
        coverage_vs_n(result, level=level).to_string(float_format="%.3f"),
        "",
        "rank uniformity (χ² per scale and quantity):",
    ]
    uniformity = rank_uniformity(result)
    summary = uniformity.groupby("n").agg(
        quantities=("quantity", "size"),
        min_p_value=("p_value", "min"),
        inside_band=("ecdf_inside_band", "mean"),
    )
    lines.append(summary.to_string(float_format="%.3g"))
    return "\n".join(lines)
