"""Predictions page: bulk signals for several real symbols, as-of dates, chart and CSV."""

from __future__ import annotations

import json

from mltrainer import services


def test_signal_table_for_several_symbols(page, models_home):
    at = page("predictions").run()
    at.selectbox(key="pred_model").select(models_home.regime_id).run()
    at.multiselect(key="pred_symbols").set_value(["AAPL", "MSFT", "^GSPC"]).run()

    assert not at.exception and [e.value for e in at.error] == []
    table = at.dataframe[0].value
    assert list(table["symbol"]) == ["AAPL", "MSFT", "^GSPC"]
    # The offline bars end on these days (bokeh-sampledata stocks; arch's S&P 500 series).
    assert list(table["as of"]) == ["2013-03-01", "2013-03-01", "2018-12-31"]
    for row in table.itertuples():
        expected = services.predict(models_home.regime_id, row.symbol, use_cache=False)
        assert row.signal == expected.label
        assert row.confidence == f"{expected.confidence:.0%}"
        assert row.strength == round(expected.strength, 3)
        assert row[6] == round(float(services.load_bars(row.symbol)["close"].iloc[-1]), 2)  # latest price

    download = at.get("download_button")[0].proto
    assert download.label == "Download CSV"
    assert len(at.get("plotly_chart")) == 2  # signals chart + volatility forecast (volatility_regime)
    assert "signals up to that line are in-sample" in at.caption[1].value


def test_bad_symbol_is_reported_without_failing_the_batch(page, models_home):
    at = page("predictions").run()
    at.selectbox(key="pred_model").select(models_home.reversion_id).run()
    at.multiselect(key="pred_symbols").set_value(["AAPL", "NOPE"]).run()
    assert not at.exception
    assert list(at.dataframe[0].value["symbol"]) == ["AAPL"]
    assert len(at.warning) == 1 and at.warning[0].value.startswith("NOPE: ")
    assert "Unknown symbol 'NOPE'" in at.warning[0].value


def test_empty_registry_says_what_to_do(page):
    at = page("predictions").run()
    assert not at.exception
    assert "train one on the **Train** page" in at.info[0].value


def test_confidence_caption_names_the_training_symbol(page, models_home):
    at = page("predictions").run()
    at.selectbox(key="pred_model").select(models_home.regime_id).run()
    at.multiselect(key="pred_symbols").set_value(["MSFT"]).run()
    assert not at.exception
    # The model was trained on AAPL: MSFT's confidence is AAPL's out-of-sample calibration.
    caption = at.caption[0].value
    assert caption.startswith("Confidence calibrated out of sample on AAPL: ")
    assert "for MSFT it is carried over, not measured" in caption
    assert list(at.dataframe[0].value["confidence"]) == [
        f"{services.predict(models_home.regime_id, 'MSFT', use_cache=False).confidence:.0%}"]

    at.multiselect(key="pred_symbols").set_value(["AAPL"]).run()
    assert at.caption[0].value.startswith("Confidence calibrated out of sample on AAPL: ")
    assert "carried over" not in at.caption[0].value


def test_model_analysis_is_built_only_when_opened(page, models_home):
    at = page("predictions").run()
    at.selectbox(key="pred_model").select(models_home.regime_id).run()
    at.multiselect(key="pred_symbols").set_value(["MSFT"]).run()
    assert not at.exception
    assert [e.label for e in at.expander] == ["Model analysis for MSFT"] and not at.json
    at.session_state["pred_analysis_open"] = True
    at.run()
    assert not at.exception
    shown = json.loads(at.json[0].value)
    expected = services.predict(models_home.regime_id, "MSFT").analysis
    assert shown.keys() == expected.keys() and shown["regime"] == expected["regime"]
