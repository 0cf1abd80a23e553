"""Schema migrations of the metadata database (Alembic), applied automatically on first use.

:func:`mltrainer.db.init_db` calls :func:`upgrade_to_head` once per process and database: the same
migration files serve SQLite (``render_as_batch``) and PostgreSQL. Concurrent first starts (several API
and Celery workers at once) are serialised — a PostgreSQL advisory lock, or a lock file beside the
SQLite database — so exactly one process migrates and the others find the schema current.

Adding or changing a table: declare it on ``Base`` in its module (listed in
``mltrainer.db.TABLE_MODULES``), then write a migration::

    alembic -c mltrainer/migrations/alembic.ini revision --autogenerate -m "jobs: add queue column"

``tests/scale/test_migrations.py`` fails while the models and the migrations disagree. After
upgrading, :func:`upgrade_to_head` refuses (``ConfigError`` naming the differences) a database that
still differs from the code: the schema is only ever changed by migrations.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

from mltrainer.errors import ConfigError

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


def _refuse_drift(connection: Connection) -> None:
    """After upgrading, the database must match the code exactly. A difference means a missing migration
    or a hand-edited database; the schema is never patched outside a migration (a half-applied patch is
    worse than a clear refusal), so this raises naming what differs."""
    drift = schema_drift(connection)
    if not drift:
        return
    parts = []
    for diff in drift:
        kind = diff[0] if isinstance(diff, tuple) else "change"
        if kind == "add_table":
            parts.append(f"missing table {diff[1].name}")
        elif kind == "add_column":
            parts.append(f"missing column {diff[2]}.{diff[3].name}")
        elif kind == "remove_table":
            parts.append(f"unexpected table {diff[1].name}")
        elif kind == "remove_column":
            parts.append(f"unexpected column {diff[2]}.{diff[3].name}")
        else:
            parts.append(str(kind))
    raise ConfigError(
        "The metadata database does not match this version of mlTrainer ("
        + "; ".join(parts[:6]) + (f"; +{len(parts) - 6} more" if len(parts) > 6 else "")
        + "). It was changed outside mlTrainer's migrations: restore it from a backup, or point "
        "MLTRAINER_DATABASE_URL at another database."
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
            _refuse_drift(connection)
