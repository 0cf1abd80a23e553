"""The model registry: ids, versioning, all-or-nothing registration, tamper refusals, deletion."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing as mp

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from mltrainer.audit import get_audit_trail
from mltrainer.config import get_settings
from mltrainer.db import dispose_engines, get_engine
from mltrainer.errors import ArtifactIntegrityError, InvalidInputError, ModelNotFoundError
from mltrainer.registry import ModelRegistry, bars_fingerprint, get_registry, model_id_base, symbol_for_id


def _today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d")


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_symbol_mapping_for_ids():
    assert symbol_for_id("^GSPC") == "GSPC"
    assert symbol_for_id("brk.b") == "BRKB"
    assert model_id_base("lgbm", "^GSPC", dt.date(2024, 3, 5)) == "lgbm_GSPC_20240305"
    with pytest.raises(InvalidInputError):
        symbol_for_id("^.")


def test_register_then_get_list_load_verify(register_tiny):
    record = register_tiny("momentum", "^GSPC")
    assert record.model_id == f"momentum_GSPC_{_today()}"
    assert record.symbol == "^GSPC"
    assert record.metrics == {"sharpe": 0.5, "total_return": 0.12}
    assert record.train_start == dt.date(2020, 1, 2) and record.data_rows == 253
    assert record.created_at.tzinfo is not None
    assert record.artifact_path == f"models/{record.model_id}.joblib"
    assert record.oos_return_series().tolist() == [0.01, -0.02]
    assert record.oos_equity_curve().iloc[-1] == pytest.approx(1.01 * 0.98)

    registry = get_registry()
    assert registry.verify(record.model_id) is True
    model = registry.load_model(record.model_id)
    assert model.predict([[3.0]])[0] == pytest.approx(7.0)
    assert registry.load_bundle(record.model_id)["note"] == "hand-made"
    actions = [r["action"] for r in get_audit_trail().log()]
    assert actions == ["model.load", "model.load", "model.train"]
    assert get_audit_trail().verify()["ok"] is True


def test_versioning_never_overwrites(register_tiny):
    ids = [register_tiny("momentum", "AAPL").model_id for _ in range(3)]
    base = f"momentum_AAPL_{_today()}"
    assert ids == [base, f"{base}_v2", f"{base}_v3"]
    registry = get_registry()
    assert [r.model_id for r in registry.list()] == ids[::-1]  # newest first
    assert [r.model_id for r in registry.list(symbol="MSFT")] == []
    other = register_tiny("lgbm", "AAPL")
    assert [r.model_id for r in registry.list(model_type="lgbm")] == [other.model_id]
    assert all(registry.verify(i) for i in ids)


def test_get_unknown_suggests_close_id(register_tiny):
    record = register_tiny()
    with pytest.raises(ModelNotFoundError, match=record.model_id):
        get_registry().get(record.model_id + "x")


def test_swapped_artifacts_are_refused(register_tiny, tiny_bundle):
    a = register_tiny("momentum", "AAPL")
    b = register_tiny("momentum", "AAPL", bundle={"model": "another model"})
    registry = get_registry()
    path_a, path_b = registry.artifact_file(a.model_id), registry.artifact_file(b.model_id)
    bytes_a, bytes_b = path_a.read_bytes(), path_b.read_bytes()
    path_a.write_bytes(bytes_b)
    path_b.write_bytes(bytes_a)
    for model_id in (a.model_id, b.model_id):
        assert registry.verify(model_id) is False
        with pytest.raises(ArtifactIntegrityError):
            registry.load_model(model_id)
    assert "model.load" not in [r["action"] for r in get_audit_trail().log()]


def test_edited_artifact_path_cannot_escape_home(register_tiny):
    record = register_tiny()
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE models SET artifact_path='../../etc/passwd' WHERE model_id=:m"),
                     {"m": record.model_id})
    with pytest.raises(ArtifactIntegrityError, match="outside"):
        get_registry().load_model(record.model_id)
    assert get_registry().verify(record.model_id) is False


def test_delete_removes_row_and_file_and_is_audited(register_tiny):
    record = register_tiny()
    registry = get_registry()
    path = registry.artifact_file(record.model_id)
    registry.delete(record.model_id, actor="alice")
    assert not path.exists()
    assert registry.list() == []
    with pytest.raises(ModelNotFoundError):
        registry.get(record.model_id)
    last = get_audit_trail().log(limit=1)[0]
    assert (last["action"], last["target"], last["actor"]) == ("model.delete", record.model_id, "alice")
    # A deleted model's id is never given to another model (caches and people may still use it).
    again = register_tiny()
    assert again.model_id == record.model_id + "_v2" and registry.verify(again.model_id)


def test_failure_at_insert_leaves_no_row_and_no_file(register_tiny, monkeypatch):
    def boom(self, session, row):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ModelRegistry, "_insert", boom)
    with pytest.raises(RuntimeError):
        register_tiny()
    settings = get_settings()
    assert get_registry().list() == []
    assert _files(settings.models_dir) == [] and _files(settings.tmp_dir) == []


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failure_after_artifact_published_rolls_everything_back(register_tiny, monkeypatch, exc):
    original = ModelRegistry._publish

    def publish_then_fail(self, staged, final):
        original(self, staged, final)
        assert final.exists()
        raise exc

    monkeypatch.setattr(ModelRegistry, "_publish", publish_then_fail)
    with pytest.raises(type(exc)):
        register_tiny()
    settings = get_settings()
    assert get_registry().list() == []
    assert _files(settings.models_dir) == [] and _files(settings.tmp_dir) == []
    assert get_audit_trail().verify()["records"] == 0


def test_stray_file_without_row_is_kept_and_skipped(register_tiny):
    settings = get_settings()
    settings.models_dir.mkdir(parents=True)
    stray = settings.models_dir / f"momentum_AAPL_{_today()}.joblib"
    stray.write_bytes(b"restored by hand")
    record = register_tiny()
    assert record.model_id == f"momentum_AAPL_{_today()}_v2"
    assert stray.read_bytes() == b"restored by hand"


def _register_in_process(barrier, queue):
    from sklearn.linear_model import LinearRegression

    dispose_engines()  # never share the parent's pooled SQLite connections across fork
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    barrier.wait()
    record = get_registry().register(
        model_type="momentum", symbol="AAPL", bundle={"model": model}, params={}, train_start="2020-01-02",
        train_end="2020-12-31", data_rows=2, data_fingerprint="cd" * 32, metrics={}, folds=[],
        buy_and_hold={}, n_splits=3,
    )
    queue.put(record.model_id)


def test_two_processes_registering_at_once_get_distinct_ids():
    get_engine()  # create the schema once, before the race
    dispose_engines()
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_register_in_process, args=(barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    ids = sorted(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    base = f"momentum_AAPL_{_today()}"
    assert ids == [base, f"{base}_v2"]
    registry = get_registry()
    assert all(registry.verify(i) for i in ids)
    assert registry.artifact_file(ids[0]).read_bytes() != b""
    assert get_audit_trail().verify() == {"ok": True, "records": 2, "first_bad_index": None}


def test_bars_fingerprint_is_canonical():
    index = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="date")
    bars = pd.DataFrame(
        {"open": [10.0, 11.0], "high": [12.0, 12.5], "low": [9.5, 10.5], "close": [11.0, 12.0],
         "volume": [1000.0, 1500.0]}, index=index)
    fp = bars_fingerprint(bars)
    assert len(fp) == 64
    assert bars_fingerprint(bars[["volume", "close", "low", "high", "open"]]) == fp
    assert bars_fingerprint(bars.assign(extra=1.0)) == fp
    changed = bars.copy()
    changed.loc[index[1], "close"] = 12.01
    assert bars_fingerprint(changed) != fp
    assert bars_fingerprint(bars.iloc[:1]) != fp
    # Hand-built: the documented byte layout (2024-01-02 00:00 UTC = 1704153600 s).
    digest = hashlib.sha256(b"mltrainer-bars-v1")
    digest.update((np.array([1704153600, 1704240000], dtype="<i8") * 10**9).tobytes())
    for col in ("open", "high", "low", "close", "volume"):
        digest.update(np.asarray(bars[col], dtype="<f8").tobytes())
    assert fp == digest.hexdigest()


def test_audit_failure_undoes_the_registration(register_tiny, monkeypatch):
    from mltrainer.audit import AuditTrail
    from mltrainer.errors import AuditError

    def audit_down(self, action, target, details=None, actor="system"):
        raise AuditError("audit database unavailable")

    monkeypatch.setattr(AuditTrail, "record", audit_down)
    with pytest.raises(AuditError):
        register_tiny()
    settings = get_settings()
    assert get_registry().list() == []
    assert _files(settings.models_dir) == [] and _files(settings.tmp_dir) == []


def test_data_source_and_dataset_are_stored_with_the_model(register_tiny):
    record = register_tiny("momentum", "AAPL", data_source="polygon",
                           dataset="Polygon daily aggregates (split-adjusted)")
    again = get_registry().get(record.model_id)
    assert (again.data_source, again.dataset) == ("polygon", "Polygon daily aggregates (split-adjusted)")
    shown = again.to_dict()
    assert shown["data_source"] == "polygon" and shown["dataset"].startswith("Polygon daily")
    # Rows registered without provenance (e.g. before it was recorded) read back as unknown.
    older = register_tiny("momentum", "MSFT")
    assert (older.data_source, older.dataset) == (None, None)


def test_a_database_from_before_provenance_upgrades_keeping_its_models(mltrainer_home):
    import sqlalchemy as sa
    from alembic import command

    from mltrainer.migrations import alembic_config, current_revision, head_revision, schema_drift

    mltrainer_home.mkdir(parents=True, exist_ok=True)
    url = get_settings().sqlalchemy_url
    raw = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with raw.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(sa.text(
            "INSERT INTO models (model_id, model_type, symbol, params, train_start, train_end, data_rows, "
            "data_fingerprint, metrics, folds, buy_and_hold, cost_bps, n_splits, created_at, "
            "package_version, artifact_path, signature, status) VALUES ('mean_reversion_AAPL_20260101', "
            "'mean_reversion', 'AAPL', '{}', '2007-01-03', '2012-12-31', 1510, :fp, '{}', '[]', '{}', "
            "5.0, 3, '2026-01-01 00:00:00', '0.1.0', 'models/x.joblib', :sig, 'ready')"),
            {"fp": "ab" * 32, "sig": "cd" * 32})
    raw.dispose()
    try:
        record = get_registry().get("mean_reversion_AAPL_20260101")  # opening it migrates to head
        assert (record.data_rows, record.data_source, record.dataset) == (1510, None, None)
        with get_engine().connect() as conn:
            assert current_revision(conn) == head_revision()
            assert schema_drift(conn) == []
            columns = {c["name"]: c for c in sa.inspect(conn).get_columns("models")}
        assert columns["data_source"]["nullable"] and columns["dataset"]["nullable"]
    finally:
        dispose_engines()


def test_data_fingerprint_adds_macro_values_and_is_the_bars_fingerprint_without_them():
    from mltrainer.data import load_bars, load_series
    from mltrainer.models.gradient_boosting import align_macro
    from mltrainer.registry import data_fingerprint

    bars = load_bars("IBM", start="2012-01-03", end="2012-01-06")
    fp = bars_fingerprint(bars)
    # Models without macro series keep the bars fingerprint, so fingerprints recorded before still match.
    assert data_fingerprint(bars) == data_fingerprint(bars, {}) == fp
    macro = {"CPILFESL": align_macro(load_series("CPILFESL", source="offline"), bars.index, lag_days=30)}
    assert macro["CPILFESL"]["level"].notna().all() and len(bars) == 4
    with_macro = data_fingerprint(bars, macro)
    assert len(with_macro) == 64 and with_macro != fp
    # Column order does not count; a revised value, another id or another bar does.
    assert data_fingerprint(bars, {"CPILFESL": macro["CPILFESL"][["change", "level"]]}) == with_macro
    revised = macro["CPILFESL"].copy()
    revised.iloc[0, 0] = 227.5
    assert data_fingerprint(bars, {"CPILFESL": revised}) != with_macro
    assert data_fingerprint(bars, {"BAA": macro["CPILFESL"]}) != with_macro
    assert data_fingerprint(bars.iloc[:3], {"CPILFESL": macro["CPILFESL"].iloc[:3]}) != with_macro
    # Hand-built: the documented byte layout.
    digest = hashlib.sha256(b"mltrainer-data-v2")
    digest.update(fp.encode("ascii"))
    for text in ("CPILFESL",):
        digest.update(np.array([len(text)], dtype="<i8").tobytes() + text.encode())
    digest.update(np.array([4], dtype="<i8").tobytes())
    for col in ("change", "level"):
        digest.update(np.array([len(col)], dtype="<i8").tobytes() + col.encode())
        digest.update(np.asarray(macro["CPILFESL"][col], dtype="<f8").tobytes())
    assert with_macro == digest.hexdigest()
    with pytest.raises(InvalidInputError, match="must be a DataFrame"):
        data_fingerprint(bars, {"CPILFESL": macro["CPILFESL"]["level"]})
