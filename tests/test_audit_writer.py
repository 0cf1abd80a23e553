"""AuditWriter: group commit keeps one chained record per request, in submit order, and reports errors."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

import mltrainer.audit as audit
from mltrainer.audit import AuditWriter, get_audit_trail
from mltrainer.db import get_engine
from mltrainer.errors import AuditError, InvalidInputError


def _gated(trail):
    """Hold the writer's first transaction open until the test releases it (no sleeping)."""
    calls: list[int] = []
    entered, release = threading.Event(), threading.Event()
    real = trail._append_batch

    def append(prepared, guards=None):
        calls.append(len(prepared))
        if len(calls) == 1:
            entered.set()
            assert release.wait(30)
        return real(prepared, guards)

    trail._append_batch = append
    return calls, entered, release


def test_waiting_records_share_one_transaction_in_submit_order():
    trail = get_audit_trail()
    calls, entered, release = _gated(trail)
    writer = AuditWriter(trail)
    first = writer.submit("prediction", "m1", {"symbols": ["AAPL"]}, actor="api")
    assert entered.wait(30)
    waiting = [writer.submit("prediction", f"m{i}", {"i": i}, actor="api") for i in range(2, 12)]
    release.set()
    records = [first.result(30)] + [f.result(30) for f in waiting]
    assert calls == [1, 10]  # the ten that queued behind the open transaction went in together
    assert writer.batches == 2
    assert [r["seq"] for r in records] == list(range(1, 12))
    assert [r["target"] for r in records] == [f"m{i}" for i in range(1, 12)]
    assert records[0]["details"] == {"symbols": ["AAPL"]} and records[0]["actor"] == "api"
    for earlier, later in zip(records, records[1:], strict=False):
        assert later["prev_hash"] == earlier["hash"]
    assert trail.verify() == {"ok": True, "records": 11, "first_bad_index": None}
    logged = trail.log(limit=20)
    assert [r["hash"] for r in reversed(logged)] == [r["hash"] for r in records]


def test_invalid_record_raises_at_submit_and_queues_nothing():
    trail = get_audit_trail()
    writer = AuditWriter(trail)
    with pytest.raises(InvalidInputError, match="non-empty string"):
        writer.submit("", "m")
    assert writer.record("prediction", "m")["seq"] == 1
    assert trail.verify()["records"] == 1


def test_a_failed_batch_fails_every_waiter_with_the_trails_error():
    trail = get_audit_trail()
    writer = AuditWriter(trail)
    writer.record("prediction", "m")
    with get_engine().begin() as conn:  # forge the anchor: appending must now be refused
        conn.execute(text("UPDATE audit_head SET hmac = :h"), {"h": "0" * 64})
    calls, entered, release = _gated(trail)
    first = writer.submit("prediction", "a")
    assert entered.wait(30)
    others = [writer.submit("prediction", x) for x in ("b", "c")]
    release.set()
    for future in [first, *others]:
        with pytest.raises(AuditError, match="anchor"):
            future.result(30)
    assert calls == [1, 2]
    assert trail.verify()["records"] == 1


def test_a_cancelled_waiter_still_gets_its_record():
    """A request whose client went away still happened: its record is written."""
    trail = get_audit_trail()
    calls, entered, release = _gated(trail)
    writer = AuditWriter(trail)
    first = writer.submit("prediction", "served")
    assert entered.wait(30)
    gone = writer.submit("prediction", "client-gone")
    assert gone.cancel()
    last = writer.submit("prediction", "after")
    release.set()
    assert first.result(30)["seq"] == 1 and last.result(30)["seq"] == 3
    assert [r["target"] for r in trail.log(limit=5)] == ["after", "client-gone", "served"]
    assert trail.verify()["ok"] is True


def test_the_thread_ends_when_idle_and_the_next_submit_starts_another(monkeypatch):
    monkeypatch.setattr(audit, "WRITER_IDLE_SECONDS", 0.0)  # end as soon as the queue is empty
    trail = get_audit_trail()
    writer = AuditWriter(trail)
    seqs = []
    for i in range(3):
        seqs.append(writer.record("prediction", f"m{i}")["seq"])
        # the record's future resolves before the thread looks for more work; wait for it to end
        for thread in threading.enumerate():
            if thread.name == "mltrainer-audit-writer":
                thread.join(30)
        assert writer._running is False
    assert seqs == [1, 2, 3]
    assert trail.verify() == {"ok": True, "records": 3, "first_bad_index": None}


def test_a_guard_appends_only_while_no_newer_record_of_its_actions_exists():
    from mltrainer.audit import Guard, Stale

    trail = get_audit_trail()
    writer = AuditWriter(trail)
    writer.record("model.train", "m1")  # seq 1: not a guarded action
    guard = Guard(("model.delete", "override.revoke"), 0)
    assert writer.submit("prediction", "m1", guard=guard).result(30)["seq"] == 2
    trail.record("model.delete", "m2")  # seq 3
    calls, entered, release = _gated(trail)
    blocker = writer.submit("prediction", "first")
    assert entered.wait(30)
    stale = writer.submit("prediction", "m1", {"served": True}, guard=guard)
    fresh = writer.submit("prediction", "m1", {"served": True}, guard=Guard(guard.actions, 3))
    plain = writer.submit("prediction", "m1")
    release.set()
    assert blocker.result(30)["seq"] == 4
    assert stale.result(30) == Stale(newest=3)  # nothing appended for it
    assert fresh.result(30)["seq"] == 5 and plain.result(30)["seq"] == 6
    assert calls == [1, 3]
    assert [r["seq"] for r in trail.log(limit=10)] == [6, 5, 4, 3, 2, 1]
    assert trail.verify() == {"ok": True, "records": 6, "first_bad_index": None}


def test_the_newest_record_query_takes_only_action_names():
    from mltrainer.audit import newest_record_query

    trail = get_audit_trail()
    for action in ("model.train", "model.delete", "prediction", "model.delete", "prediction"):
        trail.record(action, "m")
    with get_engine().connect() as conn:
        assert conn.execute(newest_record_query(("model.delete", "override.grant"))).scalar() == 4
        assert conn.execute(newest_record_query(("plugin.load",))).scalar() is None
    with pytest.raises(ValueError, match="action names"):
        newest_record_query(("model.delete'); DROP TABLE audit_log; --",))
