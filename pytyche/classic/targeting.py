"""From per-unit CATE estimates to targeting decisions: cohort summaries and ROI-vs-budget.

* :func:`cate_by_cohort` — mean estimated uplift (and count) per cohort.
* :func:`cate_heatmap` — mean estimated uplift over a grid of two cohort columns.
* :func:`roi_curve` — treat the top q% of units ranked by predicted uplift: mean uplift per
  treated unit (the return per unit of budget) and the share of the total uplift captured.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pytyche.classic._validation import check_columns, check_frame, finite_vector

__all__ = ["cate_by_cohort", "cate_heatmap", "roi_curve"]


def _aligned_cate(frame: pd.DataFrame, cate: np.ndarray | pd.Series) -> np.ndarray:
    values = finite_vector(cate, "cate")
    if values.size != len(frame):
        raise ValueError(
            f"cate must have one value per row of frame ({len(frame)}), got {values.size}"
        )
    return values


def cate_by_cohort(
    frame: pd.DataFrame, cate: np.ndarray | pd.Series, cohorts: str | Sequence[str]
) -> pd.DataFrame:
    """Mean estimated CATE per cohort.

    Parameters
    ----------
    frame
        One row per unit, holding the cohort columns.
    cate
        Estimated uplift per row of ``frame``, shape ``(n_rows,)``.
    cohorts
        Cohort column(s).

    Returns
    -------
    pandas.DataFrame
        Indexed by cohort, with columns ``n``, ``mean_cate``, ``sd_cate`` and ``share``
        (the cohort's share of units).
    """
    frame = check_frame(frame)
    names = check_columns(frame, [cohorts] if isinstance(cohorts, str) else cohorts, "cohorts")
    if not names:
        raise ValueError("cohorts must name at least one column")
    values = _aligned_cate(frame, cate)
    grouped = pd.Series(values, index=frame.index).groupby([frame[c] for c in names], observed=True)
    table = grouped.agg(n="size", mean_cate="mean", sd_cate="std")
    table["share"] = table["n"] / len(frame)
    return table


def cate_heatmap(
    frame: pd.DataFrame, cate: np.ndarray | pd.Series, rows: str, columns: str
) -> pd.DataFrame:
    """Mean estimated CATE on the grid ``rows × columns`` (e.g. segment × activity bin).

    Returns a pivot table (``rows`` levels as index, ``columns`` levels as columns); cells
    without units are NaN. Pass it to ``matplotlib.pyplot.imshow`` or ``seaborn.heatmap``.
    """
    if rows == columns:
        raise ValueError("rows and columns must be two different cohort columns")
    table = cate_by_cohort(frame, cate, [rows, columns])
    return table["mean_cate"].unstack(columns)


def roi_curve(
    predicted_uplift: np.ndarray | pd.Series,
    budget_shares: Sequence[float] | np.ndarray | None = None,
    *,
    realized_uplift: np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Return on a treatment budget when the units with the highest predicted uplift go first.

    Parameters
    ----------
    predicted_uplift
        Predicted uplift per unit, shape ``(n,)``; sets the treatment order (descending,
        ties broken by position).
    budget_shares
        Shares of units treated, each in (0, 1]; default 50 evenly spaced shares from 0.02
        to 1.
    realized_uplift
        Uplift to account for the treated units, shape ``(n,)``. Default: the predicted
        uplift itself (the model's own view). In a simulation, pass the true effects to see
        what the targeting really earns.

    Returns
    -------
    pandas.DataFrame
        Columns ``budget_share``, ``n_treated`` (ceil(share · n), at least 1),
        ``mean_uplift`` (mean uplift per treated unit) and ``uplift_share`` (cumulative
        uplift over total uplift; 1 at full budget, NaN when the total is not positive).
        When accounting with the predicted uplift, ``mean_uplift`` is non-increasing in the
        budget: each extra unit has a lower predicted uplift than those already treated.
    """
    score = finite_vector(predicted_uplift, "predicted_uplift")
    if realized_uplift is None:
        value = score
    else:
        value = finite_vector(realized_uplift, "realized_uplift")
        if value.size != score.size:
            raise ValueError(
                f"realized_uplift must have the same length as predicted_uplift ({score.size}), "
                f"got {value.size}"
            )
    if budget_shares is None:
        shares = np.linspace(0.02, 1.0, 50)
    else:
        shares = finite_vector(budget_shares, "budget_shares")
        if np.any(shares <= 0) or np.any(shares > 1):
            raise ValueError("budget_shares must lie in (0, 1]")
    order = np.argsort(-score, kind="stable")
    cumulative = np.cumsum(value[order])
    n_treated = np.maximum(1, np.ceil(shares * score.size - 1e-9).astype(np.int64))
    captured = cumulative[n_treated - 1]
    total = cumulative[-1]
    return pd.DataFrame(
        {
            "budget_share": shares,
            "n_treated": n_treated,
            "mean_uplift": captured / n_treated,
            "uplift_share": captured / total if total > 0 else np.full(shares.size, np.nan),
        }
    )
