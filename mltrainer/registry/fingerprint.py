"""The data fingerprint recorded with every model: SHA-256 of the training bars, defined canonically.

Hashed, in order: the tag ``b"mltrainer-bars-v1"``, the index as int64 nanoseconds since the epoch
(little-endian), then each of ``open, high, low, close, volume`` as float64 little-endian bytes. Only
values count — not column order, extra columns, dtype spellings or the pandas version — so the same
bars always give the same fingerprint, and any changed value, added or removed bar changes it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from mltrainer.data.validation import BAR_COLUMNS
from mltrainer.errors import InvalidInputError

__all__ = ["bars_fingerprint", "BAR_COLUMNS"]

_TAG = b"mltrainer-bars-v1"


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
