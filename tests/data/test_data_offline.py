"""The offline source: real shipped data, adjusted for splits/dividends, with provenance."""

from __future__ import annotations

import bokeh_sampledata.stocks as stocks
import numpy as np
import pandas as pd
import pytest

from mltrainer.data import data_status, describe_symbols, list_symbols, load_bars, validate_bars
from mltrainer.errors import InsufficientDataError, InvalidInputError, UnknownSymbolError

EXPECTED_RANGES = [
    {"symbol": "AAPL", "source": "offline", "first": "2000-03-01", "last": "2013-03-01", "rows": 3270},
    {"symbol": "FB", "source": "offline", "first": "2012-05-18", "last": "2013-03-01", "rows": 196},
    {"symbol": "GOOG", "source": "offline", "first": "2004-08-19", "last": "2013-03-01", "rows": 2148},
    {"symbol": "IBM", "source": "offline", "first": "2000-03-01", "last": "2013-03-01", "rows": 3270},
    {"symbol": "MSFT", "source": "offline", "first": "2000-03-01", "last": "2013-03-01", "rows": 3270},
    {"symbol": "^GSPC", "source": "offline", "first": "1999-01-04", "last": "2018-12-31", "rows": 5031},
    {"symbol": "^IXIC", "source": "offline", "first": "1999-01-04", "last": "2018-12-31", "rows": 5031},
]


def _raw(symbol: str, day: str, column: str) -> float:
    data = getattr(stocks, symbol)
    return data[column][data["date"].index(day)]


def test_seven_symbols_with_their_real_date_ranges():
    assert list_symbols("offline") == ["AAPL", "FB", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"]
    assert describe_symbols("offline") == EXPECTED_RANGES
    assert list_symbols() == list_symbols("offline")  # offline is the default source


@pytest.mark.parametrize("symbol", ["AAPL", "FB", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"])
def test_frames_follow_the_bar_contract_and_pass_validation(symbol):
    bars = load_bars(symbol)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert (bars.dtypes == "float64").all()
    assert isinstance(bars.index, pd.DatetimeIndex) and bars.index.name == "date"
    assert bars.index.tz is None and bars.index.is_monotonic_increasing and bars.index.is_unique
    validate_bars(bars, symbol)  # the shipped data needs no repair


def test_aapl_adjusted_close_matches_the_dataset_adj_close():
    bars = load_bars("AAPL", "2010-06-30", "2010-06-30")
    assert bars["close"].iloc[0] == pytest.approx(_raw("AAPL", "2010-06-30", "adj_close"), rel=1e-12)
    assert bars["close"].iloc[0] == pytest.approx(32.325110737244, rel=1e-12)
    # Unadjusted close that day was 251.53: the adjustment really happened.
    assert _raw("AAPL", "2010-06-30", "close") == 251.53


def test_aapl_2005_split_is_not_a_minus_50_percent_day():
    # Raw closes: 88.99 on 2005-02-25, 44.86 on 2005-02-28 (the 2:1 split).
    assert _raw("AAPL", "2005-02-28", "close") / _raw("AAPL", "2005-02-25", "close") - 1 < -0.49
    bars = load_bars("AAPL", "2005-02-01", "2005-03-31")
    returns = bars["close"].pct_change().dropna()
    assert returns.abs().max() < 0.40
    assert returns.loc["2005-02-28"] == pytest.approx(5.765135 / 5.718228 - 1, abs=1e-6)


def test_volume_is_scaled_inversely_so_dollar_volume_is_unchanged():
    bars = load_bars("AAPL", "2005-02-28", "2005-02-28")
    raw_dollars = _raw("AAPL", "2005-02-28", "volume") * _raw("AAPL", "2005-02-28", "close")
    assert bars["volume"].iloc[0] * bars["close"].iloc[0] == pytest.approx(raw_dollars, rel=1e-12)
    assert _raw("AAPL", "2005-02-28", "volume") == 11635900


def test_index_closes_on_known_dates():
    gspc = load_bars("^gspc", "2008-09-29", "2008-09-30")
    assert gspc["close"].tolist() == pytest.approx([1106.420044, 1166.359985])
    assert load_bars("^GSPC").loc["1999-01-04", "close"] == pytest.approx(1228.099976)
    assert load_bars("^IXIC").loc["2018-12-31", "close"] == pytest.approx(6635.279785)


def test_provenance():
    bars = load_bars("msft", "2012-01-01", "2012-12-31")
    assert bars.attrs["provenance"] == {
        "source": "offline",
        "dataset": "bokeh-sampledata stocks (Quandl WIKI, split/dividend-adjusted)",
        "symbol": "MSFT",
        "first": "2012-01-03",
        "last_bar": "2012-12-31",
        "rows": 250,
        "fetched_rows": 0,
    }
    nasdaq = load_bars("^IXIC").attrs["provenance"]
    assert nasdaq["dataset"] == "arch.data nasdaq (NASDAQ Composite index, adjusted)"


def test_callers_get_copies_of_the_cached_data():
    bars = load_bars("IBM")
    bars.loc[:, "close"] = np.nan
    assert load_bars("IBM")["close"].notna().all()


def test_start_and_end_accept_dates_and_timestamps():
    import datetime as dt

    a = load_bars("AAPL", dt.date(2010, 6, 1), pd.Timestamp("2010-06-30"))
    b = load_bars("AAPL", "2010-06-01", "2010-06-30")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 22


def test_unknown_symbol_suggests_close_matches():
    with pytest.raises(UnknownSymbolError) as info:
        load_bars("AAPLE")
    assert "Did you mean AAPL?" in str(info.value)
    assert "Available: AAPL, FB, GOOG, IBM, MSFT, ^GSPC, ^IXIC" in str(info.value)


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="start 2010-07-01 is after end 2010-06-01"):
        load_bars("AAPL", "2010-07-01", "2010-06-01")
    with pytest.raises(InvalidInputError, match="Invalid start '2010-02-30'"):
        load_bars("AAPL", "2010-02-30")
    with pytest.raises(InsufficientDataError, match="the offline data covers 2000-03-01 to 2013-03-01"):
        load_bars("AAPL", "2014-01-01", "2014-12-31")
    with pytest.raises(InvalidInputError, match="is not a ticker symbol"):
        load_bars("../etc/passwd")
    with pytest.raises(InvalidInputError, match="Unknown bar source 'yahoo'"):
        load_bars("AAPL", source="yahoo")


def test_data_status_offline():
    assert data_status() == {
        "source": "offline",
        "label": "Offline data",
        "last_bar": "2018-12-31",
        "symbols": 7,
        "keys": {"POLYGON_API_KEY": False, "FRED_API_KEY": False},
    }


def test_every_source_implements_its_interface():
    from mltrainer.config import get_settings
    from mltrainer.data import (
        BarSource,
        FredSeriesSource,
        OfflineBarSource,
        OfflineSeriesSource,
        PolygonBarSource,
        SeriesSource,
    )

    assert isinstance(OfflineBarSource(), BarSource)
    assert isinstance(PolygonBarSource(get_settings()), BarSource)
    assert isinstance(OfflineSeriesSource(), SeriesSource)
    assert isinstance(FredSeriesSource(get_settings()), SeriesSource)
