"""The registry, audit trail, overrides and jobs scenarios on BOTH metadata backends: the SQLite default
and the real PostgreSQL (a fresh schema per test), through the same code and the same migrations."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LinearRegression

from mltrainer.audit import get_audit_trail
from mltrainer.config import get_settings
from mltrainer.db import dispose_engines, get_engine
from mltrainer.errors import InvalidInputError, ModelNotFoundError
from mltrainer.registry import get_registry


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend(request, monkeypatch):
    """The metadata backend under test; PostgreSQL gets its own schema (dropped afterwards)."""
    if request.param == "postgresql":
        monkeypatch.setenv("MLTRAINER_DATABASE_URL", request.getfixturevalue("pg_url"))
    assert get_engine().dialect.name == request.param
    yield request.param
    dispose_engines()


def _register(symbol="AAPL", model_type="momentum_breakout"):
    # A hand-made fit (y = 2x + 1), not market data: these tests are about the metadata store.
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    return get_registry().register(
        model_type=model_type, symbol=symbol, bundle={"model": model}, params={"lookback_period": 20},
        train_start="2020-01-02", train_end="2020-12-31", data_rows=253, data_fingerprint="ab" * 32,
        metrics={"sharpe": 0.5, "total_return": 0.12}, folds=[{"fold": 0, "sharpe": 0.4}],
        buy_and_hold={"sharpe": 0.9}, cost_bps=5.0, n_splits=3,
        oos_returns=pd.Series([0.01, -0.02], index=pd.to_datetime(["2020-06-01", "2020-06-02"])),
    )


def test_backends_register_versioned_ids_list_get_load(backend):
    first, second = _register(), _register()
    other = _register(symbol="MSFT")
    base = f"momentum_breakout_AAPL_{dt.datetime.now(dt.UTC):%Y%m%d}"
    assert (first.model_id, second.model_id) == (base, f"{base}_v2")
    registry = get_registry()
    assert [r.model_id for r in registry.list(symbol="AAPL")] == [second.model_id, first.model_id]
    assert {r.model_id for r in registry.list()} == {first.model_id, second.model_id, other.model_id}
    record = registry.get(first.model_id)
    assert record.params == {"lookback_period": 20} and record.metrics["sharpe"] == 0.5
    assert record.train_start == dt.date(2020, 1, 2) and record.created_at.tzinfo is not None
    assert record.oos_return_series().tolist() == [0.01, -0.02]
    assert registry.verify(first.model_id) is True
    assert registry.load_model(first.model_id).predict([[3.0]])[0] == pytest.approx(7.0)


def test_backends_delete_removes_row_and_artifact_and_is_audited(backend):
    record = _register()
    registry = get_registry()
    path = registry.artifact_file(record.model_id)
    assert path.is_file()
    registry.delete(record.model_id, actor="alice")
    assert not path.exists()
    with pytest.raises(ModelNotFoundError):
        registry.get(record.model_id)
    log = get_audit_trail().log(action="model.*")
    assert [(e["action"], e["target"], e["actor"]) for e in log[:2]] == [
        ("model.delete", record.model_id, "alice"), ("model.train", record.model_id, "user")]


def test_backends_audit_chain_verifies_and_detects_tampering(backend):
    trail = get_audit_trail()
    for i in range(3):
        trail.record("prediction", f"p{i}", {"i": i}, actor="bob")
    assert trail.verify() == {"ok": True, "records": 3, "first_bad_index": None}
    with get_engine().begin() as conn:  # someone edits history behind the product's back
        conn.execute(sa.text("UPDATE audit_log SET target = 'forged' WHERE seq = 2"))
    assert trail.verify() == {"ok": False, "records": 3, "first_bad_index": 1}


def test_backends_overrides_grant_list_revoke(backend):
    from mltrainer.compliance.overrides import grant_override, list_overrides, revoke_override

    fingerprint = "0123456789abcdef"
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).date().isoformat()
    granted = grant_override(fingerprint, "vendored code, fixed upstream", "carol", expires)
    assert [o.id for o in list_overrides(active_only=True)] == [granted.id]
    revoked = revoke_override(granted.id, "dave")
    assert revoked.revoked_by == "dave" and revoked.revoked_at is not None
    assert list_overrides(active_only=True) == [] and len(list_overrides()) == 1
    with pytest.raises(InvalidInputError, match="already revoked"):
        revoke_override(granted.id, "dave")
    actions = [e["action"] for e in get_audit_trail().log(action="override.*")]
    assert actions == ["override.revoke", "override.grant"]
    assert get_audit_trail().verify()["ok"] is True


def test_backends_job_records_roundtrip(backend):
    from mltrainer.jobs import job_status, list_jobs
    from mltrainer.jobs.store import create_job, update_job

    settings = get_settings()
    job_id = create_job(settings, backend="celery", model_type="momentum_breakout", symbol="AAPL",
                        params={"lookback_period": 10}, start=None, end="2011-12-31", cost_bps=5.0,
                        n_splits=3, actor="erin")
    update_job(settings, job_id, state="succeeded", progress=1.0, model_id="m", metrics={"sharpe": 0.25})
    status = job_status(job_id)
    assert (status["state"], status["model_id"], status["metrics"], status["params"]) == (
        "succeeded", "m", {"sharpe": 0.25}, {"lookback_period": 10})
    assert [j["job_id"] for j in list_jobs()] == [job_id]
