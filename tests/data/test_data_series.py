"""Macro series: offline (arch.data, statsmodels macrodata) and FRED through fredapi on a local server."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mltrainer.config import get_settings
from mltrainer.data import FredSeriesSource, clear_series_cache, list_series, load_series
from mltrainer.errors import DataSourceError, InsufficientDataError, UnknownSeriesError


# -- offline -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("series_id", "day", "value"),
    [
        ("CPILFESL", "1957-01-01", 28.5),       # arch core-cpi.csv first row
        ("DCOILWTICO", "1986-01-02", 25.56),
        ("VIXCLS", "2014-01-03", 13.76),
        ("AAA", "1919-01-01", 5.35),
        ("BAA", "2018-12-01", 5.13),
        ("MCOILWTICO", "1987-05-01", 19.44),    # labelled 1987-05-15 in the file
        ("GDPC1", "1959-01-01", 2710.349),      # macrodata realgdp 1959Q1
        ("GDPC1", "2009-07-01", 12990.341),     # 2009Q3
        ("UNRATE", "1959-04-01", 5.1),
    ],
)
def test_offline_values_from_the_packages(series_id, day, value):
    series = load_series(series_id.lower())
    assert series.loc[day] == pytest.approx(value)
    assert series.name == series_id and series.index.name == "date" and series.dtype == "float64"


def test_offline_series_keeps_missing_values_and_provenance():
    vix = load_series("VIXCLS", "2014-01-01", "2014-12-31")
    # The 2014 US market holidays after the data starts on 2014-01-03 ("." at FRED).
    assert vix[vix.isna()].index.strftime("%m-%d").tolist() == [
        "01-20", "02-17", "04-18", "05-26", "07-04", "09-01", "11-27", "12-25"]
    assert vix.attrs["provenance"] == {
        "source": "offline", "dataset": "arch.data vix (FRED VIXCLS)", "series_id": "VIXCLS",
        "title": "CBOE Volatility Index: VIX (daily close)", "first": "2014-01-03", "last": "2014-12-31",
        "last_bar": "2014-12-31", "rows": 259,
    }


def test_list_series_offline():
    rows = {r["series_id"]: r for r in list_series()}
    expected = {"CPILFESL", "DCOILWTICO", "VIXCLS", "AAA", "BAA", "GDPC1", "CPIAUCSL", "UNRATE", "TB3MS"}
    assert expected <= set(rows)
    assert rows["GDPC1"] == {"series_id": "GDPC1", "source": "offline",
                             "title": "Real GDP (bil. chained 2005 $, SAAR, quarterly)",
                             "first": "1959-01-01", "last": "2009-07-01", "rows": 203}


def test_unknown_offline_series_suggests():
    with pytest.raises(UnknownSeriesError, match="Did you mean VIXCLS"):
        load_series("VIXCL")


def test_empty_offline_range():
    message = "No VIXCLS observations between 2000-01-01 and 2000-12-31"
    with pytest.raises(InsufficientDataError, match=message):
        load_series("VIXCLS", "2000-01-01", "2000-12-31")


# -- FRED ----------------------------------------------------------------------------------------------
def _source(backoffs: list[float] | None = None) -> FredSeriesSource:
    sleeps = backoffs if backoffs is not None else []
    return FredSeriesSource(get_settings(), backoff_seconds=0.25, sleep=sleeps.append)


def test_fred_is_the_default_with_a_key_and_matches_the_real_values(fred):
    series = load_series("vixcls", "2014-01-01", "2014-01-31")
    offline = load_series("VIXCLS", "2014-01-01", "2014-01-31", source="offline")
    pd.testing.assert_series_equal(series, offline, check_freq=False)
    assert series.attrs["provenance"]["source"] == "fred"
    assert fred.hits[0]["path"] == "/series/observations"
    assert fred.hits[0]["query"]["observation_start"] == "2014-01-01"
    assert fred.hits[0]["query"]["observation_end"] == "2014-01-31"


def test_fred_dot_becomes_nan(fred):
    series = load_series("VIXCLS", "2014-01-17", "2014-01-21")  # MLK day 2014-01-20 is "."
    assert series.index.strftime("%Y-%m-%d").tolist() == ["2014-01-17", "2014-01-20", "2014-01-21"]
    assert math.isnan(series.loc["2014-01-20"]) and series.loc["2014-01-17"] == 12.44


def test_fred_unknown_series_error_body(fred):
    with pytest.raises(UnknownSeriesError, match="The series does not exist"):
        load_series("NOSUCHSERIES", source="fred")


def test_fred_invalid_key_is_not_echoed(fred, monkeypatch):
    monkeypatch.setenv("FRED_API_KEY", "ffffffffffffffffffffffffffffffff")
    with pytest.raises(DataSourceError) as info:
        load_series("VIXCLS", source="fred")
    assert "FRED rejected FRED_API_KEY" in str(info.value)
    assert "ffffffff" not in str(info.value)


def test_fred_429_then_success_backs_off(fred):
    fred.push_error("Too Many Requests.  Exceeded Rate Limit", 429)
    sleeps: list[float] = []
    series = _source(sleeps).fetch("VIXCLS", pd.Timestamp("2014-01-01"), pd.Timestamp("2014-01-10"))
    assert series.size == 6
    assert sleeps == [0.25]
    assert len(fred.hits) == 2


def test_fred_persistent_500(fred):
    for _ in range(3):
        fred.push(500, "<html>Internal Server Error</html>", content_type="text/html")
    sleeps: list[float] = []
    with pytest.raises(DataSourceError, match="FRED request failed with HTTP 500"):
        _source(sleeps).fetch("VIXCLS", None, None)
    assert sleeps == [0.25, 0.5]  # two retries with exponential backoff, then give up
    assert len(fred.hits) == 3


def test_fred_malformed_body(fred):
    fred.push(200, "<observations><observation date=", content_type="text/xml")
    with pytest.raises(DataSourceError, match="malformed response"):
        load_series("VIXCLS", source="fred")


def test_fred_malformed_value(fred):
    fred.push(200, '<observations><observation realtime_start="2019-01-04" realtime_end="2019-01-04" '
                   'date="2014-01-03" value="n/a"/></observations>', content_type="text/xml")
    with pytest.raises(DataSourceError, match="malformed value in VIXCLS"):
        load_series("VIXCLS", source="fred")


def test_fred_slow_response_times_out(fred, monkeypatch):
    monkeypatch.setenv("MLTRAINER_HTTP_TIMEOUT_SECONDS", "0.3")
    fred.push(200, "<observations/>", content_type="text/xml", hold=True)
    with pytest.raises(DataSourceError, match="FRED did not answer within 0.3 s"):
        _source().fetch("VIXCLS", None, None)


def test_fred_missing_key_fails_before_network(fred, monkeypatch):
    monkeypatch.delenv("FRED_API_KEY")
    with pytest.raises(DataSourceError, match="FRED_API_KEY is not set"):
        load_series("VIXCLS", source="fred")
    assert fred.hits == []
    # Without a key the default is the offline series.
    assert load_series("VIXCLS").attrs["provenance"]["source"] == "offline"


def test_fred_key_echoed_in_an_error_is_scrubbed(fred):
    fred.push_error(f"Bad Request.  Variable api_key={fred.key} is not a 32 character alpha-numeric string.")
    with pytest.raises(DataSourceError) as info:
        load_series("VIXCLS", source="fred")
    assert fred.key not in str(info.value)
    assert "api_key=***" in str(info.value)


# -- in-process cache ------------------------------------------------------------------------------------
def test_fred_series_are_fetched_once_per_range_and_handed_out_as_copies(fred):
    first = load_series("VIXCLS", "2014-01-01", "2014-01-31")
    assert len(fred.hits) == 1
    first.iloc[0] = -1.0  # the caller's copy: must not leak into the next answer
    first.attrs["provenance"]["source"] = "edited"
    again = load_series("VIXCLS", "2014-01-01", "2014-01-31")
    assert len(fred.hits) == 1  # served from the cache, no second request
    assert again.loc["2014-01-03"] == pytest.approx(13.76)  # the real first VIX close of 2014
    assert again.attrs["provenance"]["source"] == "fred"
    load_series("VIXCLS", "2014-02-01", "2014-02-28")  # another range is another request
    assert len(fred.hits) == 2
    # The offline copy of the same range is a different source: not answered from the FRED entry.
    assert load_series("VIXCLS", "2014-01-01", "2014-01-31", source="offline").attrs["provenance"][
        "source"] == "offline"
    clear_series_cache()
    load_series("VIXCLS", "2014-01-01", "2014-01-31")
    assert len(fred.hits) == 3


def test_a_failed_fred_request_is_not_cached(fred):
    fred.push_error("Bad Request.  The series does not exist.")
    with pytest.raises(UnknownSeriesError):
        load_series("VIXCLS", "2014-01-01", "2014-01-31")
    assert load_series("VIXCLS", "2014-01-01", "2014-01-31").loc["2014-01-03"] == pytest.approx(13.76)
    assert len(fred.hits) == 2


def test_series_cache_entries_expire_and_the_oldest_is_evicted():
    from mltrainer.data.loaders import _SeriesCache

    now = [0.0]
    cache = _SeriesCache(maxsize=2, ttl_seconds=60.0, clock=lambda: now[0])
    a = pd.Series([1.0, 2.0], name="A")
    cache.put("a", a)
    cache.put("b", pd.Series([3.0], name="B"))
    assert cache.get("a").tolist() == [1.0, 2.0]  # "a" is now the most recently used
    cache.put("c", pd.Series([4.0], name="C"))  # evicts "b", the least recently used
    assert cache.get("b") is None and len(cache) == 2
    now[0] = 59.9
    assert cache.get("c").tolist() == [4.0]
    now[0] = 60.0
    assert cache.get("c") is None and cache.get("a") is None
