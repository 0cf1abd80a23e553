"""``python -m mltrainer predict / ensemble / serve`` on models trained from the real offline data."""

from __future__ import annotations

import json

import pytest

from mltrainer.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json(models_home, capsys):
    model_id = models_home.ids["mean_reversion"]
    code, out, err = run(capsys, "predict", "--model-id", model_id, "--symbol", "AAPL", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["model_id"] == model_id and data["as_of"] == "2013-03-01"
    assert data["latest_price"] == pytest.approx(56.137353095488)
    assert data["label"] in ("BUY", "HOLD", "SELL") and "zscore" in data["analysis"]


def test_predict_bulk_json_reports_errors_per_symbol(models_home, capsys):
    model_id = models_home.ids["momentum_breakout"]
    code, out, _ = run(capsys, "predict", "--model-id", model_id, "--symbols", "AAPL,NOPE,IBM", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"predictions", "errors"}
    assert [p["symbol"] for p in data["predictions"]] == ["AAPL", "IBM"]
    assert "Unknown symbol 'NOPE'" in data["errors"]["NOPE"]


def test_predict_unknown_model_is_one_error_line(models_home, capsys):
    code, out, err = run(capsys, "predict", "--model-id", "nope_AAPL_20200101", "--symbol", "AAPL", "--json")
    assert code == 1 and out == ""
    assert err.startswith("error: No model with id 'nope_AAPL_20200101'") and err.count("\n") == 1


def test_ensemble_json_with_weights_and_oos(models_home, capsys):
    a, b = models_home.ids["mean_reversion"], models_home.ids["gradient_boosting"]
    code, out, err = run(capsys, "ensemble", "--model-ids", f"{a},{b}", "--weights", "0.6,0.4",
                         "--symbol", "AAPL", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["weights"] == {a: pytest.approx(0.6), b: pytest.approx(0.4)}
    assert data["weights_method"] == "given"
    code, out, err = run(capsys, "ensemble", "--model-ids", f"{a},{b}", "--weights", "oos",
                         "--symbol", "AAPL", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["weights_method"] == "oos" and sum(data["weights"].values()) == pytest.approx(1.0)


def test_ensemble_bad_weights_exit_1(models_home, capsys):
    a, b = models_home.ids["mean_reversion"], models_home.ids["gradient_boosting"]
    code, out, err = run(capsys, "ensemble", "--model-ids", f"{a},{b}", "--weights", "1,-2",
                         "--symbol", "AAPL")
    assert code == 1 and out == "" and "must not be negative" in err


def test_serve_rejects_a_bad_port(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "70000"])
    assert info.value.code == 2
    assert "invalid port 70000" in capsys.readouterr().err


def test_serve_with_several_workers_needs_configured_tokens(capsys):
    code = main(["serve", "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "needs MLTRAINER_API_TOKENS" in err
