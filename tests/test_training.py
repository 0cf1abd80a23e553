"""The training pipeline on real offline data: all model types, registry, progress, versioning,
reproducibility, all-or-nothing saving and two processes racing."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp

import pandas as pd
import pytest
from sqlalchemy import text

from mltrainer._util import to_jsonable
from mltrainer.audit import get_audit_trail
from mltrainer.backtest import WalkForward, walk_forward
from mltrainer.config import get_settings
from mltrainer.data import load_bars
from mltrainer.db import dispose_engines, get_engine
from mltrainer.errors import (
    InvalidInputError,
    InvalidParameterError,
    UnknownModelTypeError,
    UnknownSymbolError,
)
from mltrainer.models import MODEL_TYPES, create_model, get_model_class
from mltrainer.registry import ModelRegistry, bars_fingerprint, get_registry
from mltrainer.training import reproduce_model, train_model, training_result_to_dict

START, END = "2007-01-01", "2012-12-31"  # six years: enough for 3 folds of every model type


def _today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d")


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_every_model_type_on_aapl_and_gspc_is_registered_with_oos_metrics():
    results = {}
    for symbol in ("AAPL", "^GSPC"):
        for model_type in MODEL_TYPES:
            results[(model_type, symbol)] = train_model(model_type, symbol, start=START, end=END, n_splits=3)

    bars = {s: load_bars(s, start=START, end=END) for s in ("AAPL", "^GSPC")}
    for (model_type, symbol), result in results.items():
        assert result.model_id == f"{model_type}_{symbol.lstrip('^')}_{_today()}"
        assert result.data["rows"] == len(bars[symbol])
        assert result.data["first"] == bars[symbol].index[0] and result.data["last"] == bars[symbol].index[-1]
        assert result.data["fingerprint"] == bars_fingerprint(bars[symbol])
        assert len(result.folds) == 3
        # OOS: the backtest covers the three test windows only, never the first training window.
        assert result.backtest.start == result.folds[0]["test_start"] > result.data["first"]
        assert result.calibration.n_samples > 0

    listed = get_registry().list()
    assert {r.model_id for r in listed} == {r.model_id for r in results.values()}
    for record in listed:
        result = results[(record.model_type, record.symbol)]
        assert record.metrics == to_jsonable(result.metrics)
        assert set(record.metrics) >= {"sharpe", "total_return", "max_drawdown", "n_trades"}
        assert record.buy_and_hold == to_jsonable(result.buy_and_hold)
        assert record.n_splits == 3 and record.cost_bps == 5.0
        assert get_registry().verify(record.model_id)

    # The registered metrics are exactly an independent walk-forward's out-of-sample metrics.
    independent = walk_forward(create_model("momentum_breakout"), bars["AAPL"], cv=WalkForward(n_splits=3),
                               cost_bps=5.0)
    assert results[("momentum_breakout", "AAPL")].metrics == independent.metrics
    trail = get_audit_trail()
    assert len(trail.log(action="model.train")) == 8
    assert trail.verify()["ok"] is True


def test_full_range_run_progress_artifact_and_calibration():
    seen: list[tuple[float, str]] = []
    result = train_model("volatility_regime", "^GSPC", actor="dana",
                         progress=lambda f, m: seen.append((f, m)))
    bars = load_bars("^GSPC")
    assert result.data["rows"] == len(bars) and result.record.n_splits == 5
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(fractions) >= 8
    assert set(result.timings) == {"load_s", "walk_forward_s", "fit_s", "save_s", "total_s"}
    assert result.timings["total_s"] >= result.timings["walk_forward_s"] > 0

    registry = get_registry()
    loaded = registry.load_model(result.model_id)
    pd.testing.assert_frame_equal(loaded.predict(bars), result.model.predict(bars))
    bundle = registry.load_bundle(result.model_id)
    assert bundle["calibration"] == result.calibration.to_dict() == result.record.calibration
    pd.testing.assert_series_equal(result.record.oos_return_series(), result.backtest.returns,
                                   check_names=False, check_freq=False)
    assert result.params == loaded.get_params()
    train_entry = get_audit_trail().log(action="model.train")[0]
    assert (train_entry["actor"], train_entry["target"]) == ("dana", result.model_id)
    assert train_entry["details"]["data_fingerprint"] == result.data["fingerprint"]

    payload = training_result_to_dict(result)
    json.dumps(payload, allow_nan=False)
    assert payload["data"]["first"] == "1999-01-04" and payload["symbol"] == "^GSPC"


def test_same_type_symbol_and_day_gets_v2():
    first = train_model("mean_reversion", " aapl", start=START, end=END, n_splits=3)
    assert first.record.symbol == "AAPL"  # stored as the data source spells it
    second = train_model("mean_reversion", "AAPL", start=START, end=END, n_splits=3,
                         params={"entry_z": first.params["entry_z"]})
    assert second.model_id == f"{first.model_id}_v2"
    registry = get_registry()
    assert registry.verify(first.model_id) and registry.verify(second.model_id)
    assert registry.artifact_file(first.model_id) != registry.artifact_file(second.model_id)


def test_data_source_is_recorded_and_reproduce_loads_from_it(monkeypatch):
    result = train_model("mean_reversion", "AAPL", start=START, end=END, n_splits=3)
    dataset = "bokeh-sampledata stocks (Quandl WIKI, split/dividend-adjusted)"
    assert (result.data["source"], result.data["dataset"]) == ("offline", dataset)
    assert (result.record.data_source, result.record.dataset) == ("offline", dataset)
    assert training_result_to_dict(result)["data"]["source"] == "offline"
    bundle = get_registry().load_bundle(result.model_id)
    assert (bundle["data"]["source"], bundle["data"]["dataset"]) == ("offline", dataset)
    # The default source is now Polygon (without a key): reproducing still reads the offline bars the
    # model was trained on instead of failing on, or silently switching to, another source.
    monkeypatch.setenv("MLTRAINER_DATA_SOURCE", "polygon")
    report = reproduce_model(result.model_id)
    assert report["fingerprint_match"] is True and report["metrics_match"] is True
    assert report["differences"] == {}
    assert report["reproduced"]["data"]["source"] == "offline"


def test_reproduce_matches_then_reports_differences():
    result = train_model("mean_reversion", "^GSPC", start=START, end=END, n_splits=3)
    files_before = _files(get_settings().models_dir)
    report = reproduce_model(result.model_id)
    assert report["fingerprint_match"] is True and report["metrics_match"] is True
    assert report["differences"] == {}
    assert report["reproduced"]["metrics"] == report["original"]["metrics"]
    assert [r.model_id for r in get_registry().list()] == [result.model_id]  # nothing registered
    assert _files(get_settings().models_dir) == files_before

    tampered = dict(result.record.metrics, sharpe=result.record.metrics["sharpe"] + 1.0)
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE models SET metrics=:m, data_fingerprint=:f WHERE model_id=:id"),
                     {"m": json.dumps(tampered), "f": "0" * 64, "id": result.model_id})
    report = reproduce_model(result.model_id)
    assert report["fingerprint_match"] is False and report["metrics_match"] is False
    assert set(report["differences"]) == {"metrics.sharpe", "data.fingerprint"}
    assert report["differences"]["metrics.sharpe"]["reproduced"] == pytest.approx(result.metrics["sharpe"])


def test_failure_after_artifact_write_leaves_no_row_and_no_file(monkeypatch):
    def insert_fails(self, session, row):
        raise RuntimeError("simulated database failure")

    monkeypatch.setattr(ModelRegistry, "_insert", insert_fails)
    with pytest.raises(RuntimeError, match="simulated"):
        train_model("mean_reversion", "AAPL", start=START, end=END, n_splits=3)
    settings = get_settings()
    assert get_registry().list() == []
    assert _files(settings.models_dir) == [] and _files(settings.tmp_dir) == []
    assert get_audit_trail().verify()["records"] == 0


def test_invalid_requests_fail_clearly_and_register_nothing():
    with pytest.raises(UnknownModelTypeError, match="momentum_breakout"):
        train_model("momentum_brekout", "AAPL")
    with pytest.raises(UnknownSymbolError):
        train_model("mean_reversion", "NOPE")
    with pytest.raises(InvalidParameterError, match="cost_bps"):
        train_model("mean_reversion", "AAPL", cost_bps=-1)
    with pytest.raises(InvalidParameterError, match="n_splits"):
        train_model("mean_reversion", "AAPL", n_splits=1)
    with pytest.raises(InvalidParameterError, match="lookback"):
        train_model("momentum_breakout", "AAPL", params={"lookback": 5})
    # The same range check (and words) as load_bars: data.parse_date_range.
    with pytest.raises(InvalidInputError,
                       match=r"^start 2012-01-01 is after end 2010-01-01: swap them or widen the range\.$"):
        train_model("mean_reversion", "AAPL", start="2012-01-01", end="2010-01-01")
    with pytest.raises(InvalidInputError, match=r"^Invalid end '2010-13-01': use the format YYYY-MM-DD"):
        train_model("mean_reversion", "AAPL", start="2009-01-01", end="2010-13-01")
    assert get_registry().list() == []


def _train_in_process(barrier, queue):
    dispose_engines()  # a forked child opens its own SQLite connections
    barrier.wait()
    result = train_model("mean_reversion", "AAPL", start=START, end=END, n_splits=3)
    queue.put(result.model_id)


def test_two_processes_training_at_once_get_distinct_ids():
    get_engine()  # schema exists before the race
    dispose_engines()
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_train_in_process, args=(barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    ids = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    base = f"mean_reversion_AAPL_{_today()}"
    assert ids == [base, f"{base}_v2"]
    registry = get_registry()
    assert all(registry.verify(model_id) for model_id in ids)
    assert [type(registry.load_model(model_id)).__name__ for model_id in ids] == ["MeanReversion"] * 2
    assert get_audit_trail().verify()["ok"] is True


class ReversionPlugin(get_model_class("mean_reversion")):
    """A plugin model type: the built-in mean reversion under another name (module level: picklable)."""

    model_type = "reversion_plugin"


@pytest.fixture
def plugin_type():
    """A plugin model type registered in-process: the built-in mean reversion under another name."""
    from mltrainer.models import register_model_class, unregister_model_class

    register_model_class(ReversionPlugin)
    yield "reversion_plugin"
    unregister_model_class("reversion_plugin")


def test_plugin_types_pass_the_compliance_gate_before_training(plugin_type, monkeypatch):
    from mltrainer.compliance import plugins
    from mltrainer.errors import ComplianceBlockedError

    checked: list[str] = []

    def blocked(model_type):
        checked.append(model_type)
        raise ComplianceBlockedError(f"{model_type} imports a module that does not exist", violations=[])

    monkeypatch.setattr(plugins, "check_plugin", blocked)
    with pytest.raises(ComplianceBlockedError):
        train_model(plugin_type, "AAPL", start=START, end=END, n_splits=3)
    assert checked == [plugin_type] and get_registry().list() == []

    monkeypatch.setattr(plugins, "check_plugin", checked.append)  # an override was granted: the check passes
    result = train_model(plugin_type, "AAPL", start=START, end=END, n_splits=3)
    assert result.model_id.startswith("reversion_plugin_AAPL_") and checked == [plugin_type] * 2


_PLUGIN_SOURCE = '''"""A plugin model: the built-in mean reversion under another name."""
from mltrainer.models.mean_reversion import MeanReversion


class FileReversion(MeanReversion):
    model_type = "file_reversion"
'''


@pytest.fixture
def plugin_file():
    from mltrainer.models import available_model_types, unregister_model_class

    folder = get_settings().plugins_dir
    folder.mkdir(parents=True)
    path = folder / "file_reversion.py"
    path.write_text(_PLUGIN_SOURCE)
    yield path
    from mltrainer.compliance.plugins import unload_plugins

    unload_plugins()
    if "file_reversion" in available_model_types():
        unregister_model_class("file_reversion")


def test_plugin_file_trains_until_it_changes(plugin_file):
    from mltrainer.compliance.plugins import load_plugin
    from mltrainer.errors import ComplianceBlockedError

    load_plugin(plugin_file)
    result = train_model("file_reversion", "AAPL", start=START, end=END, n_splits=3)
    assert type(get_registry().load_model(result.model_id)).__name__ == "FileReversion"
    plugin_file.write_text(_PLUGIN_SOURCE + "\nimport a_module_nobody_wrote\n")
    with pytest.raises(ComplianceBlockedError):
        train_model("file_reversion", "AAPL", start=START, end=END, n_splits=3)
    assert [r.model_id for r in get_registry().list()] == [result.model_id]


def test_macro_values_are_in_the_fingerprint_and_reproduce_detects_a_revision(monkeypatch):
    from mltrainer.data import clear_series_cache
    from mltrainer.data.offline import OfflineSeriesSource
    from mltrainer.registry import data_fingerprint

    params = {"macro_series": "CPILFESL", "n_estimators": 20}
    result = train_model("gradient_boosting", "AAPL", params=params, start=START, end=END, n_splits=3)
    bars = load_bars("AAPL", start=START, end=END)
    used = result.model.macro_inputs(bars)
    assert list(used) == ["CPILFESL"] and used["CPILFESL"].index.equals(bars.index)
    # Core CPI as known on 2010-06-01 (the April figure, one month + 30 days of publication lag).
    assert used["CPILFESL"].loc["2010-06-01", "level"] == 220.822
    assert result.data["fingerprint"] == data_fingerprint(bars, used) != bars_fingerprint(bars)
    assert result.record.data_fingerprint == result.data["fingerprint"]
    report = reproduce_model(result.model_id)
    assert report["fingerprint_match"] is True and report["differences"] == {}

    # A revision of one monthly value inside the training range: the bars are the same, the macro data
    # the model would now see is not, and reproducing says so.
    real_fetch = OfflineSeriesSource.fetch

    def revised_fetch(self, series_id, start, end):
        series = real_fetch(self, series_id, start, end)
        if series_id == "CPILFESL":
            series.loc["2010-04-01"] += 0.5
        return series

    monkeypatch.setattr(OfflineSeriesSource, "fetch", revised_fetch)
    clear_series_cache()
    report = reproduce_model(result.model_id)
    assert report["reproduced"]["data"]["rows"] == report["original"]["data"]["rows"]
    assert report["fingerprint_match"] is False
    assert "data.fingerprint" in report["differences"]

    # A macro model registered before macro values counted recorded the bars' fingerprint: it still
    # reproduces (the bars are compared as recorded) instead of always reporting a mismatch.
    monkeypatch.setattr(OfflineSeriesSource, "fetch", real_fetch)
    clear_series_cache()
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE models SET data_fingerprint=:f WHERE model_id=:id"),
                     {"f": bars_fingerprint(bars), "id": result.model_id})
    report = reproduce_model(result.model_id)
    assert report["fingerprint_match"] is True and report["differences"] == {}
    assert report["reproduced"]["data"]["fingerprint"] == bars_fingerprint(bars)
