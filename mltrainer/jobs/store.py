"""The ``jobs`` and ``sweeps`` tables and the only code that reads or writes them.

A job row is the single source of truth about a background training, whichever backend runs it (local
process pool or Celery): the process that runs the training writes its state, progress and heartbeat
here, so every API worker, dashboard process or CLI call sees the same answer and a restart loses
nothing. Timestamps are stored as naive UTC (SQLite keeps no offset) and shown with ``+00:00``.

Lost workers: a worker killed with SIGKILL cannot say so. The running process records its host, its
pid and its supervisor's pid, and refreshes ``heartbeat_at``; :func:`reconcile_lost` marks a job
``failed`` when its process is gone (same host: the pid no longer exists; other hosts: the heartbeat is
older than :data:`LOST_AFTER_SECONDS`) and no retry is coming (see :func:`is_lost`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from mltrainer._util import to_jsonable
from mltrainer.config import Settings
from mltrainer.db import Base, session_scope
from mltrainer.errors import JobNotFoundError

__all__ = [
    "JobRow",
    "SweepRow",
    "JOB_STATES",
    "TERMINAL_STATES",
    "LOST_AFTER_SECONDS",
    "HEARTBEAT_SECONDS",
    "new_job_id",
    "new_sweep_id",
    "utcnow",
    "this_host",
    "create_job",
    "update_job",
    "get_job",
    "job_dict",
    "list_job_dicts",
    "sweep_job_dicts",
    "create_sweep",
    "get_sweep",
    "reconcile_lost",
    "is_lost",
    "owner_gone",
    "LOST_MESSAGE",
]

log = logging.getLogger(__name__)

JOB_STATES = ("queued", "running", "succeeded", "failed")
TERMINAL_STATES = frozenset({"succeeded", "failed"})
#: How often a running job refreshes its heartbeat.
HEARTBEAT_SECONDS = 5.0
#: A running job whose heartbeat is older than this (and whose pid cannot be checked) is lost.
LOST_AFTER_SECONDS = 60.0

LOST_MESSAGE = (
    "The worker running this job stopped (killed or crashed) before training finished; no model was "
    "saved. Submit the job again."
)


class JobRow(Base):
    """One background training job."""

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="train")
    sweep_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    backend: Mapped[str] = mapped_column(String(16))
    model_type: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    start: Mapped[str | None] = mapped_column(String(10), nullable=True)
    end: Mapped[str | None] = mapped_column(String(10), nullable=True)
    cost_bps: Mapped[float] = mapped_column(Float)
    n_splits: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    model_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: OOS metrics of the trained model, copied so sweeps can rank without reading the registry.
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    worker_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The process supervising ``worker_pid`` (the Celery worker's main process, or the pool's owner).
    supervisor_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class SweepRow(Base):
    """A parameter sweep: the request; its trials are the jobs with this ``sweep_id``."""

    __tablename__ = "sweeps"

    sweep_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_type: Mapped[str] = mapped_column(String(64))
    symbols: Mapped[list[str]] = mapped_column(JSON)
    param_grid: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost_bps: Mapped[float] = mapped_column(Float)
    n_splits: Mapped[int] = mapped_column(Integer)
    start: Mapped[str | None] = mapped_column(String(10), nullable=True)
    end: Mapped[str | None] = mapped_column(String(10), nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


def utcnow() -> dt.datetime:
    """Now as naive UTC (the storage convention of these tables)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def this_host() -> str:
    """Where pids of this process are meaningful: the host name plus, on Linux, the pid namespace (two
    containers may share a host name but never a pid namespace), so a pid is only checked where it is
    valid."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # e.g. 'pid:[4026531836]'
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace[len('pid:'):].strip('[]')}"


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:16]}"


def new_sweep_id() -> str:
    return f"sweep-{uuid.uuid4().hex[:16]}"


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).isoformat()


def job_dict(row: JobRow) -> dict[str, Any]:
    """The public view of a job (what ``job_status`` returns)."""
    out: dict[str, Any] = {
        "job_id": row.job_id,
        "state": row.state,
        "progress": float(row.progress or 0.0),
        "message": row.message or "",
        "model_id": row.model_id,
        "error": row.error,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "model_type": row.model_type,
        "symbol": row.symbol,
        "params": dict(row.params or {}),
        "start": row.start,
        "end": row.end,
        "cost_bps": row.cost_bps,
        "n_splits": row.n_splits,
        "backend": row.backend,
        "sweep_id": row.sweep_id,
        "attempts": row.attempts,
        "metrics": row.metrics,
    }
    return out


def create_job(settings: Settings, *, backend: str, model_type: str, symbol: str, params: dict[str, Any],
               start: str | None, end: str | None, cost_bps: float, n_splits: int, actor: str,
               sweep_id: str | None = None, job_id: str | None = None) -> str:
    """Insert a ``queued`` job and return its id.

    For the local backend the submitting process is recorded as the owner until a pool process takes
    the job, so a queued job whose submitter died is detected as lost too.
    """
    now = utcnow()
    job_id = job_id or new_job_id()
    row = JobRow(
        job_id=job_id,
        kind="train",
        sweep_id=sweep_id,
        backend=backend,
        model_type=model_type,
        symbol=symbol,
        params=to_jsonable(params or {}),
        start=start,
        end=end,
        cost_bps=float(cost_bps),
        n_splits=int(n_splits),
        actor=actor,
        state="queued",
        progress=0.0,
        message="Waiting for a worker.",
        attempts=0,
        worker_host=this_host() if backend == "local" else None,
        worker_pid=os.getpid() if backend == "local" else None,
        created_at=now,
        updated_at=now,
        heartbeat_at=now if backend == "local" else None,
    )
    with session_scope(settings) as session:
        session.add(row)
    return job_id


def update_job(settings: Settings, job_id: str, *, only_if_state: tuple[str, ...] | None = None,
               only_if_owner: tuple[str, int] | None = None, **fields: Any) -> bool:
    """Update a job's fields (``updated_at`` is refreshed). Returns False when the job is missing, its
    state is not in ``only_if_state``, or it is not owned by ``only_if_owner`` (host, pid) — guards that
    keep a late write from a worker presumed lost from overwriting the job's newer state."""
    with session_scope(settings) as session:
        guarded = only_if_state is not None or only_if_owner is not None
        row = session.get(JobRow, job_id, with_for_update=guarded)
        if row is None:
            return False
        if only_if_state is not None and row.state not in only_if_state:
            return False
        if only_if_owner is not None and (row.worker_host, row.worker_pid) != tuple(only_if_owner):
            return False
        for key, value in fields.items():
            setattr(row, key, to_jsonable(value) if key in ("metrics", "params") else value)
        row.updated_at = utcnow()
    return True


def get_job(settings: Settings, job_id: str) -> dict[str, Any]:
    """The job's public view, after reconciling a lost worker. Raises ``JobNotFoundError``."""
    reconcile_lost(settings, job_ids=[job_id])
    with session_scope(settings) as session:
        row = session.get(JobRow, job_id)
        if row is None:
            raise JobNotFoundError(
                f"No job with id {job_id!r}. List the known jobs with `python -m mltrainer jobs list`."
            )
        return job_dict(row)


def list_job_dicts(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent jobs, newest first."""
    reconcile_lost(settings)
    with session_scope(settings) as session:
        rows = session.scalars(
            select(JobRow).order_by(JobRow.created_at.desc(), JobRow.job_id).limit(max(1, int(limit)))
        ).all()
        return [job_dict(r) for r in rows]


def sweep_job_dicts(settings: Settings, sweep_id: str) -> list[dict[str, Any]]:
    reconcile_lost(settings, sweep_id=sweep_id)
    with session_scope(settings) as session:
        rows = session.scalars(
            select(JobRow).where(JobRow.sweep_id == sweep_id).order_by(JobRow.created_at, JobRow.job_id)
        ).all()
        return [job_dict(r) for r in rows]


def create_sweep(settings: Settings, *, sweep_id: str, model_type: str, symbols: list[str],
                 param_grid: dict[str, list[Any]], cost_bps: float, n_splits: int, start: str | None,
                 end: str | None, actor: str) -> None:
    with session_scope(settings) as session:
        session.add(SweepRow(
            sweep_id=sweep_id, model_type=model_type, symbols=list(symbols),
            param_grid=to_jsonable(param_grid), cost_bps=float(cost_bps), n_splits=int(n_splits),
            start=start, end=end, actor=actor, created_at=utcnow(),
        ))


def get_sweep(settings: Settings, sweep_id: str) -> dict[str, Any]:
    with session_scope(settings) as session:
        row = session.get(SweepRow, sweep_id)
        if row is None:
            raise JobNotFoundError(
                f"No sweep with id {sweep_id!r}. Check the id printed by `python -m mltrainer sweep`."
            )
        return {
            "sweep_id": row.sweep_id, "model_type": row.model_type, "symbols": list(row.symbols),
            "param_grid": dict(row.param_grid), "cost_bps": row.cost_bps, "n_splits": row.n_splits,
            "start": row.start, "end": row.end, "actor": row.actor, "created_at": _iso(row.created_at),
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def owner_gone(row: JobRow, now: dt.datetime | None = None, host: str | None = None,
               stale_after_seconds: float = LOST_AFTER_SECONDS) -> bool:
    """Whether the process that owns the job is gone: its pid (same host) or its heartbeat (other hosts)."""
    now = now or utcnow()
    host = host or this_host()
    if row.worker_pid is not None and row.worker_host == host:
        return not _pid_alive(row.worker_pid)
    beat = row.heartbeat_at or row.updated_at
    return (now - beat).total_seconds() > stale_after_seconds


def is_lost(row: JobRow, now: dt.datetime | None = None, host: str | None = None) -> bool:
    """Whether an unfinished job will never finish and must be reported ``failed``.

    A queued job on a broker is never lost (the broker holds it); a local queued job is lost when its
    submitting process died. A running job is lost when its owner is gone — except while the Celery
    worker that supervised the dead pool process is alive and the heartbeat is recent: Celery then
    re-queues the task (``task_reject_on_worker_lost``) and the next delivery takes the job over.
    """
    if row.state not in ("queued", "running"):
        return False
    now = now or utcnow()
    host = host or this_host()
    if row.state == "queued":
        if row.backend != "local" or row.worker_pid is None or row.worker_host != host:
            return False
        return not _pid_alive(row.worker_pid)
    if not owner_gone(row, now, host):
        return False
    beat = row.heartbeat_at or row.updated_at
    retry_pending = (
        row.backend == "celery" and row.worker_host == host and row.supervisor_pid is not None
        and _pid_alive(row.supervisor_pid) and (now - beat).total_seconds() <= LOST_AFTER_SECONDS
    )
    return not retry_pending


def reconcile_lost(settings: Settings, job_ids: list[str] | None = None, sweep_id: str | None = None) -> int:
    """Mark unfinished jobs whose worker is gone as ``failed``; returns how many were marked."""
    now = utcnow()
    host = this_host()
    marked = 0
    with session_scope(settings) as session:
        query = select(JobRow).where(JobRow.state.in_(("queued", "running")))
        if job_ids is not None:
            query = query.where(JobRow.job_id.in_(job_ids))
        if sweep_id is not None:
            query = query.where(JobRow.sweep_id == sweep_id)
        for row in session.scalars(query).all():
            if is_lost(row, now, host):
                log.warning("job %s lost its worker (pid %s on %s); marking it failed",
                            row.job_id, row.worker_pid, row.worker_host)
                row.state = "failed"
                row.error = "WorkerLost"
                row.message = LOST_MESSAGE
                row.updated_at = now
                row.finished_at = now
                marked += 1
    return marked
