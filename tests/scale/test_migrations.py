"""Alembic migrations of the metadata database on SQLite (default) and the real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from mltrainer.db import Base, dispose_engines, get_engine, import_table_modules
from mltrainer.errors import ConfigError
from mltrainer.migrations import alembic_config, current_revision, head_revision, schema_drift

from .conftest import wait_until

TABLES = {"alembic_version", "audit_log", "compliance_overrides", "jobs", "models", "sweeps"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request, monkeypatch, mltrainer_home):
    """The URL of an empty metadata database of each backend, set as MLTRAINER_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{mltrainer_home / 'mltrainer.db'}"
        mltrainer_home.mkdir(parents=True, exist_ok=True)
    else:
        url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("MLTRAINER_DATABASE_URL", url)
    yield url
    dispose_engines()


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_migrations_new_database_is_created_at_head_and_matches_the_code(database_url):
    engine = get_engine()
    assert TABLES <= _tables(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        # Fails when a table module changed without a migration: write one (see mltrainer.migrations).
        assert schema_drift(conn) == []


def test_migrations_downgrade_to_base_and_up_again(database_url):
    engine = get_engine()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert _tables(engine) <= {"alembic_version"}
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        assert current_revision(conn) == head_revision()
    assert TABLES <= _tables(engine)


def test_migrations_database_made_by_create_all_is_adopted(database_url):
    import_table_modules()
    raw = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    Base.metadata.create_all(raw)
    raw.dispose()
    engine = get_engine()
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert schema_drift(conn) == []


def test_a_database_changed_outside_migrations_is_refused_not_patched(database_url):
    engine = get_engine()
    with engine.begin() as conn:  # the database lags the code: a table and a column are missing
        conn.execute(sa.text("DROP TABLE sweeps"))
        conn.execute(sa.text("ALTER TABLE jobs DROP COLUMN heartbeat_at"))
    dispose_engines()
    with pytest.raises(ConfigError) as refused:
        get_engine()
    message = str(refused.value)
    assert "missing table sweeps" in message and "missing column jobs.heartbeat_at" in message
    assert "restore it from a backup" in message
    dispose_engines()
    plain = sa.create_engine(database_url)
    try:  # nothing was patched behind the migrations' back
        assert "sweeps" not in sa.inspect(plain).get_table_names()
        assert "heartbeat_at" not in {c["name"] for c in sa.inspect(plain).get_columns("jobs")}
    finally:
        plain.dispose()


@pytest.mark.services
def test_migrations_wait_for_the_lock_held_by_another_process_on_postgresql(pg_url):
    # Several API/Celery workers starting at once on a new database: one migrates while the others wait
    # on the advisory lock, then find the schema current.
    import threading

    from mltrainer.migrations import _PG_LOCK_KEY, upgrade_to_head

    holder = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    waiter = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    errors: list[BaseException] = []

    def _migrate() -> None:
        try:
            upgrade_to_head(waiter)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    try:
        with holder.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            thread = threading.Thread(target=_migrate)
            thread.start()
            waiting = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            wait_until(lambda: conn.execute(waiting).scalar_one() >= 1, 30, "the second migrator to wait")
            assert thread.is_alive() and "jobs" not in _tables(holder)
        thread.join(timeout=60)  # the holder committed: the waiter proceeds
        assert not thread.is_alive() and errors == []
        assert TABLES <= _tables(holder)
        upgrade_to_head(waiter)  # a later start finds it current
        with waiter.connect() as conn2:
            assert conn2.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        holder.dispose()
        waiter.dispose()


def test_migrations_existing_database_at_first_revision_upgrades_keeping_rows(database_url):
    raw = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with raw.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(sa.text(
            "INSERT INTO jobs (job_id, kind, backend, model_type, symbol, params, cost_bps, n_splits, actor, "
            "state, progress, message, attempts, created_at, updated_at) VALUES ('job-old', 'train', "
            "'celery', 'momentum_breakout', 'AAPL', '{}', 5.0, 3, 'x', 'succeeded', 1.0, 'done', 1, "
            "'2026-01-02 03:04:05', '2026-01-02 03:04:06')"))
    raw.dispose()
    from mltrainer.jobs import job_status

    status = job_status("job-old")  # opening the database migrates it to head
    assert (status["state"], status["started_at"], status["finished_at"]) == ("succeeded", None, None)
    assert status["created_at"] == "2026-01-02T03:04:05+00:00"
    with get_engine().connect() as conn:
        assert current_revision(conn) == head_revision()
        assert schema_drift(conn) == []


def test_migrations_unversioned_database_with_older_tables_is_adopted_and_upgraded(database_url):
    raw = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with raw.begin() as conn:  # the first revision's tables, but no record of any revision
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))
    raw.dispose()
    engine = get_engine()
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert schema_drift(conn) == []
