"""FRED macro series through the official ``fredapi.Fred`` client.

``fredapi`` reads ``root_url`` from the instance, so tests and mirrors point it at another endpoint
via ``MLTRAINER_FRED_BASE_URL``. Its private fetch helper calls ``urlopen`` without a timeout and
turns every HTTP error into a bare ``ValueError``; :class:`_Fred` overrides that one helper to add a
timeout, retries with backoff on 429/5xx, and errors that say what went wrong. FRED's missing-value
marker "." becomes NaN (``fredapi`` does that). The key is scrubbed from every message.
"""

from __future__ import annotations

import logging
import socket
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pandas as pd
from fredapi import Fred

from mltrainer.config import Settings, get_settings
from mltrainer.errors import DataSourceError, UnknownSeriesError

__all__ = ["FredSeriesSource", "FRED_DATASET"]

log = logging.getLogger(__name__)

FRED_DATASET = "FRED (Federal Reserve Bank of St. Louis)"
_RETRY_STATUS = {429, 500, 502, 503, 504}


class _Fred(Fred):
    """``fredapi.Fred`` with a timeout, bounded retries and precise errors."""

    def __init__(self, api_key: str, root_url: str, timeout: float, retries: int,
                 backoff_seconds: float, sleep: Callable[[float], None]):
        super().__init__(api_key=api_key)
        self.root_url = root_url
        self._timeout = timeout
        self._retries = retries
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep

    def _scrub(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text

    # fredapi calls ``self.__fetch_data`` (name-mangled); this is the override point it offers.
    def _Fred__fetch_data(self, url: str) -> ET.Element:  # noqa: N802
        url += "&api_key=" + self.api_key
        attempt = 0
        while True:
            try:
                with urllib.request.urlopen(url, timeout=self._timeout) as response:  # noqa: S310
                    body = response.read()
                return self._parse_xml(body)
            except urllib.error.HTTPError as exc:
                body = exc.read()
                if exc.code in _RETRY_STATUS and attempt < self._retries:
                    delay = self._backoff_seconds * (2 ** attempt)
                    log.info("FRED answered HTTP %s; retry %d in %.2f s", exc.code, attempt + 1, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise self._http_error(exc.code, body) from None
            except (TimeoutError, socket.timeout):
                raise self._timeout_error() from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                    raise self._timeout_error() from None
                raise DataSourceError(
                    f"Cannot connect to FRED at {self.root_url}: "
                    "check the network or MLTRAINER_FRED_BASE_URL."
                ) from None

    def _timeout_error(self) -> DataSourceError:
        return DataSourceError(
            f"FRED did not answer within {self._timeout:g} s. "
            "Try again later or raise MLTRAINER_HTTP_TIMEOUT_SECONDS."
        )

    def _parse_xml(self, body: bytes) -> ET.Element:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise DataSourceError("FRED returned a malformed response (not XML). Try again later.") from None
        if root.tag == "error":
            raise self._api_error(root.get("code"), root.get("message"))
        return root

    def _http_error(self, status: int, body: bytes) -> Exception:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is not None and root.tag == "error":
            return self._api_error(root.get("code") or str(status), root.get("message"))
        if status == 429:
            return DataSourceError(
                "FRED rate limit reached (HTTP 429) after retries: wait a minute and try again."
            )
        return DataSourceError(f"FRED request failed with HTTP {status}. Try again later.")

    def _api_error(self, code: str | None, message: str | None) -> Exception:
        text = self._scrub(" ".join((message or "no details").split()))
        lower = text.lower()
        if "series does not exist" in lower:
            return UnknownSeriesError(
                f"FRED has no such series ({text}) Check the id at fred.stlouisfed.org."
            )
        if "api_key" in lower or "api key" in lower:
            return DataSourceError(
                f"FRED rejected FRED_API_KEY ({text}) Check the key at fredaccount.stlouisfed.org."
            )
        if code == "429":
            return DataSourceError(f"FRED rate limit reached ({text}) Wait a minute and try again.")
        return DataSourceError(f"FRED request failed (code {code}: {text})")


class FredSeriesSource:
    """Macro series from FRED (needs ``FRED_API_KEY``)."""

    name = "fred"
    dataset = FRED_DATASET

    def __init__(self, settings: Settings | None = None, backoff_seconds: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings = settings or get_settings()
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    def _client(self) -> _Fred:
        secret = self.settings.fred_api_key
        key = secret.get_secret_value().strip() if secret else ""
        if not key:
            raise DataSourceError(
                "FRED_API_KEY is not set: set it in the environment or .env to use FRED, "
                "or use the offline series (--source offline)."
            )
        return _Fred(key, self.settings.fred_base_url, self.settings.http_timeout_seconds,
                     self.settings.http_max_retries, self.backoff_seconds, self.sleep)

    def fetch(self, series_id: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.Series:
        client = self._client()
        try:
            raw = client.get_series(series_id, observation_start=start, observation_end=end)
        except ValueError:
            # fredapi's float() on a value that is neither a number nor ".".
            raise DataSourceError(
                f"FRED returned a malformed value in {series_id}. Try again later."
            ) from None
        except UnknownSeriesError as exc:
            raise UnknownSeriesError(f"{series_id}: {exc}") from None
        if raw.empty:
            series = pd.Series(dtype="float64", index=pd.DatetimeIndex([], name="date"), name=series_id)
        else:
            series = raw.astype("float64")
            series.index = pd.DatetimeIndex(series.index, name="date")
            series = series.sort_index().rename(series_id)
        log.info("FRED %s: %d observations", series_id, series.size)
        return series
