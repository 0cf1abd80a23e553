"""Polygon.io daily bars through the official ``polygon.RESTClient``.

Adjusted daily aggregates come from ``list_aggs`` (the client follows ``next_url`` pages). Polygon
stamps a daily bar with epoch milliseconds of New York midnight; that instant is converted to the
trading date once, here. Retries on 429/5xx are the client's urllib3 ``Retry`` (``retries`` from
settings, exponential backoff of 0 s, 0.2 s, 0.4 s …, honouring ``Retry-After``).

Two client behaviours are worked around explicitly:
- a body that is not JSON is logged and treated as "no results" by the client, which would turn a
  broken response into "unknown ticker"; a strict JSON decoder (the client's ``custom_json`` hook)
  raises ``DataSourceError`` instead;
- polygon-api-client 1.16 builds ``urllib3.Timeout`` from ``connect_timeout``/``read_timeout`` but
  never passes it to its requests, so the timeout is installed on the client's pool manager.

The API key is passed explicitly (the client reads ``POLYGON_API_KEY`` only at import time) and is
scrubbed from every message.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)

from mltrainer.config import Settings, get_settings
from mltrainer.data.base import empty_bars
from mltrainer.data.store import BarStore
from mltrainer.errors import DataSourceError

__all__ = ["PolygonBarSource", "POLYGON_DATASET", "polygon_date"]

log = logging.getLogger(__name__)

POLYGON_DATASET = "Polygon.io daily aggregates (split-adjusted)"
_REQUIRED = ("o", "h", "l", "c", "v", "t")


def polygon_date(epoch_ms: pd.Series | list[int]) -> pd.DatetimeIndex:
    """Polygon daily ``t`` (epoch ms at New York midnight) -> tz-naive trading dates."""
    stamps = pd.to_datetime(pd.Series(epoch_ms, dtype="int64"), unit="ms", utc=True)
    local = stamps.dt.tz_convert("America/New_York").dt.tz_localize(None).dt.normalize()
    return pd.DatetimeIndex(local, name="date")


class _StrictJson:
    """``custom_json`` for the client: a body that is not a JSON object is a provider failure."""

    @staticmethod
    def loads(text: str | bytes) -> dict[str, Any]:
        try:
            obj = json.loads(text)
        except ValueError:
            raise DataSourceError(
                "Polygon returned a malformed response (not JSON). Try again later; if it persists, "
                "check MLTRAINER_POLYGON_BASE_URL."
            ) from None
        if not isinstance(obj, dict):
            raise DataSourceError(
                "Polygon returned a malformed response (not a JSON object). Try again later."
            )
        if str(obj.get("status", "")).upper() == "ERROR":
            detail = obj.get("error") or obj.get("message") or "unknown"
            raise DataSourceError(f"Polygon reported an error: {detail}.")
        return obj

    dumps = staticmethod(json.dumps)


def _client_class():
    from polygon import RESTClient

    class _TimedRESTClient(RESTClient):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            # The client computes self.timeout but never uses it; make the pool apply it.
            self.client.connection_pool_kw["timeout"] = self.timeout

    return _TimedRESTClient


class PolygonBarSource:
    """Adjusted daily bars from Polygon; ``symbols()`` lists what the local store already holds."""

    name = "polygon"
    dataset = POLYGON_DATASET

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()

    def symbols(self) -> list[str]:
        return BarStore(self.settings).symbols(self.name)

    # -- network ---------------------------------------------------------------------------------
    def _key(self) -> str:
        secret = self.settings.polygon_api_key
        key = secret.get_secret_value().strip() if secret else ""
        if not key:
            raise DataSourceError(
                "POLYGON_API_KEY is not set: set it in the environment or .env to use Polygon, "
                "or use the offline source (MLTRAINER_DATA_SOURCE=offline)."
            )
        return key

    def _scrub(self, text: str, key: str) -> str:
        return text.replace(key, "***") if key else text

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Bars of ``symbol`` for trading dates in ``[start, end]``; empty when Polygon has none."""
        key = self._key()
        # Imported here: the polygon package takes ~0.5 s to import and offline use never needs it.
        from polygon.exceptions import AuthError, BadResponse

        timeout = self.settings.http_timeout_seconds
        client = _client_class()(
            api_key=key,
            base=self.settings.polygon_base_url,
            connect_timeout=timeout,
            read_timeout=timeout,
            retries=self.settings.http_max_retries,
            custom_json=_StrictJson,
        )
        rows: list[dict[str, Any]] = []
        try:
            for agg in client.list_aggs(
                symbol, 1, "day", start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d"),
                adjusted=True, sort="asc", limit=50000,
            ):
                rows.append({"o": agg.open, "h": agg.high, "l": agg.low, "c": agg.close,
                             "v": agg.volume, "t": agg.timestamp})
        except HTTPError as exc:
            raise self._network_error(exc, key, timeout) from None
        except (BadResponse, AuthError) as exc:
            raise self._bad_response(str(exc), key, symbol) from None
        finally:
            client.client.clear()
        log.info("polygon %s %s..%s: %d bars", symbol, start.date(), end.date(), len(rows))
        return self._frame(rows)

    def _frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        if not rows:
            return empty_bars()
        incomplete = [r for r in rows if any(r[f] is None for f in _REQUIRED)]
        if incomplete:
            raise DataSourceError(
                f"Polygon returned a malformed response: {len(incomplete)} bar(s) lack one of "
                f"{', '.join(_REQUIRED)}. Try again later."
            )
        raw = pd.DataFrame(rows)
        try:
            index = polygon_date(raw["t"])
        except (TypeError, ValueError, OverflowError):
            raise DataSourceError("Polygon returned a malformed response: bad bar timestamps.") from None
        frame = pd.DataFrame(
            {"open": raw["o"].to_numpy(), "high": raw["h"].to_numpy(), "low": raw["l"].to_numpy(),
             "close": raw["c"].to_numpy(), "volume": raw["v"].to_numpy()},
            index=index,
        )
        try:
            return frame.astype("float64")
        except (TypeError, ValueError):
            raise DataSourceError("Polygon returned a malformed response: non-numeric bar values.") from None

    def _bad_response(self, body: str, key: str, symbol: str) -> DataSourceError:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        status = str(payload.get("status", "")).upper()
        detail = self._scrub(str(payload.get("error") or payload.get("message") or body[:200]).strip(), key)
        if "API KEY" in detail.upper() or status == "AUTH_ERROR":
            return DataSourceError(
                f"Polygon rejected POLYGON_API_KEY ({detail}). Check the key at polygon.io/dashboard."
            )
        if status == "NOT_AUTHORIZED":
            return DataSourceError(f"Your Polygon plan does not cover this request for {symbol}: {detail}")
        return DataSourceError(f"Polygon request for {symbol} failed: {detail or 'no details'}.")

    def _network_error(self, exc: HTTPError, key: str, timeout: float) -> DataSourceError:
        reason = exc.reason if isinstance(exc, MaxRetryError) else exc
        base = self.settings.polygon_base_url
        if isinstance(reason, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
            return DataSourceError(
                f"Polygon did not answer within {timeout:g} s. Try again later or raise "
                "MLTRAINER_HTTP_TIMEOUT_SECONDS."
            )
        if isinstance(reason, ResponseError):
            text = str(reason)
            if "429" in text:
                return DataSourceError(
                    "Polygon rate limit reached (HTTP 429) after retries: wait a minute and try again, "
                    "or upgrade the Polygon plan."
                )
            return DataSourceError(
                f"Polygon kept failing after {self.settings.http_max_retries} retries "
                f"({self._scrub(text, key)}). Try again later."
            )
        if isinstance(reason, NewConnectionError):
            return DataSourceError(
                f"Cannot connect to Polygon at {base}: check the network or MLTRAINER_POLYGON_BASE_URL."
            )
        return DataSourceError(f"Polygon request failed ({type(reason).__name__}). Try again later.")
