"""Schema migrations of the metadata database (Alembic), applied automatically on first use.

:func:`mltrainer.db.init_db` calls :func:`upgrade_to_head` once per process and database: the same
migration files serve SQLite (``render_as_batch``) and PostgreSQL. Concurrent first starts (several API
and Celery workers at once) are serialised — a PostgreSQL advisory lock, or a lock file beside the
SQLite database — so exactly one process migrates and the others find the schema current.

Adding or changing a table: declare it on ``Base`` in its module (listed in
``mltrainer.db.TABLE_MODULES``), then write a migration::

    alembic -c mltrainer/migrations/alembic.ini revision --autogenerate -m "jobs: add queue column"

``tests/scale/test_migrations.py`` fails while the models and the migrations disagree. Until the
migration exists, :func:`upgrade_to_head` applies purely additive differences (new tables, new
nullable columns, new indexes) itself and logs a warning naming them, so a development database keeps
working; anything else (type changes, drops) is only reported.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata, produce_migrations
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "MIGRATIONS_DIR",
    "target_metadata",
    "alembic_config",
    "head_revision",
    "current_revision",
    "upgrade_to_head",
    "schema_drift",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
#: Key of the PostgreSQL advisory lock that serialises migrations (any fixed 64-bit number).
_PG_LOCK_KEY = zlib.crc32(b"mltrainer.migrations")


def target_metadata() -> MetaData:
    """``Base.metadata`` with every table module imported."""
    from mltrainer.db import Base, import_table_modules

    import_table_modules()
    return Base.metadata


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _migration_lock(connection: Connection) -> Iterator[None]:
    """Serialise migrations between processes for the duration of the transaction."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        yield
        return
    database = connection.engine.url.database if dialect == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    import fcntl

    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _adopt_unversioned(connection: Connection, cfg: Config) -> None:
    """Adopt a database created before migrations existed (by ``create_all``): one that matches the
    code exactly is marked at the newest revision; one holding the first revision's tables is marked
    at that revision, so the later ones apply on top."""
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables or not tables:
        return
    script = ScriptDirectory.from_config(cfg)
    if not schema_drift(connection):
        log.info("metadata database predates migrations and matches the code; marking it current")
        command.stamp(cfg, "head")
        return
    base = next(iter(script.get_bases()), None)
    if base is None:
        return
    expected = set(getattr(script.get_revision(base).module, "TABLES", ()))
    if expected and expected <= tables:
        log.info("metadata database predates migrations; marking it at revision %s", base)
        command.stamp(cfg, base)


def schema_drift(connection: Connection) -> list[Any]:
    """Differences between the tables declared in code and the database (empty when in step)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, target_metadata())


def _apply_additive_drift(connection: Connection) -> None:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    script = produce_migrations(context, target_metadata())
    operations = Operations(context)
    applied, reported = [], []

    postgres = connection.dialect.name == "postgresql"

    def _run(op: ops.MigrateOperation, label: str) -> None:
        try:
            # PostgreSQL aborts the whole transaction on an error: contain it in a savepoint. SQLite
            # rebuilds the table to add a NOT NULL column (ALTER TABLE cannot).
            with connection.begin_nested() if postgres else contextlib.nullcontext():
                if isinstance(op, ops.AddColumnOp) and not postgres:
                    with operations.batch_alter_table(op.table_name, recreate="always") as batch:
                        batch.add_column(op.column)
                else:
                    operations.invoke(op)
            applied.append(label)
        except Exception as exc:  # e.g. NOT NULL column on a table with rows: needs a real migration
            reported.append(f"{label} (not applied: {type(exc).__name__})")

    for op in script.upgrade_ops.ops:
        if isinstance(op, ops.CreateTableOp):
            _run(op, f"create table {op.table_name}")
        elif isinstance(op, ops.CreateIndexOp):
            _run(op, f"create index {op.index_name}")
        elif isinstance(op, ops.ModifyTableOps):
            for sub in op.ops:
                if isinstance(sub, ops.AddColumnOp):
                    _run(sub, f"add column {op.table_name}.{sub.column.name}")
                elif isinstance(sub, ops.CreateIndexOp):
                    _run(sub, f"create index {sub.index_name}")
                else:
                    reported.append(f"{type(sub).__name__} on {op.table_name}")
        else:
            reported.append(type(op).__name__)
    if applied or reported:
        log.warning(
            "the metadata tables in code differ from the migrations (write one with `alembic -c "
            "mltrainer/migrations/alembic.ini revision --autogenerate`). Applied: %s. Not applied: %s.",
            ", ".join(applied) or "nothing", ", ".join(reported) or "nothing",
        )


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest revision (idempotent, safe to call from many processes)."""
    with engine.begin() as connection:
        with _migration_lock(connection):
            cfg = alembic_config(connection)
            _adopt_unversioned(connection, cfg)
            if current_revision(connection) != head_revision():
                log.info("migrating the metadata database to revision %s", head_revision())
                command.upgrade(cfg, "head")
            _apply_additive_drift(connection)
