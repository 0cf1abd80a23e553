"""The data fingerprint recorded with every model: SHA-256 of the training data, defined canonically.

:func:`bars_fingerprint` hashes, in order: the tag ``b"mltrainer-bars-v1"``, the index as int64
nanoseconds since the epoch (little-endian), then each of ``open, high, low, close, volume`` as float64
little-endian bytes. Only values count — not column order, extra columns, dtype spellings or the pandas
version — so the same bars always give the same fingerprint, and any changed value, added or removed
bar changes it.

:func:`data_fingerprint` is what training records. For a model that uses no macro series it *is* the
bars fingerprint (so fingerprints recorded before macro data counted still verify). With macro series
(e.g. gradient_boosting's ``macro_series``) it hashes the tag ``b"mltrainer-data-v2"``, the bars
fingerprint (64 ASCII hex characters), then per series in the model's order: the id's UTF-8 length
(int64 little-endian) and bytes, the row count (int64), and each of its columns in sorted name order
(name length, name bytes, float64 little-endian values with every NaN written as the one canonical
NaN). The columns are the values the model used at each bar (as published by then), so a revised
macro value the model saw changes the fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mltrainer.data.validation import BAR_COLUMNS
from mltrainer.errors import InvalidInputError

__all__ = ["bars_fingerprint", "data_fingerprint", "BAR_COLUMNS"]

_TAG = b"mltrainer-bars-v1"
_DATA_TAG = b"mltrainer-data-v2"


def bars_fingerprint(bars: pd.DataFrame) -> str:
    """64 hex characters identifying exactly these bars."""
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise InvalidInputError(
            f"Bars lack column(s) {', '.join(missing)}; expected {', '.join(BAR_COLUMNS)}."
        )
    digest = hashlib.sha256(_TAG)
    index = pd.DatetimeIndex(bars.index).as_unit("ns")
    digest.update(np.ascontiguousarray(index.asi8, dtype="<i8").tobytes())
    for column in BAR_COLUMNS:
        digest.update(np.ascontiguousarray(bars[column].to_numpy(dtype="float64"), dtype="<f8").tobytes())
    return digest.hexdigest()


def _text(digest: Any, text: str) -> None:
    raw = text.encode("utf-8")
    digest.update(np.array([len(raw)], dtype="<i8").tobytes())
    digest.update(raw)


def data_fingerprint(bars: pd.DataFrame, macro: Mapping[str, pd.DataFrame] | None = None) -> str:
    """64 hex characters identifying the bars and the macro values a model used (module docstring).

    ``macro`` maps a series id to the values used at each bar (a DataFrame of float columns, e.g.
    ``level`` and ``change``); empty or ``None`` gives exactly :func:`bars_fingerprint`.
    """
    bars_digest = bars_fingerprint(bars)
    if not macro:
        return bars_digest
    digest = hashlib.sha256(_DATA_TAG)
    digest.update(bars_digest.encode("ascii"))
    for series_id, frame in macro.items():
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInputError(
                f"Macro values of {series_id!r} must be a DataFrame of the values used per bar; "
                f"got {type(frame).__name__}."
            )
        _text(digest, str(series_id))
        digest.update(np.array([len(frame)], dtype="<i8").tobytes())
        for column in sorted(frame.columns, key=str):
            _text(digest, str(column))
            values = np.asarray(frame[column].to_numpy(dtype="float64"), dtype="<f8")
            digest.update(np.where(np.isnan(values), np.nan, values).astype("<f8").tobytes())
    return digest.hexdigest()
