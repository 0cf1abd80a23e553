"""J. Welles Wilder's indicators from "New Concepts in Technical Trading Systems" (1978): RSI and ATR.

Both use Wilder's smoothing: the first average is the simple mean of the first ``period`` values,
after which ``avg[t] = (avg[t-1] * (period - 1) + x[t]) / period``. That recursion is an exponential
average with ``alpha = 1 / period``, so it is delegated to pandas' ``ewm(adjust=False)`` seeded with
the simple mean; only the seed needs code of our own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mltrainer.features._validation import as_float_series, check_int, check_same_index

__all__ = ["rsi", "atr"]


def _wilder_average(values: pd.Series, period: int) -> pd.Series:
    """Wilder-smoothed average; leading NaNs of ``values`` are skipped before the seed window."""
    valid = np.flatnonzero(values.notna().to_numpy())
    out = pd.Series(np.nan, index=values.index, dtype=np.float64, name=values.name)
    if len(valid) == 0 or len(values) - valid[0] < period:
        return out
    first = valid[0]
    seed_at = first + period - 1
    seeded = values.copy()
    seeded.iloc[:seed_at] = np.nan
    seeded.iloc[seed_at] = values.iloc[first : seed_at + 1].mean()
    return seeded.ewm(alpha=1.0 / period, adjust=False).mean()


def rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Relative Strength Index (0-100) with Wilder smoothing of average gains and losses.

    ``RSI = 100 - 100 / (1 + avg_gain / avg_loss) = 100 * avg_gain / (avg_gain + avg_loss)``, where
    gains and losses are the positive and negative close-to-close changes. It is 100 when there were
    no losses and 50 when the price did not move at all over the averaging (no strength either way).

    Warm-up: ``period`` leading NaNs (one bar for the first change, then ``period`` changes for the
    first average). ``period`` must be >= 2. NaNs after the warm-up carry the last average forward.
    """
    close = as_float_series(close, "close")
    period = check_int(period, "period", 2)
    change = close.diff()
    # where() keeps NaN changes NaN, so leading NaNs stay outside the seed window.
    gain = change.where(change.isna() | (change > 0), 0.0)
    loss = (-change).where(change.isna() | (change < 0), 0.0)
    avg_gain = _wilder_average(gain, period)
    avg_loss = _wilder_average(loss, period)
    total = avg_gain + avg_loss
    out = 100.0 * avg_gain / total.where(total > 0)
    out = out.mask((total == 0) & avg_gain.notna(), 50.0)
    return out.rename(close.name)


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """Wilder's true range: the largest of high - low, |high - prev close| and |low - prev close|.

    On the first bar there is no previous close, so it is high - low (as in Wilder's worksheets).
    """
    prev_close = close.shift(1)
    hl = high - low
    # fmax ignores the NaN previous close on the first bar instead of propagating it.
    return pd.Series(
        np.fmax(hl, np.fmax((high - prev_close).abs(), (low - prev_close).abs())),
        index=close.index,
        dtype=np.float64,
    )


def atr(high: pd.Series, low: pd.Series, close: pd.Series, period: int = 14) -> pd.Series:
    """Average True Range: Wilder-smoothed true range, in price units.

    The first value is the simple mean of the first ``period`` true ranges (the very first being
    high - low). Warm-up: ``period - 1`` leading NaNs. ``period`` must be >= 1; the three series
    must share one index (columns of the same bars).
    """
    high = as_float_series(high, "high")
    low = as_float_series(low, "low")
    close = as_float_series(close, "close")
    check_same_index({"high": high, "low": low, "close": close})
    period = check_int(period, "period", 1)
    return _wilder_average(true_range(high, low, close), period).rename(None)
