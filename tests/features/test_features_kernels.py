"""The NumPy kernels behind the indicators equal pandas' own rolling/ewm/shift computations bit for bit
on real bars (they call pandas' private window kernels, so a pandas upgrade that changes them fails
here), and the public indicators are exactly those kernels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mltrainer import features
from mltrainer.errors import InvalidInputError
from mltrainer.features import _kernels
from mltrainer.features._validation import check_positive_array


def _same(values: np.ndarray, expected: pd.Series) -> None:
    np.testing.assert_array_equal(values, expected.to_numpy(dtype="float64"), strict=True)


@pytest.mark.parametrize("window", [2, 20, 200])
def test_rolling_kernels_equal_pandas_rolling(aapl_bars, window):
    close = aapl_bars["close"]
    x = close.to_numpy()
    _same(_kernels.rolling_mean(x, window), close.rolling(window, min_periods=window).mean())
    _same(_kernels.rolling_std(x, window, 0), close.rolling(window, min_periods=window).std(ddof=0))
    log_ret = np.log(close / close.shift(1))
    _same(_kernels.rolling_std(log_ret.to_numpy(), window, 1),
          log_ret.rolling(window, min_periods=window).std(ddof=1))


def test_rolling_std_of_a_flat_window_is_zero_not_nan():
    # Hand-checked: a flat window has zero deviation; rounding must not leave a NaN from sqrt(-tiny).
    x = np.array([0.1, 0.1, 0.1, 0.1, 0.3])
    out = _kernels.rolling_std(x, 3, 0)
    assert np.isnan(out[:2]).all()
    assert out[2] == 0.0 and out[3] == 0.0
    assert out[4] == pytest.approx(math.sqrt(((0.1 - 0.5 / 3) ** 2 * 2 + (0.3 - 0.5 / 3) ** 2) / 3), rel=1e-12)


def test_ewm_kernels_equal_pandas_ewm(aapl_bars):
    close = aapl_bars["close"]
    _same(_kernels.ema_span(close.to_numpy(), 12), close.ewm(span=12, adjust=False, min_periods=12).mean())
    change = close.diff()
    gain = change.where(change.isna() | (change > 0), 0.0)
    seeded = gain.copy()
    seeded.iloc[:14] = np.nan
    seeded.iloc[14] = gain.iloc[1:15].mean()
    _same(_kernels.wilder_average(gain.to_numpy(), 14), seeded.ewm(alpha=1 / 14, adjust=False).mean())


def test_shift_and_returns_equal_pandas(aapl_bars):
    close = aapl_bars["close"]
    x = close.to_numpy()
    _same(_kernels.shift(x, 3), close.shift(3))
    _same(_kernels.pct_change(x, 5), close / close.shift(5) - 1.0)
    _same(_kernels.log_ratio(x, 5), np.log(close / close.shift(5)))
    assert np.isnan(_kernels.shift(x[:3], 5)).all()


def test_public_indicators_are_the_kernels(aapl_bars):
    b = aapl_bars
    close = b["close"].to_numpy()
    middle, std = _kernels.rolling_mean(close, 20), _kernels.rolling_std(close, 20, 0)
    _same(_kernels.percent_b_values(close, middle, std, 2.0), features.bollinger_percent_b(b["close"], 20, 2.0))
    _same(_kernels.zscore_values(close, middle, std), features.rolling_zscore(b["close"], 20))
    _same(_kernels.realized_vol_values(close, 20, 252), features.realized_volatility(b["close"], 20, 252))
    _same(_kernels.rsi_values(close, 14), features.rsi(b["close"], 14))
    _same(_kernels.volume_ratio_values(b["volume"].to_numpy(), 20), features.volume_ratio(b["volume"], 20))
    tr = _kernels.true_range_values(b["high"].to_numpy(), b["low"].to_numpy(), close)
    _same(_kernels.wilder_average(tr, 14), features.atr(b["high"], b["low"], b["close"], 14))


def test_kernels_accept_empty_input():
    empty = np.zeros(0)
    assert len(_kernels.rolling_mean(empty, 3)) == 0
    assert len(_kernels.rolling_std(empty, 3, 1)) == 0
    assert len(_kernels.ema_span(empty, 3)) == 0
    assert len(_kernels.rsi_values(empty, 14)) == 0


def test_positive_array_check_names_the_first_bad_date():
    index = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06"], name="date")
    with pytest.raises(InvalidInputError, match=r"1 value\(s\) are not, first at 2020-01-03"):
        check_positive_array(np.array([10.0, 0.0, 11.0]), index, "close")
    check_positive_array(np.array([10.0, np.nan, 11.0]), index, "close")  # NaN propagates, no error


def test_horizon_sigma_is_the_daily_deviation_scaled_by_root_time(aapl_bars):
    # One formula shared by momentum_breakout and volatility_regime: annualised vol / sqrt(252) * sqrt(n)
    # is the one-bar deviation of log returns times sqrt(n); zero/NaN volatility gives NaN (a divisor).
    assert _kernels.PERIODS_PER_YEAR == 252
    close = aapl_bars["close"]
    daily = np.log(close / close.shift(1)).rolling(20, min_periods=20).std(ddof=1).to_numpy()
    sigma = _kernels.horizon_sigma(_kernels.realized_vol_values(close.to_numpy(), 20), 10)
    assert np.isnan(sigma[:20]).all() and not np.isnan(sigma[20:]).any()
    np.testing.assert_allclose(sigma[20:], daily[20:] * math.sqrt(10), rtol=1e-12)
    np.testing.assert_array_equal(_kernels.horizon_sigma(np.array([0.16, 0.0, -0.1, np.nan]), 4),
                                  [0.16 / math.sqrt(252) * 2.0, np.nan, np.nan, np.nan])
