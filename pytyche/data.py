"""The experiment data schema: one validated representation every stage consumes.

A :class:`RoundData` wraps a pandas DataFrame of visitors (one row each) after checking it
once, at the boundary, and fixing how it is read downstream:

- **covariates**: numeric columns are used as they are; categorical columns (declared, or
  of pandas ``category`` dtype) become integer codes, with the code -> label mapping kept
  for prediction on new visitors and for human-readable segment rules;
- **arm**: arm names, control named explicitly and stored first;
- **outcome**: revenue (>= 0) or 0/1 conversions;
- optional reserved columns: ``cell`` (the cell that served the visitor), ``round``
  (round index) and one propensity column per arm, ``propensity_<arm>``.

Validation rules
----------------
Each violation raises :class:`DataValidationError` (a ``ValueError``) naming the column or
argument and the expected form. Propensities: every value in [0, 1], each row summing to 1
within :data:`PROPENSITY_SUM_TOLERANCE`, and the propensity of the arm a visitor actually
received strictly positive. Missing values: covariates must be complete (``missing="error"``
is the only policy; impute before calling, so that nothing is changed silently).

Metric family rule
------------------
With ``family="auto"``: outcomes all in {0, 1} -> binary; otherwise non-negative outcomes
with at least :data:`HURDLE_ZERO_SHARE` zeros -> hurdle; otherwise continuous. Pass
``family=`` to override (``"continuous"`` also admits negative outcomes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pytyche.contracts import MetricFamily, ensure_not_truth

__all__ = [
    "CELL_COLUMN",
    "HURDLE_ZERO_SHARE",
    "PROPENSITY_PREFIX",
    "PROPENSITY_SUM_TOLERANCE",
    "ROUND_COLUMN",
    "DataValidationError",
    "RoundData",
    "concat_rounds",
    "infer_family",
    "read_round",
]

CELL_COLUMN = "cell"
ROUND_COLUMN = "round"
PROPENSITY_PREFIX = "propensity_"
PROPENSITY_SUM_TOLERANCE = 1e-6
"""Largest allowed |sum of a visitor's propensities - 1|."""
HURDLE_ZERO_SHARE = 0.30
"""Share of zero outcomes from which non-binary, non-negative data is treated as hurdle."""


class DataValidationError(ValueError):
    """Experiment data does not follow the schema; the message names the column."""


def infer_family(outcome: np.ndarray) -> MetricFamily:
    """Infer the metric family of an outcome vector (see the module's rule)."""
    values = np.asarray(outcome, dtype=float)
    if np.all((values == 0) | (values == 1)):
        return MetricFamily.BINARY
    if np.all(values >= 0) and np.mean(values == 0) >= HURDLE_ZERO_SHARE:
        return MetricFamily.HURDLE
    return MetricFamily.CONTINUOUS


@dataclass(frozen=True, eq=False)
class RoundData:
    """Validated experiment data (one round, or several concatenated).

    Build it with :meth:`from_frame`; the constructor trusts its inputs.

    Attributes
    ----------
    frame : pandas.DataFrame
        The visitors, with the original covariate values, in input row order.
    arms : tuple of str
        Arm names, control first.
    covariates : tuple of str
        Covariate columns, in model order.
    categories : dict of str to tuple
        For each categorical covariate, its labels; code ``i`` means ``categories[c][i]``.
    outcome : str
        Outcome column.
    arm_column : str
        Arm column (values are arm names).
    id_column : str or None
        Visitor-id column, unique across all rows, if the data has one.
    family : MetricFamily
        Outcome family used to fit the model.
    """

    frame: pd.DataFrame
    arms: tuple[str, ...]
    covariates: tuple[str, ...]
    categories: dict[str, tuple]
    outcome: str
    arm_column: str
    id_column: str | None
    family: MetricFamily

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        arms: Sequence[str],
        control: str | None = None,
        outcome: str = "revenue",
        arm: str = "arm",
        covariates: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
        id_column: str | None = None,
        family: str | MetricFamily = "auto",
        round_index: int | None = None,
        require_all_arms: bool = True,
    ) -> RoundData:
        """Validate a DataFrame of visitors and fix its encoding.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per visitor.
        arms : sequence of str
            All arm names of the experiment.
        control : str, optional
            The control arm; defaults to ``arms[0]``. Stored first.
        outcome : str
            Outcome column: revenue (>= 0) or 0/1 conversions.
        arm : str
            Column holding each visitor's arm name.
        covariates : sequence of str, optional
            Covariate columns. Defaults to every column that is not the outcome, arm, id,
            ``cell``, ``round`` or a propensity column.
        categorical : sequence of str
            Covariates to encode as categories (pandas ``category`` columns are categorical
            without being listed). Other covariates must be numeric or boolean.
        id_column : str, optional
            Column of unique visitor identifiers.
        family : {"auto", "hurdle", "binary", "continuous"}
            Outcome family; ``"auto"`` follows the module's rule.
        round_index : int, optional
            Written to a ``round`` column when the frame has none.
        require_all_arms : bool
            Whether every arm must have at least one visitor.

        Returns
        -------
        RoundData

        Raises
        ------
        DataValidationError
            On any schema violation; the message names the column or argument.
        """
        ensure_not_truth(frame, "frame")
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0:
            raise DataValidationError("frame is empty: expected at least one visitor row")
        arm_names = _validate_arm_names(arms, control)
        _require_columns(frame, {"outcome": outcome, "arm": arm})
        if id_column is not None:
            _require_columns(frame, {"id_column": id_column})
        resolved_family = _resolve_family(family, frame[outcome], outcome)
        columns = _resolve_covariates(frame, covariates, outcome, arm, id_column, arm_names)
        categories = _encode_categories(frame, columns, set(categorical))
        _validate_covariate_values(frame, columns, categories)
        _validate_arm_column(frame, arm, arm_names, require_all_arms)
        _validate_outcome(frame[outcome], outcome, resolved_family)
        _validate_propensities(frame, arm, arm_names)
        if id_column is not None and frame[id_column].duplicated().any():
            dup = frame.loc[frame[id_column].duplicated(), id_column].iloc[0]
            raise DataValidationError(
                f"column {id_column!r} has duplicate visitor ids (e.g. {dup!r}); "
                "expected one row per visitor"
            )
        clean = frame.reset_index(drop=True).copy()
        if ROUND_COLUMN not in clean.columns and round_index is not None:
            clean[ROUND_COLUMN] = int(round_index)
        return cls(
            frame=clean,
            arms=arm_names,
            covariates=tuple(columns),
            categories=categories,
            outcome=outcome,
            arm_column=arm,
            id_column=id_column,
            family=resolved_family,
        )

    # ----------------------------------------------------------------- arrays
    @property
    def n_visitors(self) -> int:
        """Number of visitors (rows)."""
        return len(self.frame)

    @property
    def n_arms(self) -> int:
        """Number of arms K, control included."""
        return len(self.arms)

    @property
    def control(self) -> str:
        """Name of the control arm."""
        return self.arms[0]

    @property
    def arm_index(self) -> np.ndarray:
        """Arm of each visitor as an integer in 0..K-1 (0 = control), shape (n,)."""
        return _arm_codes(self.frame[self.arm_column], self.arms)

    @property
    def y(self) -> np.ndarray:
        """Outcome, float64, shape (n,)."""
        return self.frame[self.outcome].to_numpy(dtype=np.float64)

    @property
    def X(self) -> np.ndarray:  # noqa: N802 - the conventional name for a design matrix
        """Encoded covariates, float64, shape (n, p); categoricals as integer codes."""
        return self.encode(self.frame)

    @property
    def propensity(self) -> np.ndarray | None:
        """Recorded assignment probabilities, shape (n, K), or None if not recorded."""
        cols = [PROPENSITY_PREFIX + a for a in self.arms]
        if not all(c in self.frame.columns for c in cols):
            return None
        return self.frame[cols].to_numpy(dtype=np.float64)

    @property
    def cell(self) -> np.ndarray | None:
        """Cell id of each visitor, or None if not recorded."""
        if CELL_COLUMN not in self.frame.columns:
            return None
        return self.frame[CELL_COLUMN].to_numpy()

    @property
    def round(self) -> np.ndarray | None:
        """Round index of each visitor, or None if not recorded."""
        if ROUND_COLUMN not in self.frame.columns:
            return None
        return self.frame[ROUND_COLUMN].to_numpy()

    @property
    def visitor_id(self) -> np.ndarray | None:
        """Visitor ids, or None when the data has no id column."""
        return None if self.id_column is None else self.frame[self.id_column].to_numpy()

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode covariates of any frame (e.g. new visitors) exactly as this data's.

        Parameters
        ----------
        frame : pandas.DataFrame
            Must contain every covariate column.

        Returns
        -------
        ndarray, shape (len(frame), p)
            Numeric covariates as float64, categoricals as codes of this data's labels.
        """
        missing = [c for c in self.covariates if c not in frame.columns]
        if missing:
            raise DataValidationError(f"covariate columns missing from frame: {missing}")
        out = np.empty((len(frame), len(self.covariates)), dtype=np.float64)
        for j, name in enumerate(self.covariates):
            if name in self.categories:
                labels = self.categories[name]
                lookup = {label: code for code, label in enumerate(labels)}
                codes = frame[name].astype(object).map(lookup).to_numpy(dtype=float)
                unknown = np.isnan(codes)
                if unknown.any():
                    bad = frame[name].to_numpy()[unknown][0]
                    raise DataValidationError(
                        f"column {name!r} has category {bad!r} not seen in the training data; "
                        f"expected one of {list(labels)}"
                    )
                out[:, j] = codes
            else:
                out[:, j] = frame[name].to_numpy(dtype=np.float64)
        return out

    def with_family(self, family: str | MetricFamily) -> RoundData:
        """Return the same data fitted with another outcome family (validated)."""
        return RoundData.from_frame(
            self.frame,
            arms=self.arms,
            outcome=self.outcome,
            arm=self.arm_column,
            covariates=self.covariates,
            categorical=tuple(self.categories),
            id_column=self.id_column,
            family=family,
        )

    def to_parquet(self, path: str | Path) -> None:
        """Write the visitor frame to Parquet (schema metadata is not stored)."""
        self.frame.to_parquet(path, index=False)

    def __repr__(self) -> str:
        counts = self.frame[self.arm_column].value_counts()
        per_arm = ", ".join(f"{a}={int(counts.get(a, 0))}" for a in self.arms)
        return (
            f"RoundData(n={self.n_visitors}, family={self.family.value}, arms: {per_arm}; "
            f"covariates={list(self.covariates)})"
        )


def concat_rounds(rounds: Sequence[RoundData]) -> RoundData:
    """Concatenate rounds into cumulative data without losing or duplicating a row.

    Rows keep their order (round by round) and their round, cell and propensity columns.
    Category labels are merged (first-seen order) so codes stay stable for earlier rounds.

    Parameters
    ----------
    rounds : sequence of RoundData
        Rounds of one experiment: same arms, outcome, covariates and family.

    Returns
    -------
    RoundData
    """
    rounds = list(rounds)
    if not rounds:
        raise DataValidationError("rounds is empty: expected at least one RoundData")
    first = rounds[0]
    for i, other in enumerate(rounds[1:], start=1):
        for attr in ("arms", "covariates", "outcome", "arm_column", "id_column", "family"):
            if getattr(other, attr) != getattr(first, attr):
                raise DataValidationError(
                    f"rounds[{i}] has {attr}={getattr(other, attr)!r}, but rounds[0] has "
                    f"{getattr(first, attr)!r}; rounds of one experiment must match"
                )
    frames = []
    for i, r in enumerate(rounds):
        f = r.frame
        if ROUND_COLUMN not in f.columns:
            f = f.assign(**{ROUND_COLUMN: i})
        frames.append(f)
    combined = pd.concat(frames, ignore_index=True)
    categories = {}
    for name in first.categories:
        labels: list = []
        for r in rounds:
            labels.extend(lbl for lbl in r.categories[name] if lbl not in labels)
        categories[name] = tuple(labels)
        combined[name] = pd.Categorical(combined[name].astype(object), categories=labels)
    if first.id_column is not None and combined[first.id_column].duplicated().any():
        dup = combined.loc[combined[first.id_column].duplicated(), first.id_column].iloc[0]
        raise DataValidationError(
            f"column {first.id_column!r}: visitor id {dup!r} appears in more than one round"
        )
    return RoundData(
        frame=combined,
        arms=first.arms,
        covariates=first.covariates,
        categories=categories,
        outcome=first.outcome,
        arm_column=first.arm_column,
        id_column=first.id_column,
        family=first.family,
    )


def read_round(path: str | Path, **kwargs) -> RoundData:
    """Read a Parquet or CSV file of visitors and validate it with :meth:`RoundData.from_frame`.

    Parameters
    ----------
    path : str or Path
        ``.parquet``/``.pq`` or ``.csv`` file.
    **kwargs
        Forwarded to :meth:`RoundData.from_frame` (``arms`` is required).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        frame = pd.read_parquet(path)
    elif suffix == ".csv":
        frame = pd.read_csv(path)
    else:
        raise DataValidationError(
            f"path {str(path)!r}: expected a .parquet, .pq or .csv file, got {suffix!r}"
        )
    return RoundData.from_frame(frame, **kwargs)


# ------------------------------------------------------------------ validators
def _arm_codes(values: pd.Series, arms: tuple[str, ...]) -> np.ndarray:
    """Arm index (0 = control) of each row; arms already validated."""
    return pd.Categorical(values.astype(str), categories=list(arms)).codes.astype(np.int32)


def _validate_arm_names(arms: Sequence[str], control: str | None) -> tuple[str, ...]:
    if isinstance(arms, str) or not isinstance(arms, Sequence):
        raise DataValidationError(f"arms must be a sequence of arm names, got {arms!r}")
    names = tuple(str(a) for a in arms)
    if len(names) < 2:
        raise DataValidationError(
            f"arms must name at least 2 arms (control and a treatment), got {list(names)}"
        )
    if len(set(names)) != len(names):
        raise DataValidationError(f"arms has duplicate names: {list(names)}")
    control = names[0] if control is None else str(control)
    if control not in names:
        raise DataValidationError(f"control {control!r} is not one of arms {list(names)}")
    return (control, *(a for a in names if a != control))


def _require_columns(frame: pd.DataFrame, named: dict[str, str]) -> None:
    for argument, column in named.items():
        if column not in frame.columns:
            raise DataValidationError(
                f"{argument} column {column!r} not found in frame; columns are "
                f"{list(frame.columns)}"
            )


def _resolve_family(family: str | MetricFamily, outcome: pd.Series, name: str) -> MetricFamily:
    if not (pd.api.types.is_numeric_dtype(outcome) or pd.api.types.is_bool_dtype(outcome)):
        raise DataValidationError(
            f"outcome column {name!r} must be numeric, got dtype {outcome.dtype}"
        )
    values = outcome.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise DataValidationError(
            f"outcome column {name!r} has NaN or infinite values; expected finite numbers"
        )
    if family == "auto":
        if np.any(values < 0):
            raise DataValidationError(
                f"outcome column {name!r} has negative values (min {values.min():g}); "
                "expected revenue >= 0 or 0/1 conversions (pass family='continuous' for "
                "signed outcomes)"
            )
        return infer_family(values)
    try:
        return MetricFamily(family)
    except ValueError:
        raise DataValidationError(
            f"family must be 'auto' or one of {[f.value for f in MetricFamily]}, got {family!r}"
        ) from None


def _resolve_covariates(
    frame: pd.DataFrame,
    covariates: Sequence[str] | None,
    outcome: str,
    arm: str,
    id_column: str | None,
    arms: tuple[str, ...],
) -> list[str]:
    reserved = {outcome, arm, id_column, CELL_COLUMN, ROUND_COLUMN}
    if covariates is None:
        columns = [
            c
            for c in frame.columns
            if c not in reserved and not str(c).startswith(PROPENSITY_PREFIX)
        ]
    else:
        if isinstance(covariates, str):
            raise DataValidationError("covariates must be a sequence of column names")
        columns = list(covariates)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataValidationError(f"covariate columns not found in frame: {missing}")
        clash = [c for c in columns if c in reserved]
        if clash:
            raise DataValidationError(f"covariates may not include reserved columns {clash}")
    if not columns:
        raise DataValidationError("no covariate columns: expected at least one covariate")
    return columns


def _encode_categories(
    frame: pd.DataFrame, columns: list[str], declared: set[str]
) -> dict[str, tuple]:
    unknown = sorted(declared - set(columns))
    if unknown:
        raise DataValidationError(f"categorical names columns that are not covariates: {unknown}")
    categories = {}
    for name in columns:
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories[name] = tuple(series.cat.categories)
        elif name in declared:
            categories[name] = tuple(pd.unique(series.dropna()))
        elif not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise DataValidationError(
                f"covariate column {name!r} has non-numeric dtype {series.dtype}; declare it "
                "in categorical=[...] or convert it to numbers"
            )
    return categories


def _validate_covariate_values(
    frame: pd.DataFrame, columns: list[str], categories: dict[str, tuple]
) -> None:
    for name in columns:
        series = frame[name]
        if series.isna().any():
            raise DataValidationError(
                f"covariate column {name!r} has {int(series.isna().sum())} missing values; "
                "pytyche does not impute silently: fill or drop them before fitting"
            )
        if name not in categories:
            values = series.to_numpy(dtype=float)
            if not np.all(np.isfinite(values)):
                raise DataValidationError(
                    f"covariate column {name!r} has infinite values; expected finite numbers"
                )


def _validate_arm_column(
    frame: pd.DataFrame, arm: str, arms: tuple[str, ...], require_all: bool
) -> None:
    if frame[arm].isna().any():
        raise DataValidationError(f"arm column {arm!r} has missing values")
    present = {str(v) for v in frame[arm].unique()}
    unknown = sorted(present - set(arms))
    if unknown:
        raise DataValidationError(
            f"arm column {arm!r} has unknown arms {unknown}; expected only {list(arms)}"
        )
    if require_all:
        absent = [a for a in arms if a not in present]
        if absent:
            raise DataValidationError(
                f"arm column {arm!r} has no visitors for arms {absent}; every arm in "
                f"{list(arms)} needs at least one visitor (or pass require_all_arms=False)"
            )


def _validate_outcome(outcome: pd.Series, name: str, family: MetricFamily) -> None:
    values = outcome.to_numpy(dtype=float)
    if family is not MetricFamily.CONTINUOUS and np.any(values < 0):
        raise DataValidationError(
            f"outcome column {name!r} has negative values (min {values.min():g}); expected "
            "revenue >= 0 or 0/1 conversions (pass family='continuous' for signed outcomes)"
        )
    if np.all(values == 0):
        raise DataValidationError(
            f"outcome column {name!r} is all zero: no conversions, nothing to learn from"
        )
    if np.all(values == values[0]):
        raise DataValidationError(
            f"outcome column {name!r} is constant ({values[0]:g}); expected variation"
        )
    if family is MetricFamily.BINARY and not np.all((values == 0) | (values == 1)):
        raise DataValidationError(f"outcome column {name!r} must be 0/1 for family='binary'")


def _validate_propensities(frame: pd.DataFrame, arm: str, arms: tuple[str, ...]) -> None:
    present = [c for c in frame.columns if str(c).startswith(PROPENSITY_PREFIX)]
    if not present:
        return
    expected = [PROPENSITY_PREFIX + a for a in arms]
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in expected]
    if missing or extra:
        raise DataValidationError(
            f"propensity columns must be exactly {expected}; missing {missing}, unexpected {extra}"
        )
    values = frame[expected].to_numpy(dtype=float)
    bad_cols = [c for j, c in enumerate(expected) if not np.all(np.isfinite(values[:, j]))]
    if bad_cols:
        raise DataValidationError(f"propensity column {bad_cols[0]!r} has NaN or inf values")
    for j, c in enumerate(expected):
        if np.any((values[:, j] < 0) | (values[:, j] > 1)):
            raise DataValidationError(f"propensity column {c!r} has values outside [0, 1]")
    sums = values.sum(axis=1)
    off = np.abs(sums - 1) > PROPENSITY_SUM_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        raise DataValidationError(
            f"propensity columns {expected} must sum to 1 per row (tolerance "
            f"{PROPENSITY_SUM_TOLERANCE:g}); row {i} sums to {sums[i]:.6g}"
        )
    received = _arm_codes(frame[arm], arms)
    own = values[np.arange(len(values)), received]
    if np.any(own <= 0):
        i = int(np.argmax(own <= 0))
        col = PROPENSITY_PREFIX + arms[received[i]]
        raise DataValidationError(
            f"propensity column {col!r} is 0 at row {i} for the arm the visitor received; "
            "expected a positive probability of the received arm"
        )
