"""Large uncached bulk requests computed in spawned worker processes give the thread path's answers."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import pytest

from mltrainer.config import get_settings
from mltrainer.data import list_symbols
from mltrainer.serving import InProcessCache, PredictionService
from mltrainer.serving.pool import BulkPool

from .test_service import AAPL_CLOSE_2013_03_01, AAPL_LAST_DATE


def _without_time(bulk) -> dict:
    out = bulk.to_dict()
    for p in out["predictions"]:
        p.pop("generated_at")
    return out


@pytest.fixture(scope="module")
def pool():
    pool = BulkPool(2)
    yield pool
    pool.shutdown()


@pytest.mark.parametrize("model_type", ["mean_reversion", "gradient_boosting"])
def test_worker_processes_match_threads_to_the_bit(models_home, clock, pool, model_type):
    model_id = models_home.ids[model_type]
    symbols = [*list_symbols(), "NOPE", "bad symbol!"]
    by_process = PredictionService(settings=get_settings(bulk_process_min_symbols=2), clock=clock,
                                   cache=InProcessCache(clock=clock), bulk_pool=pool)
    by_thread = PredictionService(settings=get_settings(bulk_processes=0), clock=clock,
                                  cache=InProcessCache(clock=clock))
    in_processes = by_process.predict_bulk(model_id, symbols)
    assert _without_time(in_processes) == _without_time(by_thread.predict_bulk(model_id, symbols))
    assert len(in_processes.predictions) == 7 and set(in_processes.errors) == {"NOPE", "bad symbol!"}
    aapl = next(p for p in in_processes.predictions if p.symbol == "AAPL")
    assert (aapl.as_of, aapl.latest_price, aapl.cached) == (AAPL_LAST_DATE, AAPL_CLOSE_2013_03_01, False)
    # The parent cached the workers' answers and learnt the as-of dates: the repeat is all hits.
    again = by_process.predict_bulk(model_id, list_symbols())
    assert all(p.cached for p in again.predictions)
    assert by_process.status()["predictions_served"] == 14


def test_workers_see_the_parents_current_environment(models_home, clock, pool, monkeypatch):
    """A worker outlives requests: each chunk carries the MLTRAINER_* environment of its request."""
    model_id = models_home.ids["mean_reversion"]
    service = PredictionService(settings=get_settings(bulk_process_min_symbols=2), clock=clock,
                                cache=InProcessCache(clock=clock), bulk_pool=pool)
    assert not service.predict_bulk(model_id, ["AAPL", "MSFT"]).errors
    monkeypatch.setenv("MLTRAINER_DATA_SOURCE", "polygon")  # no key and an empty store: no bars
    monkeypatch.setenv("MLTRAINER_POLYGON_BASE_URL", "http://127.0.0.1:9")
    fresh = PredictionService(settings=get_settings(bulk_process_min_symbols=2), clock=clock,
                              cache=InProcessCache(clock=clock), bulk_pool=pool)
    failed = fresh.predict_bulk(model_id, ["AAPL", "MSFT"])
    assert not failed.predictions and set(failed.errors) == {"AAPL", "MSFT"}


def _pool_raising(error: Exception) -> BulkPool:
    class Raising(BulkPool):
        def compute(self, *args, **kwargs):
            raise error

    return Raising(1)


def test_a_broken_pool_falls_back_to_threads(models_home, clock):
    model_id = models_home.ids["momentum_breakout"]
    service = PredictionService(settings=get_settings(bulk_process_min_symbols=1), clock=clock,
                                cache=InProcessCache(clock=clock),
                                bulk_pool=_pool_raising(BrokenProcessPool("a worker died")))
    bulk = service.predict_bulk(model_id, list_symbols())
    assert len(bulk.predictions) == 7 and not bulk.errors


def test_small_requests_and_disabled_pools_stay_in_threads(models_home, clock):
    model_id = models_home.ids["mean_reversion"]
    small = PredictionService(settings=get_settings(bulk_process_min_symbols=8), clock=clock,
                              cache=InProcessCache(clock=clock),
                              bulk_pool=_pool_raising(AssertionError("the pool must not be used")))
    assert len(small.predict_bulk(model_id, list_symbols()).predictions) == 7  # 7 < 8
    off = PredictionService(settings=get_settings(bulk_processes=0, bulk_process_min_symbols=1), clock=clock,
                            cache=InProcessCache(clock=clock))
    assert off.bulk_pool() is None and len(off.predict_bulk(model_id, list_symbols()).predictions) == 7


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead for our purpose
            return fh.read().split(") ")[-1][:1] != "Z"
    except FileNotFoundError:
        return False


def test_workers_end_when_their_parent_is_killed():
    """A killed server must not leave its bulk workers running (they hold its pipes open)."""
    import signal
    import subprocess
    import sys
    import time

    script = ("from mltrainer.serving.pool import BulkPool\n"
              "import sys\n"
              "print(*BulkPool(2).warm(), flush=True)\n"
              "sys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait(30)
    deadline = time.monotonic() + 30  # a condition with a deadline, not a timed assertion
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
