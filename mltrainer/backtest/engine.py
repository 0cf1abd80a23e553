"""The backtest engine: a target-position signal plus bars in, net returns, equity and trades out.

Semantics (the honest ones; see :func:`run_backtest` for the full statement):

* ``signal[t]`` is the position to hold *after* bar ``t``'s close. It is decided with bar ``t``
  known, so it can only be filled on a later bar: at the open of bar ``t + 1`` (``fill="next_open"``)
  or at the close of bar ``t + 1`` (``fill="next_close"``). The last bar's signal is never filled.
* A position of ±1 is 100% of equity long or short, bought or sold as *shares* at the fill price and
  held as that share count until the position changes (no daily rebalancing to a constant weight).
* Costs (``cost_bps + slippage_bps``) are charged on the traded notional at every fill.
* Equity is marked at every close, starting at 1.0 at the first bar's close.

Everything is computed per *holding segment* (a run of constant position) with NumPy, so the cost is
O(bars) with no per-bar Python loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mltrainer.backtest.metrics import buy_and_hold_metrics, compute_metrics
from mltrainer.errors import (
    DataValidationError,
    InsufficientDataError,
    InvalidInputError,
    InvalidParameterError,
    SignalAlignmentError,
)

__all__ = ["run_backtest", "BacktestResult", "FILL_MODES", "TRADE_COLUMNS"]

log = logging.getLogger(__name__)

FILL_MODES = ("next_open", "next_close")

TRADE_COLUMNS = (
    "entry_date",
    "exit_date",
    "side",
    "entry_price",
    "exit_price",
    "return",
    "bars_held",
    "open_at_end",
)

_MAX_DATES_IN_MESSAGE = 5


@dataclass(frozen=True)
class BacktestResult:
    """The outcome of one backtest. Every series is indexed exactly like the bars that were traded.

    Attributes:
        returns: net fractional return of each bar, close to close (0.0 on the first bar, which is
            the starting mark), after costs. ``(1 + returns).cumprod()`` equals ``equity``.
        equity: account value at each close, starting at 1.0 on the first bar.
        positions: the position (-1, 0, +1) held at each bar's close, after that bar's fill, i.e.
            the signal shifted by one bar (0 on the first bar). With ``fill="next_open"`` it is also
            the position held from that bar's open to its close; with ``fill="next_close"`` it is the
            position held over the following close-to-close interval.
        trades: one row per position taken (see :func:`run_backtest`).
        metrics: :func:`mltrainer.backtest.metrics.compute_metrics` of the strategy.
        benchmark_metrics: buy-and-hold metrics over the same bars, for comparison.
        benchmark_equity: buy and hold from 1.0 at the first close (``close / close[0]``).
        cost_bps, slippage_bps, fill: the settings the backtest ran with.
    """

    returns: pd.Series
    equity: pd.Series
    positions: pd.Series
    trades: pd.DataFrame
    metrics: dict[str, Any]
    benchmark_metrics: dict[str, Any]
    benchmark_equity: pd.Series
    cost_bps: float
    slippage_bps: float
    fill: str
    n_trials: int = field(default=1)

    @property
    def start(self) -> pd.Timestamp:
        """Date of the first bar (the starting mark)."""
        return self.equity.index[0]

    @property
    def end(self) -> pd.Timestamp:
        """Date of the last bar."""
        return self.equity.index[-1]

    @property
    def final_equity(self) -> float:
        """Equity at the last close, from 1.0 at the first."""
        return float(self.equity.iloc[-1])

    @property
    def total_return(self) -> float:
        """Net fractional return over the whole backtest (``final_equity - 1``)."""
        return self.final_equity - 1.0

    @property
    def sharpe(self) -> float:
        """Annualised Sharpe ratio (``metrics["sharpe"]``)."""
        return float(self.metrics["sharpe"])

    @property
    def max_drawdown(self) -> float:
        """Largest peak-to-trough fall of equity as a negative fraction (``metrics["max_drawdown"]``)."""
        return float(self.metrics["max_drawdown"])


def run_backtest(
    bars: pd.DataFrame,
    signal: pd.Series | pd.DataFrame,
    cost_bps: float = 5.0,
    slippage_bps: float = 0.0,
    fill: str = "next_open",
    *,
    n_trials: int = 1,
) -> BacktestResult:
    """Backtest a target-position signal on bars, with next-bar fills and costs.

    Args:
        bars: OHLCV bars (float columns ``open``/``close`` at least; DatetimeIndex ascending, unique).
        signal: target position after each bar's close, -1 (short), 0 (flat) or +1 (long), indexed
            exactly like ``bars``. A model's ``predict`` output (a DataFrame with a ``signal`` column)
            is accepted as is.
        cost_bps: commission in basis points of traded notional, charged at every fill.
        slippage_bps: extra basis points of traded notional per fill (added to ``cost_bps``).
        fill: ``"next_open"`` (default) or ``"next_close"``.
        n_trials: number of strategy variants tried before this one, for the Deflated Sharpe Ratio.

    Semantics:
        * Fills: ``signal[t]`` is filled at the open of bar ``t + 1`` (``"next_open"``) or at the close
          of bar ``t + 1`` (``"next_close"``). The last bar's signal is never filled. A fill happens
          only when the target differs from the position already held.
        * Sizing: ±1 means 100% of equity long or short. At a fill the old position is closed, then
          the new one is opened with shares = equity after all costs of that fill / fill price. The
          share count is then held unchanged until the next fill, so equity moves with
          ``shares * (price - fill price)``: a long tracks the price one for one; a short's return
          over its life is ``-(price / fill price - 1)`` on the equity it started with (not a daily
          rebalanced -100% weight).
        * Costs: ``c = (cost_bps + slippage_bps) / 10_000`` times traded notional: closing a position
          trades ``shares * fill price``; opening trades the new position's notional, which equals
          equity after costs (so a long->short flip trades about 2x equity). Equity after a fill from
          ``E`` (cash after closing) into a new position is ``E / (1 + c)``.
        * Marking: equity is 1.0 at the first bar's close and marked at every close after any fill
          on that bar. If a losing short takes equity to zero or below, the account is ruined: the
          position is closed at that close, equity stays 0 and later signals are ignored.

    Returns:
        :class:`BacktestResult`. ``trades`` has one row per non-flat position: ``entry_date`` /
        ``exit_date`` (the bars on which the entry and exit fills happen), ``side`` (+1/-1),
        ``entry_price`` / ``exit_price`` (fill prices), ``return`` (fractional, net of the entry and
        exit costs, relative to the cash available just before entry), ``bars_held`` (exit bar index
        minus entry bar index) and ``open_at_end``: a position still held on the last bar is shown
        closed at the last close, with its return marked there net of the entry cost only (no exit
        was traded, so none is charged, exactly as in ``equity``).

    Raises:
        SignalAlignmentError: the signal's index is not exactly the bars' index.
        InvalidInputError: a signal value is not -1, 0 or +1 (NaN included), or bars lack columns.
        InvalidParameterError: unknown ``fill`` or a negative/non-finite cost.
        InsufficientDataError: fewer than two bars.
        DataValidationError: non-positive or missing open/close prices.
    """
    _validate_params(cost_bps, slippage_bps, fill, n_trials)
    open_, close = _bar_prices(bars)
    target = _signal_values(signal, bars.index)
    c = (float(cost_bps) + float(slippage_bps)) / 10_000.0
    fill_prices = open_ if fill == "next_open" else close

    sim = _simulate(close, fill_prices, target, c)
    index = bars.index
    equity = pd.Series(sim.equity, index=index, name="equity")
    returns = pd.Series(_returns_from_equity(sim.equity), index=index, name="return")
    positions = pd.Series(sim.positions.astype(np.int64), index=index, name="position")
    trades = _trades_frame(sim, index)
    benchmark_equity = pd.Series(close / close[0], index=index, name="buy_and_hold_equity")

    # The first bar is the starting mark, not a period with a return: metrics see bars 1..n-1, the
    # same periods buy-and-hold is measured over.
    metrics = compute_metrics(returns.iloc[1:], positions.iloc[1:], trades, n_trials=n_trials)
    benchmark_metrics = buy_and_hold_metrics(bars)
    log.debug(
        "backtest %s..%s fill=%s cost=%sbps slippage=%sbps: %d trades, final equity %.6f",
        index[0], index[-1], fill, cost_bps, slippage_bps, len(trades), sim.equity[-1],
    )
    return BacktestResult(
        returns=returns,
        equity=equity,
        positions=positions,
        trades=trades,
        metrics=metrics,
        benchmark_metrics=benchmark_metrics,
        benchmark_equity=benchmark_equity,
        cost_bps=float(cost_bps),
        slippage_bps=float(slippage_bps),
        fill=fill,
        n_trials=int(n_trials),
    )


# -- validation ---------------------------------------------------------------------------------------
def _validate_params(cost_bps: float, slippage_bps: float, fill: str, n_trials: int) -> None:
    if fill not in FILL_MODES:
        raise InvalidParameterError(
            f"Unknown fill {fill!r}: use 'next_open' (fill at the next bar's open) or 'next_close'."
        )
    for name, value in (("cost_bps", cost_bps), ("slippage_bps", slippage_bps)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{name} must be a number of basis points, got {value!r}.") from None
        if not np.isfinite(number) or number < 0:
            raise InvalidParameterError(
                f"{name} must be a finite number of basis points >= 0 (e.g. 5 for 0.05%), got {value!r}."
            )
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise InvalidParameterError(
            f"n_trials must be a whole number >= 1 (how many variants were tried), got {n_trials!r}."
        )


def _bar_prices(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(bars, pd.DataFrame):
        raise InvalidInputError("bars must be a DataFrame with open/high/low/close/volume columns.")
    missing = [col for col in ("open", "close") if col not in bars.columns]
    if missing:
        raise InvalidInputError(
            f"bars are missing column(s) {missing}: pass OHLCV bars, e.g. mltrainer.data.load_bars(symbol)."
        )
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise InvalidInputError(
            "bars must be indexed by date (a DatetimeIndex); use mltrainer.data.load_bars."
        )
    if not (bars.index.is_monotonic_increasing and bars.index.is_unique):
        raise InvalidInputError("bars' dates must be ascending and unique: sort and de-duplicate them first.")
    if len(bars) < 2:
        raise InsufficientDataError(
            f"A backtest needs at least 2 bars (a start and one fill), got {len(bars)}: load a longer range."
        )
    open_ = bars["open"].to_numpy(dtype=np.float64, na_value=np.nan)
    close = bars["close"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~(np.isfinite(open_) & np.isfinite(close) & (open_ > 0) & (close > 0))
    if bad.any():
        dates = bars.index[bad]
        problems = [(str(d.date()), "open or close missing or not positive") for d in dates]
        raise DataValidationError(
            f"{int(bad.sum())} bar(s) have a missing or non-positive open/close, first on "
            f"{_format_dates(dates)}: clean the bars (mltrainer.data validates them on load).",
            problems=problems,
        )
    return open_, close


def _signal_values(signal: pd.Series | pd.DataFrame, index: pd.DatetimeIndex) -> np.ndarray:
    if isinstance(signal, pd.DataFrame):
        if "signal" not in signal.columns:
            raise InvalidInputError(
                "A DataFrame signal needs a 'signal' column (as model.predict returns); got columns "
                f"{list(signal.columns)}."
            )
        signal = signal["signal"]
    if not isinstance(signal, pd.Series):
        raise InvalidInputError("signal must be a pandas Series of -1/0/+1 indexed like the bars.")
    if not signal.index.equals(index):
        extra = signal.index.difference(index)
        missing = index.difference(signal.index)
        detail = []
        if len(missing):
            detail.append(
                f"{len(missing)} bar date(s) missing from the signal, first {_format_dates(missing)}"
            )
        if len(extra):
            detail.append(f"{len(extra)} signal date(s) not in the bars, first {_format_dates(extra)}")
        if not detail:
            detail.append("same dates but in a different order or with duplicates")
        raise SignalAlignmentError(
            f"The signal's index does not match the bars' index ({'; '.join(detail)}). Align it first, "
            "e.g. signal = signal.reindex(bars.index, fill_value=0) to stay flat where it has no value."
        )
    if not (pd.api.types.is_numeric_dtype(signal.dtype) or pd.api.types.is_bool_dtype(signal.dtype)):
        raise InvalidInputError(f"signal values must be -1, 0 or +1; got dtype {signal.dtype}.")
    values = signal.to_numpy(dtype=np.float64, na_value=np.nan)
    nan = np.isnan(values)
    if nan.any():
        raise InvalidInputError(
            f"signal has {int(nan.sum())} missing value(s) on {_format_dates(index[nan])}: use 0 (flat) "
            "where the model has no opinion, e.g. signal.fillna(0)."
        )
    invalid = ~np.isin(values, (-1.0, 0.0, 1.0))
    if invalid.any():
        pairs = zip(index[invalid][:_MAX_DATES_IN_MESSAGE], values[invalid])
        shown = ", ".join(f"{d.date()}={v:g}" for d, v in pairs)
        raise InvalidInputError(
            f"signal values must be -1 (short), 0 (flat) or +1 (long); got {shown}"
            f"{' …' if invalid.sum() > _MAX_DATES_IN_MESSAGE else ''}. Use np.sign(x) for a direction."
        )
    return values.astype(np.int8)


def _format_dates(dates: pd.Index) -> str:
    shown = ", ".join(str(pd.Timestamp(d).date()) for d in dates[:_MAX_DATES_IN_MESSAGE])
    return shown + (" …" if len(dates) > _MAX_DATES_IN_MESSAGE else "")


# -- simulation ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Simulation:
    equity: np.ndarray
    positions: np.ndarray
    # Per holding segment j (segment 0 is the flat start before the first fill):
    seg_side: np.ndarray
    seg_entry_bar: np.ndarray
    seg_entry_price: np.ndarray
    seg_exit_bar: np.ndarray
    seg_exit_price: np.ndarray
    seg_return: np.ndarray
    seg_open_at_end: np.ndarray


def _simulate(close: np.ndarray, fill_prices: np.ndarray, target: np.ndarray, c: float) -> _Simulation:
    n = len(close)
    positions = np.zeros(n, dtype=np.int8)
    positions[1:] = target[:-1]
    fills = np.zeros(n, dtype=bool)
    fills[1:] = positions[1:] != positions[:-1]
    fill_bars = np.flatnonzero(fills)
    segment = np.cumsum(fills)  # the holding segment in force at each bar's close

    side = np.concatenate(([0], positions[fill_bars])).astype(np.float64)
    # Segment 0 is flat, so its (never used) entry price only needs to be finite.
    entry_price = np.concatenate(([1.0], fill_prices[fill_bars]))
    entry_bar = np.concatenate(([0], fill_bars))

    # Equity after a fill, per unit of cash available before it, chained over segments:
    # closing segment j at price P returns cash X_j * (1 + s_j*r - c*|s_j|*(1 + r)), r = P/F_j - 1,
    # and opening segment j+1 divides it by (1 + c) so that the new notional equals equity after costs.
    move = entry_price[1:] / entry_price[:-1] - 1.0
    prev_side = side[:-1]
    cash_after_close = 1.0 + prev_side * move - c * np.abs(prev_side) * (1.0 + move)
    growth = cash_after_close / (1.0 + c) ** np.abs(side[1:])
    seg_start_equity = np.concatenate(([1.0], np.cumprod(growth)))

    equity = seg_start_equity[segment] * (1.0 + side[segment] * (close / entry_price[segment] - 1.0))

    n_seg = len(side)
    exit_bar = np.concatenate((fill_bars, [n - 1]))
    exit_price = np.concatenate((entry_price[1:], [close[-1]]))
    open_at_end = np.zeros(n_seg, dtype=bool)
    open_at_end[-1] = True
    final_move = close[-1] / entry_price[-1] - 1.0
    cash_ratio = np.concatenate((cash_after_close, [1.0 + side[-1] * final_move]))
    seg_return = cash_ratio / (1.0 + c) - 1.0

    ruin = _first_ruin(equity, segment, seg_start_equity, entry_bar)
    if ruin is not None:
        at, seg, marked_at_close = ruin
        equity = equity.copy()
        equity[at:] = 0.0
        positions = positions.copy()
        positions[at:] = 0
        exit_bar[seg] = at
        if marked_at_close:
            exit_price[seg] = close[at]
        seg_return[seg] = -1.0
        open_at_end[seg] = False
        n_seg = seg + 1
        log.warning(
            "The strategy lost all its equity on bar %d of %d (a short more than doubled); it is closed "
            "there and later signals are ignored.", at, n,
        )
    return _Simulation(
        equity=equity,
        positions=positions,
        seg_side=side[:n_seg].astype(np.int8),
        seg_entry_bar=entry_bar[:n_seg],
        seg_entry_price=entry_price[:n_seg],
        seg_exit_bar=exit_bar[:n_seg],
        seg_exit_price=exit_price[:n_seg],
        seg_return=seg_return[:n_seg],
        seg_open_at_end=open_at_end[:n_seg],
    )


def _first_ruin(equity, segment, seg_start_equity, entry_bar) -> tuple[int, int, bool] | None:
    """The first bar where the account is wiped out, the segment to liquidate there, and whether that
    happened at a close mark (else at a fill that closed a short for no cash left), or None."""
    alive = seg_start_equity > 0
    # A segment that starts with no cash has a meaningless equity formula (its sign can flip), so only
    # closes of segments that started alive count; a dead start is ruin at that segment's entry fill.
    bad_close = np.flatnonzero((equity <= 0.0) & alive[segment])
    dead_segments = np.flatnonzero(~alive)
    at_close = int(bad_close[0]) if len(bad_close) else None
    at_fill = int(entry_bar[dead_segments[0]]) if len(dead_segments) else None
    if at_close is None and at_fill is None:
        return None
    if at_fill is None or (at_close is not None and at_close < at_fill):
        return at_close, int(segment[at_close]), True
    return at_fill, int(dead_segments[0]) - 1, False


def _returns_from_equity(equity: np.ndarray) -> np.ndarray:
    returns = np.zeros(len(equity))
    prev = equity[:-1]
    # After ruin equity stays 0; 0 -> 0 is no return rather than 0/0.
    with np.errstate(divide="ignore", invalid="ignore"):
        returns[1:] = np.where(prev > 0, equity[1:] / np.where(prev > 0, prev, 1.0) - 1.0, 0.0)
    return returns


def _trades_frame(sim: _Simulation, index: pd.DatetimeIndex) -> pd.DataFrame:
    keep = sim.seg_side != 0
    entry_bar = sim.seg_entry_bar[keep]
    exit_bar = sim.seg_exit_bar[keep]
    trades = pd.DataFrame(
        {
            "entry_date": index[entry_bar],
            "exit_date": index[exit_bar],
            "side": sim.seg_side[keep].astype(np.int64),
            "entry_price": sim.seg_entry_price[keep],
            "exit_price": sim.seg_exit_price[keep],
            "return": sim.seg_return[keep],
            "bars_held": (exit_bar - entry_bar).astype(np.int64),
            "open_at_end": sim.seg_open_at_end[keep],
        },
        columns=list(TRADE_COLUMNS),
    )
    trades.index.name = "trade"
    return trades
