"""Shared test fixtures. Every test runs with its own MLTRAINER_HOME and no provider keys, so the
suite never writes to ~/.mltrainer and never reaches a real provider."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_ENV_TO_CLEAR = (
    "POLYGON_API_KEY",
    "FRED_API_KEY",
    "MLTRAINER_POLYGON_API_KEY",
    "MLTRAINER_FRED_API_KEY",
    "MLTRAINER_DATA_SOURCE",
    "MLTRAINER_DATABASE_URL",
    "MLTRAINER_SIGNING_KEY",
    "MLTRAINER_API_TOKENS",
    "MLTRAINER_REDIS_URL",
    "MLTRAINER_CELERY_BROKER_URL",
    "MLTRAINER_POLYGON_BASE_URL",
    "MLTRAINER_FRED_BASE_URL",
    "MLTRAINER_CELERY_KEY_PREFIX",
    "MLTRAINER_LOCAL_WORKERS",
    "MLTRAINER_MAX_LOADED_MODELS",
    "MLTRAINER_PREDICTION_TTL_SECONDS",
)


_SESSION_HOME: str | None = None


def pytest_configure(config):
    """Before collection: module-level and session-scoped code (an app built at import, a corpus scanned
    once per module) gets a throw-away home too, never the user's ~/.mltrainer, and no provider keys."""
    global _SESSION_HOME
    _SESSION_HOME = tempfile.mkdtemp(prefix="mltrainer-test-session-")
    os.environ["MLTRAINER_HOME"] = _SESSION_HOME
    os.environ["MLTRAINER_ENV_FILE"] = ""
    for name in _ENV_TO_CLEAR:
        os.environ.pop(name, None)


def pytest_unconfigure(config):
    if _SESSION_HOME:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def mltrainer_home(tmp_path, monkeypatch):
    """A fresh, empty MLTRAINER_HOME for each test; returns its path."""
    home = tmp_path / "mltrainer-home"
    monkeypatch.setenv("MLTRAINER_HOME", str(home))
    monkeypatch.setenv("MLTRAINER_ENV_FILE", "")  # a developer's .env must never reach the tests
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def private_copy(tmp_path, monkeypatch):
    """``private_copy(home)`` points MLTRAINER_HOME at a copy of a session's trained home, so the test may
    delete a model; the process-wide prediction service is reset around it."""
    from mltrainer.serving import reset_prediction_service

    def copy(source) -> Path:
        home = tmp_path / "private-home"
        shutil.copytree(source, home)
        monkeypatch.setenv("MLTRAINER_HOME", str(home))
        reset_prediction_service()
        return home

    yield copy
    reset_prediction_service()


def _append_audit_records(barrier, n, name):
    from mltrainer.audit import get_audit_trail
    from mltrainer.db import dispose_engines

    dispose_engines()  # a forked child must open its own connections, never reuse the parent's
    trail = get_audit_trail()
    barrier.wait()  # all writers start together, so their appends collide
    for i in range(n):
        trail.record("prediction", f"{name}-{i}", actor=name)


@pytest.fixture
def forked_audit_writers():
    """``run(processes, records_each)``: forked processes appending audit records at the same moment."""
    import multiprocessing as mp

    from mltrainer.db import dispose_engines, get_engine

    def run(processes: int, records_each: int) -> None:
        get_engine()  # the schema exists before the children race on it
        dispose_engines()
        ctx = mp.get_context("fork")
        barrier = ctx.Barrier(processes)
        procs = [ctx.Process(target=_append_audit_records, args=(barrier, records_each, f"w{k}"))
                 for k in range(processes)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0

    return run
