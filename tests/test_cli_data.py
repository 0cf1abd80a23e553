"""``python -m mltrainer data ...``: JSON on stdout, one error line and exit 1 on user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mltrainer.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mltrainer", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_symbols_json_subprocess_lists_the_seven_offline_symbols():
    result = _run("data", "symbols", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["symbol"], r["first"], r["last"], r["rows"]) for r in rows] == [
        ("AAPL", "2000-03-01", "2013-03-01", 3270),
        ("FB", "2012-05-18", "2013-03-01", 196),
        ("GOOG", "2004-08-19", "2013-03-01", 2148),
        ("IBM", "2000-03-01", "2013-03-01", 3270),
        ("MSFT", "2000-03-01", "2013-03-01", 3270),
        ("^GSPC", "1999-01-04", "2018-12-31", 5031),
        ("^IXIC", "1999-01-04", "2018-12-31", 5031),
    ]
    assert {r["source"] for r in rows} == {"offline"}


def test_unknown_symbol_subprocess_exits_1_with_one_line():
    result = _run("data", "fetch", "AAPX", "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Unknown symbol 'AAPX' for the offline source. Did you mean AAPL? "
        "Available: AAPL, FB, GOOG, IBM, MSFT, ^GSPC, ^IXIC."
    ]


def test_fetch_json(capsys):
    assert main(["data", "fetch", "aapl", "--start", "2010-06-01", "--end", "2010-06-30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "symbol": "AAPL", "source": "offline", "rows": 22, "first": "2010-06-01", "last": "2010-06-30",
        "fetched_rows": 0,
    }


def test_fetch_readable(capsys):
    assert main(["data", "fetch", "^GSPC", "--start", "2018-12-24", "--end", "2018-12-31"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "^GSPC (offline, arch.data sp500 (S&P 500 index, adjusted)): 5 bars 2018-12-24 .. 2018-12-31"
    )


def test_series_json(capsys):
    assert main(["data", "series", "cpilfesl", "--start", "2018-01-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "series_id": "CPILFESL", "source": "offline", "rows": 11, "first": "2018-01-01", "last": "2018-11-01",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "fetch", "AAPL", "--start", "2010-6-31"],
         "error: Invalid --start '2010-6-31': use the format YYYY-MM-DD, e.g. 2010-06-30."),
        (["data", "fetch", "AAPL", "--start", "2010-07-01", "--end", "2010-06-01"],
         "error: start 2010-07-01 is after end 2010-06-01: swap them or widen the range."),
        (["data", "series", "VIXCL", "--json"],
         "error: Unknown series 'VIXCL' for the offline source. Did you mean"),
        (["data", "series", "VIXCLS", "--source", "fred"], "error: FRED_API_KEY is not set"),
        (["data", "fetch", "AAPL", "--source", "polygon", "--json"], "error: POLYGON_API_KEY is not set"),
    ],
)
def test_user_mistakes_exit_1_with_one_error_line(capsys, argv, message):
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)


def test_symbols_polygon_readable_when_store_is_empty(capsys):
    assert main(["data", "symbols", "--source", "polygon"]) == 0
    assert "No symbols stored for polygon yet" in capsys.readouterr().out
    assert main(["data", "symbols", "--source", "polygon", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
