"""Entry and exit rules of the position-holding models, checked bar by bar on real offline bars."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mltrainer import features
from mltrainer.models import create_model


def runs(signal: np.ndarray) -> list[tuple[int, int, int]]:
    """(first bar, last bar, side) of every run of one non-zero position."""
    out = []
    start = None
    for t, s in enumerate(signal):
        if start is not None and s != signal[start]:
            out.append((start, t - 1, int(signal[start])))
            start = None
        if start is None and s != 0:
            start = t
    if start is not None:
        out.append((start, len(signal) - 1, int(signal[start])))
    return out


# -- momentum_breakout ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def momentum(aapl, train_bars):
    model = create_model("momentum_breakout", max_holding=12, atr_stop_multiple=1.5, exit_threshold=1.0)
    model.fit(aapl.iloc[:train_bars])
    return model, model.predict(aapl)


def test_momentum_learned_thresholds_are_training_quantiles(momentum, aapl, train_bars):
    model, _ = momentum
    train = aapl.iloc[:train_bars]
    vr = features.volume_ratio(train["volume"], window=20).iloc[model.warmup_bars:]
    rv = features.realized_volatility(train["close"], window=20).iloc[model.warmup_bars:]
    assert model.volume_ratio_q_ == pytest.approx(vr.quantile(0.5), rel=1e-12)
    assert model.vol_low_ == pytest.approx(rv.quantile(0.05), rel=1e-12)
    assert model.vol_high_ == pytest.approx(rv.quantile(0.95), rel=1e-12)
    assert 0.0 < model.vol_low_ < model.vol_high_ < 2.0


def test_momentum_z_and_breakout_level_match_their_definition(momentum, aapl):
    _, pred = momentum
    close = aapl["close"]
    sigma_20 = features.realized_volatility(close, window=20) / math.sqrt(252) * math.sqrt(20)
    expected_z = np.log(close / close.shift(20)) / sigma_20
    np.testing.assert_allclose(pred["momentum_z"].iloc[60:], expected_z.iloc[60:], rtol=1e-9)
    # A next close exactly at the breakout level would score the threshold (at today's volatility).
    t = 2500
    level = pred["breakout_level"].iloc[t]
    z_next = math.log(level / close.iloc[t + 1 - 20]) / sigma_20.iloc[t]
    assert z_next == pytest.approx(2.0, rel=1e-12)


def test_momentum_entries_pass_every_filter(momentum, aapl):
    model, pred = momentum
    trend = features.sma(aapl["close"], 100)
    entries = runs(pred["signal"].to_numpy())
    assert len(entries) >= 10
    assert {side for _, _, side in entries} == {-1, 1}
    for start, _, side in entries:
        row = pred.iloc[start]
        assert side * row["momentum_z"] >= 2.0
        assert row["volume_ratio"] >= model.volume_ratio_q_
        assert model.vol_low_ <= row["realized_vol"] <= model.vol_high_
        assert side * (aapl["close"].iloc[start] - trend.iloc[start]) > 0


def test_momentum_exits_max_holding_atr_stop_and_fade(momentum, aapl):
    model, pred = momentum
    signal = pred["signal"].to_numpy()
    close = aapl["close"].to_numpy()
    z = pred["momentum_z"].to_numpy()
    atr = pred["atr"].to_numpy()
    reasons = {"max_holding": 0, "stop": 0, "fade": 0}
    for start, end, side in runs(signal):
        assert end - start + 1 <= 12, "no position is held longer than max_holding"
        stop_level = close[start] - side * 1.5 * atr[start]
        held = range(start + 1, end + 1)
        assert all(side * (close[t] - stop_level) > 0 for t in held), "a stop breach must end the position"
        assert all(side * z[t] >= 1.0 for t in held), "faded momentum must end the position"
        exit_bar = end + 1
        if exit_bar >= len(signal):
            continue
        assert signal[exit_bar] == 0, "the exit bar is flat (no same-bar reversal)"
        if side * (close[exit_bar] - stop_level) <= 0:
            reasons["stop"] += 1
        elif not side * z[exit_bar] >= 1.0:
            reasons["fade"] += 1
        else:
            assert end - start + 1 == 12
            reasons["max_holding"] += 1
    assert all(count > 0 for count in reasons.values()), reasons


# -- mean_reversion ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reversion(gspc, train_bars):
    model = create_model("mean_reversion", max_holding=5).fit(gspc.iloc[:train_bars])
    return model, model.predict(gspc)


def test_reversion_entries_need_z_bands_volume_and_rsi(reversion, gspc):
    _, pred = reversion
    vr = features.volume_ratio(gspc["volume"], window=20)
    entries = runs(pred["signal"].to_numpy())
    assert len(entries) >= 10 and {side for *_, side in entries} == {-1, 1}
    for start, _, side in entries:
        row = pred.iloc[start]
        assert 2.0 <= -side * row["zscore"] < 3.5  # beyond the stop, the stop would close it next bar
        assert (row["percent_b"] <= 0.0) if side > 0 else (row["percent_b"] >= 1.0)
        assert (row["rsi"] <= 35.0) if side > 0 else (row["rsi"] >= 65.0)
        assert vr.iloc[start] >= 1.0


def test_reversion_does_not_enter_a_bar_already_beyond_the_stop(aapl):
    # AAPL closed at z = -3.82 on 2000-09-29 (below -stop_z = -3.5) with %b < 0 and RSI 23.8: every
    # other long entry rule holds, but a trade opened there would be one the stop closes next bar.
    model = create_model("mean_reversion").fit(aapl.iloc[:2000])
    pred = model.predict(aapl.loc[:"2000-10-31"])
    row = pred.loc["2000-09-29"]
    assert row["zscore"] == pytest.approx(-3.8168, abs=1e-4)
    assert row["percent_b"] <= 0.0 and row["rsi"] <= 35.0
    assert row["signal"] == 0
    assert pred.loc["2000-09-28", "signal"] == 0


def test_reversion_exits_at_the_mean_on_the_stop_or_after_max_holding(reversion):
    _, pred = reversion
    signal = pred["signal"].to_numpy()
    z = pred["zscore"].to_numpy()
    reasons = {"mean": 0, "stop": 0, "max_holding": 0}
    for start, end, side in runs(signal):
        assert end - start + 1 <= 5
        for t in range(start + 1, end + 1):
            assert 0.5 < -side * z[t] < 3.5, "back at the mean or stretched to the stop must end the position"
        exit_bar = end + 1
        if exit_bar >= len(signal):
            continue
        assert signal[exit_bar] == 0
        if -side * z[exit_bar] <= 0.5:
            reasons["mean"] += 1
        elif -side * z[exit_bar] >= 3.5:
            reasons["stop"] += 1
        else:
            assert end - start + 1 == 5
            reasons["max_holding"] += 1
    assert reasons["mean"] > 0 and reasons["max_holding"] > 0, reasons


def test_reversion_table_counts_match_a_direct_recount(reversion, gspc, train_bars):
    model, _ = reversion
    z = features.rolling_zscore(gspc["close"].iloc[:train_bars], 20).to_numpy()
    horizon = 5
    table = model.reversion_table_
    for _, bucket in table.iterrows():
        entries = reverted = 0
        for t in range(train_bars - horizon):
            if not np.isfinite(z[t]) or not bucket["abs_z_from"] <= abs(z[t]) < bucket["abs_z_to"]:
                continue
            entries += 1
            ahead = z[t + 1:t + 1 + horizon]
            reverted += bool(np.any(ahead >= -0.5) if z[t] < 0 else np.any(ahead <= 0.5))
        assert bucket["entries"] == entries
        assert bucket["reverted"] == reverted
        assert bucket["probability"] == pytest.approx((reverted + 1) / (entries + 2))
    assert table["entries"].sum() == np.isfinite(z[: train_bars - horizon]).sum()


def test_reversion_probability_and_exit_level_columns(reversion, gspc):
    model, pred = reversion
    table = model.reversion_table_
    t = 3000
    absz = abs(pred["zscore"].iloc[t])
    bucket = table[(table["abs_z_from"] <= absz) & (absz < table["abs_z_to"])]
    assert pred["reversion_probability"].iloc[t] == pytest.approx(bucket["probability"].iloc[0])
    bands = features.bollinger_bands(gspc["close"], window=20, num_std=1.0)
    std = bands["upper"].iloc[t] - bands["middle"].iloc[t]
    z_at_exit = (pred["exit_level"].iloc[t] - bands["middle"].iloc[t]) / std
    assert abs(z_at_exit) == pytest.approx(0.5)
    assert np.sign(z_at_exit) == np.sign(pred["zscore"].iloc[t])
