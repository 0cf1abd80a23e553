"""The hash-chained, append-only audit trail (table ``audit_log`` in the metadata database).

Each record stores ``hash = SHA-256(canonical JSON of {seq, timestamp, actor, action, target, details,
prev_hash})`` where canonical JSON has sorted keys and no spaces, and ``prev_hash`` is the previous
record's hash (:data:`GENESIS_HASH` for the first). Editing, deleting, inserting or reordering any
record breaks the chain from that point on, which :meth:`AuditTrail.verify` reports.

Concurrent writers (several processes) must not fork the chain, so reading the last hash and inserting
the next record happen under one database write lock: ``BEGIN IMMEDIATE`` on SQLite,
``pg_advisory_xact_lock`` on PostgreSQL. ``seq`` is the primary key, so even without a lock two writers
can never both append after the same record: the loser's insert fails and it retries on the new tail.

Actions in use: ``model.train``, ``model.load``, ``model.delete``, ``prediction``, ``ensemble``,
``compliance.scan``, ``override.*``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from mltrainer._util import to_jsonable
from mltrainer.config import Settings, get_settings
from mltrainer.db import Base, get_engine
from mltrainer.errors import AuditError, InvalidInputError, MLTrainerError

__all__ = ["AuditRecord", "AuditTrail", "get_audit_trail", "record_hash", "canonical_json", "GENESIS_HASH"]

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_HASHED_FIELDS = ("seq", "timestamp", "actor", "action", "target", "details", "prev_hash")
# Arbitrary constant identifying the audit chain's advisory lock on PostgreSQL.
_PG_LOCK_KEY = 7_114_235_001
_MAX_APPEND_ATTEMPTS = 20


class AuditRecord(Base):
    """One audit record. Never updated or deleted by mlTrainer."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    timestamp: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(Text)
    details: Mapped[Any] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, strict JSON: the exact text that is hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical record, ``hash`` itself excluded."""
    payload = {k: record[k] for k in _HASHED_FIELDS}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _row_dict(row: Any) -> dict[str, Any]:
    return {
        "seq": int(row.seq),
        "timestamp": row.timestamp,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "details": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


class AuditTrail:
    """Append and read audit records; verify the chain."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()

    @property
    def _engine(self):
        return get_engine(self.settings)

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A write transaction holding the chain lock; commits on success."""
        engine = self._engine
        dialect = engine.dialect.name
        if dialect == "sqlite":
            # The driver's implicit BEGIN is DEFERRED (the lock would come only at the INSERT, after we
            # read the last hash); autocommit mode lets us issue BEGIN IMMEDIATE ourselves.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(Exception):  # keep the original error visible
                        conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
            return
        with engine.begin() as conn:
            if dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield conn

    def record(self, action: str, target: str, details: dict[str, Any] | None = None,
               actor: str = "system") -> dict[str, Any]:
        """Append one record and return it (with its ``seq`` and ``hash``)."""
        if not action or not isinstance(action, str):
            raise InvalidInputError("An audit action must be a non-empty string such as 'model.train'.")
        safe_details = to_jsonable(details or {})
        for attempt in range(_MAX_APPEND_ATTEMPTS):
            try:
                return self._append(action, target, safe_details, actor)
            except IntegrityError:  # another writer took this seq (only possible without a lock)
                log.debug("audit seq taken, retrying (attempt %d)", attempt + 1)
        raise AuditError(f"Could not append the audit record for {action!r}: the trail is busy; try again.")

    def _append(self, action: str, target: str, safe_details: Any, actor: str) -> dict[str, Any]:
        try:
            with self._locked() as conn:
                last = conn.execute(
                    select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
                ).first()
                entry = {
                    "seq": 1 if last is None else int(last.seq) + 1,
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                    "actor": str(actor),
                    "action": action,
                    "target": str(target),
                    "details": safe_details,
                    "prev_hash": GENESIS_HASH if last is None else last.hash,
                }
                entry["hash"] = record_hash(entry)
                conn.execute(AuditRecord.__table__.insert().values(**entry))
        except (MLTrainerError, IntegrityError):
            raise
        except Exception as exc:
            raise AuditError(
                f"Could not write the audit record for {action!r} ({type(exc).__name__}); "
                "check that the metadata database is reachable and writable."
            ) from exc
        log.debug("audit %s %s by %s (seq %s)", action, target, actor, entry["seq"])
        return entry

    def log(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` records, newest first. ``action`` filters exactly, or by prefix when it
        ends with ``*`` (``"override.*"``)."""
        if int(limit) < 1:
            raise InvalidInputError("limit must be at least 1.")
        stmt = select(*AuditRecord.__table__.c).order_by(AuditRecord.seq.desc()).limit(int(limit))
        if action:
            if action.endswith("*"):
                stmt = stmt.where(AuditRecord.action.startswith(action[:-1], autoescape=True))
            else:
                stmt = stmt.where(AuditRecord.action == action)
        with self._engine.connect() as conn:
            return [_row_dict(r) for r in conn.execute(stmt)]

    def verify(self) -> dict[str, Any]:
        """Recompute the chain: ``{ok, records, first_bad_index}``.

        ``first_bad_index`` is the 0-based position (in ``seq`` order) of the first record whose seq
        does not follow its predecessor's (first seq is 1), whose ``prev_hash`` is not its
        predecessor's hash, or whose own hash does not match its content; ``None`` when intact.
        """
        stmt = select(*AuditRecord.__table__.c).order_by(AuditRecord.seq)
        count = 0
        first_bad: int | None = None
        expected_prev = GENESIS_HASH
        expected_seq = 1
        with self._engine.connect() as conn:
            for index, row in enumerate(conn.execute(stmt)):
                count += 1
                if first_bad is not None:
                    continue
                record = _row_dict(row)
                try:
                    recomputed = record_hash(record)
                except (TypeError, ValueError):
                    recomputed = None
                intact = (record["seq"] == expected_seq and record["prev_hash"] == expected_prev
                          and recomputed == record["hash"])
                if not intact:
                    first_bad = index
                    continue
                expected_prev = record["hash"]
                expected_seq = record["seq"] + 1
        return {"ok": first_bad is None, "records": count, "first_bad_index": first_bad}


def get_audit_trail(settings: Settings | None = None) -> AuditTrail:
    """The audit trail of the configured metadata database."""
    return AuditTrail(settings)
