"""InProcessCache and make_cache: TTL through an injected clock (no sleeping), counters, thread safety."""

from __future__ import annotations

import threading

from mltrainer.config import Settings
from mltrainer.serving.cache import InProcessCache, PredictionCache, make_cache, prediction_cache_key


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_key_names_model_symbol_and_as_of_date():
    assert prediction_cache_key("mean_reversion_AAPL_20260101", "aapl", "2013-03-01") == (
        "mltrainer:prediction:mean_reversion_AAPL_20260101:AAPL:2013-03-01"
    )
    # a different data date is a different key: a new bar never hits an old entry
    assert prediction_cache_key("m", "AAPL", "2013-03-01") != prediction_cache_key("m", "AAPL", "2013-03-04")
    # an ISO date string (the fast path), a date, a Timestamp and a datetime text all give the same key
    import datetime as dt

    import pandas as pd

    same = {prediction_cache_key("m", "AAPL", v)
            for v in ("2013-03-01", dt.date(2013, 3, 1), pd.Timestamp("2013-03-01"), "2013-03-01 00:00:00")}
    assert same == {"mltrainer:prediction:m:AAPL:2013-03-01"}


def test_delete_model_drops_only_that_models_entries():
    cache = InProcessCache(clock=FakeClock())
    for model_id in ("m1", "m1x", "m2"):
        cache.set(prediction_cache_key(model_id, "AAPL", "2013-03-01"), {"v": model_id}, 60)
    assert cache.delete_model("m1") == 1
    assert cache.get(prediction_cache_key("m1", "AAPL", "2013-03-01")) is None
    assert cache.get(prediction_cache_key("m1x", "AAPL", "2013-03-01")) == {"v": "m1x"}
    assert cache.get(prediction_cache_key("m2", "AAPL", "2013-03-01")) == {"v": "m2"}


def test_hit_miss_and_expiry_with_fake_clock():
    clock = FakeClock()
    cache = InProcessCache(clock=clock)
    assert isinstance(cache, PredictionCache)
    assert cache.get("k") is None
    cache.set("k", {"signal": 1}, ttl_seconds=300)
    clock.advance(299.9)
    assert cache.get("k") == {"signal": 1}
    clock.advance(0.1)  # exactly at the TTL the entry is gone
    assert cache.get("k") is None
    assert cache.stats() == {"backend": "in-process", "size": 0, "hits": 1, "misses": 2,
                             "healthy": True, "warning": None}


def test_returned_value_is_a_copy():
    cache = InProcessCache(clock=FakeClock())
    cache.set("k", {"a": 1}, 10)
    got = cache.get("k")
    got["a"] = 2
    assert cache.get("k") == {"a": 1}


def test_zero_ttl_does_not_store_and_clear_empties():
    cache = InProcessCache(clock=FakeClock())
    cache.set("a", {"x": 1}, 0)
    assert cache.stats()["size"] == 0
    cache.set("b", {"x": 1}, 5)
    assert cache.stats()["size"] == 1
    cache.clear()
    assert cache.get("b") is None and cache.stats()["size"] == 0


def test_bounded_size_drops_expired_then_soonest_to_expire():
    clock = FakeClock()
    cache = InProcessCache(clock=clock, max_entries=2)
    cache.set("short", {"v": 1}, 10)
    cache.set("long", {"v": 2}, 100)
    cache.set("new", {"v": 3}, 50)  # full: the entry closest to expiry ("short") goes
    assert cache.get("short") is None
    assert cache.get("long") == {"v": 2} and cache.get("new") == {"v": 3}


def test_concurrent_writers_and_readers_keep_counts_consistent():
    cache = InProcessCache(clock=FakeClock())

    def work(i: int) -> None:
        for j in range(200):
            cache.set(f"{i}:{j}", {"j": j}, 60)
            assert cache.get(f"{i}:{j}") == {"j": j}

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats["hits"] == 1600 and stats["misses"] == 0 and stats["size"] == 1600


def test_make_cache_defaults_to_in_process(tmp_path):
    cache = make_cache(Settings(home=tmp_path))
    assert isinstance(cache, InProcessCache)


def test_make_cache_uses_redis_backend_when_url_set(tmp_path):
    cache = make_cache(Settings(home=tmp_path, redis_url="redis://127.0.0.1:1/0", prediction_ttl_seconds=42))
    assert cache.backend == "redis"
    assert isinstance(cache, PredictionCache)
