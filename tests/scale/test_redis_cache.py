"""RedisPredictionCache against a real Redis: values, TTL, sharing, outage and recovery."""

from __future__ import annotations

import logging

import pytest
import redis

from mltrainer.serving.cache import PredictionCache, make_cache, prediction_cache_key
from mltrainer.serving.redis_cache import RedisPredictionCache

from .conftest import wait_until

pytestmark = pytest.mark.services

VALUE = {"model_id": "momentum_breakout_AAPL_v1", "symbol": "AAPL", "as_of": "2024-05-31",
         "signal": 1, "probability_up": 0.61}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hit_miss_and_json_roundtrip(redis_prefix):
    url, prefix = redis_prefix
    cache = RedisPredictionCache(url, prefix=prefix)
    key = prediction_cache_key("momentum_breakout_AAPL_v1", "aapl", "2024-05-31")
    assert isinstance(cache, PredictionCache)
    assert cache.get(key) is None
    cache.set(key, VALUE, ttl_seconds=300)
    assert cache.get(key) == VALUE
    stats = cache.stats()
    assert stats == {"backend": "redis", "size": 1, "hits": 1, "misses": 1, "healthy": True, "warning": None}
    raw = redis.Redis.from_url(url).get(prefix + key)
    assert raw.decode().startswith("{") and '"probability_up": 0.61' in raw.decode()


def test_ttl_is_set_in_redis_and_expiry_is_enforced_by_redis(redis_prefix):
    url, prefix = redis_prefix
    cache = RedisPredictionCache(url, prefix=prefix)
    cache.set("k", VALUE, ttl_seconds=1)
    client = redis.Redis.from_url(url)
    pttl = client.pttl(prefix + "k")
    assert 0 < pttl <= 1000
    assert 0 < cache.ttl_seconds("k") <= 1.0
    # Let Redis expire it now rather than sleeping through the TTL.
    client.pexpire(prefix + "k", 1)
    wait_until(lambda: client.exists(prefix + "k") == 0, 5, "Redis to expire the key")
    assert cache.get("k") is None


def test_non_positive_ttl_stores_nothing_and_default_ttl_applies(redis_prefix):
    url, prefix = redis_prefix
    cache = RedisPredictionCache(url, prefix=prefix, ttl_seconds=300)
    cache.set("zero", VALUE, ttl_seconds=0)
    assert cache.get("zero") is None
    cache.set("default", VALUE)
    assert 299 < cache.ttl_seconds("default") <= 300


def test_shared_between_instances_and_clear_only_touches_own_prefix(redis_prefix):
    url, prefix = redis_prefix
    writer = RedisPredictionCache(url, prefix=prefix + "a:")
    reader = RedisPredictionCache(url, prefix=prefix + "a:")
    other = RedisPredictionCache(url, prefix=prefix + "b:")
    writer.set("k", VALUE, 60)
    other.set("k", {"other": True}, 60)
    assert reader.get("k") == VALUE
    assert reader.stats()["hits"] == 1 and writer.stats()["hits"] == 0  # counters are per process/instance
    writer.clear()
    assert reader.get("k") is None
    assert other.get("k") == {"other": True}


def test_make_cache_uses_redis_when_configured(redis_prefix, monkeypatch):
    url, _ = redis_prefix
    monkeypatch.setenv("MLTRAINER_REDIS_URL", url)
    monkeypatch.setenv("MLTRAINER_PREDICTION_TTL_SECONDS", "42")
    cache = make_cache()
    assert isinstance(cache, RedisPredictionCache)
    assert cache.default_ttl_seconds == 42


def test_unreachable_redis_degrades_to_misses_and_warns_once(caplog):
    cache = RedisPredictionCache("redis://127.0.0.1:1/0", prefix="never:")
    with caplog.at_level(logging.WARNING, logger="mltrainer.serving.redis_cache"):
        for _ in range(3):
            assert cache.get("k") is None
            cache.set("k", VALUE, 60)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    stats = cache.stats()
    assert stats["healthy"] is False
    assert "uncached" in stats["warning"] and "127.0.0.1" in stats["warning"]
    assert stats["misses"] == 3 and stats["hits"] == 0 and stats["size"] == 0


def test_password_never_in_the_warning():
    cache = RedisPredictionCache("redis://:s3cret-pw@127.0.0.1:1/0")
    cache.get("k")
    assert "s3cret-pw" not in cache.stats()["warning"]


def test_redis_killed_mid_run_then_back(throwaway_redis, caplog):
    clock = FakeClock()
    cache = RedisPredictionCache(throwaway_redis.url, prefix="p:", retry_after_seconds=1.0, clock=clock)
    cache.set("k", VALUE, 60)
    assert cache.get("k") == VALUE

    throwaway_redis.kill()
    with caplog.at_level(logging.WARNING, logger="mltrainer.serving.redis_cache"):
        assert cache.get("k") is None
        cache.set("k2", VALUE, 60)  # no exception
        clock.now += 5
        assert cache.get("k") is None  # retried after the interval, still down: no second warning
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert cache.stats()["healthy"] is False

    # The server comes back on the same port: the cache recovers once the retry interval has passed.
    throwaway_redis.start()
    clock.now += 5
    cache.set("k", VALUE, 60)
    assert cache.get("k") == VALUE
    stats = cache.stats()
    assert stats["healthy"] is True and stats["warning"] is None and stats["size"] == 1


def test_redis_refusing_writes_does_not_fail_the_caller(throwaway_redis):
    # A real refusal from the server: a memory cap it cannot honour with 'noeviction'.
    admin = redis.Redis(port=throwaway_redis.port)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    clock = FakeClock()
    cache = RedisPredictionCache(throwaway_redis.url, prefix="p:", clock=clock)
    cache.set("k", VALUE, 60)  # OOM error from Redis: swallowed, reported
    stats = cache.stats()
    assert stats["healthy"] is False and "OutOfMemoryError" in stats["warning"]
    admin.config_set("maxmemory", 0)
    clock.now += 5  # past the retry interval
    cache.set("k", VALUE, 60)
    assert cache.get("k") == VALUE and cache.stats()["healthy"] is True


def test_delete_model_drops_only_that_models_entries_for_every_instance(redis_prefix):
    url, prefix = redis_prefix
    writer = RedisPredictionCache(url, prefix=prefix)
    other_process = RedisPredictionCache(url, prefix=prefix)
    doomed = [prediction_cache_key("m_AAPL_v1", s, "2024-05-31") for s in ("AAPL", "MSFT")]
    kept = prediction_cache_key("m_AAPL_v10", "AAPL", "2024-05-31")  # an id sharing the first characters
    for key in [*doomed, kept]:
        writer.set(key, VALUE, 60)
    assert other_process.delete_model("m_AAPL_v1") == 2
    assert [writer.get(k) for k in doomed] == [None, None] and writer.get(kept) == VALUE
    assert RedisPredictionCache("redis://127.0.0.1:1/0").delete_model("m_AAPL_v1") == 0
