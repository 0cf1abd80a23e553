"""Real market data: offline packages by default, Polygon bars and FRED series with API keys.

    load_bars(symbol, start, end, source)    daily OHLCV bars with provenance
    list_symbols / describe_symbols          what a source offers
    load_series / list_series                macro series (FRED ids), cached in process for an hour
    resolve_series_source                    which series source ``source=None`` means right now
    data_status                              active source, last bar, configured keys
    parse_date_range(start, end)             a user's start/end checked (format, order)
    validate_bars                            the boundary check every frame passes

Sources implement :class:`BarSource` / :class:`SeriesSource`; network bars are cached in the local
:class:`BarStore` under ``MLTRAINER_HOME``.
"""

from mltrainer.data.base import BarSource, SeriesSource
from mltrainer.data.fred_source import FredSeriesSource
from mltrainer.data.loaders import (
    BAR_SOURCES,
    SERIES_SOURCES,
    clear_series_cache,
    data_status,
    describe_symbols,
    list_series,
    list_symbols,
    load_bars,
    load_series,
    parse_date_range,
    resolve_series_source,
)
from mltrainer.data.offline import OFFLINE_SERIES, OFFLINE_SYMBOLS, OfflineBarSource, OfflineSeriesSource
from mltrainer.data.polygon_source import PolygonBarSource
from mltrainer.data.store import BarStore
from mltrainer.data.validation import BAR_COLUMNS, validate_bars

__all__ = [
    "load_bars",
    "list_symbols",
    "describe_symbols",
    "load_series",
    "list_series",
    "resolve_series_source",
    "clear_series_cache",
    "data_status",
    "parse_date_range",
    "validate_bars",
    "BAR_COLUMNS",
    "BAR_SOURCES",
    "SERIES_SOURCES",
    "OFFLINE_SYMBOLS",
    "OFFLINE_SERIES",
    "BarSource",
    "SeriesSource",
    "OfflineBarSource",
    "OfflineSeriesSource",
    "PolygonBarSource",
    "FredSeriesSource",
    "BarStore",
]
