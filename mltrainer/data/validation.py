"""Validation of daily bars at the boundary where they enter mlTrainer.

Every frame a source returns passes through :func:`validate_bars` before it is stored or handed to a
caller. Problems are reported with their dates and never repaired or dropped silently: a bar that is
wrong at the provider is a fact the analyst has to see, not something to paper over.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mltrainer.errors import DataValidationError

__all__ = ["BAR_COLUMNS", "PRICE_COLUMNS", "validate_bars"]

log = logging.getLogger(__name__)

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")

#: How many offending dates the message spells out; ``problems`` always holds all of them.
_MESSAGE_SHOWS = 5


def _day(value: object) -> str:
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    except (TypeError, ValueError):
        return str(value)


def _fail(symbol: str, problems: list[tuple[str, str]]) -> DataValidationError:
    shown = "; ".join(f"{day} {reason}" for day, reason in problems[:_MESSAGE_SHOWS])
    more = len(problems) - _MESSAGE_SHOWS
    tail = f"; and {more} more" if more > 0 else ""
    message = (
        f"{symbol}: {len(problems)} bar problem(s) — {shown}{tail}. "
        "The bars were not stored; correct them at the source or request a range without them."
    )
    return DataValidationError(message, problems=problems)


def validate_bars(df: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Check daily bars and return them as float64 ``open, high, low, close, volume`` indexed by ``date``.

    Rules: a tz-naive DatetimeIndex, ascending and unique; no NaN or infinite prices; prices > 0;
    ``high >= max(open, close)``; ``low <= min(open, close)``; volume present and ``>= 0``.

    Raises ``DataValidationError`` whose ``problems`` lists every offending ``(date, reason)``.
    Nothing is dropped or repaired here.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(f"{symbol}: bars must be a DataFrame, got {type(df).__name__}.")
    missing = [c for c in BAR_COLUMNS if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{symbol}: bars lack column(s) {', '.join(missing)}; expected {', '.join(BAR_COLUMNS)}."
        )
    if not isinstance(df.index, pd.DatetimeIndex):
        raise DataValidationError(f"{symbol}: bars must be indexed by date (a DatetimeIndex).")
    if df.index.tz is not None:
        raise DataValidationError(
            f"{symbol}: bar dates must be tz-naive trading dates; convert provider timestamps first."
        )
    try:
        bars = df.loc[:, list(BAR_COLUMNS)].astype("float64")
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"{symbol}: bar columns must be numeric ({exc}).") from None
    bars.index = bars.index.rename("date")

    problems: list[tuple[str, str]] = []
    index = bars.index
    duplicated = index.duplicated(keep="first")
    for day in index[duplicated]:
        problems.append((_day(day), "duplicate date"))
    if len(index) > 1:
        steps = index[1:] < index[:-1]
        for position in np.flatnonzero(steps):
            problems.append(
                (_day(index[position + 1]), f"out of order (comes after {_day(index[position])})")
            )

    prices = bars.loc[:, list(PRICE_COLUMNS)].to_numpy()
    values = {c: bars[c].to_numpy() for c in BAR_COLUMNS}
    finite = np.isfinite(prices).all(axis=1)
    with np.errstate(invalid="ignore"):
        top = np.fmax(values["open"], values["close"])
        bottom = np.fmin(values["open"], values["close"])
        checks = (
            (~finite, lambda i: "missing or infinite price"),
            (finite & (prices <= 0).any(axis=1), lambda i: "non-positive price"),
            (finite & (values["high"] < top),
             lambda i: f"high {values['high'][i]:.6g} < max(open, close) {top[i]:.6g}"),
            (finite & (values["low"] > bottom),
             lambda i: f"low {values['low'][i]:.6g} > min(open, close) {bottom[i]:.6g}"),
            (~np.isfinite(values["volume"]), lambda i: "missing volume"),
            (values["volume"] < 0, lambda i: f"negative volume {values['volume'][i]:.6g}"),
        )
    for mask, reason in checks:
        for position in np.flatnonzero(mask):
            problems.append((_day(index[position]), reason(position)))

    if problems:
        problems.sort(key=lambda p: p[0])
        log.warning("%s: %d bar problem(s), first on %s", symbol, len(problems), problems[0][0])
        raise _fail(symbol, problems)
    return bars
