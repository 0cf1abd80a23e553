"""Honest backtesting: next-bar fills, costs, walk-forward out-of-sample validation, lookahead guard.

    run_backtest(bars, signal, ...) -> BacktestResult     engine (engine.py)
    WalkForward(...)                                      time-ordered CV splitter (walkforward.py)
    walk_forward(model, bars, cv, ...) -> WalkForwardResult
    check_lookahead(model, bars, n_cuts) -> [dates]       causality check for models (lookahead.py)
    compute_metrics, buy_and_hold_metrics, drawdown_series, METRIC_INFO   (metrics.py)
"""

from mltrainer.backtest.engine import BacktestResult, run_backtest
from mltrainer.backtest.lookahead import check_lookahead
from mltrainer.backtest.metrics import METRIC_INFO, buy_and_hold_metrics, compute_metrics, drawdown_series
from mltrainer.backtest.walkforward import WalkForward, WalkForwardResult, walk_forward

__all__ = [
    "run_backtest",
    "BacktestResult",
    "WalkForward",
    "walk_forward",
    "WalkForwardResult",
    "check_lookahead",
    "compute_metrics",
    "buy_and_hold_metrics",
    "drawdown_series",
    "METRIC_INFO",
]
