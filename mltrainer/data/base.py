"""The small interface every data source implements, and helpers shared by the sources.

A *bar source* serves daily OHLCV bars for ticker symbols; a *series source* serves one macro series
(FRED ids) at a time. Sources convert provider formats once, at this boundary: what they return is a
float64 frame indexed by tz-naive trading dates named ``date``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import pandas as pd

from mltrainer.data.validation import BAR_COLUMNS
from mltrainer.errors import InvalidInputError, UnknownSeriesError, UnknownSymbolError

__all__ = [
    "BarSource",
    "SeriesSource",
    "normalize_symbol",
    "normalize_series_id",
    "unknown_symbol",
    "unknown_series",
    "empty_bars",
    "day_string",
]

# Tickers as providers spell them: AAPL, BRK.B, ^GSPC, I:SPX, X:BTCUSD. Anything else (slashes,
# spaces) is refused early, which also keeps symbols safe to use in store file names.
_SYMBOL_RE = re.compile(r"^[A-Z0-9^][A-Z0-9.^:_-]{0,23}$")
_SERIES_RE = re.compile(r"^[A-Z0-9_.]{1,40}$")


@runtime_checkable
class BarSource(Protocol):
    """Where daily bars come from. ``fetch`` returns bars in ``[start, end]`` (calendar dates)."""

    name: str
    dataset: str

    def symbols(self) -> list[str]: ...

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame: ...


@runtime_checkable
class SeriesSource(Protocol):
    """Where macro series come from. ``fetch`` returns the observations in ``[start, end]``."""

    name: str
    dataset: str

    def fetch(self, series_id: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.Series: ...


def normalize_symbol(symbol: object) -> str:
    """Upper-case, stripped ticker; ``InvalidInputError`` for something that cannot be a ticker."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidInputError("A symbol is required, e.g. AAPL or ^GSPC.")
    text = symbol.strip().upper()
    if not _SYMBOL_RE.match(text):
        raise InvalidInputError(
            f"{symbol!r} is not a ticker symbol: use letters, digits and . ^ : - only, e.g. AAPL or ^GSPC."
        )
    return text


def normalize_series_id(series_id: object) -> str:
    """Upper-case, stripped FRED-style series id; ``InvalidInputError`` otherwise."""
    if not isinstance(series_id, str) or not series_id.strip():
        raise InvalidInputError("A series id is required, e.g. VIXCLS or CPILFESL.")
    text = series_id.strip().upper()
    if not _SERIES_RE.match(text):
        raise InvalidInputError(
            f"{series_id!r} is not a series id: use letters, digits and underscores, e.g. VIXCLS."
        )
    return text


def _suggest(name: str, available: Iterable[str]) -> str:
    options = sorted(available)
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return f"{hint} Available: {', '.join(options)}." if options else hint


def unknown_symbol(symbol: str, source: str, available: Iterable[str]) -> UnknownSymbolError:
    hint = _suggest(symbol, available)
    return UnknownSymbolError(f"Unknown symbol {symbol!r} for the {source} source.{hint}")


def unknown_series(series_id: str, source: str, available: Iterable[str]) -> UnknownSeriesError:
    return UnknownSeriesError(
        f"Unknown series {series_id!r} for the {source} source.{_suggest(series_id, available)}"
    )


def empty_bars() -> pd.DataFrame:
    """A zero-row frame with the bar schema."""
    frame = pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in BAR_COLUMNS},
        index=pd.DatetimeIndex([], name="date"),
    )
    return frame


def day_string(value: pd.Timestamp | None) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")
