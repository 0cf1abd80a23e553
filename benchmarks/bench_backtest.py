"""Backtest engine benchmark (not a test): speed against backtesting.py and vectorbt, and a walk-forward
of every model type on real ^GSPC bars.

    python benchmarks/bench_backtest.py [--bars 1000000] [--backtesting-bars 1000000] [--skip-models]

Part 1 runs ``run_backtest`` on ``--bars`` bars and the other engines on *identical* target positions
in the same process (best of 3 runs; backtesting.py once), printing seconds and ratios, and checks
that the equity curves agree. The bars are real ^GSPC daily bars (1999–2018, offline data) repeated end to end until there are enough,
re-indexed with one label per minute so that a million bars fit in pandas' timestamp range. That
series exists only here, to measure speed; the product never tiles or rebases data.

Part 2 walks every model type forward on ^GSPC 1999–2018 (``WalkForward(n_splits=5)``, 5 bps costs)
and records wall time plus the out-of-sample figures.

Results go to ``benchmarks/results/bench_backtest.json``; figures are summarised in
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mltrainer._util import to_jsonable
from mltrainer.backtest import WalkForward, engine, run_backtest, walk_forward
from mltrainer.data import load_bars

# The tiled series compounds over ~4,000 years of bars (equity falls to ~1e-14 of the start), and the
# other engines ignore orders below a minimum size (vectorbt) or trade whole units (backtesting.py),
# so they start with enough cash that this never bites; equity is compared per unit of start cash.
_LARGE_CASH = 1e100

RESULTS = Path(__file__).resolve().parent / "results" / "bench_backtest.json"
log = logging.getLogger("bench_backtest")


def tiled_gspc_bars(n_bars: int) -> pd.DataFrame:
    """Real ^GSPC bars repeated until ``n_bars`` (benchmark input only; see module docstring)."""
    gspc = load_bars("^GSPC", start="1999-01-01", end="2018-12-31")
    reps = math.ceil(n_bars / len(gspc))
    names = ("open", "high", "low", "close", "volume")
    columns = {col: np.tile(gspc[col].to_numpy(), reps)[:n_bars] for col in names}
    index = pd.date_range("2000-01-03", periods=n_bars, freq="min", name="date")
    return pd.DataFrame(columns, index=index)


def target_signal(bars: pd.DataFrame) -> pd.Series:
    """Long above the 50-bar SMA by 1%, short below it by 1%, flat in between: longs, shorts, flats, flips."""
    close = bars["close"]
    sma = close.rolling(50, min_periods=1).mean()
    ratio = close / sma
    signal = np.where(ratio > 1.01, 1, np.where(ratio < 0.99, -1, 0))
    return pd.Series(signal.astype(np.int64), index=bars.index)


def timed(fn, repeat: int = 1):
    """Result and the best wall time of ``repeat`` runs (the machine is shared: the minimum is the
    least disturbed measurement)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def bench_mltrainer(bars, signal):
    result, seconds = timed(lambda: run_backtest(bars, signal, cost_bps=0.0, fill="next_open"), repeat=3)
    # The simulation alone (arrays in, equity and per-trade arrays out), without building the result
    # frames and the strategy/buy-and-hold metrics that run_backtest also computes.
    opens, closes = bars["open"].to_numpy(), bars["close"].to_numpy()
    target = signal.to_numpy().astype(np.int8)
    _, core_seconds = timed(lambda: engine._simulate(closes, opens, target, 0.0), repeat=3)
    return {"seconds": seconds, "simulation_seconds": core_seconds, "final_equity": result.final_equity,
            "n_trades": int(len(result.trades))}, result


def bench_vectorbt(bars, signal):
    try:
        import vectorbt as vbt
    except ImportError as exc:  # optional: see benchmarks/README.md
        return {"skipped": f"vectorbt not importable ({exc}); pip install vectorbt to include it"}, None
    positions = signal.shift(1).fillna(0).to_numpy()
    changes = np.r_[False, positions[1:] != positions[:-1]]
    # Orders only where the target changes, so the share count is held between them, as in run_backtest.
    size = np.where(changes, positions, np.nan)

    def run():
        pf = vbt.Portfolio.from_orders(
            close=bars["close"], size=size, size_type="targetpercent", price=bars["open"],
            init_cash=_LARGE_CASH, fees=0.0, freq="1D",
        )
        return pf.value() / _LARGE_CASH

    timed(lambda: vbt.Portfolio.from_orders(  # numba compilation, not counted
        close=bars["close"].iloc[:1000], size=size[:1000], size_type="targetpercent",
        price=bars["open"].iloc[:1000], init_cash=1.0, freq="1D",
    ))
    value, seconds = timed(run, repeat=3)
    return {"seconds": seconds, "final_equity": float(value.iloc[-1]), "version": vbt.__version__}, value




def bench_backtesting_py(bars, signal, n_bars):
    import backtesting
    from backtesting import Backtest, Strategy

    bars = bars.iloc[:n_bars]
    targets = signal.iloc[:n_bars].to_numpy()

    class TargetPositions(Strategy):
        fraction = 0.9999  # backtesting.py sizes by a fraction < 1 of equity, in whole units

        def init(self):
            pass

        def next(self):
            target = targets[len(self.data) - 1]
            current = int(np.sign(self.position.size))
            if target == current:
                return
            if target == 0:
                self.position.close()
            elif target > 0:
                self.buy(size=self.fraction)
            else:
                self.sell(size=self.fraction)

    frame = bars.rename(columns=str.capitalize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, TargetPositions, cash=_LARGE_CASH, commission=0.0, exclusive_orders=True,
                      trade_on_close=False)
        stats, seconds = timed(bt.run)
    equity = stats["_equity_curve"]["Equity"] / _LARGE_CASH
    return {"seconds": seconds, "bars": int(n_bars), "final_equity": float(equity.iloc[-1]),
            "version": backtesting.__version__}, equity


def engines(n_bars: int, backtesting_bars: int) -> dict:
    bars = tiled_gspc_bars(n_bars)
    signal = target_signal(bars)
    log.info("engines: %d bars, %d position changes", n_bars, int((signal.diff().fillna(0) != 0).sum()))
    ours, result = bench_mltrainer(bars, signal)
    print(f"run_backtest       {n_bars:>9,d} bars  {ours['seconds']:8.3f} s  (simulation alone "
          f"{ours['simulation_seconds'] * 1000:.1f} ms; the rest is result frames and metrics)")

    vbt_out, vbt_equity = bench_vectorbt(bars, signal)
    if vbt_equity is not None:
        vbt_out["ratio_vs_mltrainer"] = vbt_out["seconds"] / ours["seconds"]
        vbt_out["ratio_vs_mltrainer_simulation"] = vbt_out["seconds"] / ours["simulation_seconds"]
        rel = np.abs(vbt_equity.to_numpy() / result.equity.to_numpy() - 1)
        vbt_out["max_rel_equity_diff"] = float(np.max(rel))
        print(f"vectorbt           {n_bars:>9,d} bars  {vbt_out['seconds']:8.3f} s  "
              f"{vbt_out['ratio_vs_mltrainer']:.1f}x run_backtest's time "
              f"({vbt_out['ratio_vs_mltrainer_simulation']:.1f}x its simulation); max relative equity diff "
              f"{vbt_out['max_rel_equity_diff']:.2e}")
    else:
        print(f"vectorbt           skipped: {vbt_out['skipped']}")

    bt_out, bt_equity = bench_backtesting_py(bars, signal, backtesting_bars)
    ours_same = ours if backtesting_bars == n_bars else None
    if ours_same is None:
        same, ours_seconds = timed(
            lambda: run_backtest(bars.iloc[:backtesting_bars], signal.iloc[:backtesting_bars], cost_bps=0.0),
            repeat=3,
        )
        ours_equity = same.equity
    else:
        ours_seconds, ours_equity = ours["seconds"], result.equity
    bt_out["mltrainer_seconds_same_bars"] = ours_seconds
    bt_out["ratio_vs_mltrainer"] = bt_out["seconds"] / ours_seconds
    rel = np.abs(bt_equity.to_numpy() / ours_equity.to_numpy() - 1)
    bt_out["max_rel_equity_diff"] = float(np.max(rel))
    print(f"backtesting.py     {backtesting_bars:>9,d} bars  {bt_out['seconds']:8.3f} s  "
          f"{bt_out['ratio_vs_mltrainer']:.1f}x run_backtest's time; max relative equity diff "
          f"{bt_out['max_rel_equity_diff']:.2e}")
    return {"bars": n_bars, "input": "^GSPC 1999-2018 daily bars tiled, minute labels", "mltrainer": ours,
            "vectorbt": vbt_out, "backtesting_py": bt_out}


def models_walk_forward() -> dict:
    try:
        from mltrainer.models import MODEL_TYPES, create_model
    except ImportError as exc:
        return {"skipped": f"mltrainer.models not importable: {exc}"}
    bars = load_bars("^GSPC", start="1999-01-01", end="2018-12-31")
    out = {}
    for model_type in MODEL_TYPES:
        try:
            result, seconds = timed(
                lambda: walk_forward(create_model(model_type), bars, cv=WalkForward(n_splits=5), cost_bps=5.0)
            )
        except ImportError as exc:
            out[model_type] = {"skipped": str(exc)}
            print(f"walk-forward {model_type:18s} skipped: {exc}")
            continue
        m, b = result.backtest.metrics, result.backtest.benchmark_metrics
        out[model_type] = {
            "seconds": seconds,
            "oos_start": result.backtest.start, "oos_end": result.backtest.end,
            "total_return": m["total_return"], "cagr": m["cagr"], "sharpe": m["sharpe"],
            "max_drawdown": m["max_drawdown"], "n_trades": m["n_trades"], "exposure": m["exposure"],
            "buy_and_hold_total_return": b["total_return"], "buy_and_hold_sharpe": b["sharpe"],
            "buy_and_hold_max_drawdown": b["max_drawdown"],
        }
        print(f"walk-forward {model_type:18s} {seconds:7.2f} s  OOS {result.backtest.start.date()}.."
              f"{result.backtest.end.date()}  total {m['total_return']:+.1%}  Sharpe {m['sharpe']:.2f}  "
              f"trades {m['n_trades']}  (buy & hold {b['total_return']:+.1%}, Sharpe {b['sharpe']:.2f})")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--backtesting-bars", type=int, default=None,
                        help="bars for backtesting.py (default: same as --bars)")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS.name})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = {
        "python": sys.version.split()[0], "platform": platform.platform(), "numpy": np.__version__,
        "pandas": pd.__version__, "started": pd.Timestamp.now(tz="UTC").isoformat(),
    }
    report["engines"] = engines(args.bars, args.backtesting_bars or args.bars)
    report["walk_forward"] = {} if args.skip_models else models_walk_forward()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(to_jsonable(report), indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
