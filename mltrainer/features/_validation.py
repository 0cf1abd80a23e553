"""Argument checks shared by the indicator functions.

Indicators are called with user-chosen windows (from model parameters), so a bad value must surface
as an ``InvalidParameterError`` that names the parameter and the accepted range, not as a pandas
error deep inside ``rolling``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from mltrainer.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "as_float_series",
    "check_int",
    "check_positive_float",
    "check_same_index",
    "check_positive_values",
    "check_positive_array",
]


def as_float_series(values: object, name: str) -> pd.Series:
    """Return ``values`` as a float64 Series with its index untouched."""
    if not isinstance(values, pd.Series):
        raise InvalidInputError(
            f"{name} must be a pandas Series (e.g. bars['close']), got {type(values).__name__}."
        )
    if values.dtype == np.float64:
        return values
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        raise InvalidInputError(
            f"{name} must hold numbers, got dtype {values.dtype}; convert it with pd.to_numeric first."
        )
    return values.astype(np.float64)


def check_int(value: object, name: str, minimum: int) -> int:
    """``value`` as an int, if it is an integer >= ``minimum``."""
    # bool is an Integral, but `window=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    if value < minimum:
        raise InvalidParameterError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def check_positive_float(value: object, name: str) -> float:
    """``value`` as a float, if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite number > 0, got {value!r}.")
    if value <= 0:
        raise InvalidParameterError(f"{name} must be > 0, got {value}.")
    return float(value)


def check_same_index(series: dict[str, pd.Series]) -> None:
    """All series share one index (e.g. high/low/close columns of the same bars)."""
    items = list(series.items())
    first_name, first = items[0]
    for name, other in items[1:]:
        if not first.index.equals(other.index):
            raise InvalidInputError(
                f"{first_name} and {name} must share the same index; pass columns of the same bars "
                f"DataFrame (e.g. bars['high'], bars['low'], bars['close'])."
            )


def check_positive_values(values: pd.Series, name: str) -> None:
    """Prices must be > 0 where logarithms are taken; NaN is allowed (it propagates)."""
    check_positive_array(values.to_numpy(), values.index, name)


def check_positive_array(values: np.ndarray, index: pd.Index, name: str) -> None:
    """:func:`check_positive_values` on a float array and its index (the models' NumPy path)."""
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(values <= 0)
    if len(bad):
        raise InvalidInputError(
            f"{name} must be > 0 to take log returns; {len(bad)} value(s) are not, first at "
            f"{index[bad[0]]!s} ({values[bad[0]]!r}). Use adjusted prices or drop those rows."
        )
