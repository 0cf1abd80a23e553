"""The public data API: bars, symbols, macro series and the status the UI shows.

``source=None`` means ``settings.data_source`` for bars; for macro series it means FRED when
``FRED_API_KEY`` is set, else the offline series (:func:`resolve_series_source`). Network sources go
through the local :class:`~mltrainer.data.store.BarStore`, so a covered range is served without a
network call.

Macro series are kept in an in-process cache keyed by source (and FRED endpoint), series id and date
range, for up to an hour: a walk-forward fits a model once per fold and each fit asks for the same
series, which would otherwise be one FRED request per fold. Callers get copies, so editing a
returned series never changes what the next caller sees. :func:`clear_series_cache` empties it.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import pandas as pd

from mltrainer._util import parse_date
from mltrainer.config import Settings, get_settings
from mltrainer.data.base import day_string, normalize_series_id, normalize_symbol
from mltrainer.data.fred_source import FredSeriesSource
from mltrainer.data.offline import OFFLINE_SERIES, OFFLINE_SYMBOLS, OfflineBarSource, OfflineSeriesSource
from mltrainer.data.polygon_source import PolygonBarSource
from mltrainer.data.store import BarStore, new_york_today
from mltrainer.errors import InsufficientDataError, InvalidInputError, UnknownSymbolError

__all__ = [
    "BAR_SOURCES",
    "SERIES_SOURCES",
    "POLYGON_DEFAULT_START",
    "load_bars",
    "list_symbols",
    "describe_symbols",
    "load_series",
    "list_series",
    "data_status",
    "resolve_series_source",
    "clear_series_cache",
    "parse_date_range",
]

log = logging.getLogger(__name__)

BAR_SOURCES = ("offline", "polygon")
SERIES_SOURCES = ("offline", "fred")
_LABELS = {"offline": "Offline data", "polygon": "Polygon"}

#: Start of a Polygon request without ``start``: as far back as a plan may reach; Polygon returns
#: what the plan allows.
POLYGON_DEFAULT_START = pd.Timestamp("2000-01-01")


def _bar_source_name(source: str | None, settings: Settings) -> str:
    name = (source or settings.data_source).strip().lower()
    if name not in BAR_SOURCES:
        raise InvalidInputError(f"Unknown bar source {source!r}: use one of {', '.join(BAR_SOURCES)}.")
    return name


class _SeriesCache:
    """A small LRU of loaded series whose entries expire ``ttl_seconds`` after they were stored.

    The expiry bounds how stale a long-running process (API, dashboard) can be: FRED publishes new
    observations and revises old ones. Thread-safe; stores and hands out copies.
    """

    def __init__(self, maxsize: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.maxsize = maxsize
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, pd.Series]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _copy(series: pd.Series) -> pd.Series:
        out = series.copy(deep=True)
        out.attrs = copy.deepcopy(series.attrs)
        return out

    def get(self, key: Hashable) -> pd.Series | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, series = entry
            if self.clock() - stored_at >= self.ttl_seconds:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        return self._copy(series)

    def put(self, key: Hashable, series: pd.Series) -> None:
        kept = self._copy(series)
        with self._lock:
            self._entries[key] = (self.clock(), kept)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_series_cache = _SeriesCache(maxsize=128, ttl_seconds=3600.0)


def clear_series_cache() -> None:
    """Forget every cached macro series (the next :func:`load_series` call fetches again)."""
    _series_cache.clear()


def resolve_series_source(source: str | None = None) -> str:
    """The series source ``load_series`` would use for ``source``: ``"fred"`` or ``"offline"``.

    ``None`` means FRED when ``FRED_API_KEY`` is set, else offline; resolve it once and pass the name
    on when the same data must come from the same place later (e.g. a model's macro features).
    """
    return _series_source_name(source, get_settings())


def _series_source_name(source: str | None, settings: Settings) -> str:
    if source is None or not str(source).strip():
        return "fred" if settings.configured_keys["FRED_API_KEY"] else "offline"
    name = str(source).strip().lower()
    if name not in SERIES_SOURCES:
        raise InvalidInputError(f"Unknown series source {source!r}: use one of {', '.join(SERIES_SOURCES)}.")
    return name


def parse_date_range(start: object, end: object) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A user's ``start``/``end`` (YYYY-MM-DD text, date or None) as day timestamps, checked in order.

    The one range check behind bars, macro series and training, so all report a bad range alike.
    """
    first = parse_date(start, "start")
    last = parse_date(end, "end")
    if first is not None and last is not None and first > last:
        raise InvalidInputError(
            f"start {first.date()} is after end {last.date()}: swap them or widen the range."
        )
    return first, last


def _span(start: pd.Timestamp | None, end: pd.Timestamp | None) -> str:
    return f"between {day_string(start) or 'the beginning'} and {day_string(end) or 'the end'}"


def load_bars(symbol: str, start: Any = None, end: Any = None, source: str | None = None) -> pd.DataFrame:
    """Daily bars of ``symbol``: float64 ``open, high, low, close, volume`` indexed by ``date``.

    ``df.attrs["provenance"]`` says where the bars came from (source, dataset, first and last bar,
    rows, and ``fetched_rows`` — how many came over the network for this call).
    """
    settings = get_settings()
    name = _bar_source_name(source, settings)
    ticker = normalize_symbol(symbol)
    first, last = parse_date_range(start, end)

    if name == "offline":
        offline = OfflineBarSource()
        bars = offline.fetch(ticker, first, last)
        dataset, fetched_rows = offline.dataset_of(ticker), 0
        if bars.empty:
            whole = offline.full(ticker)
            raise InsufficientDataError(
                f"No {ticker} bars {_span(first, last)}: the offline data covers "
                f"{day_string(whole.index[0])} to {day_string(whole.index[-1])}."
            )
    else:
        polygon = PolygonBarSource(settings)
        store = BarStore(settings)
        last = last or new_york_today()
        first = first or POLYGON_DEFAULT_START
        if first > last:
            raise InvalidInputError(f"start {first.date()} is after today's date {last.date()}.")
        bars, fetched_rows = store.get(name, ticker, first, last, polygon.fetch)
        dataset = polygon.dataset
        if bars.empty:
            if not store.path(name, ticker).exists():
                raise UnknownSymbolError(
                    f"Polygon has no daily bars for {ticker!r} {_span(first, last)}: check the ticker "
                    "(e.g. AAPL, MSFT) or widen the date range."
                )
            raise InsufficientDataError(
                f"No {ticker} bars {_span(first, last)} at Polygon; widen the date range."
            )

    bars.attrs["provenance"] = {
        "source": name,
        "dataset": dataset,
        "symbol": ticker,
        "first": day_string(bars.index[0]),
        "last_bar": day_string(bars.index[-1]),
        "rows": int(len(bars)),
        "fetched_rows": int(fetched_rows),
    }
    return bars


def list_symbols(source: str | None = None) -> list[str]:
    """Symbols available from ``source``: the 7 offline ones, or those already in the Polygon store."""
    settings = get_settings()
    name = _bar_source_name(source, settings)
    if name == "offline":
        return list(OFFLINE_SYMBOLS)
    return PolygonBarSource(settings).symbols()


def describe_symbols(source: str | None = None) -> list[dict[str, Any]]:
    """One ``{symbol, source, first, last, rows}`` per available symbol."""
    settings = get_settings()
    name = _bar_source_name(source, settings)
    if name == "offline":
        offline = OfflineBarSource()
        extents = ((s, _extent(offline.full(s))) for s in OFFLINE_SYMBOLS)
    else:
        store = BarStore(settings)  # the files' footers, not their bars
        extents = ((s, store.extent(name, s)) for s in store.symbols(name))
    return [{"symbol": symbol, "source": name, "first": day_string(first), "last": day_string(last),
             "rows": int(rows)} for symbol, (first, last, rows) in extents]


def _extent(bars: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None, int]:
    if not len(bars):
        return None, None, 0
    return bars.index[0], bars.index[-1], len(bars)


def load_series(series_id: str, start: Any = None, end: Any = None, source: str | None = None) -> pd.Series:
    """One macro series (float64, indexed by ``date``, named by its id); missing values are NaN.

    Served from the in-process cache when the same source, id and range were loaded within the last
    hour (see the module docstring); always a fresh copy.
    """
    settings = get_settings()
    name = _series_source_name(source, settings)
    ident = normalize_series_id(series_id)
    first, last = parse_date_range(start, end)
    # The endpoint is part of the key so a different FRED server (e.g. a test stand-in) is asked anew.
    key = (name, settings.fred_base_url if name == "fred" else "", ident, first, last)
    cached = _series_cache.get(key)
    if cached is not None:
        return cached
    if name == "offline":
        offline = OfflineSeriesSource()
        info = offline.info(ident)
        series = offline.fetch(ident, first, last)
        dataset, title = info.dataset, info.title
    else:
        series = FredSeriesSource(settings).fetch(ident, first, last)
        dataset = FredSeriesSource.dataset
        title = OFFLINE_SERIES[ident].title if ident in OFFLINE_SERIES else ident
    if series.empty:
        raise InsufficientDataError(
            f"No {ident} observations {_span(first, last)} from {name}; widen the range."
        )
    series.attrs["provenance"] = {
        "source": name,
        "dataset": dataset,
        "series_id": ident,
        "title": title,
        "first": day_string(series.index[0]),
        "last": day_string(series.index[-1]),
        "last_bar": day_string(series.index[-1]),
        "rows": int(series.size),
    }
    _series_cache.put(key, series)
    return series


def list_series(source: str | None = None) -> list[dict[str, Any]]:
    """``{series_id, source, title, first, last, rows}`` per series.

    For FRED, which offers hundreds of thousands of series, this lists the well-known ids that also
    exist offline, with ``first``/``last``/``rows`` unknown (``None``) until fetched.
    """
    settings = get_settings()
    name = _series_source_name(source, settings)
    if name == "offline":
        return OfflineSeriesSource().describe()
    return [
        {"series_id": ident, "source": name, "title": info.title, "first": None, "last": None, "rows": None}
        for ident, info in sorted(OFFLINE_SERIES.items())
        if not ident.startswith("MACRODATA_")
    ]


def data_status(source: str | None = None) -> dict[str, Any]:
    """The active source, its latest bar over all available symbols and which keys are set."""
    settings = get_settings()
    name = _bar_source_name(source, settings)
    described = describe_symbols(name)
    lasts = [row["last"] for row in described if row["last"]]
    return {
        "source": name,
        "label": _LABELS[name],
        "last_bar": max(lasts) if lasts else None,
        "symbols": len(described),
        "keys": settings.configured_keys,
    }
