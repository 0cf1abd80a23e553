"""The local backend: a process pool in the submitting process (the default, no broker needed).

Pool processes are started with the ``spawn`` context: a fork of a process that holds database
connections, Streamlit or uvicorn threads is unsafe. Each job carries the submitter's ``MLTRAINER_*``
environment, so the pool process trains against the same home and database as the caller even when the
caller's settings changed since the pool started (tests do that).

Limits: the pool lives as long as the submitting process. Jobs still queued when it exits are reported
``failed`` by the lost-job check (their owner pid is gone); a short-lived CLI waits for its jobs at exit.
Use the Celery backend for jobs that must outlive the process that submitted them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from mltrainer.config import Settings, get_settings
from mltrainer.jobs.store import update_job, utcnow

__all__ = ["submit_local", "shutdown_local_pool", "local_pool_size", "POOL_SIZE_ENV"]

log = logging.getLogger(__name__)

#: The environment variable behind ``Settings.local_workers``: processes in the local pool (default:
#: one per spare CPU core, at least one, at most four).
POOL_SIZE_ENV = "MLTRAINER_LOCAL_WORKERS"

_PASSED_ENV = ("POLYGON_API_KEY", "FRED_API_KEY")

_lock = threading.Lock()
_executor: ProcessPoolExecutor | None = None


def local_pool_size(settings: Settings | None = None) -> int:
    configured = (settings or get_settings()).local_workers
    if configured is not None:
        return configured
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _get_executor() -> ProcessPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ProcessPoolExecutor(max_workers=local_pool_size(),
                                            mp_context=multiprocessing.get_context("spawn"))
        return _executor


def _drop_broken(executor: ProcessPoolExecutor) -> None:
    global _executor
    with _lock:
        if _executor is executor:
            _executor = None


def shutdown_local_pool(wait: bool = True) -> None:
    """Stop the pool (tests; a server's shutdown hook)."""
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=not wait)


def _job_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("MLTRAINER_") or k in _PASSED_ENV}


def _run_in_child(job_id: str, env: dict[str, str]) -> None:
    """Entry point in the pool process: adopt the submitter's environment, then run the job."""
    for key in [k for k in os.environ if k.startswith("MLTRAINER_") or k in _PASSED_ENV]:
        if key not in env:
            del os.environ[key]
    os.environ.update(env)
    from mltrainer.jobs.runner import run_job

    run_job(get_settings(), job_id)


def submit_local(settings: Settings, job_id: str) -> None:
    """Queue ``job_id`` on the local pool; a pool failure marks the job failed with a message."""
    executor = _get_executor()
    try:
        future = executor.submit(_run_in_child, job_id, _job_env())
    except (BrokenProcessPool, RuntimeError):  # the pool died earlier: start a fresh one
        _drop_broken(executor)
        executor = _get_executor()
        future = executor.submit(_run_in_child, job_id, _job_env())

    def _done(fut: Future) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled():
            error = "Cancelled"
            message = "The job was cancelled before it started (the local pool shut down)."
        elif exc is None:
            return
        elif isinstance(exc, BrokenProcessPool):
            _drop_broken(executor)
            error = "WorkerLost"
            message = ("The local worker process died (killed or out of memory) before training finished; "
                       "no model was saved. Submit the job again.")
        else:
            error = type(exc).__name__
            message = f"The local worker could not run the job ({error}). No model was saved."
        log.warning("job %s: %s", job_id, message)
        try:
            update_job(settings, job_id, only_if_state=("queued", "running"), state="failed", error=error,
                       message=message, finished_at=utcnow())
        except Exception:
            log.exception("could not mark job %s failed", job_id)

    future.add_done_callback(_done)
