"""Worker processes for the uncached part of large bulk requests.

Computing a prediction is mostly Python and pandas code holding the GIL, so the bulk thread pool
keeps one core busy however many threads it has. For a request with at least
``Settings.bulk_process_min_symbols`` uncached symbols the service hands chunks of symbols to this
pool of ``Settings.bulk_processes`` worker processes instead, one per core by default.

- Workers are *spawned*, never forked: the API server is multi-threaded, and a forked copy of a process
  whose other threads hold locks (logging, SQLite, the audit writer) can deadlock.
- The pool is created once per process and kept: spawning and importing the stack costs a second or
  two, paid at start-up (the API warms it) or by the first large request, not by every request.
- A worker loads the model as the parent did, from the registry with its signature verified (the
  signed artifact store stays the only place that unpickles), keeps the last few in memory, loads the
  bars itself, all with the parent's ``MLTRAINER_*`` environment of that request, and runs the
  service's own ``_load_bars``/``_compute``: the answers are the thread path's, to the bit (a test
  compares them).
- If the pool breaks (a worker killed), the request falls back to threads and the pool is rebuilt on
  the next large request.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["BulkPool", "get_bulk_pool", "shutdown_bulk_pool", "ENV_PREFIX"]

log = logging.getLogger(__name__)

#: Environment variables copied into a worker for each chunk: the data source, home, keys, ...
ENV_PREFIX = "MLTRAINER_"
#: Models a worker keeps unpickled (a bulk request uses one model; a few cover alternating requests).
_WORKER_MODELS = 4
#: Chunks per worker: enough for the faster worker to take over the slower one's share.
_CHUNKS_PER_WORKER = 4
_INTERNAL_ERROR = "Internal error while predicting {symbol}; the incident was logged."

# -- in the worker ----------------------------------------------------------------------------------
_models: OrderedDict[str, Any] = OrderedDict()


def _apply_env(env: dict[str, str]) -> None:
    """Make this worker's ``MLTRAINER_*`` environment the parent's (a worker outlives requests)."""
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX) and n not in env]:
        del os.environ[name]
    os.environ.update(env)


def _model_from(model_id: str) -> Any:
    """The model, loaded here as the parent loaded it: from the registry, signature verified (model ids
    are never reused, so the id is the cache key)."""
    from mltrainer.config import get_settings
    from mltrainer.registry import get_registry

    model = _models.get(model_id)
    if model is None:
        model = get_registry(get_settings()).load_model(model_id, actor="bulk-worker")
        _models[model_id] = model
        while len(_models) > _WORKER_MODELS:
            _models.popitem(last=False)
    _models.move_to_end(model_id)
    return model


def _compute_chunk(env: dict[str, str], entry_fields: dict[str, Any],
                   symbols: Sequence[str]) -> list[tuple[str, Any]]:
    """``[(symbol, Prediction | error message)]`` for one chunk, as the bulk thread path computes them."""
    from mltrainer.config import get_settings
    from mltrainer.errors import MLTrainerError
    from mltrainer.serving.cache import InProcessCache
    from mltrainer.serving.service import PredictionService, _LoadedModel

    _apply_env(env)
    try:
        model = _model_from(entry_fields["model_id"])
    except MLTrainerError as exc:  # e.g. deleted since the parent checked it: every symbol says so
        return [(symbol, str(exc)) for symbol in symbols]
    entry = _LoadedModel(model=model, **entry_fields)
    service = PredictionService(settings=get_settings(), cache=InProcessCache())
    out: list[tuple[str, Any]] = []
    for symbol in symbols:
        try:
            bars = service._load_bars(symbol)
            as_of = bars.index[-1].date().isoformat()
            out.append((symbol, service._compute(entry, symbol, bars, as_of)))
        except MLTrainerError as exc:
            out.append((symbol, str(exc)))
        except Exception:  # a bug for one symbol must not sink the batch; logged in full here
            log.exception("bulk prediction failed for %s with %s in a worker", symbol, entry.model_id)
            out.append((symbol, _INTERNAL_ERROR.format(symbol=symbol)))
    return out


def _exit_with_parent(initializer: Callable[[], None] | None) -> None:
    """Worker start-up: end this worker when the parent process ends, however it ends.

    A spawned worker holds its own copy of the task queue's write end, so it would never see the queue
    close and would outlive a server that was killed (or that exited without shutting the pool down).
    """
    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch() -> None:
            multiprocessing.connection.wait([parent.sentinel])
            os._exit(0)

        threading.Thread(target=watch, name="mltrainer-parent-watch", daemon=True).start()
    if initializer is not None:
        initializer()


def _warm(_: int = 0) -> int:
    """Import what a chunk needs (every model type's stack), so the first request does not pay for it."""
    from mltrainer.serving.service import import_serving_stack

    import_serving_stack()
    return os.getpid()


# -- in the parent ----------------------------------------------------------------------------------
class BulkPool:
    """A process pool computing chunks of a bulk request (see the module docstring)."""

    def __init__(self, workers: int, initializer: Callable[[], None] | None = None):
        if workers < 1:
            raise ValueError("a bulk pool needs at least one worker")
        self.workers = int(workers)
        self._initializer = initializer
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent, initargs=(self._initializer,))
            return self._executor

    def warm(self) -> list[int]:
        """Start every worker and import the stack in it; returns the workers' pids."""
        pool = self._pool()
        return sorted(set(pool.map(_warm, range(self.workers * 2))))

    def compute(self, entry_fields: dict[str, Any], symbols: Sequence[str]) -> dict[str, Any]:
        """``{symbol: Prediction | error message}``; raises ``BrokenProcessPool`` if a worker died."""
        env = {n: v for n, v in os.environ.items() if n.startswith(ENV_PREFIX)}
        n_chunks = max(1, min(len(symbols), self.workers * _CHUNKS_PER_WORKER))
        chunks = [list(symbols[i::n_chunks]) for i in range(n_chunks)]
        pool = self._pool()
        try:
            futures = [pool.submit(_compute_chunk, env, entry_fields, chunk) for chunk in chunks]
            out: dict[str, Any] = {}
            for future in futures:
                out.update(future.result())
            return out
        except BrokenProcessPool:
            self.shutdown()
            raise

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


_pool: BulkPool | None = None
_pool_lock = threading.Lock()


def get_bulk_pool(workers: int) -> BulkPool:
    """The process-wide pool with ``workers`` processes (rebuilt if the number changes)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.workers != workers:
            if _pool is not None:
                _pool.shutdown()
            _pool = BulkPool(workers)
        return _pool


def shutdown_bulk_pool() -> None:
    """Stop the process-wide pool's workers (tests, server shutdown)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown()


atexit.register(shutdown_bulk_pool)
