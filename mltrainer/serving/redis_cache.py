"""The shared prediction cache on Redis (chosen by ``make_cache`` when ``MLTRAINER_REDIS_URL`` is set).

Every API worker and dashboard process talks to the same Redis, so a prediction computed by one is a hit
for all. Values are JSON strings written with ``SET key value EX ttl``, so Redis itself expires them.

Availability: a cache must never fail a prediction. Sockets time out quickly (0.2 s by default); any
connection error, timeout or refusal (e.g. Redis out of memory) makes :meth:`get` return ``None`` and :meth:`set` do nothing. The first
failure of an outage logs one warning and :meth:`stats` reports ``healthy=False`` with that warning; the
next successful command (tried again at most every ``retry_after_seconds``, so an outage costs one
timeout per interval rather than one per prediction) logs the recovery and clears it.

Counters: ``hits``/``misses`` are per process (each API worker reports its own traffic); ``size`` is the
number of keys under this cache's prefix in Redis, shared by all processes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from mltrainer.errors import ConfigError
from mltrainer.serving.cache import PredictionCache

__all__ = ["RedisPredictionCache", "DEFAULT_PREFIX"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "mltrainer:pred:"


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from redis.connection import parse_url

        parts = parse_url(url)
        host = parts.get("host") or parts.get("path") or "redis"
        port = parts.get("port")
        return f"redis://{host}{':' + str(port) if port else ''}/{parts.get('db', 0)}"
    except Exception:
        return "the configured Redis"


class RedisPredictionCache(PredictionCache):
    """Prediction cache shared through Redis; degrades to "always miss" while Redis is unreachable.

    ``url`` is a redis:// or rediss:// URL; ``prefix`` namespaces every key (tests use a unique one);
    ``ttl_seconds`` is the default TTL used when :meth:`set` receives ``None``.
    """

    backend = "redis"

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, ttl_seconds: float | None = None,
                 socket_timeout: float = 0.2, retry_after_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        try:
            self._client = redis.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
                health_check_interval=0, retry=Retry(NoBackoff(), 0), decode_responses=True,
            )
        except ValueError as exc:
            raise ConfigError(
                f"MLTRAINER_REDIS_URL is not a valid Redis URL ({exc}); use e.g. redis://127.0.0.1:6379/0."
            ) from None
        self._where = _redact(url)
        self.prefix = prefix
        self.default_ttl_seconds = ttl_seconds
        self._retry_after = float(retry_after_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._warning: str | None = None
        self._down_since: float | None = None

    # -- availability ------------------------------------------------------------------------------
    def _skip(self) -> bool:
        """While down, only retry Redis every ``retry_after_seconds``."""
        with self._lock:
            return self._down_since is not None and self._clock() - self._down_since < self._retry_after

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._warning is None
            self._down_since = self._clock()
            if first:
                self._warning = (
                    f"Prediction cache unavailable ({self._where}: {type(exc).__name__}); predictions are "
                    "computed uncached until Redis is reachable again."
                )
        if first:
            log.warning("%s", self._warning)

    def _ok(self) -> None:
        with self._lock:
            recovered = self._warning is not None
            self._warning = None
            self._down_since = None
        if recovered:
            log.info("prediction cache at %s is reachable again", self._where)

    def _call(self, fn: Callable[[], Any], default: Any) -> Any:
        if self._skip():
            return default
        try:
            result = fn()
        except (redis.RedisError, OSError) as exc:  # down, timed out, or refusing (e.g. out of memory)
            self._failed(exc)
            return default
        self._ok()
        return result

    # -- PredictionCache ---------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._call(lambda: self._client.get(self.prefix + key), None)
        value: dict[str, Any] | None = None
        if raw is not None:
            try:
                value = json.loads(raw)
            except ValueError:  # a foreign or truncated value under our prefix: treat as a miss
                log.warning("ignoring an unreadable cache entry under %s", self.prefix)
        with self._lock:
            if value is None:
                self._misses += 1
            else:
                self._hits += 1
        return value

    def set(self, key: str, value: dict[str, Any], ttl_seconds: float | None = None) -> None:
        ttl = self.default_ttl_seconds if ttl_seconds is None else ttl_seconds
        if ttl is None or ttl <= 0:
            return
        payload = json.dumps(value, allow_nan=False)
        # Redis TTLs are whole milliseconds; never round a positive TTL down to "no expiry".
        ttl_ms = max(1, int(round(float(ttl) * 1000)))
        self._call(lambda: self._client.set(self.prefix + key, payload, px=ttl_ms), None)

    def clear(self) -> None:
        def _clear() -> None:
            batch: list[str] = []
            for k in self._client.scan_iter(match=self._match(), count=500):
                batch.append(k)
                if len(batch) >= 500:
                    self._client.unlink(*batch)
                    batch.clear()
            if batch:
                self._client.unlink(*batch)

        self._call(_clear, None)

    def delete_model(self, model_id: str) -> int:
        """Drop every entry of ``model_id`` for every process sharing this Redis; 0 while unreachable."""
        from mltrainer.serving.cache import CACHE_KEY_PREFIX

        pattern = self._match(f"{CACHE_KEY_PREFIX}:{model_id}:")

        def _delete() -> int:
            keys = list(self._client.scan_iter(match=pattern, count=500))
            for i in range(0, len(keys), 500):
                self._client.unlink(*keys[i:i + 500])
            return len(keys)

        return int(self._call(_delete, 0))

    def _match(self, after_prefix: str = "") -> str:
        # SCAN patterns are globs: escape the text so '*', '?' or '[' in it match literally.
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix + after_prefix)
        return escaped + "*"

    def size(self) -> int | None:
        """Keys under this prefix in Redis (shared by every process), ``None`` while unreachable."""
        return self._call(lambda: sum(1 for _ in self._client.scan_iter(match=self._match(), count=500)),
                          None)

    def ttl_seconds(self, key: str) -> float | None:
        """Remaining TTL of ``key`` in seconds as Redis reports it; ``None`` if absent or unreachable."""
        ms = self._call(lambda: self._client.pttl(self.prefix + key), None)
        if ms is None or ms < 0:
            return None
        return ms / 1000.0

    def stats(self) -> dict[str, Any]:
        size = self.size()
        with self._lock:
            return {
                "backend": self.backend,
                "size": int(size or 0),
                "hits": self._hits,
                "misses": self._misses,
                "healthy": self._warning is None,
                "warning": self._warning,
            }

    def close(self) -> None:
        self._client.close()
