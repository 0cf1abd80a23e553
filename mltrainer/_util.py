"""Small private helpers shared across mlTrainer modules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import inspect
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mltrainer.errors import InvalidInputError

__all__ = ["to_jsonable", "parse_date"]


@functools.cache
def takes_keyword(cls: type, method: str, keyword: str) -> bool:
    """Whether ``cls.method`` accepts ``keyword``: a plugin may override a method without a keyword
    that the built-in models gained later (``predict(last_n=)``, ``feature_contributions(last_n=)``)."""
    try:
        return keyword in inspect.signature(getattr(cls, method)).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def to_jsonable(obj: Any) -> Any:
    """Convert results (dataclasses, numpy/pandas scalars, dates, NaN) into plain JSON values.

    NaN and ±inf become ``None`` so that the output is strict JSON.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, pd.Timestamp):
        if obj is pd.NaT:
            return None
        if obj.tzinfo is None and obj == obj.normalize():
            return obj.date().isoformat()
        return obj.isoformat()
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.Series):
        return {to_jsonable(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.reset_index().to_dict(orient="records")]
    if obj is pd.NaT:
        return None
    return str(obj)


def parse_date(value: str | dt.date | None, name: str = "date") -> pd.Timestamp | None:
    """Parse a YYYY-MM-DD date given by a user; ``None`` passes through.

    Raises ``InvalidInputError`` naming the parameter and the expected format.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        ts = pd.Timestamp(value)
    else:
        text = str(value).strip()
        try:
            ts = pd.Timestamp(dt.date.fromisoformat(text))
        except ValueError:
            raise InvalidInputError(
                f"Invalid {name} {text!r}: use the format YYYY-MM-DD, e.g. 2010-06-30."
            ) from None
    if ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    return ts.normalize()
