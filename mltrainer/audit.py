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
import functools
import hashlib
import hmac
import json
import logging
import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
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
    "AuditWriter",
    "Guard",
    "Stale",
    "get_audit_trail",
    "record_hash",
    "record_mac",
    "anchor_mac",
    "audit_key",
    "canonical_json",
    "GENESIS_HASH",
    "newest_record_query",
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
_ACTION_NAME = re.compile(r"[a-z][a-z0-9_.]*")
#: Seconds an :class:`AuditWriter`'s thread waits for work before it ends (the next submit starts another).
WRITER_IDLE_SECONDS = 2.0


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


@dataclass(frozen=True)
class Guard:
    """Append a record only if no record of ``actions`` was appended after ``seq``.

    A compare-and-append on the trail: a prediction served from memory is recorded only while nothing
    that could make its model unservable (a deletion, an override change) has been recorded since the
    model was last checked; otherwise the caller re-checks and records the outcome it then gets.
    """

    actions: tuple[str, ...]
    seq: int


@dataclass(frozen=True)
class Stale:
    """A guarded record that was not appended: ``newest`` is the seq of the newer guarded record."""

    newest: int


def _prepare(action: Any, target: Any, details: dict[str, Any] | None,
             actor: Any) -> tuple[str, str, Any, str]:
    """Validate one record's fields and make its details JSON-safe (before any lock is taken)."""
    if not action or not isinstance(action, str):
        raise InvalidInputError("An audit action must be a non-empty string such as 'model.train'.")
    return action, str(target), to_jsonable(details or {}), str(actor)


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
        return self.record_many([(action, target, details, actor)])[0]

    def record_many(self,
                    items: Sequence[tuple[str, Any, dict[str, Any] | None, str]]) -> list[dict[str, Any]]:
        """Append ``(action, target, details, actor)`` records, chained in order, in one transaction.

        All or nothing: either every record is appended or none is. One write transaction for many
        records is what lets a busy server keep one record per request (see :class:`AuditWriter`).
        """
        return self._append_batch([_prepare(*item) for item in items])

    def _append_batch(self, prepared: list[tuple[str, str, Any, str]],
                      guards: Sequence[Guard | None] | None = None) -> list[dict[str, Any] | Stale]:
        if not prepared:
            return []
        for attempt in range(_MAX_APPEND_ATTEMPTS):
            try:
                return self._append(prepared, guards)
            except IntegrityError:  # another writer took this seq (only possible without a lock)
                log.debug("audit seq taken, retrying (attempt %d)", attempt + 1)
        raise AuditError(f"Could not append the audit record for {prepared[0][0]!r}: the trail is busy; "
                         "try again.")

    def _append(self, prepared: list[tuple[str, str, Any, str]],
                guards: Sequence[Guard | None] | None = None) -> list[dict[str, Any] | Stale]:
        key = audit_key(self.settings)
        first_action = prepared[0][0]
        entries: list[dict[str, Any]] = []
        out: list[dict[str, Any] | Stale] = []
        try:
            with self._locked() as conn:
                prev_seq, prev_hash = self._tail(conn, key, first_action)
                first_seq = prev_seq
                # Guards are evaluated under the chain lock, so no record of a guarded action can be
                # committed between the check and the append.
                verdicts = self._check_guards(conn, guards) if guards else [None] * len(prepared)
                rows = []
                for (action, target, safe_details, actor), stale in zip(prepared, verdicts, strict=True):
                    if stale is not None:
                        out.append(stale)
                        continue
                    entry = {
                        "seq": prev_seq + 1,
                        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                        "actor": actor,
                        "action": action,
                        "target": target,
                        "details": safe_details,
                        "prev_hash": prev_hash,
                    }
                    entry["hash"] = record_hash(entry)
                    entries.append(entry)
                    out.append(entry)
                    rows.append({**entry, "mac": record_mac(entry["hash"], key)})
                    prev_seq, prev_hash = entry["seq"], entry["hash"]
                if not rows:
                    return out
                conn.execute(_statements().insert_records, rows)
                head = {"seq": prev_seq, "hash": prev_hash, "hmac": anchor_mac(prev_seq, prev_hash, key)}
                if first_seq == 0:
                    conn.execute(AuditHead.__table__.insert().values(id=_HEAD_ID, **head))
                else:
                    conn.execute(_statements().update_head, head)
        except (MLTrainerError, IntegrityError):
            raise
        except Exception as exc:
            raise AuditError(
                f"Could not write the audit record for {first_action!r} ({type(exc).__name__}); "
                "check that the metadata database is reachable and writable."
            ) from exc
        for entry in entries:
            log.debug("audit %s %s by %s (seq %s)", entry["action"], entry["target"], entry["actor"],
                      entry["seq"])
        return out

    @staticmethod
    def _check_guards(conn: Connection, guards: Sequence[Guard | None]) -> list[Stale | None]:
        """For each guard, ``Stale(newest)`` if a record of its actions is newer than its ``seq``."""
        newest: dict[tuple[str, ...], int] = {}
        verdicts: list[Stale | None] = []
        for guard in guards:
            if guard is None:
                verdicts.append(None)
                continue
            actions = tuple(sorted(guard.actions))
            if actions not in newest:  # one query per distinct action set in the batch
                newest[actions] = int(conn.execute(newest_record_query(actions)).scalar() or 0)
            verdicts.append(Stale(newest[actions]) if newest[actions] > guard.seq else None)
        return verdicts

    @staticmethod
    def _tail(conn: Connection, key: bytes, action: str) -> tuple[int, str]:
        """``(seq, hash)`` to chain the next record to: the anchor's, once its HMAC checks.

        Chaining from the anchor rather than from the last row keeps a cut-off tail visible as a gap
        after the next append. A missing or forged anchor, or rows beyond it, mean the trail was
        tampered with; appending would re-sign that state and erase the evidence, so it is refused.
        """
        head = conn.execute(_statements().select_head).first()
        last_seq = conn.execute(_statements().select_last_seq).scalar()
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


class AuditWriter:
    """Group commit for busy writers: records submitted from many threads are appended by one
    background thread, as many per transaction as are waiting.

    One record per request stays the rule and each caller waits for its own record to be committed
    (:meth:`submit` returns a future; :meth:`record` blocks on it), so nothing is reported to a user
    before its record is in the trail. What changes is the cost: a transaction per *batch* instead of
    per record, which is what a prediction server under load needs (a cached prediction costs less
    than one SQLite commit). A batch that fails fails every record in it with the same error, as
    each would have failed alone (a tampered trail, an unreachable database).

    The thread starts on the first submit and ends after :data:`WRITER_IDLE_SECONDS` without work.
    A forked child gets its own thread (the parent's does not exist there).
    """

    #: Most records appended in one transaction.
    MAX_BATCH = 500

    def __init__(self, trail: AuditTrail):
        self.trail = trail
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._running = False
        self._pid = os.getpid()
        self.batches = 0  # transactions committed; read by tests and benchmarks

    def submit(self, action: str, target: Any, details: dict[str, Any] | None = None,
               actor: str = "system", guard: Guard | None = None) -> Future:
        """Queue one record; the future's result is the appended record (or the error that stopped it).

        With a ``guard`` the result is a :class:`Stale` instead when the guard fails (nothing appended).
        Invalid fields raise here, at once, and queue nothing.
        """
        item = (_prepare(action, target, details, actor), Future(), guard)
        with self._lock:
            if self._pid != os.getpid():  # forked: the queue and thread belong to the parent
                self._queue, self._running, self._pid = queue.SimpleQueue(), False, os.getpid()
            self._queue.put(item)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="mltrainer-audit-writer", daemon=True).start()
        return item[1]

    def record(self, action: str, target: Any, details: dict[str, Any] | None = None,
               actor: str = "system") -> dict[str, Any]:
        """Append one record, batched with any others waiting, and return it once committed."""
        return self.submit(action, target, details, actor).result()

    def _next_batch(self) -> list | None:
        try:
            batch = [self._queue.get(timeout=WRITER_IDLE_SECONDS)]
        except queue.Empty:
            with self._lock:  # submit puts under this lock, so nothing can slip in between
                if self._queue.empty():
                    self._running = False
                    return None
            return []
        while len(batch) < self.MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if not batch:
                continue
            # A record is written even when its waiter has gone (a cancelled future, e.g. a client
            # that disconnected): the request happened, so the trail must show it.
            waiting = [future.set_running_or_notify_cancel() for _, future, _ in batch]
            guards = [guard for _, _, guard in batch]
            try:
                entries = self.trail._append_batch([fields for fields, _, _ in batch],
                                                   guards if any(guards) else None)
            except BaseException as exc:  # every waiter learns why; the thread carries on
                for (_, future, _), wants in zip(batch, waiting, strict=True):
                    if wants:
                        future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future, _), wants, entry in zip(batch, waiting, entries, strict=True):
                if wants:
                    future.set_result(entry)


@dataclass(frozen=True)
class _Statements:
    """The append path's statements, built once: a busy writer runs them for every batch, and building
    SQLAlchemy expressions costs more than executing these on SQLite."""

    select_head: Any
    select_last_seq: Any
    insert_records: Any
    update_head: Any


@functools.cache
def _statements() -> _Statements:
    return _Statements(
        select_head=select(AuditHead.seq, AuditHead.hash, AuditHead.hmac).where(AuditHead.id == _HEAD_ID),
        select_last_seq=select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1),
        insert_records=AuditRecord.__table__.insert(),
        update_head=AuditHead.__table__.update().where(AuditHead.__table__.c.id == _HEAD_ID),
    )


@functools.lru_cache(maxsize=32)
def newest_record_query(actions: tuple[str, ...]) -> Any:
    """``SELECT max(seq) FROM audit_log WHERE action IN (...)`` for a set of our own action names, as
    constant SQL text built once: a Core ``select`` re-expands its bound ``IN`` list on every execution
    (~180 µs), and this runs per request (servability) and per batch (guards)."""
    if not actions or not all(isinstance(a, str) and _ACTION_NAME.fullmatch(a) for a in actions):
        raise ValueError(f"audit action names must look like 'model.delete'; got {actions!r}")
    listed = ", ".join(f"'{a}'" for a in actions)  # checked above: letters, digits, '.', '_' only
    return text(f"SELECT max(seq) FROM {AuditRecord.__tablename__} WHERE action IN ({listed})")


def get_audit_trail(settings: Settings | None = None) -> AuditTrail:
    """The audit trail of the configured metadata database."""
    return AuditTrail(settings)
