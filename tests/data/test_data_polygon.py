"""Polygon through the official RESTClient against a local server speaking Polygon's v2 aggs JSON.

The served bars are the real offline AAPL bars; these tests check that they survive the round trip
through Polygon's wire format exactly, and how each provider failure surfaces.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mltrainer.config import get_settings
from mltrainer.data import PolygonBarSource, load_bars
from mltrainer.data.polygon_source import polygon_date
from mltrainer.errors import DataSourceError, UnknownSymbolError

JUNE_2010 = ("2010-06-01", "2010-06-30")


def _fetch(start: str, end: str, symbol: str = "AAPL") -> pd.DataFrame:
    return PolygonBarSource(get_settings()).fetch(symbol, pd.Timestamp(start), pd.Timestamp(end))


def test_polygon_date_is_the_new_york_trading_day():
    # 2010-06-30 00:00 EDT = 04:00 UTC; 2010-01-04 00:00 EST = 05:00 UTC (hand-computed epochs).
    dates = polygon_date([1277870400000, 1262581200000])
    assert list(dates) == [pd.Timestamp("2010-06-30"), pd.Timestamp("2010-01-04")]
    assert dates.tz is None and dates.name == "date"


def test_bars_round_trip_with_pagination(polygon):
    expected = load_bars("AAPL", "2010-01-01", "2010-06-30", source="offline")
    bars = _fetch("2010-01-01", "2010-06-30")
    pd.testing.assert_frame_equal(bars, expected, check_freq=False)
    assert len(bars) == 124
    # 124 bars at 50 per page: the client followed next_url twice.
    assert len(polygon.hits) == 3
    assert polygon.hits[0]["path"] == "/v2/aggs/ticker/AAPL/range/1/day/2010-01-01/2010-06-30"
    assert polygon.hits[0]["query"] == {"adjusted": "true", "sort": "asc", "limit": "50000"}
    assert [h["query"].get("cursor") for h in polygon.hits[1:]] == ["50", "100"]
    # The key goes in the Authorization header that we passed explicitly, never in the URL.
    assert {h["authorization"] for h in polygon.hits} == {f"Bearer {polygon.key}"}


def test_load_bars_from_polygon_has_provenance(polygon):
    bars = load_bars("aapl", *JUNE_2010, source="polygon")
    assert bars.attrs["provenance"] == {
        "source": "polygon",
        "dataset": "Polygon.io daily aggregates (split-adjusted)",
        "symbol": "AAPL",
        "first": "2010-06-01",
        "last_bar": "2010-06-30",
        "rows": 22,
        "fetched_rows": 22,
    }
    assert bars.loc["2010-06-30", "close"] == load_bars("AAPL", source="offline").loc["2010-06-30", "close"]


def test_429_then_success_is_retried(polygon):
    polygon.push(429, json.dumps({"status": "ERROR", "request_id": "r1",
                                  "error": "You've exceeded the maximum requests per minute"}))
    bars = _fetch(*JUNE_2010)
    assert len(bars) == 22
    assert len(polygon.hits) == 2


def test_persistent_500_is_a_data_source_error(polygon, monkeypatch):
    monkeypatch.setenv("MLTRAINER_HTTP_MAX_RETRIES", "1")
    for _ in range(2):
        polygon.push(500, '{"status":"ERROR","request_id":"r","error":"Internal Server Error"}')
    with pytest.raises(DataSourceError, match="kept failing after 1 retries"):
        _fetch(*JUNE_2010)
    assert len(polygon.hits) == 2


def test_persistent_429_says_rate_limit(polygon, monkeypatch):
    monkeypatch.setenv("MLTRAINER_HTTP_MAX_RETRIES", "0")
    polygon.push(429, '{"status":"ERROR","request_id":"r","error":"exceeded"}')
    with pytest.raises(DataSourceError, match="rate limit"):
        _fetch(*JUNE_2010)


def test_unknown_ticker_empty_results_is_unknown_symbol(polygon):
    with pytest.raises(UnknownSymbolError, match="Polygon has no daily bars for 'AAPX'"):
        load_bars("AAPX", *JUNE_2010, source="polygon")
    # Nothing is stored for a ticker Polygon does not know.
    assert not (get_settings().bars_dir / "polygon").exists()


def test_malformed_body_is_a_data_source_error_not_an_unknown_symbol(polygon):
    polygon.push(200, "<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    with pytest.raises(DataSourceError, match="malformed response"):
        _fetch(*JUNE_2010)


def test_bars_missing_fields_are_malformed(polygon):
    body = {"ticker": "AAPL", "status": "OK", "resultsCount": 1, "results": [{"o": 9.3, "t": 1277870400000}]}
    polygon.push(200, json.dumps(body))
    with pytest.raises(DataSourceError, match="lack one of o, h, l, c, v, t"):
        _fetch(*JUNE_2010)


def test_invalid_key_message_names_the_variable_not_the_key(polygon, monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", "pk_wrong_secret_123")
    with pytest.raises(DataSourceError) as info:
        _fetch(*JUNE_2010)
    assert "Polygon rejected POLYGON_API_KEY (Unknown API Key)" in str(info.value)
    assert "pk_wrong_secret_123" not in str(info.value)


def test_not_entitled_403(polygon):
    polygon.push(403, json.dumps({"status": "NOT_AUTHORIZED", "request_id": "r",
                                  "message": "You are not entitled to this data. Please upgrade your plan."}))
    with pytest.raises(DataSourceError, match="plan does not cover this request for AAPL"):
        _fetch(*JUNE_2010)


def test_missing_key_fails_before_any_network(polygon, monkeypatch):
    monkeypatch.delenv("POLYGON_API_KEY")
    with pytest.raises(DataSourceError, match="POLYGON_API_KEY is not set"):
        load_bars("AAPL", *JUNE_2010, source="polygon")
    assert polygon.hits == []


def test_slow_response_times_out(polygon, monkeypatch):
    monkeypatch.setenv("MLTRAINER_HTTP_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("MLTRAINER_HTTP_MAX_RETRIES", "0")
    polygon.push(200, "{}", hold=True)  # the server answers only after the test releases it
    with pytest.raises(DataSourceError, match="did not answer within 0.3 s"):
        _fetch(*JUNE_2010)


def test_a_key_echoed_by_the_provider_is_scrubbed(polygon):
    polygon.push(400, json.dumps({"status": "ERROR", "request_id": "r",
                                  "error": f"Bad request for apiKey={polygon.key}"}))
    with pytest.raises(DataSourceError) as info:
        _fetch(*JUNE_2010)
    assert polygon.key not in str(info.value)
    assert "apiKey=***" in str(info.value)
