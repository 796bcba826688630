"""Randomised assignment, covariate balance and the sample-ratio-mismatch check.

* :func:`assign_global` — every unit independently (Bernoulli) or an exact complete
  randomisation of the whole population.
* :func:`assign_stratified` — complete randomisation within strata formed by one or more
  cohort columns, so each stratum gets the planned share up to one unit.
* :func:`balance_table` — covariate means per arm, standardised mean differences and
  Welch p-values.
* :func:`sample_ratio_mismatch` — χ² goodness of fit of arm counts to the planned shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from pytyche.classic._validation import (
    binary_column,
    check_columns,
    check_frame,
    check_positive_int,
    check_probability,
)
from pytyche.classic.hypothesis_tests import welch_p_value, welch_statistics
from pytyche.classic.results import SampleRatioResult

__all__ = ["assign_global", "assign_stratified", "balance_table", "sample_ratio_mismatch"]


def assign_global(
    n_units: int, treated_share: float = 0.5, seed: int = 0, *, exact: bool = False
) -> np.ndarray:
    """Randomise ``n_units`` units to control (0) or treatment (1).

    Parameters
    ----------
    n_units
        Number of units.
    treated_share
        Planned share of treated units, in (0, 1).
    seed
        Seed of the NumPy generator.
    exact
        ``False`` (default): independent Bernoulli(``treated_share``) draws, so the realised
        share fluctuates. ``True``: complete randomisation with ``floor(p·n)`` or
        ``ceil(p·n)`` treated units (the remainder unit is treated with probability equal to
        the fractional part, so the expected share is exactly ``p``).

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(n_units,)`` with values in {0, 1}.
    """
    n_units = check_positive_int(n_units, "n_units")
    treated_share = check_probability(treated_share, "treated_share")
    rng = np.random.default_rng(seed)
    if not exact:
        return rng.binomial(1, treated_share, size=n_units)
    n_treated = _randomised_count(rng, np.array([n_units]), treated_share)[0]
    arms = np.zeros(n_units, dtype=np.int64)
    arms[rng.permutation(n_units)[:n_treated]] = 1
    return arms


def _randomised_count(rng: np.random.Generator, sizes: np.ndarray, share: float) -> np.ndarray:
    """``floor(share·n)`` plus one with probability equal to the fractional part, per size."""
    target = share * sizes
    base = np.floor(target).astype(np.int64)
    return base + (rng.random(sizes.size) < target - base)


def assign_stratified(
    frame: pd.DataFrame,
    strata: str | Sequence[str],
    treated_share: float = 0.5,
    seed: int = 0,
) -> pd.Series:
    """Complete randomisation within each stratum of one or more cohort columns.

    Parameters
    ----------
    frame
        One row per unit.
    strata
        Column name(s) whose combinations define the strata (e.g. ``["segment",
        "activity_bin"]``). Missing values are not allowed.
    treated_share
        Planned treated share within every stratum.
    seed
        Seed of the NumPy generator.

    Returns
    -------
    pandas.Series
        Arm per row (0 = control, 1 = treatment), aligned to ``frame.index``, named ``"arm"``.
        Each stratum of size m gets ``floor(p·m)`` or ``ceil(p·m)`` treated units; the
        remainder unit is treated with probability equal to the fractional part, so no
        systematic rounding bias accumulates across strata.
    """
    frame = check_frame(frame)
    strata_columns = check_columns(frame, [strata] if isinstance(strata, str) else strata, "strata")
    if not strata_columns:
        raise ValueError("strata must name at least one column")
    missing = [c for c in strata_columns if frame[c].isna().any()]
    if missing:
        raise ValueError(f"strata: column(s) {missing} contain missing values")
    treated_share = check_probability(treated_share, "treated_share")
    rng = np.random.default_rng(seed)
    stratum = frame.groupby(strata_columns, observed=True, sort=True).ngroup().to_numpy()
    sizes = np.bincount(stratum)
    n_treated = _randomised_count(rng, sizes, treated_share)
    # A uniform key per row; within a stratum the n_treated smallest keys are treated.
    order = np.lexsort((rng.random(stratum.size), stratum))
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank_in_stratum = np.empty(stratum.size, dtype=np.int64)
    rank_in_stratum[order] = np.arange(stratum.size) - start[stratum[order]]
    arms = (rank_in_stratum < n_treated[stratum]).astype(np.int64)
    return pd.Series(arms, index=frame.index, name="arm")


def _indicator_columns(frame: pd.DataFrame, covariate: str) -> dict[str, np.ndarray]:
    """Numeric covariates as-is; categorical ones as one 0/1 indicator per level."""
    series = frame[covariate]
    if series.isna().any():
        raise ValueError(f"covariates: column '{covariate}' contains missing values")
    if pd.api.types.is_bool_dtype(series) or (
        pd.api.types.is_numeric_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype)
    ):
        values = series.to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"covariates: column '{covariate}' contains infinite values")
        return {covariate: values}
    levels = series.cat.categories if isinstance(series.dtype, pd.CategoricalDtype) else None
    if levels is None:
        levels = sorted(series.unique(), key=str)
    return {f"{covariate}={level}": (series == level).to_numpy(dtype=float) for level in levels}


def balance_table(frame: pd.DataFrame, arm: str, covariates: Sequence[str]) -> pd.DataFrame:
    """Covariate balance between control (arm 0) and treatment (arm 1).

    Parameters
    ----------
    frame
        One row per unit.
    arm
        0/1 column with the assignment.
    covariates
        Columns to compare. Numeric columns are compared as they are; categorical or string
        columns are expanded into one indicator per level (rows named ``"column=level"``).

    Returns
    -------
    pandas.DataFrame
        One row per (expanded) covariate with ``mean_control``, ``mean_treatment``,
        ``difference``, ``smd`` (standardised mean difference, difference divided by
        sqrt((s₁² + s₀²)/2); |SMD| < 0.1 is the usual balance rule, Austin 2009,
        *Stat. Med.* 28:3083) and ``p_value`` (Welch t-test).
    """
    frame = check_frame(frame)
    arms = binary_column(frame, arm, "arm")
    covariate_columns = check_columns(frame, covariates, "covariates")
    if not covariate_columns:
        raise ValueError("covariates must name at least one column")
    treated, control = arms == 1, arms == 0
    if treated.sum() < 2 or control.sum() < 2:
        raise ValueError(f"arm: column '{arm}' needs at least two units in each arm")
    rows = []
    for covariate in covariate_columns:
        for name, values in _indicator_columns(frame, covariate).items():
            x1, x0 = values[treated], values[control]
            difference, se, dof = welch_statistics(x1, x0)
            pooled_sd = np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
            rows.append(
                {
                    "covariate": name,
                    "mean_control": x0.mean(),
                    "mean_treatment": x1.mean(),
                    "difference": difference,
                    "smd": difference / pooled_sd if pooled_sd > 0 else 0.0,
                    "p_value": welch_p_value(difference, se, dof),
                }
            )
    return pd.DataFrame(rows).set_index("covariate")


def sample_ratio_mismatch(
    observed_counts: Sequence[int],
    expected_shares: Sequence[float] | None = None,
    *,
    alpha: float = 0.001,
) -> SampleRatioResult:
    """Sample-ratio-mismatch (SRM) check by Pearson's χ² goodness-of-fit test.

    Parameters
    ----------
    observed_counts
        Units per arm, e.g. ``[50_812, 49_188]``.
    expected_shares
        Planned share per arm (must sum to 1); default equal shares.
    alpha
        Flag threshold. The default 0.001 is the conventional SRM threshold: the check is run
        on every experiment, so it must rarely cry wolf (Fabijan et al. 2019, *KDD*,
        "Diagnosing sample ratio mismatch in online controlled experiments").

    Returns
    -------
    SampleRatioResult
        ``mismatch`` is True when the split is implausible under the planned shares.
    """
    counts = np.asarray(observed_counts)
    if counts.ndim != 1 or counts.size < 2:
        raise ValueError("observed_counts must list the units of at least two arms")
    if not np.issubdtype(counts.dtype, np.integer) or np.any(counts < 0):
        raise ValueError("observed_counts must be non-negative integers")
    total = int(counts.sum())
    if total == 0:
        raise ValueError("observed_counts must not all be zero")
    if expected_shares is None:
        shares = np.full(counts.size, 1.0 / counts.size)
    else:
        shares = np.asarray(expected_shares, dtype=float)
        if shares.shape != counts.shape:
            raise ValueError(
                f"expected_shares must have one share per arm ({counts.size}), got {shares.size}"
            )
        if np.any(shares <= 0) or not np.isclose(shares.sum(), 1.0, atol=1e-9):
            raise ValueError("expected_shares must be positive and sum to 1")
    alpha = check_probability(alpha, "alpha")
    expected = shares * total
    chi2, p_value = stats.chisquare(counts, expected)
    return SampleRatioResult(
        observed=tuple(int(c) for c in counts),
        expected=tuple(float(e) for e in expected),
        chi2=float(chi2),
        p_value=float(p_value),
        alpha=alpha,
        mismatch=bool(p_value < alpha),
    )
