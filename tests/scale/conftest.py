"""Fixtures for the scale-out tests: the REAL PostgreSQL, Redis and Celery worker processes.

A test that needs a service is marked ``services`` and takes one of these fixtures. When the service
is unreachable the test is skipped — unless ``MLTRAINER_REQUIRE_SERVICES`` is set (CI), where it fails.
Isolation: every test gets its own PostgreSQL schema (dropped afterwards), its own Redis key prefix
(deleted afterwards) and, through the root conftest, its own ``MLTRAINER_HOME``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ADMIN_URL = os.environ.get("MLTRAINER_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MLTRAINER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO_ROOT = Path(__file__).resolve().parents[2]


def _require() -> bool:
    return os.environ.get("MLTRAINER_REQUIRE_SERVICES", "").strip() not in ("", "0")


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} unreachable ({type(exc).__name__}: {exc})"
    if _require():
        pytest.fail(message + " and MLTRAINER_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(message)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds.

    The interval only paces the polling; correctness never depends on it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(interval)


# -- PostgreSQL ----------------------------------------------------------------------------------------
def _pg_admin_engine():
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        _unavailable("PostgreSQL at 127.0.0.1:5432", exc)
    return engine


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    import sqlalchemy as sa

    from mltrainer.db import dispose_engines

    admin = _pg_admin_engine()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- Redis ---------------------------------------------------------------------------------------------
def _redis_client(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        _unavailable(f"Redis at {url}", exc)
    return client


def _delete_prefix(client, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """``(redis_url, prefix)``: the shared Redis and a key prefix of this test's own, cleaned up after."""
    client = _redis_client(REDIS_URL)
    prefix = f"t_{uuid.uuid4().hex[:12]}:"
    try:
        yield REDIS_URL, prefix
    finally:
        _delete_prefix(client, prefix)
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """A private redis-server process on a free port, which a test may kill."""

    def __init__(self, workdir: Path):
        self.exe = shutil.which("redis-server")
        if self.exe is None:
            _unavailable("redis-server executable", FileNotFoundError("redis-server not on PATH"))
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        """Start (or restart, on the same port) the server and wait until it answers PING."""
        import redis

        self.proc = subprocess.Popen(
            [self.exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)

        def _up() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    pytest.fail("the throwaway redis-server exited at start", pytrace=False)
                return False

        try:
            wait_until(_up, 15, "the throwaway redis-server to accept connections")
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def throwaway_redis(tmp_path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    try:
        yield server
    finally:
        server.kill()


# -- Celery workers ------------------------------------------------------------------------------------
class WorkerProcess:
    """``python -m mltrainer worker`` as a child process in its own process group.

    Killing the group with SIGKILL is what an OOM-kill of a container or ``docker kill`` does: the
    worker and its pool process die at once, mid-task.
    """

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 1, name: str = "w"):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mltrainer", "worker", "--concurrency", str(concurrency),
             "--name", f"{name}-{uuid.uuid4().hex[:6]}@%h"],
            env=env, cwd=str(REPO_ROOT), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=20)
        self._log.close()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM); SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def service_env(home: Path, database_url: str, broker_url: str | None,
                key_prefix: str | None) -> dict[str, str]:
    """The environment of a worker (or CLI) process pointed at this test's home, schema and broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRAINER_")
           and k not in ("POLYGON_API_KEY", "FRED_API_KEY")}
    env["MLTRAINER_HOME"] = str(home)
    env["MLTRAINER_DATABASE_URL"] = database_url
    if broker_url:
        env["MLTRAINER_CELERY_BROKER_URL"] = broker_url
    if key_prefix:
        env["MLTRAINER_CELERY_KEY_PREFIX"] = key_prefix
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
