"""Return-type indicators: simple returns, log returns and N-bar momentum."""

from __future__ import annotations

import pandas as pd

from mltrainer.features import _kernels
from mltrainer.features._validation import as_float_series, check_int, check_positive_values

__all__ = ["returns", "log_returns", "momentum"]


def _pct_change(close: pd.Series, periods: int) -> pd.Series:
    return pd.Series(_kernels.pct_change(close.to_numpy(), periods), index=close.index, name=close.name,
                     copy=False)


def returns(close: pd.Series, periods: int = 1) -> pd.Series:
    """Simple return over ``periods`` bars as a fraction: ``close[t] / close[t - periods] - 1``.

    Warm-up: ``periods`` leading NaNs. ``periods`` must be >= 1 (a negative shift would look ahead).
    """
    close = as_float_series(close, "close")
    periods = check_int(periods, "periods", 1)
    return _pct_change(close, periods)


def log_returns(close: pd.Series, periods: int = 1) -> pd.Series:
    """Log return over ``periods`` bars: ``ln(close[t] / close[t - periods])``.

    Warm-up: ``periods`` leading NaNs. Prices must be > 0 (an ``InvalidInputError`` names the first
    offending date otherwise).
    """
    close = as_float_series(close, "close")
    periods = check_int(periods, "periods", 1)
    check_positive_values(close, "close")
    return pd.Series(_kernels.log_ratio(close.to_numpy(), periods), index=close.index, name=close.name,
                     copy=False)


def momentum(close: pd.Series, period: int) -> pd.Series:
    """N-bar momentum as a fraction: ``close[t] / close[t - period] - 1``.

    The same number as ``returns(close, period)``; the separate name reads better in model code where
    ``period`` is a lookback. Warm-up: ``period`` leading NaNs; ``period`` must be >= 1.
    """
    close = as_float_series(close, "close")
    period = check_int(period, "period", 1)
    return _pct_change(close, period)
