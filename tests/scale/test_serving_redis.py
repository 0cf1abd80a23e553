"""The prediction service on a real Redis cache: shared between "API workers", and predictions keep
working (uncached, with a warning in ``status()``) while Redis is gone."""

from __future__ import annotations

import pytest

from mltrainer.config import get_settings
from mltrainer.serving.redis_cache import RedisPredictionCache
from mltrainer.serving.service import PredictionService
from mltrainer.training import train_model

pytestmark = pytest.mark.services


@pytest.fixture
def model_id():
    return train_model("momentum_breakout", "AAPL", start="2008-01-01", end="2011-12-31", n_splits=3).model_id


def test_serving_two_services_share_the_redis_cache(model_id, redis_prefix):
    url, prefix = redis_prefix
    settings = get_settings()
    worker_a = PredictionService(settings=settings, cache=RedisPredictionCache(url, prefix=prefix))
    worker_b = PredictionService(settings=settings, cache=RedisPredictionCache(url, prefix=prefix))
    first = worker_a.predict(model_id, "AAPL")
    second = worker_b.predict(model_id, "AAPL")
    assert (first.cached, second.cached) == (False, True)
    assert second.signal == first.signal and second.as_of == first.as_of
    cache = worker_b.status()["cache"]
    assert (cache["backend"], cache["hits"], cache["size"], cache["healthy"]) == ("redis", 1, 1, True)
    assert cache["ttl_seconds"] == settings.prediction_ttl_seconds


def test_serving_redis_killed_mid_run_predictions_still_work(model_id, throwaway_redis):
    # retry_after 0: the cache tries Redis on every call, so recovery is observable without waiting.
    service = PredictionService(settings=get_settings(),
                                cache=RedisPredictionCache(throwaway_redis.url, retry_after_seconds=0))
    warm = service.predict(model_id, "AAPL")
    assert service.predict(model_id, "AAPL").cached is True

    throwaway_redis.kill()
    during = service.predict(model_id, "AAPL")
    assert during.cached is False and during.signal == warm.signal
    bulk = service.predict_bulk(model_id, ["AAPL", "MSFT"])
    assert bulk.errors == {} and sorted(p.symbol for p in bulk.predictions) == ["AAPL", "MSFT"]
    assert all(p.cached is False for p in bulk.predictions)
    cache = service.status()["cache"]
    assert cache["healthy"] is False and "uncached" in cache["warning"]

    throwaway_redis.start()  # same port, empty
    assert service.predict(model_id, "AAPL").cached is False  # refills the cache
    assert service.predict(model_id, "AAPL").cached is True
    assert service.status()["cache"]["healthy"] is True
