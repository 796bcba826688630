"""Pictures of an SBC sweep: interval coverage (raw and calibrated) and rank histograms.

Both read the result of :func:`pytyche.sbc.runner.run_sweep`: an ``xarray.Dataset`` with
dimensions ``replicate`` (coordinate ``n``, the scale), ``quantity`` and ``level``, and
variables ``covered``, ``interval_ratio`` and ``rank``.

Coverage of the **calibrated** intervals uses the identity the calibration artifacts are
built on (:mod:`pytyche.calibration.fitting`): the γ interval inflated by ``c`` about the
posterior median contains the truth exactly when the recorded interval ratio ``r_γ <= c``.
So ``mean(r_γ <= c(γ, n))`` is the calibrated coverage, with no refitting. When the artifact
was fitted on the same sweep this is in-sample coverage (labelled so); an honest check
uses a held-out sweep.

Monte Carlo error bars are Clopper–Pearson intervals treating every (replicate, quantity)
pair as independent, which is exact for one quantity; quantities of one replicate share
its data, so pooled bars are somewhat too narrow.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Literal

import matplotlib as mpl
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter
from scipy import stats

from pytyche.calibration.artifact import Calibration
from pytyche.contracts import ClaimLevel
from pytyche.sbc.ranks import chi2_uniformity, coverage_interval, rank_histogram
from pytyche.viz._style import new_figure, root_figure

__all__ = ["coverage_table", "plot_coverage", "plot_rank_histogram"]

_LINESTYLE: dict[ClaimLevel, Literal["-", "--"]] = {
    ClaimLevel.POSTERIOR: "-",
    ClaimLevel.CALIBRATED: "--",
}
_MC_PROB = 0.95
"""Probability of the Monte Carlo error bars."""
_RANK_BAND_PROB = 0.99
"""Probability of the per-bin band of a uniform rank histogram (Talts et al. 2018, fig. 2)."""


def coverage_table(
    sbc_result: xr.Dataset,
    calibration: Calibration | None = None,
    *,
    quantities: Sequence[str] = ("*",),
) -> pd.DataFrame:
    """Empirical coverage per nominal level and scale, raw and (optionally) calibrated.

    Parameters
    ----------
    sbc_result : xarray.Dataset
        An SBC sweep result (see the module docstring).
    calibration : Calibration, optional
        An artifact whose inflation factors give the calibrated coverage.
    quantities : sequence of str
        Glob patterns of the quantities pooled (default all).

    Returns
    -------
    pandas.DataFrame
        One row per (claim level, level, n): ``claim_level``, ``level``, ``n``,
        ``coverage``, ``lower``, ``upper`` (Clopper–Pearson 95 % interval) and ``count``
        (pooled (replicate, quantity) pairs).
    """
    subset = _select(sbc_result, quantities, need=("covered",))
    if calibration is not None:
        if not isinstance(calibration, Calibration):
            raise TypeError(
                f"calibration must be a pytyche Calibration, got {type(calibration).__name__}"
            )
        if "interval_ratio" not in subset:
            raise ValueError(
                "sbc_result lacks 'interval_ratio': cannot compute calibrated coverage"
            )
    levels = subset["level"].values.astype(float)
    rows = []
    for n in np.unique(subset["n"].values):
        at_n = subset.isel(replicate=np.flatnonzero(subset["n"].values == n))
        covered = at_n["covered"].transpose("replicate", "quantity", "level").values
        hits = {ClaimLevel.POSTERIOR: covered.reshape(-1, len(levels))}
        if calibration is not None:
            ratio = at_n["interval_ratio"].transpose("replicate", "quantity", "level").values
            factor = calibration.factor(int(n), levels)
            hits[ClaimLevel.CALIBRATED] = ratio.reshape(-1, len(levels)) <= factor
        for claim, hit in hits.items():
            count = hit.shape[0]
            successes = hit.sum(axis=0)
            lower, upper = coverage_interval(successes, np.full(len(levels), count), _MC_PROB)
            rows += [
                {
                    "claim_level": claim.value,
                    "level": float(level),
                    "n": int(n),
                    "coverage": successes[v] / count,
                    "lower": float(lower[v]),
                    "upper": float(upper[v]),
                    "count": count,
                }
                for v, level in enumerate(levels)
            ]
    return pd.DataFrame(rows)


def plot_coverage(
    sbc_result: xr.Dataset,
    calibration: Calibration | None = None,
    *,
    quantities: Sequence[str] = ("*",),
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Nominal vs empirical interval coverage, and coverage vs scale n.

    Left: empirical coverage of the central intervals against their nominal level, one
    line per scale n (solid: uncalibrated posterior; dashed: calibrated with
    ``calibration``), with the diagonal of perfect calibration. Right: coverage against n
    (log axis) per nominal level, with the nominal level as a dotted reference. Error bars
    are 95 % Monte Carlo intervals (see the module docstring).

    Parameters
    ----------
    sbc_result : xarray.Dataset
        An SBC sweep result.
    calibration : Calibration, optional
        Adds the calibrated coverage (dashed lines).
    quantities : sequence of str
        Glob patterns of the quantities pooled (default all).
    axes : pair of matplotlib.axes.Axes, optional
        (nominal-vs-empirical axes, coverage-vs-n axes); a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        Each curve is a ``Line2D`` labelled ``"<claim level>, n=<n>"`` (left) or
        ``"<claim level>, <level>"`` (right) with the plotted coverages as its data.
    """
    table = coverage_table(sbc_result, calibration, quantities=quantities)
    figure, (nominal_ax, scale_ax) = _two_axes(axes)
    scales = sorted(table["n"].unique())
    levels = sorted(table["level"].unique())
    scale_colours = dict(
        zip(scales, mpl.colormaps["viridis"](np.linspace(0, 0.85, len(scales))), strict=True)
    )
    level_colours = dict(
        zip(levels, mpl.colormaps["plasma"](np.linspace(0, 0.8, len(levels))), strict=True)
    )
    for (claim, n), rows in table.groupby(["claim_level", "n"], sort=True):
        _curve(nominal_ax, rows, "level", ClaimLevel(claim), scale_colours[n], f"n={n:,}")
    for (claim, level), rows in table.groupby(["claim_level", "level"], sort=True):
        _curve(scale_ax, rows, "n", ClaimLevel(claim), level_colours[level], f"{level:.0%}")
        scale_ax.axhline(level, color=level_colours[level], linestyle=":", linewidth=0.8)
    nominal_ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="_perfect calibration")
    low = min(table["lower"].min(), min(levels)) - 0.05
    nominal_ax.set_xlim(max(0.0, min(levels) - 0.05), min(1.0, max(levels) + 0.03))
    nominal_ax.set_ylim(max(0.0, low), 1.0)
    nominal_ax.set_xlabel("nominal level of the central interval")
    nominal_ax.set_ylabel("empirical coverage")
    nominal_ax.set_title("Nominal vs empirical coverage", loc="left", fontsize=10)
    scale_ax.set_xscale("log")
    scale_ax.set_ylim(nominal_ax.get_ylim())
    scale_ax.set_xlabel("scale n (visitors)")
    scale_ax.set_ylabel("empirical coverage")
    scale_ax.set_title("Coverage vs n (dotted: nominal)", loc="left", fontsize=10)
    nominal_ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    for ax in (nominal_ax, scale_ax):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.spines[["top", "right"]].set_visible(False)
    _colour_legend(nominal_ax, scale_colours, "scale", lambda n: f"n={n:,}", "upper left")
    _colour_legend(scale_ax, level_colours, "nominal level", lambda v: f"{v:.0%}", "lower left")
    _style_legend(figure, table)
    figure.suptitle(_coverage_title(sbc_result, calibration, quantities), fontsize=11)
    return figure


def plot_rank_histogram(
    sbc_result: xr.Dataset,
    *,
    quantities: Sequence[str] = ("*",),
    num_bins: int | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """SBC rank histograms, one panel per scale n, with the band expected under uniformity.

    Ranks of the selected quantities are pooled per scale. The grey band is the central
    99 % binomial interval of each bin's count if ranks were uniform on ``0..L``
    (Talts et al. 2018); the title of each panel gives the χ² uniformity p-value
    (:func:`pytyche.sbc.ranks.chi2_uniformity`). Pooled ranks of several quantities of one
    replicate are dependent, so select a single quantity for an exact test.

    Parameters
    ----------
    sbc_result : xarray.Dataset
        An SBC sweep result (needs ``rank`` and the ``num_rank_draws`` attribute).
    quantities : sequence of str
        Glob patterns of the quantities pooled (default all).
    num_bins : int, optional
        Histogram bins; default the χ² test's rule (at most 20, at least 5 expected ranks
        per bin).
    axes : sequence of matplotlib.axes.Axes, optional
        One axes per scale; a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        Each panel holds one bar container (one bar per bin, heights = counts).
    """
    subset = _select(sbc_result, quantities, need=("rank",))
    if "num_rank_draws" not in sbc_result.attrs:
        raise ValueError("sbc_result lacks attrs['num_rank_draws'] (L); pass a merged sweep result")
    num_rank_draws = int(sbc_result.attrs["num_rank_draws"])
    scales = np.unique(subset["n"].values)
    if axes is None:
        figure = new_figure(figsize=(3.2 * len(scales) + 0.6, 3.2))
        panels = np.atleast_1d(figure.subplots(1, len(scales), sharey=True))
    else:
        panels = list(axes)
        if len(panels) != len(scales) or not all(isinstance(a, Axes) for a in panels):
            raise TypeError(f"axes must be {len(scales)} matplotlib Axes (one per scale) or None")
        figure = root_figure(panels[0])
    for ax, n in zip(panels, scales, strict=True):
        ranks = subset["rank"].isel(replicate=np.flatnonzero(subset["n"].values == n)).values
        _rank_panel(ax, ranks.ravel(), num_rank_draws, num_bins, int(n))
    panels[0].set_ylabel("count")
    figure.suptitle(
        f"SBC ranks of {', '.join(map(str, subset['quantity'].values))} "
        f"(L = {num_rank_draws}; grey: 99% band under uniformity)",
        fontsize=10,
    )
    return figure


def _select(result: xr.Dataset, quantities: Sequence[str], need: tuple[str, ...]) -> xr.Dataset:
    if not isinstance(result, xr.Dataset):
        raise TypeError(
            f"sbc_result must be an SBC sweep result xarray.Dataset, got {type(result).__name__}"
        )
    missing = [v for v in (*need, "n") if v not in result.variables]
    if missing:
        raise ValueError(f"sbc_result is not an SBC sweep result: missing {missing}")
    if isinstance(quantities, str):
        raise TypeError(f"quantities must be a sequence of glob patterns, got {quantities!r}")
    names = [str(q) for q in result["quantity"].values]
    chosen = [q for q in names if any(fnmatch.fnmatch(q, p) for p in quantities)]
    if not chosen:
        raise ValueError(f"quantities {list(quantities)} match none of the result's {names}")
    return result.sel(quantity=chosen)


def _two_axes(axes: Sequence[Axes] | None) -> tuple[Figure, tuple[Axes, Axes]]:
    if axes is None:
        figure = new_figure(figsize=(11.0, 4.2))
        left, right = figure.subplots(1, 2)
        return figure, (left, right)
    if len(axes) != 2 or not all(isinstance(a, Axes) for a in axes):
        raise TypeError("axes must be a pair of matplotlib Axes or None")
    return root_figure(axes[0]), (axes[0], axes[1])


def _curve(ax: Axes, rows: pd.DataFrame, x: str, claim: ClaimLevel, colour, key: str) -> None:
    rows = rows.sort_values(x)
    coverage = rows["coverage"].to_numpy(float)
    ax.errorbar(
        rows[x].to_numpy(float),
        coverage,
        yerr=np.vstack([coverage - rows["lower"].to_numpy(), rows["upper"].to_numpy() - coverage]),
        color=colour,
        linestyle=_LINESTYLE[claim],
        marker="o" if claim is ClaimLevel.POSTERIOR else "s",
        markersize=4,
        capsize=2,
        label=f"{claim.value}, {key}",
    )


def _colour_legend(
    ax: Axes, colours: dict, title: str, name, where: Literal["upper left", "lower left"]
) -> None:
    handles = [Line2D([], [], color=c, marker="o", label=name(k)) for k, c in colours.items()]
    ax.legend(handles=handles, title=title, fontsize=8, title_fontsize=8, loc=where)


def _style_legend(figure: Figure, table: pd.DataFrame) -> None:
    """With raw and calibrated curves, one legend of the two line styles under the panels."""
    claims = [ClaimLevel(c) for c in dict.fromkeys(table["claim_level"])]
    if len(claims) > 1:
        styles = [
            Line2D([], [], color="black", linestyle=_LINESTYLE[c], label=c.value) for c in claims
        ]
        figure.legend(handles=styles, fontsize=8, loc="outside lower center", ncols=len(styles))


def _coverage_title(
    result: xr.Dataset, calibration: Calibration | None, quantities: Sequence[str]
) -> str:
    sweep = result.attrs.get("sweep_id", "SBC sweep")
    title = f"Interval coverage of {sweep} ({', '.join(quantities)})"
    if calibration is not None:
        same = calibration.spec_hash == result.attrs.get("spec_hash")
        where = "in-sample" if same else "held out"
        title += f"; calibrated with {calibration.sweep_id!r} ({where})"
    return title


def _rank_panel(
    ax: Axes, ranks: np.ndarray, num_rank_draws: int, num_bins: int | None, n: int
) -> None:
    test = chi2_uniformity(ranks, num_rank_draws, num_bins)
    counts = rank_histogram(ranks, num_rank_draws, test.num_bins)
    edges = np.round(np.linspace(0, num_rank_draws + 1, test.num_bins + 1)) - 0.5
    widths = np.diff(edges)
    expected_share = widths / (num_rank_draws + 1)
    tail = (1 - _RANK_BAND_PROB) / 2
    band_low = stats.binom.ppf(tail, ranks.size, expected_share)
    band_high = stats.binom.ppf(1 - tail, ranks.size, expected_share)
    ax.bar(edges[:-1], counts, width=widths, align="edge", color="#5d8aa8", edgecolor="white")
    ax.stairs(band_high, edges, baseline=band_low, fill=True, color="grey", alpha=0.3, zorder=0)
    ax.stairs(ranks.size * expected_share, edges, color="black", linestyle="--", linewidth=0.8)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(f"rank (0..{num_rank_draws})")
    ax.set_title(f"n = {n:,}: χ² p = {test.p_value:.2g}", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
