"""Celery backend end to end: real ``python -m mltrainer worker`` processes, the real Redis broker and
the metadata database on the real PostgreSQL (a schema per stack)."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from mltrainer.config import get_settings
from mltrainer.db import dispose_engines
from mltrainer.jobs import job_status, submit_sweep, submit_training, sweep_status
from mltrainer.registry import get_registry

from .conftest import (
    REDIS_URL,
    WorkerProcess,
    _delete_prefix,
    _pg_admin_engine,
    _redis_client,
    service_env,
    wait_until,
)

pytestmark = pytest.mark.services

SHORT = {"start": "2008-01-01", "end": "2011-12-31", "n_splits": 3}


class Stack:
    """One isolated deployment: a PostgreSQL schema, a broker key prefix, a home, and its workers."""

    def __init__(self, root: Path):
        import sqlalchemy as sa

        from .conftest import PG_ADMIN_URL

        self.admin = _pg_admin_engine()
        self.redis = _redis_client(REDIS_URL)
        self.schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        self.database_url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{self.schema}"
        self.key_prefix = f"{self.schema}:"
        self.home = root / "home"
        self.root = root
        self.workers: list[WorkerProcess] = []
        self.env = service_env(self.home, self.database_url, REDIS_URL, self.key_prefix)

    def use(self, monkeypatch) -> None:
        """Point this test process at the stack (as the API or dashboard would be)."""
        for key in ("MLTRAINER_HOME", "MLTRAINER_DATABASE_URL", "MLTRAINER_CELERY_BROKER_URL",
                    "MLTRAINER_CELERY_KEY_PREFIX"):
            monkeypatch.setenv(key, self.env[key])

    def start_worker(self, name: str) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.root / f"{name}.log", name=name)
        self.workers.append(worker)
        return worker

    def wait_ready(self, worker: WorkerProcess) -> None:
        def _ready() -> bool:
            if worker.proc.poll() is not None:
                pytest.fail(f"worker exited with {worker.proc.returncode}:\n{worker.log_text()[-3000:]}")
            return " ready." in worker.log_text()

        wait_until(_ready, 90, "the Celery worker to be ready", interval=0.1)

    def close(self) -> None:
        import sqlalchemy as sa

        for worker in self.workers:
            worker.kill()
        dispose_engines()
        _delete_prefix(self.redis, self.key_prefix)
        self.redis.close()
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("celery-stack"))
    try:
        s.wait_ready(s.start_worker("a"))
        yield s
    finally:
        s.close()


@pytest.fixture
def on_stack(stack, monkeypatch):
    stack.use(monkeypatch)
    yield stack
    dispose_engines()


def _finished(job_id: str):
    status = job_status(job_id)
    return status if status["state"] in ("succeeded", "failed") else None


def test_celery_job_succeeds_with_a_registered_model(on_stack):
    job_id = submit_training("momentum_breakout", "AAPL", params={"lookback_period": 20}, **SHORT)
    status = wait_until(lambda: _finished(job_id), 90, "the Celery job to finish")
    assert status["state"] == "succeeded", status
    assert status["backend"] == "celery" and status["progress"] == 1.0 and status["attempts"] == 1
    assert status["started_at"] <= status["finished_at"]
    record = get_registry().get(status["model_id"])  # written by the worker process, read here
    assert record.symbol == "AAPL" and record.params["lookback_period"] == 20
    assert get_registry().verify(record.model_id) is True  # the artifact is where the registry says


def test_celery_two_workers_same_training_get_distinct_ids(on_stack):
    on_stack.wait_ready(on_stack.start_worker("b"))
    jobs = [submit_training("momentum_breakout", "MSFT", **SHORT) for _ in range(2)]
    done = [wait_until(lambda j=j: _finished(j), 90, "both jobs to finish") for j in jobs]
    assert [d["state"] for d in done] == ["succeeded", "succeeded"], done
    model_ids = {d["model_id"] for d in done}
    assert len(model_ids) == 2
    for model_id in model_ids:
        assert get_registry().get(model_id).symbol == "MSFT"
    from mltrainer.db import session_scope
    from mltrainer.jobs.store import JobRow

    with session_scope() as session:
        pids = {session.get(JobRow, j).worker_pid for j in jobs}
    assert len(pids) == 2  # one delivery per idle worker (prefetch 1): they really ran side by side


def test_celery_sweep_fans_out_and_ranks(on_stack):
    sweep_id = submit_sweep("mean_reversion", ["AAPL"], {"entry_z": [1.5, 2.0]}, **SHORT)
    status = wait_until(lambda: (s := sweep_status(sweep_id))["complete"] and s, 120, "the sweep to finish")
    assert status["state"] == "succeeded" and len(status["results"]) == 2
    first, second = status["results"]
    assert first["sharpe"] >= second["sharpe"]
    assert status["best"]["model_id"] == first["model_id"] and status["best"]["n_trials"] == 2
    assert 0.0 <= status["best"]["deflated_sharpe"] <= 1.0


def _mid_training(job_id: str):
    def _check() -> bool:
        status = job_status(job_id)
        assert status["state"] in ("queued", "running"), f"the job ended before it could be killed: {status}"
        return status["state"] == "running" and 0.05 <= status["progress"] < 0.75

    return _check


def _worker_pid(job_id: str) -> int:
    from mltrainer.db import session_scope
    from mltrainer.jobs.store import JobRow

    with session_scope() as session:
        return session.get(JobRow, job_id).worker_pid


def test_celery_killed_pool_process_is_retried_and_killed_worker_fails_the_job(tmp_path, monkeypatch):
    stack = Stack(tmp_path)
    try:
        stack.use(monkeypatch)
        worker = stack.start_worker("victim")
        stack.wait_ready(worker)
        slow = {"params": {"n_estimators": 300}, "n_splits": 5}

        # 1. Only the pool process dies (OOM-killer style): Celery requeues the task (acks_late +
        #    reject_on_worker_lost) and a fresh pool process takes the job over.
        retried = submit_training("gradient_boosting", "AAPL", **slow)
        wait_until(_mid_training(retried), 90, "the first job to be mid-training", interval=0.02)
        first_pid = _worker_pid(retried)
        os.kill(first_pid, signal.SIGKILL)
        status = wait_until(lambda: _finished(retried), 120, "the retried job to finish")
        assert status["state"] == "succeeded" and status["attempts"] == 2, status
        assert _worker_pid(retried) != first_pid
        assert [r.model_id for r in get_registry().list()] == [status["model_id"]]

        # 2. The whole worker is killed (SIGKILL to its process group): nothing is left to retry in
        #    time, so the job is reported failed and nothing of it is saved.
        job_id = submit_training("gradient_boosting", "AAPL", **slow)
        wait_until(_mid_training(job_id), 90, "the second job to be mid-training", interval=0.02)
        worker.kill()
        status = wait_until(lambda: _finished(job_id), 30, "the killed job to be reported")
        assert status["state"] == "failed" and status["error"] == "WorkerLost"
        assert "no model was saved" in status["message"]
        registry = get_registry()
        assert [r.model_id for r in registry.list()] == [job_status(retried)["model_id"]]
        files = [p for p in get_settings().models_dir.rglob("*") if p.is_file()]
        assert files == [registry.artifact_file(job_status(retried)["model_id"])]
    finally:
        stack.close()
