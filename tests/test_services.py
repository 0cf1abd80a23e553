"""services: the dashboard's views over real offline data and models trained on it."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from mltrainer import services
from mltrainer.errors import (
    EnsembleError,
    InvalidInputError,
    InvalidParameterError,
    ModelNotFoundError,
    UnknownModelTypeError,
    UnknownSymbolError,
)
from mltrainer.serving import reset_prediction_service

TRAIN = {"start": "2008-01-01", "end": "2012-12-31", "n_splits": 3}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("services-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLTRAINER_HOME", str(home))
        mp.delenv("MLTRAINER_DATABASE_URL", raising=False)
        mp.delenv("MLTRAINER_SIGNING_KEY", raising=False)
        regime = services.train_model("volatility_regime", "AAPL", **TRAIN)
        reversion = services.train_model("mean_reversion", "AAPL", **TRAIN)
    return SimpleNamespace(home=home, regime=regime, reversion=reversion)


@pytest.fixture
def home(trained, mltrainer_home, monkeypatch):
    monkeypatch.setenv("MLTRAINER_HOME", str(trained.home))
    reset_prediction_service()
    yield trained
    reset_prediction_service()


def test_model_review_replays_the_stored_oos_signals_exactly(home):
    result = home.regime
    review = services.model_review(result.model_id)
    record = review.record
    # Same engine, same stored signals, same costs: the registry's OOS metrics come out again.
    for name, value in record.metrics.items():
        if value is None:
            assert review.replayed_metrics[name] is None or pd.isna(review.replayed_metrics[name])
        else:
            assert review.replayed_metrics[name] == pytest.approx(value, rel=1e-9), name
    assert review.oos_equity.index.equals(record.oos_return_series().index)
    assert review.oos_equity.iloc[-1] == pytest.approx(record.oos_equity_curve().iloc[-1], rel=1e-12)
    pd.testing.assert_frame_equal(review.trades.reset_index(drop=True),
                                  result.backtest.trades.reset_index(drop=True))
    closes = services.load_bars("AAPL", "2008-01-01", "2012-12-31")["close"]
    first_oos = review.oos_equity.index[0]
    assert review.buy_and_hold_equity.iloc[-1] == pytest.approx(closes.iloc[-1] / closes.loc[first_oos])
    assert review.lookahead_dates == [] and review.lookahead_cuts == 10
    assert set(review.regimes.dropna().unique()) <= {"warmup", "low", "medium", "high"}
    assert review.bars.index[0] == pd.Timestamp("2008-01-02")
    assert review.bars.index[-1] == pd.Timestamp("2012-12-31")


def test_model_review_without_lookahead_and_without_regimes(home):
    review = services.model_review(home.reversion.model_id, check_lookahead=False)
    assert review.lookahead_dates is None and review.regimes is None


def test_model_review_unknown_model(home):
    with pytest.raises(ModelNotFoundError):
        services.model_review("nope_AAPL_20200101")


def test_signal_history_marks_in_sample_only_for_the_training_symbol(home):
    model_id = home.reversion.model_id
    aapl = services.signal_history(model_id, "AAPL", n_bars=60)
    assert len(aapl.bars) == len(aapl.frame) == 60
    assert aapl.bars.index[-1] == pd.Timestamp("2013-03-01")
    assert aapl.frame.index.equals(aapl.bars.index)
    assert aapl.fitted_until == pd.Timestamp("2012-12-31")
    assert set(aapl.frame["signal"].unique()) <= {-1, 0, 1}
    msft = services.signal_history(model_id, "msft", n_bars=60)
    assert msft.symbol == "MSFT" and msft.fitted_until is None
    with pytest.raises(InvalidInputError, match="n_bars"):
        services.signal_history(model_id, "AAPL", n_bars=1)


def test_overview_summary_empty_home():
    summary = services.overview_summary()
    assert summary["models"] == {"count": 0, "by_type": {}, "recent": []}
    assert summary["trainings"] == [] and summary["predictions"] == [] and summary["compliance"] is None
    assert summary["audit"] == {"ok": True, "records": 0, "first_bad_index": None}
    assert summary["data"]["last_bar"] == "2018-12-31"


def test_overview_summary_counts_and_recents(home):
    services.predict(home.regime.model_id, "IBM")
    services.predict_ensemble([home.regime.model_id, home.reversion.model_id], "AAPL")
    summary = services.overview_summary()
    assert summary["models"]["count"] == 2
    assert summary["models"]["by_type"] == {"volatility_regime": 1, "mean_reversion": 1}
    assert {t["target"] for t in summary["trainings"]} == {home.regime.model_id, home.reversion.model_id}
    assert [p["action"] for p in summary["predictions"][:2]] == ["ensemble", "prediction"]
    seqs = [p["seq"] for p in summary["predictions"]]
    assert seqs == sorted(seqs, reverse=True)


def test_indicator_overlays_hand_checked_on_aapl():
    bars = services.load_bars("AAPL", "2012-01-01", "2012-12-31")
    lines = services.indicator_overlays(bars, ["SMA 20", "Bollinger 20, 2σ"])
    assert list(lines) == ["SMA 20", "Bollinger 20, 2σ upper", "Bollinger 20, 2σ lower"]
    last20 = bars["close"].iloc[-20:]
    assert lines["SMA 20"].iloc[-1] == pytest.approx(last20.sum() / 20)
    assert lines["SMA 20"].iloc[:19].isna().all()  # warm-up of a 20-bar average
    upper, lower = lines["Bollinger 20, 2σ upper"].iloc[-1], lines["Bollinger 20, 2σ lower"].iloc[-1]
    assert upper > lines["SMA 20"].iloc[-1] > lower
    with pytest.raises(InvalidInputError, match="Unknown indicator 'SMA 7'"):
        services.indicator_overlays(bars, ["SMA 7"])


def test_price_window_counts_back_from_the_symbols_own_last_bar():
    window = services.price_window("aapl", years=3, indicators=["SMA 200"])
    full = services.load_bars("AAPL")
    # The offline AAPL bars end on 2013-03-01: three calendar years back is 2010-03-01.
    assert (window.symbol, window.start) == ("AAPL", "2010-03-01")
    assert window.bars.index[0] == pd.Timestamp("2010-03-01") and window.bars.index[-1] == full.index[-1]
    assert window.bars.attrs["provenance"]["rows"] == len(window.bars) == len(full.loc["2010-03-01":])
    sma = window.overlays["SMA 200"]
    assert list(sma.index) == list(window.bars.index)
    # Warm-up from the bars before the window: the first point is the mean of the 200 closes to it.
    assert sma.iloc[0] == pytest.approx(full["close"].loc[:"2010-03-01"].iloc[-200:].mean())
    # ^GSPC ends on 2018-12-31 (arch's S&P 500 series), not on AAPL's last day.
    assert services.price_window("^GSPC", years=1).start == "2017-12-31"
    assert services.price_window("^GSPC", years=1).overlays == {}


@pytest.mark.parametrize("years", [0, -1, 2.5, True, "3"])
def test_price_window_refuses_a_bad_look_back(years):
    with pytest.raises(InvalidInputError, match="years must be a whole number of years >= 1"):
        services.price_window("AAPL", years=years)


def test_price_window_unknown_symbol_and_indicator():
    with pytest.raises(UnknownSymbolError):
        services.price_window("NOPE", years=1)
    with pytest.raises(InvalidInputError, match="Unknown indicator 'SMA 7'"):
        services.price_window("AAPL", years=1, indicators=["SMA 7"])


def test_changed_params_keeps_only_what_differs_from_the_models_defaults():
    spec = next(t for t in services.model_types() if t["model_type"] == "mean_reversion")["params"]
    defaults = {p["name"]: p["default"] for p in spec}
    assert services.changed_params("mean_reversion", defaults) == {}
    edited = {**defaults, "entry_z": defaults["entry_z"] + 0.5, "allow_short": not defaults["allow_short"]}
    assert services.changed_params("mean_reversion", edited) == {
        "entry_z": defaults["entry_z"] + 0.5, "allow_short": not defaults["allow_short"]}
    with pytest.raises(InvalidParameterError, match="Unknown parameter 'entry_zz'.*Did you mean 'entry_z'"):
        services.changed_params("mean_reversion", {"entry_zz": 1.0})
    with pytest.raises(UnknownModelTypeError, match="mean_reversion"):
        services.changed_params("mean_reversoin", {})


def test_carried_over_symbols_ignores_case_and_keeps_order():
    assert services.carried_over_symbols("AAPL", ["msft", "aapl", "^GSPC", "AAPL"]) == ["msft", "^GSPC"]
    assert services.carried_over_symbols("AAPL", []) == []


def test_normalise_weights():
    assert services.normalise_weights({"a": 0.3, "b": 0.9}) == pytest.approx({"a": 0.25, "b": 0.75})
    with pytest.raises(EnsembleError, match="positive"):
        services.normalise_weights({"a": 0.0, "b": 0.0})
    with pytest.raises(EnsembleError):
        services.normalise_weights({"a": -1.0, "b": 2.0})


def test_compare_models(home):
    ids = [home.regime.model_id, home.reversion.model_id]
    comparison = services.compare_models(ids)
    assert list(comparison["metrics"].columns) == ids
    assert comparison["metrics"].loc["sharpe", ids[0]] == home.regime.metrics["sharpe"]
    assert list(comparison["curves"]) == ids
    with pytest.raises(InvalidInputError, match="at least two"):
        services.compare_models(ids[:1])


def test_violation_context_reads_the_scanned_file(tmp_path):
    tree = tmp_path / "plugins"
    tree.mkdir()
    (tree / "m.py").write_text("a = 1\nb = 2\nimport not_a_module_xyz\nc = 3\nd = 4\ne = 5\n")
    report = services.scan_code(tree)
    violation = report.violations[0]
    assert violation.line == 3
    expected = (2, "b = 2\nimport not_a_module_xyz\nc = 3")
    assert services.violation_context(report.root, violation, context=1) == expected
    (tree / "m.py").unlink()
    assert services.violation_context(report.root, violation) == (3, "import not_a_module_xyz")


def test_audit_log_filter(home):
    trains = services.audit_log(limit=10, action="model.train")
    assert {r["target"] for r in trains} == {home.regime.model_id, home.reversion.model_id}
    assert all(r["action"].startswith("model.") for r in services.audit_log(limit=50, action="model.*"))


def test_scan_targets_and_feature_flags():
    targets = services.scan_targets()
    assert list(targets) == ["Plugins (MLTRAINER_HOME/plugins)", "mlTrainer package"]
    assert (targets["mlTrainer package"] / "services.py").is_file()
    assert services.jobs_available() is True


def test_data_status_last_bar_per_kind_on_the_offline_data():
    status = services.data_status()
    # Offline stocks (AAPL ... MSFT) end on 2013-03-01; the indices (^GSPC, ^IXIC) on 2018-12-31.
    assert status["last_bar"] == "2018-12-31"
    assert status["last_bar_by_kind"] == {"stocks": "2013-03-01", "indices": "2018-12-31"}


def test_data_status_empty_polygon_store(monkeypatch):
    monkeypatch.setenv("MLTRAINER_DATA_SOURCE", "polygon")
    status = services.data_status()
    assert status["last_bar"] is None and status["last_bar_by_kind"] == {}


def test_violation_context_masks_a_hardcoded_secret(tmp_path):
    source = 'import os\n\nTOKEN = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"\nNAME = "unflagged text"\n'
    (tmp_path / "leak.py").write_text(source)
    report = services.scan_code(tmp_path / "leak.py")
    (secret,) = [v for v in report.violations if v.rule == "hardcoded-secret"]
    first, text = services.violation_context(tmp_path / "leak.py", secret)
    assert first == 1
    assert text == 'import os\n\nTOKEN = "ghp_…(40 chars)"\nNAME = "unflagged text"'
    # The file gone: the scanner's own excerpt, masked the same way.
    (tmp_path / "leak.py").unlink()
    assert services.violation_context(tmp_path / "leak.py", secret) == (3, 'TOKEN = "ghp_…(40 chars)"')


def test_mask_literal_keeps_prefix_quotes_and_length():
    assert services.mask_literal('"sk_live_4eC39HqLyjWDarjtT1zdp7dc"') == '"sk_l…(32 chars)"'
    assert services.mask_literal("b'abcdef'") == "b'abcd…(6 chars)'"
    assert services.mask_literal('"abcd"') == '"abcd"'  # nothing beyond what would be kept
    assert services.mask_literal('"""ab\ncdefg"""') == '"""ab…(8 chars)"""'


def test_grant_override_takes_rule_and_path_from_the_report(tmp_path):
    (tmp_path / "leak.py").write_text('TOKEN = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"\n')
    report = services.scan_code(tmp_path)
    (violation,) = report.violations
    granted = services.grant_override(violation.fingerprint.upper(), "rotated key, test fixture", "alice",
                                      dt.date.today() + dt.timedelta(days=30), report=report)
    assert (granted.rule, granted.path) == ("hardcoded-secret", f"{tmp_path.name}/leak.py")
    # A fingerprint that is not in the report (e.g. from a CLI scan) keeps them unset.
    other = services.grant_override("aaa8f44c61a3e375", "elsewhere", "alice",
                                    dt.date.today() + dt.timedelta(days=30), report=report)
    assert (other.rule, other.path) == (None, None)
