"""PredictionService.predict_async (the API's path): same answers and audit records as predict; a fresh
cached answer is given in the event loop, everything else runs in a worker thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mltrainer.audit import get_audit_trail
from mltrainer.config import get_settings
from mltrainer.errors import InvalidInputError, ModelNotFoundError
from mltrainer.registry import get_registry
from mltrainer.serving import InProcessCache, PredictionService

from .test_service import AAPL_CLOSE_2013_03_01, AAPL_LAST_DATE


class ThreadRecordingCache(InProcessCache):
    """The in-process cache, noting which thread read it; ``networked`` makes it claim to do I/O."""

    def __init__(self, clock, networked: bool = False):
        super().__init__(clock=clock)
        self.in_process = not networked
        self.readers: list[str] = []

    def get(self, key):
        self.readers.append(threading.current_thread().name)
        return super().get(key)


def _service(clock, cache) -> PredictionService:
    return PredictionService(settings=get_settings(), cache=cache, clock=clock)


def _in_loop(coro):
    """Run ``coro`` on a loop in a thread named 'loop', so the test can tell loop reads from others."""
    out: dict = {}

    def main():
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=main, name="loop")
    thread.start()
    thread.join(120)
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_async_matches_sync_and_answers_a_fresh_hit_in_the_loop(models_home, clock):
    cache = ThreadRecordingCache(clock)
    service = _service(clock, cache)
    model_id = models_home.ids["mean_reversion"]
    trail = get_audit_trail()
    before = len(trail.log(limit=10_000, action="prediction"))

    first = _in_loop(service.predict_async(model_id, "aapl", actor="api"))
    assert first.cached is False and first.symbol == "AAPL" and first.as_of == AAPL_LAST_DATE
    assert first.latest_price == pytest.approx(AAPL_CLOSE_2013_03_01, rel=1e-12)
    assert cache.readers and "loop" not in cache.readers  # not loaded yet: worked out in a thread

    cache.readers.clear()
    second = _in_loop(service.predict_async(model_id, "AAPL", actor="api"))
    assert second.cached is True and cache.readers == ["loop"]  # the fresh hit never left the loop
    assert second.to_dict() | {"cached": False} == first.to_dict()
    assert service.predict(model_id, "AAPL").to_dict() == second.to_dict()  # the sync path agrees

    records = trail.log(limit=10_000, action="prediction")
    assert len(records) == before + 3  # one per request, whichever path answered
    newest_async = records[1]
    assert newest_async["actor"] == "api" and newest_async["target"] == model_id
    assert newest_async["details"] == {"symbols": ["AAPL"], "as_of": AAPL_LAST_DATE,
                                       "signal": second.signal, "cached": True}
    assert records[0]["details"] == newest_async["details"]  # the sync request's record reads the same
    assert trail.verify()["ok"] is True


def test_a_networked_cache_is_never_read_in_the_loop(models_home, clock):
    cache = ThreadRecordingCache(clock, networked=True)
    service = _service(clock, cache)
    model_id = models_home.ids["momentum_breakout"]
    assert _in_loop(service.predict_async(model_id, "MSFT")).cached is False
    assert _in_loop(service.predict_async(model_id, "MSFT")).cached is True
    assert len(cache.readers) >= 2 and "loop" not in cache.readers


@pytest.mark.parametrize(("model_id", "symbol", "error", "audited_error"), [
    ("no_such_model_v9", "AAPL", ModelNotFoundError, "ModelNotFoundError"),
    (None, "AA PL", InvalidInputError, "InvalidInputError"),
])
def test_async_errors_are_raised_and_audited(models_home, clock, model_id, symbol, error, audited_error):
    service = _service(clock, InProcessCache(clock=clock))
    model_id = model_id or models_home.ids["mean_reversion"]
    _in_loop(service.predict_async(models_home.ids["mean_reversion"], "AAPL"))  # loaded and cached
    with pytest.raises(error):
        _in_loop(service.predict_async(model_id, symbol, actor="api"))
    record = get_audit_trail().log(limit=1, action="prediction")[0]
    assert record["details"]["error"] == audited_error and record["actor"] == "api"
    assert record["details"]["message"]


def test_a_model_deleted_elsewhere_is_refused_on_the_in_loop_path(own_models_home, clock):
    """Another process deletes the model (registry + audit, no call to this service): the next cached
    answer's guarded audit append sees the deletion record, so the request is checked and refused."""
    service = _service(clock, InProcessCache(clock=clock))
    model_id = own_models_home.ids["volatility_regime"]
    assert _in_loop(service.predict_async(model_id, "IBM")).cached is False
    assert _in_loop(service.predict_async(model_id, "IBM")).cached is True  # the in-loop path
    trail = get_audit_trail()
    served = len(trail.log(limit=10_000, action="prediction"))

    get_registry().delete(model_id)

    with pytest.raises(ModelNotFoundError, match=model_id):
        _in_loop(service.predict_async(model_id, "IBM", actor="api"))
    records = trail.log(limit=10_000, action="prediction")
    assert len(records) == served + 1  # one record for the refused request, and no "served" one
    assert records[0]["details"]["error"] == "ModelNotFoundError"
    assert service.status()["loaded_models"] == []
    assert trail.verify()["ok"] is True


def test_a_stale_guard_rechecks_and_serves_a_model_that_is_still_servable(models_home, clock):
    """An unrelated invalidating record (another model deleted) makes the in-loop path re-check; the
    model is still registered, so it is served, with exactly one record."""
    service = _service(clock, InProcessCache(clock=clock))
    model_id = models_home.ids["mean_reversion"]
    _in_loop(service.predict_async(model_id, "MSFT"))
    trail = get_audit_trail()
    trail.record("model.delete", "some_other_model_v1", {"note": "test: a different model"})
    before = len(trail.log(limit=10_000, action="prediction"))
    again = _in_loop(service.predict_async(model_id, "MSFT", actor="api"))
    assert again.cached is True and again.symbol == "MSFT"
    records = trail.log(limit=10_000, action="prediction")
    assert len(records) == before + 1 and records[0]["details"]["cached"] is True
    # The re-check passed at the new generation: the next answer is in-loop again.
    assert _in_loop(service.predict_async(model_id, "MSFT")).cached is True
    assert len(trail.log(limit=10_000, action="prediction")) == before + 2


def test_a_due_recheck_is_made_by_one_request_while_the_others_stay_in_the_loop(models_home, clock,
                                                                               monkeypatch):
    from mltrainer.serving.service import RECHECK_CLAIM_SECONDS, SERVABLE_RECHECK_SECONDS

    service = _service(clock, InProcessCache(clock=clock))
    model_id = models_home.ids["mean_reversion"]
    _in_loop(service.predict_async(model_id, "AAPL"))
    registry, gets = service.registry, []
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda mid: gets.append(mid) or real_get(mid))

    assert service._fresh_hit(model_id, "AAPL") is not None and gets == []  # checked recently
    clock.advance(SERVABLE_RECHECK_SECONDS + 0.1)
    assert service._fresh_hit(model_id, "AAPL") is None  # this request makes the re-check ...
    for _ in range(3):  # ... while the next ones are still answered in the loop (guarded)
        assert service._fresh_hit(model_id, "AAPL") is not None
    assert service.predict(model_id, "AAPL").cached is True and gets == [model_id]  # the re-check
    clock.advance(RECHECK_CLAIM_SECONDS)  # the claim's window has passed, the fresh check's has not
    assert service._fresh_hit(model_id, "AAPL") is not None
    assert service.predict(model_id, "AAPL").cached is True and gets == [model_id]  # no second re-check
