"""What a worker does with one job, whichever backend delivered it (pool process or Celery task).

1. **Claim** the job with a compare-and-swap ``UPDATE`` (so a duplicate delivery never trains twice):
   a ``queued`` job, or a ``running`` one whose owner is provably gone (a redelivery after a worker was
   killed — counted in ``attempts``, at most :data:`MAX_ATTEMPTS`).
2. Refresh ``heartbeat_at`` from a daemon thread while training, and write progress as it comes.
3. Record the outcome. Training itself is atomic (a killed training leaves no artifact and no registry
   row), so a job either ends ``succeeded`` with a ``model_id`` or ``failed`` with a message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from sqlalchemy import update

from mltrainer.config import Settings
from mltrainer.db import session_scope
from mltrainer.errors import MLTrainerError
from mltrainer.jobs.store import (
    HEARTBEAT_SECONDS,
    JobRow,
    owner_gone,
    this_host,
    update_job,
    utcnow,
)

__all__ = ["run_job", "claim_job", "owner_alive_elsewhere", "MAX_ATTEMPTS", "TAKEOVER_AFTER_SECONDS"]

log = logging.getLogger(__name__)

#: Deliveries of one job before it is given up (a job that kills its worker every time must not loop).
MAX_ATTEMPTS = 2
#: A redelivered job owned by another host is taken over once that owner missed this many seconds of
#: heartbeats (well before the lost-job check reports it failed at ``LOST_AFTER_SECONDS``).
TAKEOVER_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
#: Progress writes closer together than this are coalesced (the UI polls about once a second).
PROGRESS_MIN_INTERVAL_SECONDS = 0.25


def claim_job(settings: Settings, job_id: str) -> dict[str, Any] | None:
    """Take ownership of ``job_id`` for this process; ``None`` when it is not ours to run."""
    host, pid, now = this_host(), os.getpid(), utcnow()
    with session_scope(settings) as session:
        row = session.get(JobRow, job_id)
        if row is None:
            log.warning("job %s is not in the jobs table; ignoring the delivery", job_id)
            return None
        snapshot = {c: getattr(row, c) for c in ("state", "worker_pid", "attempts", "worker_host")}
        takeover = row.state == "running" and owner_gone(row, now, host, TAKEOVER_AFTER_SECONDS)
        if row.state != "queued" and not takeover:
            log.info("job %s is %s; not running it again", job_id, row.state)
            return None
        session.expunge(row)
    if snapshot["attempts"] >= MAX_ATTEMPTS:
        update_job(settings, job_id, only_if_state=("queued", "running"), state="failed",
                   error="WorkerLost", finished_at=utcnow(),
                   message=f"Gave up after {snapshot['attempts']} attempts: the worker was lost each time "
                           "(killed or out of memory). Try a shorter date range or fewer parameters.")
        return None
    with session_scope(settings) as session:
        # Compare-and-swap on what we read: only one of two concurrent deliveries wins.
        result = session.execute(
            update(JobRow)
            .where(JobRow.job_id == job_id, JobRow.state == snapshot["state"],
                   JobRow.attempts == snapshot["attempts"])
            .values(state="running", worker_host=host, worker_pid=pid, supervisor_pid=os.getppid(),
                    attempts=snapshot["attempts"] + 1, heartbeat_at=now, updated_at=now, started_at=now,
                    finished_at=None, progress=0.0,
                    message="Retrying after a lost worker." if takeover else "Started.",
                    error=None)
        )
        if result.rowcount != 1:
            return None
        row = session.get(JobRow, job_id)
        return {c.name: getattr(row, c.name) for c in JobRow.__table__.columns}


def owner_alive_elsewhere(settings: Settings, job_id: str) -> bool:
    """Whether the job runs on another host whose heartbeat is recent (a delivery here must wait)."""
    with session_scope(settings) as session:
        row = session.get(JobRow, job_id)
        return (row is not None and row.state == "running" and row.worker_host != this_host()
                and not owner_gone(row, stale_after_seconds=TAKEOVER_AFTER_SECONDS))


class _Heartbeat(threading.Thread):
    def __init__(self, settings: Settings, job_id: str, owner: tuple[str, int]):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self._settings, self._job_id, self._owner = settings, job_id, owner
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(HEARTBEAT_SECONDS):
            try:
                with session_scope(self._settings) as session:
                    session.execute(update(JobRow).where(
                        JobRow.job_id == self._job_id, JobRow.state == "running",
                        JobRow.worker_host == self._owner[0], JobRow.worker_pid == self._owner[1],
                    ).values(heartbeat_at=utcnow()))
            except Exception:  # a missed beat is not fatal; the next one may succeed
                log.warning("could not refresh the heartbeat of job %s", self._job_id, exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()


def _progress_values(args: tuple, kwargs: dict) -> tuple[float | None, str | None]:
    """Accept ``progress(fraction, message)``, ``progress(message)`` or ``progress(dict)``."""
    fraction: float | None = kwargs.get("fraction", kwargs.get("progress"))
    message: str | None = kwargs.get("message")
    for arg in args:
        if isinstance(arg, dict):
            fraction = arg.get("fraction", arg.get("progress", fraction))
            message = arg.get("message", message)
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            fraction = float(arg)
        elif isinstance(arg, str):
            message = arg
    if fraction is not None:
        fraction = min(1.0, max(0.0, float(fraction)))
    return fraction, message


def _progress_writer(settings: Settings, job_id: str, owner: tuple[str, int]):
    last = {"at": 0.0, "fraction": -1.0}

    def progress(*args: Any, **kwargs: Any) -> None:
        fraction, message = _progress_values(args, kwargs)
        now = time.monotonic()
        if fraction is not None and fraction < 1.0 and fraction == last["fraction"] and message is None:
            return
        if now - last["at"] < PROGRESS_MIN_INTERVAL_SECONDS and (fraction or 0.0) < 1.0 and last["at"]:
            return
        fields: dict[str, Any] = {"heartbeat_at": utcnow()}
        if fraction is not None:
            fields["progress"] = min(fraction, 0.99)  # 1.0 only once the model is registered
            last["fraction"] = fraction
        if message:
            fields["message"] = str(message)[:500]
        last["at"] = now
        try:
            update_job(settings, job_id, only_if_state=("running",), only_if_owner=owner, **fields)
        except Exception:  # progress is best effort; the training must not fail for it
            log.warning("could not record progress of job %s", job_id, exc_info=True)

    return progress


def run_job(settings: Settings, job_id: str) -> dict[str, Any] | None:
    """Run one training job to completion in this process; returns the final job fields or ``None``
    when the job was not claimed (already done, or another delivery owns it)."""
    job = claim_job(settings, job_id)
    if job is None:
        return None
    from mltrainer.training import train_model

    log.info("job %s: training %s on %s (attempt %s)", job_id, job["model_type"], job["symbol"],
             job["attempts"])
    owner = (job["worker_host"], job["worker_pid"])
    beat = _Heartbeat(settings, job_id, owner)
    beat.start()
    try:
        result = train_model(
            job["model_type"], job["symbol"], params=dict(job["params"] or {}), start=job["start"],
            end=job["end"], cost_bps=job["cost_bps"], n_splits=job["n_splits"],
            progress=_progress_writer(settings, job_id, owner), actor=job["actor"],
        )
    except MLTrainerError as exc:
        log.info("job %s failed: %s", job_id, exc)
        fields = {"state": "failed", "error": type(exc).__name__, "message": str(exc) or type(exc).__name__}
    except Exception as exc:  # a bug: keep the traceback in the worker log, a safe message in the job
        log.exception("job %s crashed", job_id)
        fields = {"state": "failed", "error": type(exc).__name__,
                  "message": f"Training failed with an internal error ({type(exc).__name__}); "
                             "see the worker log. No model was saved."}
    else:
        model_id = getattr(result, "model_id", None)
        metrics = getattr(result, "metrics", None)
        fields = {"state": "succeeded", "progress": 1.0, "model_id": model_id,
                  "metrics": dict(metrics) if metrics is not None else None,
                  "message": f"Trained {model_id}."}
    finally:
        beat.stop()
    fields["finished_at"] = utcnow()
    if not update_job(settings, job_id, only_if_state=("running",), only_if_owner=owner, **fields):
        log.warning("job %s was taken over or marked failed meanwhile; its outcome here was not recorded",
                    job_id)
    return fields
