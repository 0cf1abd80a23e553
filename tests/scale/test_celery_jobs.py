"""Celery backend end to end: real ``python -m mltrainer worker`` processes, the real Redis broker and
the metadata database on the real PostgreSQL (a schema per stack)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mltrainer.config import get_settings
from mltrainer.db import dispose_engines
from mltrainer.jobs import job_status, submit_sweep, submit_training, sweep_status
from mltrainer.registry import get_registry

from .conftest import (
    REDIS_URL,
    REPO_ROOT,
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


def test_celery_job_succeeds_and_a_new_process_sees_it(on_stack):
    job_id = submit_training("momentum_breakout", "AAPL", params={"lookback_period": 20}, **SHORT)
    status = wait_until(lambda: _finished(job_id), 90, "the Celery job to finish")
    assert status["state"] == "succeeded", status
    assert status["backend"] == "celery" and status["progress"] == 1.0
    record = get_registry().get(status["model_id"])
    assert record.symbol == "AAPL" and record.params["lookback_period"] == 20
    assert any(p.is_file() for p in get_settings().models_dir.rglob("*"))  # the worker wrote the artifact
    # Another process (as after a restart) reads the same record from PostgreSQL.
    out = subprocess.run([sys.executable, "-m", "mltrainer", "jobs", "show", job_id, "--json"],
                         env=on_stack.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["state"] == "succeeded" and shown["model_id"] == status["model_id"]


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


def test_celery_worker_killed_mid_training_job_failed_nothing_saved(tmp_path, monkeypatch):
    stack = Stack(tmp_path)
    try:
        stack.use(monkeypatch)
        worker = stack.start_worker("victim")
        stack.wait_ready(worker)
        job_id = submit_training("gradient_boosting", "AAPL", params={"n_estimators": 400}, n_splits=5)

        def _training():
            status = job_status(job_id)
            assert status["state"] in ("queued", "running"), f"the job ended before it could be killed: {status}"
            return status["state"] == "running" and 0.05 <= status["progress"] < 0.75

        wait_until(_training, 90, "the job to be mid-training", interval=0.02)
        worker.kill()  # SIGKILL to the worker and its pool process
        status = wait_until(lambda: _finished(job_id), 30, "the killed job to be reported")
        assert status["state"] == "failed" and status["error"] == "WorkerLost"
        assert "no model was saved" in status["message"]
        assert get_registry().list() == []
        models_dir = get_settings().models_dir
        assert not models_dir.exists() or [p for p in models_dir.rglob("*") if p.is_file()] == []
    finally:
        stack.close()
