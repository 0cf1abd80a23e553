"""The offline source: real daily history shipped inside installed packages, read at runtime.

- Stocks AAPL, FB, GOOG, IBM, MSFT (2000-2013) from ``bokeh_sampledata.stocks`` — Quandl WIKI prices,
  public domain. Their OHLC is unadjusted while ``adj_close`` is split- and dividend-adjusted, so
  open/high/low/close are multiplied by ``adj_close / close`` and volume divided by it (AAPL's 2:1
  split on 2005-02-28 is then not a -50% day, and dollar volume is unchanged).
- Indices ^GSPC and ^IXIC (1999-2018) from ``arch.data.sp500`` / ``arch.data.nasdaq``, adjusted the
  same way (their Adj Close equals Close, so the factor is 1).
- Macro series from ``arch.data`` and ``statsmodels``' macrodata under their FRED ids where one exists.

Nothing is invented or repaired: every frame goes through :func:`validate_bars`. Multiplying a whole
bar by one positive factor keeps ``low <= open, close <= high`` exactly (IEEE rounding is monotonic),
so the adjustment itself cannot create violations; the shipped data passes validation as is.
Parsed data is cached per process; callers always receive copies.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import pandas as pd

from mltrainer.data.base import day_string, unknown_series, unknown_symbol
from mltrainer.data.validation import validate_bars

__all__ = [
    "OFFLINE_SYMBOLS",
    "OfflineBarSource",
    "OfflineSeriesSource",
    "OFFLINE_SERIES",
    "OfflineSeriesInfo",
]

log = logging.getLogger(__name__)

_BOKEH_TICKERS = ("AAPL", "FB", "GOOG", "IBM", "MSFT")
_ARCH_INDICES = {"^GSPC": "sp500", "^IXIC": "nasdaq"}
OFFLINE_SYMBOLS: tuple[str, ...] = ("AAPL", "FB", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC")

_DATASETS = {
    **{t: "bokeh-sampledata stocks (Quandl WIKI, split/dividend-adjusted)" for t in _BOKEH_TICKERS},
    "^GSPC": "arch.data sp500 (S&P 500 index, adjusted)",
    "^IXIC": "arch.data nasdaq (NASDAQ Composite index, adjusted)",
}


def _adjust(raw: pd.DataFrame) -> pd.DataFrame:
    """Apply the adj_close/close factor to OHLC and its inverse to volume."""
    factor = raw["adj_close"] / raw["close"]
    adjusted = raw.loc[:, ["open", "high", "low", "close"]].mul(factor, axis=0)
    adjusted["volume"] = raw["volume"].astype("float64") / factor
    return adjusted.astype("float64")


@functools.lru_cache(maxsize=None)
def _offline_frame(symbol: str) -> pd.DataFrame:
    if symbol in _BOKEH_TICKERS:
        import bokeh_sampledata.stocks as stocks

        raw = pd.DataFrame(getattr(stocks, symbol))
        raw.index = pd.DatetimeIndex(pd.to_datetime(raw.pop("date"), format="%Y-%m-%d"), name="date")
    else:
        import importlib

        module = importlib.import_module(f"arch.data.{_ARCH_INDICES[symbol]}")
        raw = module.load().rename(
            columns={"Open": "open", "High": "high", "Low": "low", "Close": "close",
                     "Adj Close": "adj_close", "Volume": "volume"}
        )
        raw.index = pd.DatetimeIndex(raw.index, name="date")
    bars = validate_bars(_adjust(raw), symbol)
    log.debug("offline %s: %d bars parsed", symbol, len(bars))
    return bars


class OfflineBarSource:
    """Daily bars from installed packages (no network, no key)."""

    name = "offline"

    @property
    def dataset(self) -> str:
        return "offline packages (bokeh-sampledata stocks, arch.data indices)"

    def dataset_of(self, symbol: str) -> str:
        return _DATASETS[symbol]

    def symbols(self) -> list[str]:
        return list(OFFLINE_SYMBOLS)

    def full(self, symbol: str) -> pd.DataFrame:
        """Every bar of ``symbol`` (a copy)."""
        if symbol not in OFFLINE_SYMBOLS:
            raise unknown_symbol(symbol, self.name, OFFLINE_SYMBOLS)
        return _offline_frame(symbol).copy()

    def fetch(self, symbol: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
        if symbol not in OFFLINE_SYMBOLS:
            raise unknown_symbol(symbol, self.name, OFFLINE_SYMBOLS)
        return _offline_frame(symbol).loc[start:end].copy()


# -- macro series ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OfflineSeriesInfo:
    """Where an offline series comes from. ``column`` is the column in the package's data set."""

    series_id: str
    title: str
    loader: str
    column: str
    dataset: str


_SM = "statsmodels macrodata (US quarterly, 1959Q1-2009Q3, FRED vintage 2009-12)"
_ARCH = "arch.data"
OFFLINE_SERIES: dict[str, OfflineSeriesInfo] = {
    info.series_id: info
    for info in (
        OfflineSeriesInfo("CPILFESL", "CPI for All Urban Consumers: All Items Less Food and Energy (monthly)",
                          "core_cpi", "CPILFESL", f"{_ARCH} core_cpi (FRED CPILFESL)"),
        OfflineSeriesInfo("DCOILWTICO",
                          "Crude Oil Prices: West Texas Intermediate, Cushing OK (daily, $/bbl)",
                          "wti", "DCOILWTICO", f"{_ARCH} wti (FRED DCOILWTICO)"),
        OfflineSeriesInfo("MCOILWTICO", "Crude Oil Prices: West Texas Intermediate (monthly average, $/bbl)",
                          "crude", "WTI", f"{_ARCH} crude (monthly averages)"),
        OfflineSeriesInfo("MCOILBRENTEU", "Crude Oil Prices: Brent - Europe (monthly average, $/bbl)",
                          "crude", "Brent", f"{_ARCH} crude (monthly averages)"),
        OfflineSeriesInfo("VIXCLS", "CBOE Volatility Index: VIX (daily close)", "vix", "vix",
                          f"{_ARCH} vix (FRED VIXCLS)"),
        OfflineSeriesInfo("AAA", "Moody's Seasoned Aaa Corporate Bond Yield (monthly, %)", "default", "AAA",
                          f"{_ARCH} default (FRED AAA)"),
        OfflineSeriesInfo("BAA", "Moody's Seasoned Baa Corporate Bond Yield (monthly, %)", "default", "BAA",
                          f"{_ARCH} default (FRED BAA)"),
        OfflineSeriesInfo("GDPC1", "Real GDP (bil. chained 2005 $, SAAR, quarterly)",
                          "macrodata", "realgdp", _SM),
        OfflineSeriesInfo("PCECC96",
                          "Real personal consumption expenditures (bil. chained 2005 $, SAAR, quarterly)",
                          "macrodata", "realcons", _SM),
        OfflineSeriesInfo("GPDIC1",
                          "Real gross private domestic investment (bil. chained 2005 $, SAAR, quarterly)",
                          "macrodata", "realinv", _SM),
        OfflineSeriesInfo("FGCEC1", "Real federal consumption expenditures & gross investment "
                          "(bil. chained 2005 $, SAAR, quarterly)", "macrodata", "realgovt", _SM),
        OfflineSeriesInfo("DSPIC96", "Real disposable personal income (bil. chained 2005 $, SAAR, quarterly)",
                          "macrodata", "realdpi", _SM),
        OfflineSeriesInfo("CPIAUCSL",
                          "CPI for All Urban Consumers: All Items (1982-84=100, SA, end of quarter)",
                          "macrodata", "cpi", _SM),
        OfflineSeriesInfo("M1SL", "M1 money stock (bil. $, SA, end of quarter)", "macrodata", "m1", _SM),
        OfflineSeriesInfo("TB3MS", "3-Month Treasury Bill secondary market rate (%, quarterly average)",
                          "macrodata", "tbilrate", _SM),
        OfflineSeriesInfo("UNRATE", "Unemployment rate (%, SA, quarterly)", "macrodata", "unemp", _SM),
        # No FRED id carries these exact definitions/units, so they keep a macrodata name.
        OfflineSeriesInfo("MACRODATA_POP",
                          "US population incl. armed forces overseas (millions, end of quarter)",
                          "macrodata", "pop", _SM),
        OfflineSeriesInfo("MACRODATA_INFL", "Inflation rate, 400*ln(cpi_t/cpi_t-1) (% annualised, quarterly)",
                          "macrodata", "infl", _SM),
        OfflineSeriesInfo("MACRODATA_REALINT", "Real interest rate, tbilrate - infl (%, quarterly)",
                          "macrodata", "realint", _SM),
    )
}


@functools.lru_cache(maxsize=None)
def _raw_table(loader: str) -> pd.DataFrame:
    if loader == "macrodata":
        import statsmodels.api as sm

        data = sm.datasets.macrodata.load_pandas().data
        # FRED dates quarterly observations by the first day of the quarter.
        periods = pd.PeriodIndex.from_fields(
            year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q"
        )
        table = data.drop(columns=["year", "quarter"])
        table.index = pd.DatetimeIndex(periods.start_time, name="date")
        return table
    import importlib

    table = importlib.import_module(f"arch.data.{loader}").load()
    table.index = pd.DatetimeIndex(table.index, name="date")
    if loader == "crude":
        # The file labels monthly averages by the 15th; FRED dates monthly values by the 1st.
        table.index = pd.DatetimeIndex(table.index.to_period("M").start_time, name="date")
    return table


@functools.lru_cache(maxsize=None)
def _offline_series(series_id: str) -> pd.Series:
    info = OFFLINE_SERIES[series_id]
    series = _raw_table(info.loader)[info.column].astype("float64").rename(series_id)
    series.index.name = "date"
    return series


class OfflineSeriesSource:
    """Macro series from installed packages (no network, no key). Missing values stay NaN, as FRED's '.'."""

    name = "offline"
    dataset = "offline packages (arch.data, statsmodels macrodata)"

    def series_ids(self) -> list[str]:
        return sorted(OFFLINE_SERIES)

    def info(self, series_id: str) -> OfflineSeriesInfo:
        if series_id not in OFFLINE_SERIES:
            raise unknown_series(series_id, self.name, OFFLINE_SERIES)
        return OFFLINE_SERIES[series_id]

    def fetch(self, series_id: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.Series:
        self.info(series_id)
        return _offline_series(series_id).loc[start:end].copy()

    def describe(self) -> list[dict]:
        rows = []
        for series_id in self.series_ids():
            series = _offline_series(series_id)
            rows.append({
                "series_id": series_id,
                "source": self.name,
                "title": OFFLINE_SERIES[series_id].title,
                "first": day_string(series.index[0]),
                "last": day_string(series.index[-1]),
                "rows": int(series.size),
            })
        return rows
