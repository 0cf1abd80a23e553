"""Indicators on real offline AAPL bars: causality, documented warm-up and hand-checked values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mltrainer import features as ft

# name -> (function of the bars, documented warm-up in leading NaN rows)
INDICATORS: dict[str, tuple[Callable[[pd.DataFrame], pd.Series | pd.DataFrame], int]] = {
    "returns": (lambda b: ft.returns(b["close"]), 1),
    "returns_5": (lambda b: ft.returns(b["close"], periods=5), 5),
    "log_returns": (lambda b: ft.log_returns(b["close"]), 1),
    "log_returns_3": (lambda b: ft.log_returns(b["close"], periods=3), 3),
    "sma_20": (lambda b: ft.sma(b["close"], 20), 19),
    "ema_12": (lambda b: ft.ema(b["close"], 12), 11),
    "rolling_zscore_20": (lambda b: ft.rolling_zscore(b["close"], 20), 19),
    "bollinger_bands": (lambda b: ft.bollinger_bands(b["close"]), 19),
    "bollinger_percent_b": (lambda b: ft.bollinger_percent_b(b["close"], window=10, num_std=1.5), 9),
    "rsi_14": (lambda b: ft.rsi(b["close"]), 14),
    "atr_14": (lambda b: ft.atr(b["high"], b["low"], b["close"]), 13),
    "realized_volatility_20": (lambda b: ft.realized_volatility(b["close"]), 20),
    "volume_ratio_20": (lambda b: ft.volume_ratio(b["volume"]), 20),
    "momentum_60": (lambda b: ft.momentum(b["close"], 60), 60),
}


def _assert_causal(func, bars: pd.DataFrame, cuts: list[int]) -> None:
    full = func(bars)
    for cut in cuts:
        part = func(bars.iloc[: cut + 1])
        expected = full.iloc[: cut + 1]
        if isinstance(full, pd.DataFrame):
            pd.testing.assert_frame_equal(part, expected, check_exact=False, rtol=1e-12, atol=0)
        else:
            pd.testing.assert_series_equal(part, expected, check_exact=False, rtol=1e-12, atol=0)


def _cuts(n: int) -> list[int]:
    return [5, 30, 250, n // 2, n - 2]


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_truncating_the_future_leaves_past_values_unchanged(name, aapl_bars):
    func, _ = INDICATORS[name]
    _assert_causal(func, aapl_bars, _cuts(len(aapl_bars)))


def test_causality_check_catches_a_function_that_looks_ahead(aapl_bars):
    leaky = lambda b: b["close"].shift(-1) / b["close"] - 1  # noqa: E731 - tomorrow's return
    with pytest.raises(AssertionError):
        _assert_causal(leaky, aapl_bars, _cuts(len(aapl_bars)))


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_documented_warm_up_and_output_shape(name, aapl_bars):
    func, warm_up = INDICATORS[name]
    out = func(aapl_bars)
    assert out.index.equals(aapl_bars.index)
    frame = out.to_frame() if isinstance(out, pd.Series) else out
    assert (frame.dtypes == np.float64).all()
    assert frame.iloc[:warm_up].isna().all().all()
    # Real bars have no NaN prices and no flat windows, so everything after the warm-up is a number.
    assert frame.iloc[warm_up:].notna().all().all()
    assert np.isfinite(frame.iloc[warm_up:].to_numpy()).all()


def test_sma_of_five_known_closes(aapl_bars):
    # Adjusted AAPL closes (the dataset's adj_close) 2010-06-24 .. 2010-06-30:
    # 34.570249227999 + 34.274667171403 + 34.480289471644 + 32.921415407943 + 32.325110737244
    # = 168.571732016233 -> / 5 = 33.7143464032466
    out = ft.sma(aapl_bars["close"], 5)
    assert out.loc["2010-06-30"] == pytest.approx(33.7143464032466, rel=1e-12)


def test_returns_and_momentum_on_known_days(aapl_bars):
    close = aapl_bars["close"]
    # 2010-06-30: 32.325110737244 / 32.921415407943 - 1 = -0.0181130
    assert ft.returns(close).loc["2010-06-30"] == pytest.approx(-0.018112971854640447, rel=1e-9)
    # The 2:1 split on 2005-02-28 is adjusted away: 5.7651352430039 / 5.7182276557615 - 1 = +0.82%,
    # not the -50% of the raw closes (44.86 / 88.99 - 1).
    assert ft.returns(close).loc["2005-02-28"] == pytest.approx(0.008203168895372093, rel=1e-9)
    # 5 bars back from 2010-07-02 is 2010-06-25: 31.735231763428 / 34.274667171403 - 1 = -0.0740907
    assert ft.momentum(close, 5).loc["2010-07-02"] == pytest.approx(-0.07409073865766891, rel=1e-9)


def test_volume_ratio_on_a_known_day(aapl_bars):
    # Raw volumes 2010-06-22 .. 06-28: 25616500 27444900 25509900 19640800 20891000, mean 23820620;
    # 2010-06-29 volume 40476600 -> ratio 1.69923. The split adjustment multiplies every volume of
    # the period by the same factor, so the ratio is the raw one (up to adj_close's 6-decimal rounding).
    assert ft.volume_ratio(aapl_bars["volume"], 5).loc["2010-06-29"] == pytest.approx(1.6992253, rel=1e-6)


def test_rsi_and_atr_ranges_and_identity_on_real_bars(aapl_bars):
    r = ft.rsi(aapl_bars["close"]).dropna()
    assert r.between(0, 100).all()
    # Thirteen years of AAPL reach both the overbought and the oversold zone.
    assert (r > 70).any() and (r < 30).any()
    a = ft.atr(aapl_bars["high"], aapl_bars["low"], aapl_bars["close"]).dropna()
    hl = (aapl_bars["high"] - aapl_bars["low"]).loc[a.index]
    assert (a > 0).all()
    # ATR is an average of true ranges, each at least high - low; its level tracks price level.
    assert a.mean() >= hl.mean() * 0.99
    z = ft.rolling_zscore(aapl_bars["close"], 20)
    pb = ft.bollinger_percent_b(aapl_bars["close"], window=20, num_std=2.0)
    np.testing.assert_allclose(pb.dropna(), (0.5 + z / 4).dropna(), rtol=0, atol=1e-9)


def test_realized_volatility_level_on_real_bars(aapl_bars):
    vol = ft.realized_volatility(aapl_bars["close"], window=252)
    # The last year's value against a direct computation from the log returns.
    log_ret = np.log(aapl_bars["close"] / aapl_bars["close"].shift(1)).iloc[-252:]
    assert vol.iloc[-1] == pytest.approx(log_ret.std(ddof=1) * np.sqrt(252), rel=1e-9)
    assert 0.1 < vol.iloc[-1] < 1.0


def test_true_range_on_a_known_day(aapl_bars):
    # ATR(1) is the true range itself. 2010-06-29 raw: high 264.39, low 254.30, previous close 268.30
    # -> TR = max(264.39 - 254.30 = 10.09, |264.39 - 268.30| = 3.91, |254.30 - 268.30| = 14.00) = 14.00,
    # scaled by that stretch's split/dividend factor adj_close / close = 32.921415407943 / 256.17.
    out = ft.atr(aapl_bars["high"], aapl_bars["low"], aapl_bars["close"], period=1)
    assert out.loc["2010-06-29"] == pytest.approx(14.00 * 32.921415407943 / 256.17, rel=1e-9)


def test_realized_volatility_on_known_days(aapl_bars):
    # Closes 2010-06-28 .. 06-30: 34.480289471644, 32.921415407943, 32.325110737244
    # log returns -0.0462645, -0.0182790; sample std of two = |a - b| / sqrt(2) = 0.0197888;
    # times sqrt(252) = 0.3141359
    out = ft.realized_volatility(aapl_bars["close"], window=2)
    assert out.loc["2010-06-30"] == pytest.approx(0.3141359081056244, rel=1e-9)
