"""Alembic environment of the metadata database (run by :func:`mltrainer.migrations.upgrade_to_head`,
or by the ``alembic`` command with ``-c mltrainer/migrations/alembic.ini``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from mltrainer.migrations import target_metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from mltrainer.config import get_settings

    return get_settings().sqlalchemy_url


def _configure(**kwargs) -> None:
    # render_as_batch: SQLite cannot ALTER most things in place; batch mode rebuilds the table instead,
    # so the same migration files work on SQLite and PostgreSQL.
    context.configure(target_metadata=target_metadata(), render_as_batch=True, compare_type=True, **kwargs)


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # mltrainer.db.init_db passes its own connection (and holds the lock)
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
