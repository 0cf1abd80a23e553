"""J. Welles Wilder's indicators from "New Concepts in Technical Trading Systems" (1978): RSI and ATR.

Both use Wilder's smoothing: the first average is the simple mean of the first ``period`` values,
after which ``avg[t] = (avg[t-1] * (period - 1) + x[t]) / period``. That recursion is an exponential
average with ``alpha = 1 / period``, so it is delegated to pandas' ``ewm(adjust=False)`` kernel seeded
with the simple mean; only the seed needs code of our own (``_kernels.wilder_average``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mltrainer.features import _kernels
from mltrainer.features._validation import as_float_series, check_int, check_same_index

__all__ = ["rsi", "atr"]


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
    return pd.Series(_kernels.rsi_values(close.to_numpy(), period), index=close.index, name=close.name,
                     copy=False)


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """Wilder's true range: the largest of high - low, |high - prev close| and |low - prev close|.

    On the first bar there is no previous close, so it is high - low (as in Wilder's worksheets).
    """
    values = _kernels.true_range_values(high.to_numpy(), low.to_numpy(), close.to_numpy())
    return pd.Series(values, index=close.index, dtype=np.float64)


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
    values = _kernels.wilder_average(true_range(high, low, close).to_numpy(), period)
    return pd.Series(values, index=close.index, copy=False)
