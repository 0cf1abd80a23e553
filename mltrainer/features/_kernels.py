"""NumPy kernels behind the indicator functions, shared with the models' bulk predict path.

The public indicators (Series in, Series out) validate their arguments and wrap these; the models call
them directly on the bars' float64 arrays, because for a few thousand bars pandas' per-operation
overhead (index alignment, Series construction) costs more than the arithmetic. One implementation
serves both, so a model's column is bit-for-bit the public feature's value.

Rolling and exponential averages go through pandas' own compiled window kernels with the bounds
pandas builds for a trailing fixed window, so results are identical to ``Series.rolling(...)`` and
``Series.ewm(...)`` (its Kahan-compensated sums and Welford variance are not re-derived here). Those
kernels are private to pandas; ``tests/features`` compares every kernel with the public pandas call on
real bars, so a pandas upgrade that changes them fails loudly.
"""

from __future__ import annotations

import math

import numpy as np
from pandas._libs.window import aggregations as _window

# Trading days a year: the annualisation factor of daily bars (realized volatility, GARCH forecasts).
PERIODS_PER_YEAR = 252

__all__ = [
    "PERIODS_PER_YEAR",
    "band_values",
    "ema_span",
    "horizon_sigma",
    "log_ratio",
    "pct_change",
    "percent_b_values",
    "realized_vol_values",
    "rolling_mean",
    "rolling_std",
    "rsi_values",
    "shift",
    "true_range_values",
    "volume_ratio_values",
    "wilder_average",
    "zscore_values",
]


def _trailing_bounds(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    end = np.arange(1, n + 1, dtype=np.int64)
    start = np.clip(end - window, 0, n)
    return start, end


def shift(values: np.ndarray, periods: int) -> np.ndarray:
    """``values`` moved ``periods`` (>= 1) bars later, NaN in front (``Series.shift``)."""
    out = np.full(len(values), np.nan)
    if periods < len(values):
        out[periods:] = values[: len(values) - periods]
    return out


def pct_change(close: np.ndarray, periods: int) -> np.ndarray:
    # A zero price would give ±inf; a return from (or to) an impossible price is not a number.
    with np.errstate(divide="ignore", invalid="ignore"):
        out = close / shift(close, periods) - 1.0
    out[np.isinf(out)] = np.nan
    return out


def log_ratio(close: np.ndarray, periods: int) -> np.ndarray:
    """``ln(close[t] / close[t - periods])``; prices are assumed checked > 0 by the caller."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(close / shift(close, periods))


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """``Series.rolling(window, min_periods=window).mean()``."""
    if len(values) == 0:
        return values.astype(np.float64, copy=True)
    start, end = _trailing_bounds(len(values), window)
    with np.errstate(all="ignore"):
        return _window.roll_mean(values, start, end, window)


def rolling_std(values: np.ndarray, window: int, ddof: int) -> np.ndarray:
    """``Series.rolling(window, min_periods=window).std(ddof=ddof)``."""
    if len(values) == 0:
        return values.astype(np.float64, copy=True)
    start, end = _trailing_bounds(len(values), window)
    with np.errstate(all="ignore"):
        var = _window.roll_var(values, start, end, window, ddof=ddof)
        out = np.sqrt(var)
    # pandas clips the tiny negative variances rounding can leave to a zero deviation.
    out[var < 0] = 0.0
    return out


def _ewm_mean(values: np.ndarray, com: float, min_periods: int) -> np.ndarray:
    if len(values) == 0:
        return values.astype(np.float64, copy=True)
    start = np.zeros(1, dtype=np.int64)
    end = np.array([len(values)], dtype=np.int64)
    return _window.ewm(values, start, end, max(int(min_periods), 1), com, False, False, None, True)


def ema_span(values: np.ndarray, span: int) -> np.ndarray:
    """``Series.ewm(span=span, adjust=False, min_periods=span).mean()``."""
    return _ewm_mean(values, (span - 1) / 2, span)


def wilder_average(values: np.ndarray, period: int) -> np.ndarray:
    """Wilder-smoothed average; leading NaNs of ``values`` are skipped before the seed window."""
    n = len(values)
    valid = np.flatnonzero(~np.isnan(values))
    if len(valid) == 0 or n - valid[0] < period:
        return np.full(n, np.nan)
    first = valid[0]
    seed_at = first + period - 1
    seeded = values.copy()
    seeded[:seed_at] = np.nan
    window = values[first : seed_at + 1]
    missing = np.isnan(window)
    # The seed is the mean of the values present (pandas' skipna mean, which the recursion then takes).
    if missing.any():
        present = ~missing
        seeded[seed_at] = np.where(present, window, 0.0).sum() / float(present.sum())
    else:
        seeded[seed_at] = window.sum() / float(len(window))
    alpha = 1.0 / period
    return _ewm_mean(seeded, (1 - alpha) / alpha, 1)


def rsi_values(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI (0–100) of a float64 close array; see :func:`mltrainer.features.rsi`."""
    change = close - shift(close, 1)
    missing = np.isnan(change)
    # NaN changes stay NaN so that leading NaNs stay outside the seed window.
    gain = np.where(missing | (change > 0), change, 0.0)
    loss = np.where(missing | (change < 0), -change, 0.0)
    avg_gain = wilder_average(gain, period)
    avg_loss = wilder_average(loss, period)
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 * avg_gain / np.where(total > 0, total, np.nan)
    out[(total == 0) & ~np.isnan(avg_gain)] = 50.0
    return out


def true_range_values(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev_close = shift(close, 1)
    # fmax ignores the NaN previous close on the first bar instead of propagating it.
    return np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))


def volume_ratio_values(volume: np.ndarray, window: int) -> np.ndarray:
    baseline = rolling_mean(shift(volume, 1), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return volume / np.where(baseline > 0, baseline, np.nan)


def zscore_values(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Distance from the rolling mean in (population) deviations; NaN where the window is flat."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (values - mean) / np.where(std > 0, std, np.nan)


def band_values(middle: np.ndarray, std: np.ndarray, num_std: float) -> tuple[np.ndarray, np.ndarray]:
    """Bollinger ``(upper, lower)`` bands from the rolling mean and population deviation."""
    return middle + num_std * std, middle - num_std * std


def percent_b_values(close: np.ndarray, middle: np.ndarray, std: np.ndarray, num_std: float) -> np.ndarray:
    upper, lower = band_values(middle, std, num_std)
    width = upper - lower
    with np.errstate(divide="ignore", invalid="ignore"):
        return (close - lower) / np.where(width > 0, width, np.nan)


def realized_vol_values(close: np.ndarray, window: int,
                        periods_per_year: float = PERIODS_PER_YEAR) -> np.ndarray:
    """Annualised sample deviation of one-bar log returns; prices assumed checked > 0 by the caller."""
    return rolling_std(log_ratio(close, 1), window, 1) * math.sqrt(periods_per_year)


def horizon_sigma(realized_vol: np.ndarray, horizon: int,
                  periods_per_year: float = PERIODS_PER_YEAR) -> np.ndarray:
    """Deviation of a ``horizon``-bar log return implied by an annualised volatility (square-root-of-time
    scaling); NaN where the volatility is zero, negative or NaN so that dividing by it gives NaN."""
    sigma = realized_vol / math.sqrt(periods_per_year) * math.sqrt(horizon)
    sigma[~(sigma > 0)] = np.nan
    return sigma
