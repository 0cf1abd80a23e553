"""The dashboard on the Polygon source, against a local server speaking Polygon's v2 aggregates JSON.

Every bar it serves is a real offline AAPL bar; the official client reaches it through
``MLTRAINER_POLYGON_BASE_URL``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mltrainer import services
from mltrainer.data import load_bars

KEY = "pk_dashboard_test_7f3a"


def _aggs_body(path: str, offline: dict) -> tuple[int, dict]:
    parts = path.strip("/").split("/")  # v2/aggs/ticker/{ticker}/range/1/day/{from}/{to}
    if len(parts) != 9 or parts[:3] != ["v2", "aggs", "ticker"]:
        return 404, {"status": "NOT_FOUND", "request_id": "r0", "message": "Not found"}
    ticker, first, last = parts[3], parts[7], parts[8]
    envelope = {"ticker": ticker, "adjusted": True, "status": "OK", "request_id": "r1", "queryCount": 0,
                "resultsCount": 0, "count": 0}
    if ticker not in offline:
        return 200, envelope
    bars = offline[ticker].loc[first:last]
    stamps = bars.index.tz_localize("America/New_York")  # Polygon stamps daily bars at NY midnight
    results = [{"o": float(r.open), "h": float(r.high), "l": float(r.low), "c": float(r.close),
                "v": float(r.volume), "t": int(t.value // 1_000_000)}
               for t, r in zip(stamps, bars.itertuples(), strict=True)]
    envelope.update(queryCount=len(results), resultsCount=len(results), count=len(results))
    if results:
        envelope["results"] = results
    return 200, envelope


@pytest.fixture
def polygon(monkeypatch):
    offline = {"AAPL": load_bars("AAPL", source="offline")}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            path = urllib.parse.urlsplit(self.path).path
            hits.append(path)
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                status, body = 401, {"status": "ERROR", "request_id": "r", "error": "Unknown API Key"}
            else:
                status, body = _aggs_body(path, offline)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setenv("MLTRAINER_DATA_SOURCE", "polygon")
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    monkeypatch.setenv("MLTRAINER_POLYGON_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("MLTRAINER_HTTP_MAX_RETRIES", "0")
    yield hits
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_fetch_from_polygon_on_the_data_page_then_live_signals(polygon, page, router):
    at = page("data").run()
    assert "No symbols stored for this source yet" in at.info[0].value
    at.text_input(key="data_fetch_ticker").input("aapl")
    at.button(key="data_fetch").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    offline = load_bars("AAPL", source="offline")
    stored = services.load_bars("AAPL")
    assert stored.index[-1] == offline.index[-1] and stored["close"].iloc[-1] == offline["close"].iloc[-1]
    assert len(stored) == len(offline) == 3270
    assert at.success[0].value == "AAPL: 3270 bars up to 2013-03-01 (3270 newly fetched)."
    assert polygon and all(p.startswith("/v2/aggs/ticker/AAPL/range/1/day/") for p in polygon)

    at = page("data").run()
    assert at.selectbox(key="data_symbol").options == ["AAPL"]
    cards = {m.label: m.value for m in at.metric}
    assert cards["Source"] == "polygon" and cards["Last bar"] == "2013-03-01"

    assert router.run().sidebar.caption[0].value == "Polygon · last bar 2013-03-01"

    services.train_model("mean_reversion", "AAPL", start="2010-01-01", end="2012-12-31", n_splits=3)
    at = page("predictions").run()
    assert not at.exception and [e.value for e in at.error] == []
    assert at.caption[0].value.endswith("Live source: refreshed every 5 minutes.")
    assert list(at.dataframe[0].value["as of"]) == ["2013-03-01"]
