"""run_backtest: hand-computed tiny cases, an independent per-bar event loop on real AAPL bars, and
input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mltrainer.backtest import BacktestResult, run_backtest
from mltrainer.backtest.engine import TRADE_COLUMNS
from mltrainer.errors import (
    InsufficientDataError,
    InvalidInputError,
    InvalidParameterError,
    SignalAlignmentError,
)


def tiny_bars(opens, closes) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.date_range("2024-01-01", periods=len(opens), freq="B"), name="date")
    opens, closes = np.asarray(opens, float), np.asarray(closes, float)
    return pd.DataFrame(
        {"open": opens, "high": np.maximum(opens, closes), "low": np.minimum(opens, closes),
         "close": closes, "volume": np.full(len(opens), 1000.0)},
        index=index,
    )


# Five hand-written bars:      bar0   bar1   bar2   bar3   bar4
HAND_OPEN = [10.0, 11.0, 12.0, 10.0, 11.0]
HAND_CLOSE = [10.0, 12.0, 9.0, 11.0, 10.0]
HAND_SIGNAL = [1, -1, 0, 1, 1]  # long, flip to short, flat, long (the last bar's +1 is never filled)


def hand_case():
    bars = tiny_bars(HAND_OPEN, HAND_CLOSE)
    return bars, pd.Series(HAND_SIGNAL, index=bars.index)


def test_hand_computed_next_open_without_costs():
    bars, signal = hand_case()
    result = run_backtest(bars, signal, cost_bps=0.0, fill="next_open")
    # bar0: start, E = 1.
    # bar1: buy 1/11 shares at open 11; close 12 -> E = 12/11.
    # bar2: sell at open 12 (cash 12/11), short (12/11)/12 = 1/11 shares;
    #       close 9 -> E = 12/11 + (12-9)/11 = 15/11.
    # bar3: cover at open 10 -> cash 12/11 + (12-10)/11 = 14/11, flat -> E = 14/11.
    # bar4: buy (14/11)/11 shares at open 11; close 10 -> E = 14/11 * 10/11 = 140/121.
    expected = [1.0, 12 / 11, 15 / 11, 14 / 11, 140 / 121]
    np.testing.assert_allclose(result.equity.to_numpy(), expected, rtol=0, atol=1e-15)
    assert result.positions.tolist() == [0, 1, -1, 0, 1]
    np.testing.assert_allclose(
        result.returns.to_numpy(), [0.0, 1 / 11, 15 / 12 - 1, 14 / 15 - 1, 10 / 11 - 1], rtol=1e-14
    )

    trades = result.trades
    assert list(trades.columns) == list(TRADE_COLUMNS)
    assert trades["side"].tolist() == [1, -1, 1]
    assert trades["entry_date"].tolist() == list(bars.index[[1, 2, 4]])
    assert trades["exit_date"].tolist() == list(bars.index[[2, 3, 4]])
    assert trades["entry_price"].tolist() == [11.0, 12.0, 11.0]
    assert trades["exit_price"].tolist() == [12.0, 10.0, 10.0]  # the open trade is marked at the last close
    # long +1/11; short from 12 to 10 earns 2/12; the open long is down 1/11 at the last close
    np.testing.assert_allclose(trades["return"].to_numpy(), [1 / 11, 1 / 6, -1 / 11], atol=1e-15)
    assert trades["bars_held"].tolist() == [1, 1, 0]
    assert trades["open_at_end"].tolist() == [False, False, True]


def test_hand_computed_next_open_with_costs():
    bars, signal = hand_case()
    # 60 bps commission + 40 bps slippage = c = 1% of traded notional per fill.
    result = run_backtest(bars, signal, cost_bps=60.0, slippage_bps=40.0, fill="next_open")
    c = 0.01
    # bar1: buy with cash 1 -> notional 1/1.01 (cost 1% of it); close 12 -> E1 = 12/11/1.01
    e1 = 12 / 11 / (1 + c)
    # bar2: sell the long at 12: cash = E(at 12) * 0.99; short notional n2 = cash/1.01; E2 = n2 * (2 - 9/12)
    cash2 = 12 / 11 / (1 + c) * (1 - c)
    n2 = cash2 / (1 + c)
    e2 = n2 * 1.25
    # bar3: cover at 10: n2 * (2 - 10/12) minus 1% of the covered notional n2 * 10/12 = n2 * 139/120
    e3 = n2 * 139 / 120
    # bar4: buy with cash e3 -> notional e3/1.01; close 10 -> E4 = e3/1.01 * 10/11
    e4 = e3 / (1 + c) * 10 / 11
    np.testing.assert_allclose(result.equity.to_numpy(), [1.0, e1, e2, e3, e4], rtol=1e-14)
    # Trade returns are relative to the cash just before entry, net of entry and exit costs.
    np.testing.assert_allclose(
        result.trades["return"].to_numpy(), [cash2 - 1, e3 / cash2 - 1, (10 / 11) / (1 + c) - 1], rtol=1e-14
    )
    assert result.cost_bps == 60.0 and result.slippage_bps == 40.0 and result.fill == "next_open"


def test_hand_computed_next_close():
    bars, signal = hand_case()
    result = run_backtest(bars, signal, cost_bps=0.0, fill="next_close")
    # bar1: buy at close 12 -> E = 1. bar2: long 12 -> 9 gives 0.75, flip short at 9.
    # bar3: short 9 -> 11: 0.75 * (1 - 2/9) = 7/12, go flat. bar4: buy at close 10 -> E = 7/12.
    np.testing.assert_allclose(result.equity.to_numpy(), [1.0, 1.0, 0.75, 7 / 12, 7 / 12], atol=1e-15)
    assert result.trades["entry_price"].tolist() == [12.0, 9.0, 10.0]
    assert result.trades["exit_price"].tolist() == [9.0, 11.0, 10.0]
    np.testing.assert_allclose(result.trades["return"].to_numpy(), [-0.25, -2 / 9, 0.0], atol=1e-15)


def test_short_that_more_than_doubles_ruins_the_account():
    bars = tiny_bars([10, 10, 24, 26], [10, 10, 25, 26])
    signal = pd.Series([-1, -1, -1, 0], index=bars.index)
    result = run_backtest(bars, signal, cost_bps=0.0, fill="next_close")
    # Short at 10; at 25 the short has lost 150% -> equity would be -0.5: ruined and closed at 25.
    assert result.equity.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert result.returns.tolist() == [0.0, 0.0, -1.0, 0.0]
    assert result.positions.tolist() == [0, -1, 0, 0]
    trade = result.trades[["side", "exit_price", "return", "open_at_end"]]
    assert trade.values.tolist() == [[-1, 25.0, -1.0, False]]


def test_ruin_at_an_opening_gap_stops_before_the_next_position():
    bars = tiny_bars([10, 10, 21, 22], [10, 15, 22, 22])
    signal = pd.Series([-1, 1, 1, 0], index=bars.index)
    result = run_backtest(bars, signal, cost_bps=0.0, fill="next_open")
    # Short at open 10, close 15 -> 0.5; covering at the open-21 gap would need 1.1 of cash: ruined there,
    # so the long that the signal asked for is never opened.
    assert result.equity.tolist() == [1.0, 0.5, 0.0, 0.0]
    assert len(result.trades) == 1
    assert result.trades.loc[0, "exit_price"] == 21.0 and result.trades.loc[0, "return"] == -1.0


# -- independent implementation on real bars ------------------------------------------------------------
def event_loop_backtest(bars: pd.DataFrame, signal: pd.Series, cost_bps: float, fill: str):
    """A plain per-bar account: cash and signed share count, written only for this test."""
    c = cost_bps / 10_000
    opens, closes, sig = bars["open"].tolist(), bars["close"].tolist(), signal.tolist()
    cash, shares, position = 1.0, 0.0, 0
    equity = [1.0]
    trades = []  # [entry_bar, side, entry_price, cash_before_entry, exit_bar, exit_price, return]
    for i in range(1, len(bars)):
        target = sig[i - 1]
        price = opens[i] if fill == "next_open" else closes[i]
        if target != position:
            if shares != 0.0:
                cash += shares * price - c * abs(shares) * price
                shares = 0.0
                trades[-1][4:] = [i, price, cash / trades[-1][3] - 1]
            if target != 0:
                notional = cash / (1 + c)
                trades.append([i, target, price, cash, None, None, None])
                shares = target * notional / price
                cash -= target * notional + c * notional
            position = target
        equity.append(cash + shares * closes[i])
    if trades and trades[-1][4] is None:
        trades[-1][4:] = [len(bars) - 1, closes[-1], equity[-1] / trades[-1][3] - 1]
    return np.array(equity), trades


def momentum_signal(bars: pd.DataFrame) -> pd.Series:
    """Long/short/flat from real 20-day momentum: flat inside ±3%, so there are flats and direct flips."""
    momentum = bars["close"].pct_change(20)
    signal = np.where(momentum > 0.03, 1, np.where(momentum < -0.03, -1, 0))
    return pd.Series(signal, index=bars.index)


@pytest.mark.parametrize("fill", ["next_open", "next_close"])
@pytest.mark.parametrize("cost_bps", [0.0, 7.5])
def test_matches_independent_event_loop_on_real_aapl(aapl, fill, cost_bps):
    signal = momentum_signal(aapl)
    positions = signal.shift(1).fillna(0)
    assert (positions == 1).sum() > 500 and (positions == -1).sum() > 300 and (positions == 0).sum() > 300
    direct_flips = int((positions * positions.shift(1) == -1).sum())
    assert direct_flips > 5  # long -> short and back without passing through flat

    result = run_backtest(aapl, signal, cost_bps=cost_bps, fill=fill)
    expected_equity, expected_trades = event_loop_backtest(aapl, signal, cost_bps, fill)

    np.testing.assert_allclose(result.equity.to_numpy(), expected_equity, rtol=0, atol=1e-9)
    assert len(result.trades) == len(expected_trades)
    np.testing.assert_array_equal(result.trades["entry_date"], aapl.index[[t[0] for t in expected_trades]])
    np.testing.assert_array_equal(result.trades["exit_date"], aapl.index[[t[4] for t in expected_trades]])
    assert result.trades["side"].tolist() == [t[1] for t in expected_trades]
    np.testing.assert_allclose(result.trades["entry_price"], [t[2] for t in expected_trades], rtol=0, atol=0)
    np.testing.assert_allclose(result.trades["exit_price"], [t[5] for t in expected_trades], rtol=0, atol=0)
    np.testing.assert_allclose(result.trades["return"], [t[6] for t in expected_trades], rtol=0, atol=1e-9)
    assert result.trades["open_at_end"].sum() == (1 if signal.iloc[-2] != 0 else 0)


def test_long_only_costs_are_exactly_one_factor_per_fill_on_real_bars(aapl):
    signal = momentum_signal(aapl).clip(lower=0)
    free = run_backtest(aapl, signal, cost_bps=0.0)
    costly = run_backtest(aapl, signal, cost_bps=10.0)
    # A long is all equity, so each entry divides equity by 1.001 and each exit multiplies it by 0.999.
    entries = len(free.trades)
    exits = entries - int(free.trades["open_at_end"].sum())
    assert entries > 40
    expected_ratio = 1.001**-entries * 0.999**exits
    assert costly.final_equity / free.final_equity == pytest.approx(expected_ratio, rel=1e-12)


def test_result_shape_and_relations(aapl):
    signal = momentum_signal(aapl)
    result = run_backtest(aapl, signal)
    assert isinstance(result, BacktestResult)
    for series in (result.returns, result.equity, result.positions, result.benchmark_equity):
        assert series.index.equals(aapl.index)
    assert result.equity.iloc[0] == 1.0 and result.returns.iloc[0] == 0.0
    np.testing.assert_allclose((1 + result.returns).cumprod(), result.equity, rtol=1e-12)
    assert result.positions.iloc[1:].tolist() == signal.iloc[:-1].tolist()
    np.testing.assert_allclose(result.benchmark_equity, aapl["close"] / aapl["close"].iloc[0])
    assert result.metrics["total_return"] == pytest.approx(result.total_return, rel=1e-12)
    assert result.metrics["n_trades"] == len(result.trades)
    assert result.sharpe == result.metrics["sharpe"] and result.max_drawdown == result.metrics["max_drawdown"]
    expected_bh = aapl["close"].iloc[-1] / aapl["close"].iloc[0] - 1
    assert result.benchmark_metrics["total_return"] == pytest.approx(expected_bh, rel=1e-12)
    with pytest.raises(Exception):
        result.cost_bps = 1.0  # frozen


def test_the_last_signal_is_never_filled(aapl):
    bars = aapl.iloc[:300]
    signal = momentum_signal(bars)
    changed = signal.copy()
    changed.iloc[-1] = -signal.iloc[-1] if signal.iloc[-1] != 0 else 1
    a, b = run_backtest(bars, signal), run_backtest(bars, changed)
    assert a.equity.equals(b.equity) and a.trades.equals(b.trades)


def test_model_predict_frame_is_accepted(aapl, sma_model):
    bars = aapl.iloc[:400]
    predicted = sma_model.fit(bars).predict(bars)
    from_frame = run_backtest(bars, predicted)
    from_series = run_backtest(bars, predicted["signal"])
    assert from_frame.equity.equals(from_series.equity)


# -- validation --------------------------------------------------------------------------------------------
def test_misaligned_signal_says_how_to_align(aapl):
    bars = aapl.iloc[:50]
    signal = momentum_signal(bars).iloc[1:]
    with pytest.raises(SignalAlignmentError, match=r"signal\.reindex\(bars\.index") as info:
        run_backtest(bars, signal)
    assert str(bars.index[0].date()) in str(info.value)


def test_nan_signal_names_the_dates(aapl):
    bars = aapl.iloc[:50]
    signal = momentum_signal(bars).astype(float)
    signal.iloc[[7, 9]] = np.nan
    with pytest.raises(InvalidInputError, match="2 missing") as info:
        run_backtest(bars, signal)
    assert str(bars.index[7].date()) in str(info.value) and str(bars.index[9].date()) in str(info.value)


def test_signal_values_other_than_minus_one_zero_one_are_rejected(aapl):
    bars = aapl.iloc[:50]
    signal = pd.Series(0.0, index=bars.index)
    signal.iloc[3] = 0.5
    with pytest.raises(InvalidInputError, match=rf"{bars.index[3].date()}=0.5"):
        run_backtest(bars, signal)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fill": "same_close"}, "next_open"),
        ({"cost_bps": -1.0}, "cost_bps"),
        ({"slippage_bps": float("nan")}, "slippage_bps"),
        ({"n_trials": 0}, "n_trials"),
    ],
)
def test_invalid_parameters(aapl, kwargs, match):
    bars = aapl.iloc[:50]
    with pytest.raises(InvalidParameterError, match=match):
        run_backtest(bars, momentum_signal(bars), **kwargs)


def test_too_few_bars(aapl):
    bars = aapl.iloc[:1]
    with pytest.raises(InsufficientDataError, match="at least 2 bars"):
        run_backtest(bars, pd.Series([1], index=bars.index))


def test_an_always_flat_signal_never_trades(aapl):
    bars = aapl.iloc[:250]
    result = run_backtest(bars, pd.Series(0, index=bars.index), cost_bps=10.0)
    assert (result.equity == 1.0).all() and (result.returns == 0.0).all() and (result.positions == 0).all()
    assert result.trades.empty and list(result.trades.columns) == list(TRADE_COLUMNS)
    assert result.metrics["total_return"] == 0.0 and result.metrics["exposure"] == 0.0


def test_a_dataframe_without_a_signal_column_is_rejected(aapl):
    bars = aapl.iloc[:50]
    with pytest.raises(InvalidInputError, match="'signal' column"):
        run_backtest(bars, pd.DataFrame({"position": 0}, index=bars.index))
