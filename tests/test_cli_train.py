"""``python -m mltrainer train`` and ``models ...``: pure JSON on stdout, one-line errors, exit codes."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys

import pytest

from mltrainer.audit import get_audit_trail
from mltrainer.cli import main
from mltrainer.registry import get_registry

START, END = "2007-01-01", "2012-12-31"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_in_a_real_subprocess_is_pure_json(mltrainer_home):
    env = dict(os.environ, MLTRAINER_HOME=str(mltrainer_home))
    proc = subprocess.run(
        [sys.executable, "-m", "mltrainer", "train", "--model", "momentum_breakout", "--symbol", "^GSPC",
         "--start", START, "--end", END, "--splits", "3", "--param", "lookback_period=30", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    expected = {"model_id", "model_type", "symbol", "params", "metrics", "folds", "buy_and_hold", "data"}
    assert set(data) >= expected
    assert data["model_id"] == f"momentum_breakout_GSPC_{dt.datetime.now(dt.UTC):%Y%m%d}"
    assert data["symbol"] == "^GSPC" and data["params"]["lookback_period"] == 30
    assert data["data"]["first"] == "2007-01-03" and data["data"]["last"] == "2012-12-31"
    assert data["data"]["rows"] == 1510 and len(data["data"]["fingerprint"]) == 64
    assert len(data["folds"]) == 3 and "sharpe" in data["metrics"] and "sharpe" in data["buy_and_hold"]


def test_models_list_show_reproduce_delete(capsys):
    code, out, _ = _run(capsys, "train", "--model", "mean_reversion", "--symbol", "AAPL", "--start", START,
                        "--end", END, "--splits", "3", "--cost-bps", "10", "--json")
    assert code == 0
    model_id = json.loads(out)["model_id"]

    code, out, _ = _run(capsys, "models", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and [m["model_id"] for m in listed] == [model_id]
    assert listed[0]["cost_bps"] == 10.0 and "sharpe" in listed[0]["metrics"]

    code, out, _ = _run(capsys, "models", "show", model_id, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["signature_ok"] is True and shown["symbol"] == "AAPL"
    assert shown["calibration"]["n_samples"] > 0 and "oos_returns" not in shown

    code, out, _ = _run(capsys, "models", "reproduce", model_id, "--json")
    report = json.loads(out)
    assert code == 0 and report["fingerprint_match"] and report["metrics_match"]

    get_registry().artifact_file(model_id).write_bytes(b"tampered")
    code, out, _ = _run(capsys, "models", "show", model_id, "--json")
    assert json.loads(out)["signature_ok"] is False

    code, _, err = _run(capsys, "models", "delete", model_id)  # stdin is not a terminal under pytest
    assert code == 1 and "--yes" in err and get_registry().list() != []
    code, out, _ = _run(capsys, "models", "delete", model_id, "--yes", "--json")
    assert code == 0 and json.loads(out) == {"deleted": model_id}
    assert get_registry().list() == []
    assert get_audit_trail().log(limit=1)[0]["action"] == "model.delete"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--model", "momentum_brekout", "--symbol", "AAPL"], "Did you mean 'momentum_breakout'"),
        (["--model", "mean_reversion", "--symbol", "NOPE"], "Unknown symbol 'NOPE'"),
        (["--model", "mean_reversion", "--symbol", "AAPL", "--param", "entry=2"], "Did you mean 'entry_z'"),
        (["--model", "mean_reversion", "--symbol", "AAPL", "--param", "entry_z=high"], "must be a number"),
        (["--model", "mean_reversion", "--symbol", "AAPL", "--param", "entry_z"], "key=value"),
        (["--model", "mean_reversion", "--symbol", "AAPL", "--start", "2012-06-01", "--end", "2012-09-01"],
         "fold 1 trains on 15 bars but mean_reversion needs at least 121: use a longer date range."),
        (["--model", "mean_reversion", "--symbol", "AAPL", "--splits", "200"],
         "fold 1 trains on 70 bars but mean_reversion needs at least 121: "
         "use at most 28 splits or a longer date range."),
        (["--model", "gradient_boosting", "--symbol", "AAPL", "--param", "macro_series=VIXCLS", "--start",
          "2005-01-01", "--end", "2012-12-31", "--splits", "3"],
         "macro series VIXCLS has values for 0.0% of the training bars (2005-03-31 to 2006-12-22); the "
         "offline VIXCLS covers 2014-01-03 to 2019-01-03. Drop it from macro_series or change the date "
         "range."),
        (["--model", "mean_reversion", "--symbol", "AAPL", "--start", "01/02/2010"], "YYYY-MM-DD"),
        (["--model", "mean_reversion", "--symbol", "AAPL", "--cost-bps", "-3"], "cost_bps"),
    ],
)
def test_train_errors_exit_1_with_one_line(capsys, argv, needle):
    code, out, err = _run(capsys, "train", *argv, "--json")
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert get_registry().list() == []


def test_unknown_model_id_suggests_and_exits_1(capsys):
    code, _, err = _run(capsys, "models", "show", "nothing_here", "--json")
    assert code == 1 and "No model with id 'nothing_here'" in err


class _Terminal(io.StringIO):
    """A stdin that is a terminal and holds the user's typed answer."""

    def isatty(self) -> bool:
        return True


def _register_hand_made_model() -> str:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])  # y = 2x + 1, no market data needed
    record = get_registry().register(
        model_type="mean_reversion", symbol="AAPL", bundle={"model": model}, params={},
        train_start="2007-01-03", train_end="2012-12-31", data_rows=1510, data_fingerprint="ab" * 32,
        metrics={"sharpe": 0.5}, folds=[], buy_and_hold={"sharpe": 0.4})
    return record.model_id


@pytest.mark.parametrize(
    ("answer", "deleted"), [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)]
)
def test_models_delete_asks_on_a_terminal_and_json_stays_pure(capsys, monkeypatch, answer, deleted):
    model_id = _register_hand_made_model()
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    code, out, err = _run(capsys, "models", "delete", model_id, "--json")
    assert f"Delete {model_id} and its artifact? This cannot be undone. [y/N] " in err  # prompt on stderr
    if deleted:
        assert code == 0 and out == json.dumps({"deleted": model_id}) + "\n"
        assert get_registry().list() == []
    else:
        assert code == 1 and out == "" and err.endswith("not deleted\n")
        assert [r.model_id for r in get_registry().list()] == [model_id]


def test_models_delete_without_a_terminal_needs_yes(capsys, monkeypatch):
    model_id = _register_hand_made_model()
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped input is not a confirmation
    code, out, err = _run(capsys, "models", "delete", model_id, "--json")
    assert code == 1 and out == ""
    assert err == f"error: refusing to delete {model_id} without confirmation; pass --yes.\n"
    code, out, _ = _run(capsys, "models", "delete", model_id, "--yes")
    assert code == 0 and out.split() == ["deleted", model_id]
    assert get_registry().list() == []
