"""Local stand-ins for Polygon and FRED on 127.0.0.1 that speak the providers' real wire formats.

The official clients (``polygon.RESTClient``, ``fredapi.Fred``) talk to them through
``MLTRAINER_POLYGON_BASE_URL`` / ``MLTRAINER_FRED_BASE_URL``. Every value they serve is real: bars are
taken from the offline AAPL frame, observations from the offline FRED series. Tests script failures
(429, 500, malformed bodies, a response that never comes in time) by queueing responses.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from mltrainer.data import clear_series_cache, load_bars, load_series

POLYGON_KEY = "pk_test_4c1d2b0e9f"
FRED_KEY = "abcdef0123456789abcdef0123456789"


@dataclass
class Scripted:
    """One canned response; ``hold`` makes the handler wait until the test releases it."""

    status: int
    body: bytes
    content_type: str = "application/json"
    hold: bool = False


@dataclass
class FakeProvider:
    """Shared state of a fake provider: requests seen and responses queued ahead of normal ones."""

    base_url: str = ""
    hits: list[dict] = field(default_factory=list)
    queue: deque = field(default_factory=deque)
    release: threading.Event = field(default_factory=threading.Event)

    def paths(self) -> list[str]:
        return [h["path"] for h in self.hits]

    def push(self, status: int, body: str | bytes, content_type: str = "application/json",
             hold: bool = False) -> None:
        """Answer the next request with this response instead of the normal one."""
        data = body.encode() if isinstance(body, str) else body
        self.queue.append(Scripted(status, data, content_type, hold))


def _serve(provider: FakeProvider, answer) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):  # noqa: N802
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            provider.hits.append({"path": parsed.path, "query": query,
                                  "authorization": self.headers.get("Authorization")})
            if provider.queue:
                scripted = provider.queue.popleft()
                if scripted.hold:
                    provider.release.wait(10)
            else:
                scripted = answer(parsed.path, query, self.headers)
            try:
                self.send_response(scripted.status)
                self.send_header("Content-Type", scripted.content_type)
                self.send_header("Content-Length", str(len(scripted.body)))
                self.end_headers()
                self.wfile.write(scripted.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    provider.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return server, thread


# -- Polygon -----------------------------------------------------------------------------------------
def polygon_results(bars: pd.DataFrame) -> list[dict]:
    """Real bars in Polygon's v2 aggs shape. ``t`` is epoch ms of New York midnight of the trading day.

    ``vw`` and ``n`` (VWAP, trade count) are optional in Polygon's schema and left out: the offline
    data has no real values for them and nothing here may be invented.
    """
    stamps = bars.index.tz_localize("America/New_York")
    return [
        {"v": float(row.volume), "o": float(row.open), "c": float(row.close), "h": float(row.high),
         "l": float(row.low), "t": int(stamp.value // 1_000_000)}
        for stamp, row in zip(stamps, bars.itertuples(), strict=True)
    ]


class PolygonState(FakeProvider):
    def __init__(self):
        super().__init__()
        self.bars: dict[str, pd.DataFrame] = {"AAPL": load_bars("AAPL", source="offline")}
        self.page_size = 50
        self.key = POLYGON_KEY


def _polygon_answer(state: PolygonState):
    def answer(path: str, query: dict, headers) -> Scripted:
        if headers.get("Authorization") != f"Bearer {POLYGON_KEY}":
            body = {"status": "ERROR", "request_id": "a1b2c3", "error": "Unknown API Key"}
            return Scripted(401, json.dumps(body).encode())
        parts = path.strip("/").split("/")
        # /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}
        if len(parts) != 9 or parts[:3] != ["v2", "aggs", "ticker"]:
            return Scripted(404, b'{"status":"NOT_FOUND","request_id":"x","message":"Not found"}')
        ticker, date_from, date_to = parts[3], parts[7], parts[8]
        bars = state.bars.get(ticker)
        envelope = {"ticker": ticker, "queryCount": 0, "resultsCount": 0, "adjusted": True,
                    "status": "OK", "request_id": f"req-{len(state.hits)}"}
        if bars is None:
            envelope["count"] = 0
            return Scripted(200, json.dumps(envelope).encode())
        results = polygon_results(bars.loc[date_from:date_to])
        offset = int(query.get("cursor", 0))
        page = results[offset: offset + state.page_size]
        envelope.update(queryCount=len(results), resultsCount=len(page), count=len(page))
        if page:
            envelope["results"] = page
        if offset + state.page_size < len(results):
            envelope["next_url"] = (f"https://api.polygon.io/v2/aggs/ticker/{ticker}/range/1/day/"
                                    f"{date_from}/{date_to}?cursor={offset + state.page_size}")
        return Scripted(200, json.dumps(envelope).encode())

    return answer


@pytest.fixture
def polygon(monkeypatch):
    """A fake Polygon with the real offline AAPL bars; the environment points mlTrainer at it."""
    state = PolygonState()
    server, thread = _serve(state, _polygon_answer(state))
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    monkeypatch.setenv("MLTRAINER_POLYGON_BASE_URL", state.base_url)
    monkeypatch.setenv("MLTRAINER_HTTP_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("MLTRAINER_HTTP_MAX_RETRIES", "2")
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- FRED --------------------------------------------------------------------------------------------
def fred_error(message: str, code: int = 400) -> Scripted:
    body = f'<?xml version="1.0" encoding="utf-8" ?>\n<error code="{code}" message="{message}"/>\n'
    return Scripted(code, body.encode(), "text/xml; charset=UTF-8")


def fred_observations(series: pd.Series, start: str, end: str) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="utf-8" ?>',
        f'<observations realtime_start="2019-01-04" realtime_end="2019-01-04" observation_start="{start}" '
        f'observation_end="{end}" units="lin" output_type="1" file_type="xml" order_by="observation_date" '
        f'sort_order="asc" count="{series.size}" offset="0" limit="100000">',
    ]
    for day, value in series.items():
        text = "." if math.isnan(value) else repr(float(value))
        lines.append(f'  <observation realtime_start="2019-01-04" realtime_end="2019-01-04" '
                     f'date="{day:%Y-%m-%d}" value="{text}"/>')
    lines.append("</observations>")
    return "\n".join(lines).encode()


class FredState(FakeProvider):
    def __init__(self):
        super().__init__()
        self.series = {"VIXCLS": load_series("VIXCLS", source="offline")}
        self.key = FRED_KEY

    def push_error(self, message: str, code: int = 400) -> None:
        self.queue.append(fred_error(message, code))


def _fred_answer(state: FredState):
    def answer(path: str, query: dict, headers) -> Scripted:
        if query.get("api_key") != FRED_KEY:
            return fred_error("Bad Request.  The value for variable api_key is not registered.  Read "
                              "https://fred.stlouisfed.org/docs/api/api_key.html for more information.")
        if path != "/series/observations":
            return fred_error("Not Found", 404)
        series = state.series.get(query.get("series_id", ""))
        if series is None:
            return fred_error("Bad Request.  The series does not exist.")
        start = query.get("observation_start", "1776-07-04")
        end = query.get("observation_end", "9999-12-31")
        return Scripted(200, fred_observations(series.loc[start:end], start, end), "text/xml; charset=UTF-8")

    return answer


@pytest.fixture
def fred(monkeypatch):
    """A fake FRED serving the real offline VIXCLS observations."""
    state = FredState()
    server, thread = _serve(state, _fred_answer(state))
    monkeypatch.setenv("FRED_API_KEY", FRED_KEY)
    monkeypatch.setenv("MLTRAINER_FRED_BASE_URL", state.base_url)
    monkeypatch.setenv("MLTRAINER_HTTP_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("MLTRAINER_HTTP_MAX_RETRIES", "2")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def fresh_series_cache():
    """Each test starts with an empty in-process series cache: a later test's stand-in server may get
    an earlier one's port, and must still see its own requests."""
    clear_series_cache()
    yield
    clear_series_cache()
