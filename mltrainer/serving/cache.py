"""Prediction cache: the interface every backend implements, the in-process default, and the factory.

A cached value is the JSON-ready ``dict`` of a :class:`~mltrainer.serving.Prediction` (so that a
shared backend such as Redis can store it as-is). The key names the model, the symbol and the date of
the last bar the prediction used (:func:`prediction_cache_key`), so new data never hits a stale entry;
the TTL (``MLTRAINER_PREDICTION_TTL_SECONDS``, default 300) bounds how long a model/symbol/day answer is
reused at all.

Backends:

- :class:`InProcessCache` — a dict under a lock, TTL measured with an injectable clock (tests pass a
  fake clock and never sleep).
- ``mltrainer.serving.redis_cache.RedisPredictionCache`` — shared between processes; chosen by
  :func:`make_cache` when ``MLTRAINER_REDIS_URL`` is set. It implements :class:`PredictionCache`.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mltrainer.config import Settings

__all__ = ["PredictionCache", "InProcessCache", "make_cache", "prediction_cache_key", "CACHE_KEY_PREFIX"]

log = logging.getLogger(__name__)

#: Prefix of every key, so a shared backend can hold other data beside predictions.
CACHE_KEY_PREFIX = "mltrainer:prediction"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def prediction_cache_key(model_id: str, symbol: str, as_of: str | dt.date | pd.Timestamp) -> str:
    """The cache key of one prediction: model id, symbol and the date of the last bar used."""
    if isinstance(as_of, str) and _ISO_DATE.fullmatch(as_of):
        as_of_text = as_of  # the service's own as-of dates; pd.Timestamp per cache lookup costs ~5 µs
    else:
        as_of_text = pd.Timestamp(as_of).date().isoformat()
    return f"{CACHE_KEY_PREFIX}:{model_id}:{symbol.upper()}:{as_of_text}"


class PredictionCache(abc.ABC):
    """What the prediction service needs from a cache backend.

    Implementations must be thread-safe (the service predicts bulk requests from a thread pool) and
    must never raise for an unavailable backend from :meth:`get`/:meth:`set`: a cache outage degrades
    to "miss" and is reported through :meth:`stats` (``healthy=False`` with a user-safe ``warning``).
    """

    backend: str = "abstract"
    #: True when get/set never wait on I/O (a dictionary in this process): an event loop may then read
    #: the cache itself instead of handing the request to a worker thread.
    in_process: bool = False

    @abc.abstractmethod
    def get(self, key: str) -> dict[str, Any] | None:
        """The value stored under ``key`` if present and not expired, else ``None`` (counts hit/miss)."""

    @abc.abstractmethod
    def set(self, key: str, value: dict[str, Any], ttl_seconds: float) -> None:
        """Store a JSON-ready ``value`` for ``ttl_seconds`` (``<= 0`` means do not store)."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Drop every entry this cache holds (and reset nothing else)."""

    def delete_model(self, model_id: str) -> int:
        """Drop every entry of ``model_id`` (its model was deleted); returns how many were dropped.

        Not abstract so existing backends keep working; the service never consults the cache for a
        model that is no longer registered, so a backend without it only holds dead entries until
        their TTL. Backends should override it.
        """
        log.debug("%s cache cannot drop the entries of %s; they expire with their TTL", self.backend, model_id)
        return 0

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]:
        """``{backend, size, hits, misses, healthy, warning}``; ``warning`` is ``None`` when healthy."""


class InProcessCache(PredictionCache):
    """A thread-safe in-memory TTL cache.

    ``clock`` returns seconds as a float and must be monotonic; tests inject a fake clock object
    (any zero-argument callable) to move time forward without sleeping. ``max_entries`` bounds memory:
    when full, expired entries are purged first, then the entries closest to expiry are dropped.
    """

    backend = "in-process"
    in_process = True

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max_entries = int(max_entries)
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._hits += 1
                return dict(entry[1])
            if entry is not None:  # expired: free it now rather than at the next purge
                del self._entries[key]
            self._misses += 1
            return None

    def set(self, key: str, value: dict[str, Any], ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            return
        now = self._clock()
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max_entries:
                self._make_room(now)
            self._entries[key] = (now + float(ttl_seconds), dict(value))

    def _make_room(self, now: float) -> None:
        expired = [k for k, (expires, _) in self._entries.items() if expires <= now]
        for k in expired:
            del self._entries[k]
        overflow = len(self._entries) - self._max_entries + 1
        if overflow > 0:
            for k, _ in sorted(self._entries.items(), key=lambda kv: kv[1][0])[:overflow]:
                del self._entries[k]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def delete_model(self, model_id: str) -> int:
        prefix = f"{CACHE_KEY_PREFIX}:{model_id}:"  # the model's part of prediction_cache_key
        with self._lock:
            doomed = [k for k in self._entries if k.startswith(prefix)]
            for k in doomed:
                del self._entries[k]
        return len(doomed)

    def stats(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            size = sum(1 for expires, _ in self._entries.values() if expires > now)
            return {
                "backend": self.backend,
                "size": size,
                "hits": self._hits,
                "misses": self._misses,
                "healthy": True,
                "warning": None,
            }


def make_cache(settings: Settings | None = None,
               clock: Callable[[], float] = time.monotonic) -> PredictionCache:
    """The configured cache: Redis when ``MLTRAINER_REDIS_URL`` is set, else :class:`InProcessCache`.

    The Redis module is imported lazily so the default install never needs the ``redis`` package.
    """
    from mltrainer.config import get_settings

    settings = settings or get_settings()
    if settings.redis_url:
        from mltrainer.serving.redis_cache import RedisPredictionCache

        return RedisPredictionCache(settings.redis_url, ttl_seconds=settings.prediction_ttl_seconds)
    return InProcessCache(clock=clock)
