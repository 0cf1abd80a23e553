"""The metadata database: one SQLAlchemy engine per URL (SQLite under ``MLTRAINER_HOME`` by default,
any SQLAlchemy URL via ``MLTRAINER_DATABASE_URL``, e.g. ``postgresql+psycopg://...``).

Tables are declared on :class:`Base` in the modules that own them (registry, audit, compliance
overrides, jobs); :func:`init_db` imports those modules and applies the Alembic migrations in
``mltrainer/migrations`` (the same files for SQLite and PostgreSQL).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from mltrainer.config import Settings, get_settings
from mltrainer.errors import ConfigError, MLTrainerError, RegistryError

__all__ = [
    "Base", "get_engine", "session_scope", "init_db", "import_table_modules", "dispose_engines", "TABLE_MODULES",
]

log = logging.getLogger(__name__)

#: Modules that declare tables on Base; imported before migrating so the metadata holds every table.
TABLE_MODULES = (
    "mltrainer.registry.models_table",
    "mltrainer.audit",
    "mltrainer.compliance.overrides",
    "mltrainer.jobs.store",
)


class Base(DeclarativeBase):
    """Declarative base of every mlTrainer table."""


_engines: dict[str, Engine] = {}
_initialised: set[str] = set()
_lock = threading.Lock()


def _redact(url: str) -> str:
    """A URL safe for messages: the password is never shown."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def get_engine(settings: Settings | None = None) -> Engine:
    """The engine for the configured database, created once per URL and process.

    The schema is created (or migrated) on first use.
    """
    settings = settings or get_settings()
    url = settings.sqlalchemy_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                settings.ensure_home()
                engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

                @event.listens_for(engine, "connect")
                def _sqlite_pragmas(dbapi_conn, _record):  # WAL: readers never block the writer
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA journal_mode=WAL")
                    # WAL + NORMAL stays consistent after a crash (a power loss may drop the last commits);
                    # it cuts the per-request audit write from ~9 ms to ~2 ms.
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.execute("PRAGMA foreign_keys=ON")
                    cur.execute("PRAGMA busy_timeout=30000")
                    cur.close()

            else:
                try:
                    engine = create_engine(url, pool_pre_ping=True)
                except (ArgumentError, ImportError, ValueError):
                    raise ConfigError(
                        "MLTRAINER_DATABASE_URL is not a usable SQLAlchemy URL "
                        "(e.g. postgresql+psycopg://user@127.0.0.1:5432/mltrainer); unset it to use SQLite."
                    ) from None
            _engines[url] = engine
        if url not in _initialised:
            try:
                init_db(engine)
            except MLTrainerError:
                raise
            except Exception as exc:
                raise RegistryError(
                    f"Could not open the metadata database at {_redact(url)}: {type(exc).__name__}. "
                    "Check MLTRAINER_DATABASE_URL and that the server is running."
                ) from exc
            _initialised.add(url)
    return engine


def import_table_modules() -> None:
    """Import every module of TABLE_MODULES so that ``Base.metadata`` holds every table."""
    for name in TABLE_MODULES:
        importlib.import_module(name)


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic; creates every table on a new database).

    Safe to call from many processes at once; see :mod:`mltrainer.migrations`.
    """
    import_table_modules()
    from mltrainer.migrations import upgrade_to_head

    upgrade_to_head(engine)


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A transaction: commits on success, rolls back on any exception."""
    factory = sessionmaker(bind=get_engine(settings), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Close every pooled connection (tests, forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _initialised.clear()
