"""Lookahead guard: a model's output at bar t must not change when the bars after t are removed.

A causal model computes ``predict(bars)[t]`` from bars up to ``t`` only, so predicting on the bars
truncated at a cut must reproduce the full prediction on every row up to the cut. Any difference means
the model peeked at later bars (``shift(-1)``, centred windows, full-sample normalisation…).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mltrainer.errors import InsufficientDataError, InvalidInputError, InvalidParameterError

__all__ = ["check_lookahead"]

log = logging.getLogger(__name__)

# Truncation changes nothing in a causal computation; allow only float round-off from
# order-dependent reductions (e.g. a rolling sum started at a different point).
_RTOL = 1e-9
_ATOL = 1e-12


def check_lookahead(model, bars: pd.DataFrame, n_cuts: int = 10) -> list[pd.Timestamp]:
    """Dates on which ``model.predict`` changes when the bars after a cut are removed.

    For ``n_cuts`` cut rows evenly spaced from the end of the model's warm-up to the second-to-last
    bar, ``model.predict(bars.iloc[:cut + 1])`` is compared with ``model.predict(bars)`` on rows
    ``<= cut``: every column, NaN equal to NaN, floats within a relative 1e-9. The warm-up is the
    model's ``warmup_bars`` if it has one, else the first row where the full prediction has no NaN.

    ``model`` must already be fitted. Returns the sorted, unique dates that differ (empty if the
    model is causal on these cuts).
    """
    if isinstance(n_cuts, bool) or not isinstance(n_cuts, (int, np.integer)) or n_cuts < 1:
        raise InvalidParameterError(f"n_cuts must be a whole number >= 1, got {n_cuts!r}.")
    if not isinstance(bars, pd.DataFrame):
        raise InvalidInputError("bars must be a DataFrame of OHLCV bars indexed by date.")
    full = _as_frame(model.predict(bars), bars.index)
    first = _first_cut(model, full)
    last = len(bars) - 2  # a cut at the last bar would compare the full prediction with itself
    if last < first:
        raise InsufficientDataError(
            f"check_lookahead needs bars beyond the model's warm-up of {first} bars; got {len(bars)}. "
            "Pass a longer history."
        )
    cuts = np.unique(np.linspace(first, last, num=int(n_cuts)).round().astype(np.int64))

    differing: set[pd.Timestamp] = set()
    for cut in cuts:
        truncated_bars = bars.iloc[: cut + 1]
        truncated = _as_frame(model.predict(truncated_bars), truncated_bars.index)
        rows = _differing_rows(truncated, full.iloc[: cut + 1])
        if rows.any():
            dates = truncated.index[rows]
            log.warning(
                "lookahead: prediction on bars up to %s differs from the full-history prediction on "
                "%d row(s), first %s", truncated.index[-1].date(), len(dates), dates[0].date(),
            )
            differing.update(dates)
    return sorted(differing)


def _as_frame(predicted, index: pd.DatetimeIndex) -> pd.DataFrame:
    if isinstance(predicted, pd.Series):
        predicted = predicted.to_frame()
    if not isinstance(predicted, pd.DataFrame) or not predicted.index.equals(index):
        raise InvalidInputError(
            "model.predict must return a DataFrame indexed exactly like the bars it was given."
        )
    return predicted


def _first_cut(model, full: pd.DataFrame) -> int:
    warmup = getattr(model, "warmup_bars", None)
    if isinstance(warmup, (int, np.integer)) and not isinstance(warmup, bool):
        return max(int(warmup), 0)
    complete = np.flatnonzero(full.notna().all(axis=1).to_numpy())
    return int(complete[0]) if len(complete) else 0


def _differing_rows(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Boolean per row: True where any column differs (NaN == NaN; floats within tolerance)."""
    if list(a.columns) != list(b.columns):
        return np.ones(len(a), dtype=bool)
    differs = np.zeros(len(a), dtype=bool)
    for column in a.columns:
        left, right = a[column], b[column]
        both_missing = (left.isna() & right.isna()).to_numpy()
        if pd.api.types.is_numeric_dtype(left.dtype) and pd.api.types.is_numeric_dtype(right.dtype) and not (
            pd.api.types.is_bool_dtype(left.dtype) or pd.api.types.is_bool_dtype(right.dtype)
        ):
            x = left.to_numpy(dtype=np.float64, na_value=np.nan)
            y = right.to_numpy(dtype=np.float64, na_value=np.nan)
            same = np.isclose(x, y, rtol=_RTOL, atol=_ATOL, equal_nan=True)
        else:
            # As objects, so that e.g. categoricals whose category sets differ still compare by value.
            same = (_as_objects(left) == _as_objects(right)) | both_missing
        differs |= ~same
    return differs


def _as_objects(values: pd.Series) -> np.ndarray:
    """Values as a NumPy object array with every kind of missing value turned into ``None`` (pd.NA
    cannot be compared elementwise)."""
    out = values.astype(object).to_numpy(copy=True)
    out[values.isna().to_numpy()] = None
    return out
