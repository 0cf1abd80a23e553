"""charts: figures built from real bars and hand-checked values; nothing is displayed."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from mltrainer import charts
from mltrainer.data import load_bars
from mltrainer.errors import InvalidInputError
from mltrainer.serving import EnsembleMember, EnsemblePrediction


@pytest.fixture(scope="module")
def bars():
    return load_bars("AAPL", start="2012-10-01", end="2012-12-31")


def _dates(*days):
    return pd.DatetimeIndex(pd.to_datetime(list(days)), name="date")


def test_signal_changes_marks_only_changes():
    idx = _dates("2012-10-01", "2012-10-02", "2012-10-03", "2012-10-04", "2012-10-05", "2012-10-08",
                 "2012-10-09")
    changes = charts.signal_changes(pd.Series([0, 1, 1, 0, -1, -1, 1], index=idx))
    assert list(changes.index.strftime("%m-%d")) == ["10-02", "10-04", "10-05", "10-09"]
    assert list(changes["label"]) == ["BUY", "HOLD", "SELL", "BUY"]
    # a non-flat first bar is a change; a flat one is not
    assert list(charts.signal_changes(pd.Series([-1, -1], index=idx[:2]))["label"]) == ["SELL"]
    assert charts.signal_changes(pd.Series([0, 0], index=idx[:2])).empty


def test_regime_runs_are_contiguous():
    idx = _dates("2012-10-01", "2012-10-02", "2012-10-03", "2012-10-04", "2012-10-05")
    runs = charts._regime_runs(pd.Series(["warmup", "low", "low", "high", "low"], index=idx))
    assert [(a.day, b.day, r) for a, b, r in runs] == [
        (1, 1, "warmup"), (2, 3, "low"), (4, 4, "high"), (5, 5, "low")]


def test_price_chart_candles_volume_markers_bands_and_cut(bars):
    signals = pd.Series(0, index=bars.index, dtype="int64")
    signals.loc["2012-11-01":"2012-11-15"] = 1
    signals.loc["2012-12-03":] = -1
    regimes = pd.Series("low", index=bars.index)
    regimes.loc["2012-11-15":] = "high"
    fig = charts.price_chart(bars, signals=signals, regimes=regimes, fitted_until="2012-11-30",
                             overlays={"close copy": bars["close"]}, title="AAPL")
    assert isinstance(fig, go.Figure)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["price"].close) == list(bars["close"])
    assert list(by_name["volume"].y) == list(bars["volume"])
    buy = by_name["BUY signal"]
    assert [pd.Timestamp(x) for x in buy.x] == [pd.Timestamp("2012-11-01")]
    assert list(buy.y) == [bars.loc["2012-11-01", "low"]]
    assert [pd.Timestamp(x) for x in by_name["SELL signal"].x] == [pd.Timestamp("2012-12-03")]
    assert [pd.Timestamp(x) for x in by_name["HOLD signal"].x] == [pd.Timestamp("2012-11-16")]
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(pd.Timestamp(s.x0).date().isoformat(), s.fillcolor) for s in rects] == [
        ("2012-10-01", charts.REGIME_COLOURS["low"]), ("2012-11-15", charts.REGIME_COLOURS["high"])]
    assert any("in-sample" in a.text for a in fig.layout.annotations)


def test_price_chart_trades_entries_and_exits(bars):
    trades = pd.DataFrame({
        "entry_date": pd.to_datetime(["2012-10-02", "2012-11-01"]),
        "exit_date": pd.to_datetime(["2012-10-10", "2012-12-31"]),
        "side": [1, -1], "entry_price": [95.0, 80.0], "exit_price": [90.0, 70.0], "return": [-0.0526, 0.125],
        "bars_held": [6, 41], "open_at_end": [False, True],
    })
    by_name = {t.name: t for t in charts.price_chart(bars, trades=trades).data}
    assert list(by_name["long entry"].y) == [95.0]
    assert list(by_name["short entry"].y) == [80.0]
    assert list(by_name["exit"].y) == [90.0]  # the position still open at the end has no exit


def test_price_chart_rejects_non_bars():
    with pytest.raises(InvalidInputError, match="missing columns: volume"):
        charts.price_chart(pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]},
                                        index=_dates("2012-10-01")))


def test_equity_and_drawdown_hand_checked():
    idx = _dates("2012-10-01", "2012-10-02", "2012-10-03", "2012-10-04")
    equity = pd.Series([1.0, 1.1, 0.99, 1.2], index=idx)
    fig = charts.equity_chart(equity, pd.Series([1.0, 1.05, 1.02, 1.03], index=idx))
    assert [t.name for t in fig.data] == ["strategy (out of sample)", "buy and hold"]
    dd = charts.drawdown_chart(equity).data[0].y
    assert list(dd) == pytest.approx([0.0, 0.0, -0.1, 0.0])  # 0.99 / 1.1 - 1


def test_equity_comparison_one_line_per_model():
    idx = _dates("2012-10-01", "2012-10-02")
    fig = charts.equity_comparison_chart({"a": pd.Series([1.0, 1.1], index=idx),
                                          "b": pd.Series([1.0, 0.9], index=idx)})
    assert [t.name for t in fig.data] == ["a", "b"]


def test_member_breakdown_contributions():
    members = (
        EnsembleMember("m1", 1, "BUY", 0.8, 0.6, 0.75, 0.75),
        EnsembleMember("m2", -1, "SELL", 0.4, 0.55, 0.25, 0.25),
        EnsembleMember("m3", None, None, None, None, 0.0, 0.5, error="artifact tampered"),
    )
    ens = EnsemblePrediction(symbol="AAPL", as_of="2013-03-01", signal=1, label="BUY", score=0.5,
                             strength=0.5, confidence=0.6, agreement=0.75, weights={"m1": 0.75, "m2": 0.25},
                             weights_method="given", members=members, failed_members=("m3",),
                             renormalised=True, thresholds={"buy": 0.2, "sell": -0.2})
    bar = charts.member_breakdown_chart(ens).data[0]
    assert list(bar.y) == ["m1", "m2", "m3"]
    assert list(bar.x) == pytest.approx([0.6, -0.1, 0.0])  # 0.75*1*0.8, 0.25*-1*0.4
    assert bar.hovertext[2] == "failed: artifact tampered"


def test_vol_forecast_chart_lines():
    idx = _dates("2012-10-01", "2012-10-02")
    frame = pd.DataFrame({"realized_vol": [0.2, 0.25], "vol_forecast": [0.22, 0.24]}, index=idx)
    fig = charts.vol_forecast_chart(frame)
    assert [t.name for t in fig.data] == ["realized volatility", "GARCH forecast"]
    assert list(fig.data[1].y) == [0.22, 0.24]
