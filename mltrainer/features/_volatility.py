"""Realized volatility and volume ratio."""

from __future__ import annotations

import pandas as pd

from mltrainer.features import _kernels
from mltrainer.features._validation import (
    as_float_series,
    check_int,
    check_positive_float,
    check_positive_values,
)

__all__ = ["realized_volatility", "volume_ratio"]


def realized_volatility(close: pd.Series, window: int = 20,
                        periods_per_year: float = _kernels.PERIODS_PER_YEAR) -> pd.Series:
    """Annualised realized volatility as a fraction (0.2 = 20% a year).

    Sample standard deviation (``ddof=1``) of the last ``window`` one-bar log returns, times
    ``sqrt(periods_per_year)``. Warm-up: ``window`` leading NaNs (one bar for the first return, then
    ``window`` returns). ``window`` must be >= 2, ``periods_per_year`` > 0; prices must be > 0.
    """
    close = as_float_series(close, "close")
    window = check_int(window, "window", 2)
    periods_per_year = check_positive_float(periods_per_year, "periods_per_year")
    check_positive_values(close, "close")
    values = _kernels.realized_vol_values(close.to_numpy(), window, periods_per_year)
    return pd.Series(values, index=close.index, name=close.name, copy=False)


def volume_ratio(volume: pd.Series, window: int = 20) -> pd.Series:
    """Today's volume relative to the mean volume of the ``window`` bars *before* today.

    The current bar is left out of its own baseline so that a spike is measured against normal
    trading rather than partly against itself (a 3x day reads 3.0, not something diluted). NaN where
    the baseline is zero. Warm-up: ``window`` leading NaNs. ``window`` must be >= 1.
    """
    volume = as_float_series(volume, "volume")
    window = check_int(window, "window", 1)
    return pd.Series(_kernels.volume_ratio_values(volume.to_numpy(), window), index=volume.index,
                     name=volume.name, copy=False)
