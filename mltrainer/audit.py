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
import hmac
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

__all__ = [
    "AuditRecord",
    "AuditHead",
    "AuditTrail",
    "get_audit_trail",
    "record_hash",
    "record_mac",
    "anchor_mac",
    "audit_key",
    "canonical_json",
    "GENESIS_HASH",
]

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_HASHED_FIELDS = ("seq", "timestamp", "actor", "action", "target", "details", "prev_hash")
# Arbitrary constant identifying the audit chain's advisory lock on PostgreSQL.
_PG_LOCK_KEY = 7_114_235_001
_MAX_APPEND_ATTEMPTS = 20
# Domain separation: the audit HMACs never equal an artifact signature made with the same signing key,
# and a record's mac can never pass as the anchor's.
_KEY_CONTEXT = b"mltrainer.audit.v1"
_HEAD_ID = 1


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
    mac: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The anchor: one row (``id`` 1) naming the newest record, kept outside the chain it anchors."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    hmac: Mapped[str] = mapped_column(String(64))


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, strict JSON: the exact text that is hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical record, ``hash`` itself excluded."""
    payload = {k: record[k] for k in _HASHED_FIELDS}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def audit_key(settings: Settings | None = None) -> bytes:
    """The audit HMAC key, derived from the artifact signing key (never stored in the database)."""
    from mltrainer.registry.artifacts import signing_key  # lazy: the registry package is heavy to import

    return hmac.new(signing_key(settings), _KEY_CONTEXT, hashlib.sha256).digest()


def record_mac(record_hash_hex: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of a record's hash: only a holder of the key can vouch for a record."""
    return hmac.new(key, b"record:" + record_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def anchor_mac(seq: int, record_hash_hex: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the anchor: the newest record's ``seq`` and ``hash``."""
    return hmac.new(key, f"head:{int(seq)}:{record_hash_hex}".encode("ascii"), hashlib.sha256).hexdigest()


def _mac_ok(expected: str, given: Any) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected, given)


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
        key = audit_key(self.settings)
        try:
            with self._locked() as conn:
                prev_seq, prev_hash = self._tail(conn, key, action)
                entry = {
                    "seq": prev_seq + 1,
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                    "actor": str(actor),
                    "action": action,
                    "target": str(target),
                    "details": safe_details,
                    "prev_hash": prev_hash,
                }
                entry["hash"] = record_hash(entry)
                conn.execute(AuditRecord.__table__.insert().values(**entry, mac=record_mac(entry["hash"], key)))
                head = {"seq": entry["seq"], "hash": entry["hash"],
                        "hmac": anchor_mac(entry["seq"], entry["hash"], key)}
                if prev_seq == 0:
                    conn.execute(AuditHead.__table__.insert().values(id=_HEAD_ID, **head))
                else:
                    conn.execute(AuditHead.__table__.update().where(AuditHead.id == _HEAD_ID).values(**head))
        except (MLTrainerError, IntegrityError):
            raise
        except Exception as exc:
            raise AuditError(
                f"Could not write the audit record for {action!r} ({type(exc).__name__}); "
                "check that the metadata database is reachable and writable."
            ) from exc
        log.debug("audit %s %s by %s (seq %s)", action, target, actor, entry["seq"])
        return entry

    @staticmethod
    def _tail(conn: Connection, key: bytes, action: str) -> tuple[int, str]:
        """``(seq, hash)`` to chain the next record to: the anchor's, once its HMAC checks.

        Chaining from the anchor rather than from the last row keeps a cut-off tail visible as a gap
        after the next append. A missing or forged anchor, or rows beyond it, mean the trail was
        tampered with; appending would re-sign that state and erase the evidence, so it is refused.
        """
        head = conn.execute(
            select(AuditHead.seq, AuditHead.hash, AuditHead.hmac).where(AuditHead.id == _HEAD_ID)
        ).first()
        last_seq = conn.execute(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1)).scalar()
        if head is None and last_seq is None:
            return 0, GENESIS_HASH
        tampered = (
            head is None
            or not _mac_ok(anchor_mac(head.seq, head.hash, key), head.hmac)
            or (last_seq is not None and last_seq > head.seq)
        )
        if tampered:
            raise AuditError(
                f"Cannot append the audit record for {action!r}: the audit trail's anchor is missing, does "
                "not match its signature, or records were added after it, so the trail may have been "
                "tampered with (or the signing key changed). Run `python -m mltrainer audit verify` and "
                "restore the metadata database (or the signing key) from a backup."
            )
        return int(head.seq), head.hash

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
        """Recompute the chain and check it against its anchor: ``{ok, records, first_bad_index}``.

        ``first_bad_index`` is the 0-based position (in ``seq`` order) of the first record whose seq
        does not follow its predecessor's (first seq is 1), whose ``prev_hash`` is not its
        predecessor's hash, whose own hash does not match its content, or whose mac does not match its
        hash. Records missing from the end are reported at the first missing position (``records``
        when every present record is intact); a missing or forged anchor also at ``records``, since
        the end of the trail can then not be vouched for. ``None`` when intact.
        """
        key = audit_key(self.settings)
        count = 0
        first_bad: int | None = None
        expected_prev = GENESIS_HASH
        expected_seq = 1
        anchored_hash: str | None = None
        with self._engine.connect() as conn:
            # The anchor is read first: a record appended concurrently after that read lies beyond the
            # anchor and is checked like any other record, so verify never races with writers.
            head = conn.execute(
                select(AuditHead.seq, AuditHead.hash, AuditHead.hmac).where(AuditHead.id == _HEAD_ID)
            ).first()
            for index, row in enumerate(conn.execute(select(*AuditRecord.__table__.c).order_by(AuditRecord.seq))):
                count += 1
                if first_bad is not None:
                    continue
                record = _row_dict(row)
                try:
                    recomputed = record_hash(record)
                except (TypeError, ValueError):
                    recomputed = None
                intact = (record["seq"] == expected_seq and record["prev_hash"] == expected_prev
                          and recomputed == record["hash"] and _mac_ok(record_mac(record["hash"], key), row.mac))
                if not intact:
                    first_bad = index
                    continue
                if head is not None and record["seq"] == head.seq:
                    anchored_hash = record["hash"]
                expected_prev = record["hash"]
                expected_seq = record["seq"] + 1
        if first_bad is None:
            first_bad = self._anchor_problem(head, key, count, anchored_hash)
        return {"ok": first_bad is None, "records": count, "first_bad_index": first_bad}

    @staticmethod
    def _anchor_problem(head: Any, key: bytes, count: int, anchored_hash: str | None) -> int | None:
        """Where an otherwise intact chain of ``count`` records disagrees with its anchor, or None."""
        if head is None:
            return None if count == 0 else count  # a used trail always has an anchor
        if not _mac_ok(anchor_mac(head.seq, head.hash, key), head.hmac):
            return count
        if head.seq > count:  # intact records are numbered 1..count, so the rest were cut off
            return count
        if anchored_hash != head.hash:
            return head.seq - 1
        return None


def get_audit_trail(settings: Settings | None = None) -> AuditTrail:
    """The audit trail of the configured metadata database."""
    return AuditTrail(settings)
