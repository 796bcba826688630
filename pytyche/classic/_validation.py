"""Input checks shared by the classic toolkit's public entry points.

Every public function validates once, where user data enters, and raises a ``ValueError``
or ``TypeError`` whose message names the offending argument or column. Internal helpers
trust their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def check_frame(frame: object, name: str = "frame") -> pd.DataFrame:
    """Return ``frame`` if it is a non-empty DataFrame, else raise."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise ValueError(f"{name} is empty: at least one row is required")
    return frame


def check_columns(frame: pd.DataFrame, columns: Sequence[str], argument: str) -> list[str]:
    """Check that every name in ``columns`` is a column of ``frame``; return them as a list."""
    if isinstance(columns, str):
        columns = [columns]
    names = list(columns)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{argument}: column(s) {missing} not found in frame; "
            f"available columns are {list(frame.columns)}"
        )
    return names


def numeric_column(frame: pd.DataFrame, column: str, argument: str) -> np.ndarray:
    """Return a finite float column or raise naming the column."""
    check_columns(frame, [column], argument)
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        raise TypeError(f"{argument}: column '{column}' must be numeric, got dtype {series.dtype}")
    values = series.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{argument}: column '{column}' contains NaN or infinite values")
    return values


def numeric_matrix(frame: pd.DataFrame, columns: Sequence[str], argument: str) -> np.ndarray:
    """Return the named columns as a finite ``(n_rows, n_columns)`` float matrix."""
    names = check_columns(frame, columns, argument)
    if not names:
        return np.empty((len(frame), 0))
    return np.column_stack([numeric_column(frame, c, argument) for c in names])


def binary_column(frame: pd.DataFrame, column: str, argument: str) -> np.ndarray:
    """Return a 0/1 column as floats, raising if any other value appears."""
    values = numeric_column(frame, column, argument)
    if not np.all((values == 0) | (values == 1)):
        raise ValueError(f"{argument}: column '{column}' must contain only 0 and 1")
    return values


def finite_vector(values: object, argument: str, min_length: int = 1) -> np.ndarray:
    """Return a 1-D finite float array of at least ``min_length`` entries."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{argument} must be a sequence of numbers") from error
    if array.ndim != 1:
        raise ValueError(f"{argument} must be one-dimensional, got shape {array.shape}")
    if array.size < min_length:
        raise ValueError(f"{argument} needs at least {min_length} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{argument} contains NaN or infinite values")
    return array


def check_probability(value: float, argument: str, *, open_interval: bool = True) -> float:
    """Check that ``value`` is a probability (strictly inside (0, 1) by default)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__}")
    value = float(value)
    inside = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not inside:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{argument} must lie in {bounds}, got {value}")
    return value


def check_positive(value: float, argument: str) -> float:
    """Check that ``value`` is a finite positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{argument} must be a finite positive number, got {value}")
    return value


def check_positive_int(value: int, argument: str) -> int:
    """Check that ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument} must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{argument} must be positive, got {value}")
    return int(value)


def check_variance_reduction(value: float, argument: str = "variance_reduction") -> float:
    """Check a CUPED-style variance-reduction share in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{argument} must lie in [0, 1), got {value}")
    return value


def covariate_frame(frame: pd.DataFrame, columns: Sequence[str], argument: str) -> pd.DataFrame:
    """Covariates as a float DataFrame; categorical/string columns become 0/1 dummies.

    The first level of each categorical column is dropped (it is the reference level), so
    the result can sit next to an intercept without collinearity.
    """
    names = check_columns(frame, columns, argument)
    parts = []
    for column in names:
        series = frame[column]
        if series.isna().any():
            raise ValueError(f"{argument}: column '{column}' contains missing values")
        is_numeric = pd.api.types.is_numeric_dtype(series) and not isinstance(
            series.dtype, pd.CategoricalDtype
        )
        if is_numeric and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=float)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{argument}: column '{column}' contains infinite values")
            parts.append(pd.DataFrame({column: values}, index=frame.index))
        else:
            dummies = pd.get_dummies(series, prefix=column, prefix_sep="=", drop_first=True)
            parts.append(dummies.astype(float))
    if not parts:
        return pd.DataFrame(index=frame.index)
    return pd.concat(parts, axis=1)
