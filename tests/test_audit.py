"""The hash-chained audit trail: canonical hashing, tamper detection via raw SQL, concurrent writers, CLI."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text

from mltrainer.audit import GENESIS_HASH, get_audit_trail, record_hash
from mltrainer.cli import main
from mltrainer.db import get_engine
from mltrainer.errors import AuditError, InvalidInputError


def _trail_of(n: int):
    trail = get_audit_trail()
    for i in range(n):
        details = {"signal": [1, 0, -1][i % 3], "i": i}
        trail.record("prediction", "momentum_AAPL_20240102", details, actor="bob")
    return trail


def _sql(statement: str, **params) -> None:
    with get_engine().begin() as conn:
        conn.execute(text(statement), params)


def test_hash_is_sha256_of_canonical_json():
    record = {"seq": 1, "timestamp": "2024-01-02T00:00:00+00:00", "actor": "a", "action": "model.train",
              "target": "m", "details": {"b": 1, "a": [1.5, None]}, "prev_hash": GENESIS_HASH}
    canonical = ('{"action":"model.train","actor":"a","details":{"a":[1.5,null],"b":1},"prev_hash":"'
                 + GENESIS_HASH + '","seq":1,"target":"m","timestamp":"2024-01-02T00:00:00+00:00"}')
    assert record_hash(record) == hashlib.sha256(canonical.encode()).hexdigest()


def test_records_chain_and_log_newest_first():
    trail = _trail_of(3)
    trail.record("override.grant", "fp123", {"reason": "vendor code"}, actor="carol")
    entries = trail.log()
    assert [e["seq"] for e in entries] == [4, 3, 2, 1]
    assert entries[-1]["prev_hash"] == GENESIS_HASH
    assert all(entries[i]["prev_hash"] == entries[i + 1]["hash"] for i in range(3))
    assert all(e["hash"] == record_hash(e) for e in entries)
    assert [e["seq"] for e in trail.log(limit=2)] == [4, 3]
    assert [e["action"] for e in trail.log(action="override.*")] == ["override.grant"]
    assert len(trail.log(action="prediction")) == 3
    assert trail.verify() == {"ok": True, "records": 4, "first_bad_index": None}
    with pytest.raises(InvalidInputError):
        trail.log(limit=0)


def test_nan_details_are_stored_as_null():
    entry = get_audit_trail().record("ensemble", "x", {"weight": float("nan")})
    assert entry["details"] == {"weight": None}
    assert get_audit_trail().verify()["ok"] is True


def test_empty_trail_verifies():
    assert get_audit_trail().verify() == {"ok": True, "records": 0, "first_bad_index": None}


def test_edited_record_is_detected():
    trail = _trail_of(5)
    _sql("UPDATE audit_log SET actor='mallory' WHERE seq=3")
    assert trail.verify() == {"ok": False, "records": 5, "first_bad_index": 2}


def test_edited_details_is_detected():
    trail = _trail_of(5)
    _sql("""UPDATE audit_log SET details='{"i": 1, "signal": 1}' WHERE seq=2""")
    assert trail.verify()["first_bad_index"] == 1


def test_deleted_records_are_detected():
    trail = _trail_of(5)
    _sql("DELETE FROM audit_log WHERE seq=4")
    assert trail.verify() == {"ok": False, "records": 4, "first_bad_index": 3}
    _sql("DELETE FROM audit_log WHERE seq=1")
    assert trail.verify()["first_bad_index"] == 0


def test_inserted_record_is_detected_even_with_a_valid_own_hash():
    trail = _trail_of(4)
    before = {e["seq"]: e for e in trail.log()}
    # Forge a record between seq 2 and 3 whose own hash and prev_hash are perfect, renumbering the rest.
    _sql("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3")
    _sql("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103")
    forged = {"seq": 3, "timestamp": "2024-01-02T00:00:00+00:00", "actor": "mallory",
              "action": "override.grant", "target": "fp", "details": {}, "prev_hash": before[2]["hash"]}
    forged["hash"] = record_hash(forged)
    _sql("INSERT INTO audit_log (seq, timestamp, actor, action, target, details, prev_hash, hash, mac) "
         "VALUES (:seq, :timestamp, :actor, :action, :target, '{}', :prev_hash, :hash, :mac)",
         mac="0" * 64, **{k: v for k, v in forged.items() if k != "details"})
    # Without the key its mac cannot be right, so the forgery itself (position 2) is reported, not only
    # the break it causes in the next record.
    assert trail.verify() == {"ok": False, "records": 5, "first_bad_index": 2}


@pytest.mark.parametrize(("where", "remaining"), [("seq = 5", 4), ("seq >= 4", 3), ("1 = 1", 0)])
def test_records_cut_from_the_end_are_detected_against_the_anchor(where, remaining):
    trail = _trail_of(5)
    _sql(f"DELETE FROM audit_log WHERE {where}")
    # The first missing position is the first bad one.
    assert trail.verify() == {"ok": False, "records": remaining, "first_bad_index": remaining}


def test_an_append_after_a_cut_tail_keeps_the_gap_visible():
    trail = _trail_of(5)
    _sql("DELETE FROM audit_log WHERE seq >= 4")
    entry = trail.record("model.delete", "m", actor="mallory")
    assert entry["seq"] == 6  # chained to the anchor, not to the surviving last row
    assert trail.verify() == {"ok": False, "records": 4, "first_bad_index": 3}


def test_a_chain_recomputed_without_the_key_is_detected():
    trail = _trail_of(5)
    rows = sorted(trail.log(), key=lambda r: r["seq"])
    rows[1]["actor"] = "mallory"
    prev = rows[0]["hash"]
    for row in rows[1:]:  # everything a database user can recompute: hashes, links and the anchor's hash
        row["prev_hash"] = prev
        row["hash"] = prev = record_hash(row)
        _sql("UPDATE audit_log SET actor=:actor, prev_hash=:prev_hash, hash=:hash WHERE seq=:seq",
             actor=row["actor"], prev_hash=row["prev_hash"], hash=row["hash"], seq=row["seq"])
    _sql("UPDATE audit_head SET hash=:hash", hash=prev)
    assert trail.verify() == {"ok": False, "records": 5, "first_bad_index": 1}


def test_a_copied_mac_does_not_vouch_for_another_record():
    trail = _trail_of(3)
    _sql("UPDATE audit_log SET mac=(SELECT mac FROM audit_log WHERE seq=1) WHERE seq=2")
    assert trail.verify()["first_bad_index"] == 1


@pytest.mark.parametrize("tamper", ["DELETE FROM audit_head", "UPDATE audit_head SET seq = 3",
                                    "UPDATE audit_head SET hmac = '" + "0" * 64 + "'"])
def test_a_missing_or_forged_anchor_fails_verify_and_blocks_appends(tamper):
    trail = _trail_of(5)
    _sql("DELETE FROM audit_log WHERE seq >= 4")
    _sql(tamper)
    assert trail.verify() == {"ok": False, "records": 3, "first_bad_index": 3}
    # Appending would re-sign the tampered state and erase the evidence.
    with pytest.raises(AuditError, match="audit verify"):
        trail.record("prediction", "x")
    assert trail.verify()["records"] == 3


def test_records_appended_beyond_the_anchor_block_appends():
    trail = _trail_of(3)
    _sql("UPDATE audit_head SET seq = 2")
    with pytest.raises(AuditError, match="anchor"):
        trail.record("prediction", "x")


def test_the_anchor_names_the_newest_record():
    trail = _trail_of(3)
    with get_engine().connect() as conn:
        head = conn.execute(text("SELECT id, seq, hash FROM audit_head")).all()
    assert [tuple(h) for h in head] == [(1, 3, trail.log(limit=1)[0]["hash"])]


def test_a_different_signing_key_fails_verify(monkeypatch):
    _trail_of(2)
    monkeypatch.setenv("MLTRAINER_SIGNING_KEY", "another-key-of-enough-length")
    assert get_audit_trail().verify() == {"ok": False, "records": 2, "first_bad_index": 0}


def test_upgrading_a_database_with_records_signs_and_anchors_them(mltrainer_home):
    """Records written before the anchor existed (revision 0003) are signed by the migration."""
    import sqlalchemy as sa
    from alembic import command

    from mltrainer.migrations import alembic_config

    mltrainer_home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{mltrainer_home / 'mltrainer.db'}"
    first = {"seq": 1, "timestamp": "2026-01-02T00:00:00+00:00", "actor": "a", "action": "model.train",
             "target": "m", "details": {}, "prev_hash": GENESIS_HASH}
    first["hash"] = record_hash(first)
    second = dict(first, seq=2, action="prediction", prev_hash=first["hash"])
    second["hash"] = record_hash(second)
    raw = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with raw.begin() as conn:
        command.upgrade(alembic_config(conn), "0003")
        for row in (first, second):
            conn.execute(text("INSERT INTO audit_log (seq, timestamp, actor, action, target, details, prev_hash, "
                              "hash) VALUES (:seq, :timestamp, :actor, :action, :target, '{}', :prev_hash, :hash)"),
                         {k: v for k, v in row.items() if k != "details"})
    raw.dispose()
    trail = get_audit_trail()
    assert trail.verify() == {"ok": True, "records": 2, "first_bad_index": None}
    assert trail.record("prediction", "m")["seq"] == 3
    _sql("DELETE FROM audit_log WHERE seq = 3")
    assert trail.verify() == {"ok": False, "records": 2, "first_bad_index": 2}


def test_reordered_records_are_detected():
    trail = _trail_of(4)
    _sql("UPDATE audit_log SET seq = 99 WHERE seq = 2")
    _sql("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    _sql("UPDATE audit_log SET seq = 3 WHERE seq = 99")
    assert trail.verify() == {"ok": False, "records": 4, "first_bad_index": 1}


def test_appended_forgery_with_wrong_hash_is_detected():
    trail = _trail_of(2)
    last = trail.log(limit=1)[0]
    _sql("INSERT INTO audit_log (seq, timestamp, actor, action, target, details, prev_hash, hash, mac) "
         "VALUES (3, 't', 'm', 'model.delete', 'x', '{}', :prev, :bad, :bad)", prev=last["hash"], bad="f" * 64)
    assert trail.verify()["first_bad_index"] == 2


def test_concurrent_processes_never_fork_the_chain(forked_audit_writers):
    forked_audit_writers(processes=3, records_each=15)
    trail = get_audit_trail()
    assert trail.verify() == {"ok": True, "records": 45, "first_bad_index": None}
    assert sorted(e["seq"] for e in trail.log(limit=100)) == list(range(1, 46))


def test_cli_verify_and_log(capsys):
    _trail_of(3)
    assert main(["audit", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "records": 3, "first_bad_index": None}
    assert main(["audit", "log", "--limit", "2", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in entries] == [3, 2] and entries[0]["actor"] == "bob"
    _sql("UPDATE audit_log SET target='other' WHERE seq=1")
    assert main(["audit", "verify", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"ok": False, "records": 3, "first_bad_index": 0}
    with pytest.raises(SystemExit) as excinfo:
        main(["audit", "log", "--limit", "zero"])
    assert excinfo.value.code == 2
