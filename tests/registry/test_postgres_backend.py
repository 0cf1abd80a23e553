"""The registry and the audit trail on a real PostgreSQL (``MLTRAINER_DATABASE_URL``): id allocation
and the audit chain's advisory lock under processes racing."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp

import pytest

from mltrainer.audit import get_audit_trail
from mltrainer.db import dispose_engines, get_engine
from mltrainer.registry import get_registry

pytestmark = pytest.mark.services


def _race(barrier, queue):
    dispose_engines()  # never reuse the parent's pooled connections after fork
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    barrier.wait()
    for i in range(5):
        get_audit_trail().record("prediction", f"p{i}", {"i": i})
    record = get_registry().register(
        model_type="momentum_breakout", symbol="^GSPC", bundle={"model": model}, params={},
        train_start="2020-01-02", train_end="2020-12-31", data_rows=2, data_fingerprint="ef" * 32,
        metrics={"sharpe": 1.0}, folds=[], buy_and_hold={}, n_splits=3,
    )
    queue.put(record.model_id)


def test_processes_racing_on_postgres(postgres_database):
    assert get_engine().dialect.name == "postgresql"
    dispose_engines()
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(barrier, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    ids = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    base = f"momentum_breakout_GSPC_{dt.datetime.now(dt.UTC):%Y%m%d}"
    assert ids == [base, f"{base}_v2", f"{base}_v3"]
    registry = get_registry()
    assert all(registry.verify(i) for i in ids)
    record = registry.get(ids[0])
    assert record.symbol == "^GSPC" and record.created_at.tzinfo is not None
    # 3 x 5 predictions + 3 trainings, one unforked chain.
    assert get_audit_trail().verify() == {"ok": True, "records": 18, "first_bad_index": None}


def test_audit_chain_survives_writers_without_the_lock(postgres_database, monkeypatch, forked_audit_writers):
    """The primary key on seq is the backstop: without the advisory lock, colliding appends retry."""
    import contextlib

    from mltrainer.audit import AuditTrail

    @contextlib.contextmanager
    def unlocked(self):
        with self._engine.begin() as conn:
            yield conn

    monkeypatch.setattr(AuditTrail, "_locked", unlocked)
    forked_audit_writers(processes=3, records_each=12)
    assert get_audit_trail().verify() == {"ok": True, "records": 36, "first_bad_index": None}
