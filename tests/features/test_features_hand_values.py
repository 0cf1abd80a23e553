"""Indicators against values worked out by hand (or published worked examples)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mltrainer import features as ft

NAN = float("nan")


def _s(values, start="2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="B", name="date"))


def _assert_values(actual: pd.Series, expected: list[float], abs_tol: float = 1e-9) -> None:
    assert actual.dtype == np.float64
    np.testing.assert_allclose(actual.to_numpy(), np.array(expected, dtype=float), rtol=0, atol=abs_tol)


# StockCharts ChartSchool's RSI worked example ("Relative Strength Index", spreadsheet cs-rsi.xls),
# the usual published reference for Wilder's 14-day RSI with Wilder smoothing.
RSI_CLOSES = [
    44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28,
    46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18,
    44.22, 44.57, 43.42, 42.66, 43.13,
]  # fmt: skip
RSI_PUBLISHED = [
    70.46, 66.25, 66.48, 69.35, 66.29, 57.92, 62.88, 63.21, 56.01, 62.34, 54.67, 50.39, 40.02, 41.49,
    41.90, 45.50, 37.32, 33.09, 37.79,
]  # fmt: skip


def test_rsi_matches_published_worked_example():
    out = ft.rsi(_s(RSI_CLOSES), period=14)
    assert out.iloc[:14].isna().all()
    # First 14 changes: -0.25 +0.06 -0.54 +0.72 +0.50 +0.27 +0.32 +0.42 +0.24 -0.19 +0.14 -0.42 +0.67 0.00
    # gains = 3.34, losses = 1.40 -> avg gain 3.34/14, avg loss 1.40/14
    # RSI = 100 * 3.34 / (3.34 + 1.40) = 70.4641
    assert out.iloc[14] == pytest.approx(100 * 3.34 / 4.74, abs=1e-9)
    # Next change -0.28: avg gain = (3.34/14 * 13 + 0) / 14 = 43.42/196,
    # avg loss = (1.40/14 * 13 + 0.28) / 14 = 1.58/14 = 22.12/196 -> RSI = 4342 / 65.54 = 66.2496
    assert out.iloc[15] == pytest.approx(4342 / 65.54, abs=1e-9)
    np.testing.assert_allclose(out.iloc[14:].round(2).to_numpy(), RSI_PUBLISHED, atol=1e-9)


def test_rsi_extremes_rising_falling_and_flat():
    assert ft.rsi(_s([1.0, 2, 3, 4, 5]), period=2).iloc[2:].tolist() == [100.0, 100.0, 100.0]
    assert ft.rsi(_s([5.0, 4, 3, 2, 1]), period=2).iloc[2:].tolist() == [0.0, 0.0, 0.0]
    # No movement at all: neither strength nor weakness -> documented neutral 50.
    assert ft.rsi(_s([7.0, 7, 7, 7]), period=2).iloc[2:].tolist() == [50.0, 50.0]


def test_returns_log_returns_and_momentum_hand_values():
    close = _s([100.0, 110.0, 99.0, 108.9])
    _assert_values(ft.returns(close), [NAN, 0.10, -0.10, 0.10])
    _assert_values(ft.returns(close, periods=2), [NAN, NAN, -0.01, -0.01])  # 99/100-1, 108.9/110-1
    _assert_values(ft.log_returns(close), [NAN, math.log(1.1), math.log(0.9), math.log(1.1)])
    _assert_values(ft.momentum(close, 3), [NAN, NAN, NAN, 0.089])  # 108.9/100 - 1


def test_sma_and_ema_hand_values():
    x = _s([1.0, 2.0, 3.0, 4.0, 5.0])
    _assert_values(ft.sma(x, 3), [NAN, NAN, 2.0, 3.0, 4.0])
    _assert_values(ft.sma(x, 1), [1.0, 2.0, 3.0, 4.0, 5.0])
    # span 3 -> alpha 0.5; y0 = 1, y1 = 1.5, y2 = 2.25, y3 = 3.125, y4 = 4.0625; first 2 masked.
    _assert_values(ft.ema(x, 3), [NAN, NAN, 2.25, 3.125, 4.0625])


def test_rolling_zscore_uses_population_std():
    x = _s([1.0, 2.0, 3.0, 4.0, 6.0])
    # [1,2,3]: mean 2, pop var 2/3 -> z = 1/sqrt(2/3) = 1.2247
    # [3,4,6]: mean 13/3, pop var (16/9 + 1/9 + 25/9)/3 = 14/9 -> z = (5/3)/sqrt(14/9) = 1.3363
    _assert_values(ft.rolling_zscore(x, 3), [NAN, NAN, 1 / math.sqrt(2 / 3), 1 / math.sqrt(2 / 3),
                                             (5 / 3) / math.sqrt(14 / 9)])  # fmt: skip


def test_bollinger_bands_and_percent_b_hand_values():
    x = _s([1.0, 2.0, 3.0, 4.0, 6.0])
    bands = ft.bollinger_bands(x, window=3, num_std=2.0)
    assert list(bands.columns) == ["middle", "upper", "lower"]
    assert bands.index.equals(x.index)
    assert (bands.dtypes == np.float64).all()
    assert bands.iloc[:2].isna().all().all()
    # Last window [3,4,6]: middle 13/3, pop std sqrt(14/9) -> upper 6.8278, lower 1.8389
    last = bands.iloc[-1]
    assert last["middle"] == pytest.approx(13 / 3, abs=1e-12)
    assert last["upper"] == pytest.approx(13 / 3 + 2 * math.sqrt(14 / 9), abs=1e-12)
    assert last["lower"] == pytest.approx(13 / 3 - 2 * math.sqrt(14 / 9), abs=1e-12)
    pb = ft.bollinger_percent_b(x, window=3, num_std=2.0)
    # (6 - 1.8389) / (6.8278 - 1.8389) = 0.8341
    assert pb.iloc[-1] == pytest.approx((6 - last["lower"]) / (last["upper"] - last["lower"]), abs=1e-12)
    assert pb.iloc[-1] == pytest.approx(0.8340765523905305, abs=1e-12)
    # With one std estimator, %b = 0.5 + z / (2 * num_std) exactly.
    z = ft.rolling_zscore(x, 3)
    _assert_values(pb.iloc[2:], (0.5 + z / 4).iloc[2:].tolist(), abs_tol=1e-12)


def test_atr_hand_values_with_gaps():
    high = _s([10.0, 11.0, 12.0, 10.2, 10.5])
    low = _s([9.0, 10.2, 10.5, 9.6, 9.9])
    close = _s([9.5, 10.8, 11.0, 9.8, 10.4])
    # True ranges: bar0 H-L = 1.0; bar1 gap up |11-9.5| = 1.5; bar2 H-L = 1.5;
    # bar3 gap down |9.6-11| = 1.4; bar4 |10.5-9.8| = 0.7.
    # ATR(3): (1 + 1.5 + 1.5)/3 = 4/3; (4/3*2 + 1.4)/3 = 61/45; (61/45*2 + 0.7)/3 = 307/270
    _assert_values(ft.atr(high, low, close, period=3), [NAN, NAN, 4 / 3, 61 / 45, 307 / 270])


def test_realized_volatility_hand_values():
    close = _s([100.0, 110.0, 99.0, 108.9])
    # log returns ln1.1, ln0.9, ln1.1; sample std of two values a, b is |a-b|/sqrt(2);
    # annualised: |ln1.1 - ln0.9| / sqrt(2) * sqrt(252) = 2.2525
    expected = abs(math.log(1.1) - math.log(0.9)) / math.sqrt(2) * math.sqrt(252)
    _assert_values(ft.realized_volatility(close, window=2), [NAN, NAN, expected, expected])
    _assert_values(
        ft.realized_volatility(close, window=2, periods_per_year=52),
        [NAN, NAN, expected / math.sqrt(252) * math.sqrt(52), expected / math.sqrt(252) * math.sqrt(52)],
    )


def test_volume_ratio_uses_prior_window_only():
    volume = _s([100.0, 200.0, 300.0, 900.0])
    # bar2: 300 / mean(100, 200) = 2.0; bar3: 900 / mean(200, 300) = 3.6
    _assert_values(ft.volume_ratio(volume, window=2), [NAN, NAN, 2.0, 3.6])
    # A zero baseline gives no ratio rather than inf.
    assert ft.volume_ratio(_s([0.0, 0.0, 5.0]), window=2).isna().all()


def test_flat_windows_give_nan_not_inf():
    flat = _s([3.0, 3.0, 3.0, 3.0])
    assert ft.rolling_zscore(flat, 3).isna().all()
    assert ft.bollinger_percent_b(flat, window=3).isna().all()


def test_index_and_name_are_kept():
    x = pd.Series([1.0, 2.0, 3.0], index=pd.Index([10, 20, 30], name="bar"), name="close")
    for out in (ft.returns(x), ft.sma(x, 2), ft.ema(x, 2), ft.rsi(x, 2), ft.momentum(x, 1)):
        assert out.index.equals(x.index)
        assert out.name == "close"


def test_integer_input_is_returned_as_float64():
    out = ft.sma(pd.Series([1, 2, 3, 4]), 2)
    assert out.dtype == np.float64
    assert out.tolist()[1:] == [1.5, 2.5, 3.5]


def test_leading_nans_extend_the_rsi_warm_up():
    # rsi of an SMA: the SMA's 2 leading NaNs come first, then RSI's own warm-up of `period`.
    x = _s([1.0, 2.0, 4.0, 3.0, 5.0, 6.0, 4.0, 7.0])
    out = ft.rsi(ft.sma(x, 3), period=2)
    assert out.isna().sum() == 2 + 2
    assert out.iloc[4:].notna().all()


def test_empty_series_gives_empty_float_series():
    empty = pd.Series([], dtype=np.float64)
    assert len(ft.rsi(empty)) == 0 and ft.rsi(empty).dtype == np.float64
    assert len(ft.atr(empty, empty, empty)) == 0
    assert len(ft.bollinger_bands(empty)) == 0
