"""Moving averages, rolling z-score and Bollinger bands.

Dispersion here is the *population* standard deviation (``ddof=0``) of the window, as in John
Bollinger's definition of the bands. Using the same estimator for the z-score keeps the two
consistent: ``bollinger_percent_b == 0.5 + rolling_zscore / (2 * num_std)`` for the same window.
"""

from __future__ import annotations

import pandas as pd

from mltrainer.features import _kernels
from mltrainer.features._validation import as_float_series, check_int, check_positive_float

__all__ = ["sma", "ema", "rolling_zscore", "bollinger_bands", "bollinger_percent_b"]


def sma(series: pd.Series, window: int) -> pd.Series:
    """Simple moving average of the last ``window`` values (the current one included).

    Warm-up: ``window - 1`` leading NaNs. ``window`` must be >= 1.
    """
    series = as_float_series(series, "series")
    window = check_int(window, "window", 1)
    return _like(series, _kernels.rolling_mean(series.to_numpy(), window))


def ema(series: pd.Series, span: int) -> pd.Series:
    """Exponential moving average with ``alpha = 2 / (span + 1)``, recursive form (``adjust=False``).

    The recursion starts at the first value; the first ``span - 1`` outputs are masked because they
    rest on too few observations. Warm-up: ``span - 1`` leading NaNs. ``span`` must be >= 1.
    """
    series = as_float_series(series, "series")
    span = check_int(span, "span", 1)
    return _like(series, _kernels.ema_span(series.to_numpy(), span))


def _like(series: pd.Series, values) -> pd.Series:
    return pd.Series(values, index=series.index, name=series.name, copy=False)


def rolling_zscore(series: pd.Series, window: int) -> pd.Series:
    """How many (population) standard deviations the value is from its rolling mean.

    ``(x[t] - mean(x[t-window+1..t])) / std_pop(x[t-window+1..t])``; the current value is part of its
    own window. NaN where the window has no dispersion (a flat window has no meaningful z-score).
    Warm-up: ``window - 1`` leading NaNs. ``window`` must be >= 2.
    """
    series = as_float_series(series, "series")
    window = check_int(window, "window", 2)
    values = series.to_numpy()
    mean, std = _kernels.rolling_mean(values, window), _kernels.rolling_std(values, window, 0)
    return _like(series, _kernels.zscore_values(values, mean, std))


def bollinger_bands(close: pd.Series, window: int = 20, num_std: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: DataFrame with float64 columns ``middle`` (SMA), ``upper`` and ``lower``
    (middle ± ``num_std`` population standard deviations of the window), indexed like ``close``.

    Warm-up: ``window - 1`` leading NaN rows. ``window`` must be >= 2, ``num_std`` > 0.
    """
    close = as_float_series(close, "close")
    window = check_int(window, "window", 2)
    num_std = check_positive_float(num_std, "num_std")
    values = close.to_numpy()
    middle, std = _kernels.rolling_mean(values, window), _kernels.rolling_std(values, window, 0)
    upper, lower = _kernels.band_values(middle, std, num_std)
    return pd.DataFrame({"middle": middle, "upper": upper, "lower": lower}, index=close.index)


def bollinger_percent_b(close: pd.Series, window: int = 20, num_std: float = 2.0) -> pd.Series:
    """Bollinger %b: ``(close - lower) / (upper - lower)``; 0 at the lower band, 1 at the upper band,
    outside [0, 1] beyond the bands. NaN where the bands have zero width (flat window).

    Warm-up: ``window - 1`` leading NaNs. ``window`` must be >= 2, ``num_std`` > 0.
    """
    close = as_float_series(close, "close")
    window = check_int(window, "window", 2)
    num_std = check_positive_float(num_std, "num_std")
    values = close.to_numpy()
    middle, std = _kernels.rolling_mean(values, window), _kernels.rolling_std(values, window, 0)
    return _like(close, _kernels.percent_b_values(values, middle, std, num_std))

