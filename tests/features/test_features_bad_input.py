"""Bad windows and inputs raise our errors with messages that say what to pass instead."""

from __future__ import annotations

import pandas as pd
import pytest

from mltrainer import features as ft
from mltrainer.errors import InvalidInputError, InvalidParameterError

X = pd.Series([1.0, 2.0, 3.0, 4.0], index=pd.date_range("2024-01-01", periods=4, name="date"))

BAD_PARAMS = [
    (lambda: ft.returns(X, periods=0), "periods must be >= 1"),
    (lambda: ft.returns(X, periods=-1), "periods must be >= 1"),  # a negative shift would look ahead
    (lambda: ft.log_returns(X, periods=0), "periods must be >= 1"),
    (lambda: ft.momentum(X, 0), "period must be >= 1"),
    (lambda: ft.sma(X, 0), "window must be >= 1"),
    (lambda: ft.sma(X, 2.5), "window must be a whole number"),
    (lambda: ft.sma(X, True), "window must be a whole number"),
    (lambda: ft.ema(X, 0), "span must be >= 1"),
    (lambda: ft.rolling_zscore(X, 1), "window must be >= 2"),
    (lambda: ft.bollinger_bands(X, window=1), "window must be >= 2"),
    (lambda: ft.bollinger_bands(X, num_std=0), "num_std must be > 0"),
    (lambda: ft.bollinger_percent_b(X, num_std=float("nan")), "num_std must be a finite number"),
    (lambda: ft.rsi(X, period=1), "period must be >= 2"),
    (lambda: ft.atr(X, X, X, period=0), "period must be >= 1"),
    (lambda: ft.realized_volatility(X, window=1), "window must be >= 2"),
    (lambda: ft.realized_volatility(X, periods_per_year=-252), "periods_per_year must be > 0"),
    (lambda: ft.volume_ratio(X, window=0), "window must be >= 1"),
]


@pytest.mark.parametrize("call, message", BAD_PARAMS, ids=[m for _, m in BAD_PARAMS])
def test_bad_parameters_raise_invalid_parameter_error(call, message):
    with pytest.raises(InvalidParameterError, match=message):
        call()


def test_numpy_integer_windows_are_accepted():
    import numpy as np

    assert ft.sma(X, np.int64(2)).iloc[-1] == 3.5


def test_non_series_input_is_rejected():
    with pytest.raises(InvalidInputError, match="must be a pandas Series"):
        ft.sma([1.0, 2.0, 3.0], 2)
    with pytest.raises(InvalidInputError, match="must be a pandas Series"):
        ft.rsi(X.to_frame("close"))


def test_text_input_is_rejected():
    with pytest.raises(InvalidInputError, match="must hold numbers"):
        ft.sma(pd.Series(["1", "2", "3"]), 2)


def test_atr_needs_columns_of_the_same_bars():
    shifted = X.copy()
    shifted.index = shifted.index + pd.Timedelta(days=1)
    with pytest.raises(InvalidInputError, match="share the same index"):
        ft.atr(X, X, shifted)


def test_log_of_non_positive_prices_names_the_date():
    bad = X.copy()
    bad.iloc[2] = 0.0
    with pytest.raises(InvalidInputError, match="2024-01-03"):
        ft.log_returns(bad)
    with pytest.raises(InvalidInputError, match="must be > 0"):
        ft.realized_volatility(bad, window=2)
    # Simple returns from an impossible zero price are NaN, not inf.
    assert ft.returns(bad).isna().tolist() == [True, False, False, True]
