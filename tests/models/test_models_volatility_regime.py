"""volatility_regime: learned thresholds, smoothed regime switches, regime strategies, GARCH(1,1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mltrainer import features
from mltrainer.errors import InvalidParameterError
from mltrainer.models import create_model


@pytest.fixture(scope="module")
def regime(gspc, train_bars):
    model = create_model("volatility_regime").fit(gspc.iloc[:train_bars])
    return model, model.predict(gspc)


def test_thresholds_are_training_quantiles_of_realized_vol(regime, gspc, train_bars):
    model, pred = regime
    rv = features.realized_volatility(gspc["close"].iloc[:train_bars], window=20).dropna()
    assert model.vol_thresholds_ == pytest.approx((rv.quantile(0.33), rv.quantile(0.67)), rel=1e-12)
    np.testing.assert_allclose(pred["realized_vol"], features.realized_volatility(gspc["close"], window=20),
                               rtol=1e-12)


def test_regime_labels_and_codes_agree(regime):
    _, pred = regime
    names = {-1: "warmup", 0: "low", 1: "medium", 2: "high"}
    assert (pred["regime"] == pred["regime_code"].map(names)).all()
    assert set(pred["regime_code"].iloc[100:]) == {0, 1, 2}


def test_regime_switches_respect_hysteresis_and_minimum_duration(regime):
    model, pred = regime
    low, high = model.vol_thresholds_
    code = pred["regime_code"].to_numpy()
    vol = pred["realized_vol"].to_numpy()
    switches = np.flatnonzero((code[1:] != code[:-1]) & (code[:-1] >= 0)) + 1
    assert len(switches) > 20
    for t in switches:
        if code[t] > code[t - 1]:
            assert vol[t] > (low if code[t] == 1 else high) * 1.1
        else:
            assert vol[t] < (high if code[t] == 1 else low) * 0.9
    # A regime lasts at least min_regime_duration (5) bars before the next switch.
    assert np.diff(switches).min() >= 5
    # Without smoothing the raw thresholds would flip far more often.
    raw = np.where(vol < low, 0, np.where(vol > high, 2, 1))[20:]
    assert (raw[1:] != raw[:-1]).sum() > 2 * len(switches)


def test_strategy_by_regime_and_stricter_high_vol_entries(regime, gspc):
    _, pred = regime
    close = gspc["close"]
    sigma = features.realized_volatility(close, window=20) / math.sqrt(252) * math.sqrt(20)
    trend = (np.log(close / close.shift(20)) / sigma).to_numpy()
    reversion = -features.rolling_zscore(close, 20).to_numpy()
    code = pred["regime_code"].to_numpy()
    score = pred["regime_score"].to_numpy()
    for c, expected in ((0, trend), (1, 0.5 * (trend + reversion)), (2, reversion)):
        mask = (code == c) & np.isfinite(expected)
        np.testing.assert_allclose(score[mask], expected[mask], rtol=1e-9)
    signal = pred["signal"].to_numpy()
    entries = np.flatnonzero((signal != 0) & (np.r_[0, signal[:-1]] != signal))
    by_regime = {c: [t for t in entries if code[t] == c] for c in (0, 1, 2)}
    assert all(by_regime[c] for c in (0, 1, 2)), "each regime produces entries"
    for t in entries:
        threshold = 1.5 * 1.5 if code[t] == 2 else 1.5
        assert signal[t] * score[t] >= threshold


def test_garch_recursion_matches_arch_with_the_fitted_parameters(regime, gspc, train_bars):
    from arch import arch_model

    model, _ = regime
    p = model.garch_params_
    assert 0 < p["alpha"] < 1 and 0 < p["beta"] < 1 and p["alpha"] + p["beta"] < 1 and p["omega"] > 0
    train = gspc.iloc[:train_bars]
    r = 100.0 * np.log(train["close"]).diff().dropna().to_numpy()
    am = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    fixed = am.fix([p["mu"], p["omega"], p["alpha"], p["beta"]])
    # Ours: σ²[t+1|t] at bar t; arch: σ²[t] from returns before t. Starts differ, so compare after burn-in.
    ours = model._next_variance(train["close"])[1:-1]
    theirs = fixed.conditional_volatility[1:] ** 2
    np.testing.assert_allclose(ours[500:], theirs[500:], rtol=1e-8)
    # The 5-bar forecast at the last training bar equals arch's closed-form forecast, annualised.
    arch_var = fixed.forecast(horizon=5, reindex=False).variance.to_numpy()[-1]
    expected = math.sqrt(arch_var.mean() * 252) / 100.0
    assert model.forecast_volatility(train, horizon=5).iloc[-1] == pytest.approx(expected, rel=1e-8)


def test_vol_forecast_column_is_the_forecast_over_forecast_horizon(regime, gspc):
    model, pred = regime
    forecast = model.forecast_volatility(gspc, horizon=5)
    assert forecast.index.equals(gspc.index)
    np.testing.assert_allclose(pred["vol_forecast"], forecast, rtol=1e-12)
    one_bar = model.forecast_volatility(gspc, horizon=1)
    assert (one_bar > 0).all() and one_bar.between(0.02, 1.5).all()
    # Annualised and close to what realized volatility turned out to be in calm and stressed times.
    assert 0.05 < forecast.loc["2005-06-01"] < 0.2
    assert forecast.loc["2008-10-15"] > 0.4
    with pytest.raises(InvalidParameterError, match="horizon"):
        model.forecast_volatility(gspc, horizon=0)


def test_positions_exit_when_the_score_fades_or_after_max_holding(gspc, train_bars):
    model = create_model("volatility_regime", max_holding=6).fit(gspc.iloc[:train_bars])
    pred = model.predict(gspc)
    signal = pred["signal"].to_numpy()
    score = pred["regime_score"].to_numpy()
    ends = {"fade": 0, "max_holding": 0}
    start = None
    for t in range(1, len(signal)):
        if signal[t] != 0 and signal[t - 1] != signal[t]:
            start = t
        elif signal[t - 1] != 0 and signal[t] != signal[t - 1]:
            side, length = signal[t - 1], t - start
            assert length <= 6
            assert all(side * score[k] > 0.25 for k in range(start + 1, t))
            assert signal[t] == 0
            if not side * score[t] > 0.25:
                ends["fade"] += 1
            else:
                assert length == 6
                ends["max_holding"] += 1
    assert ends["fade"] > 0 and ends["max_holding"] > 0, ends


def test_regime_switches_hand_checked():
    from mltrainer.models.volatility_regime import VolatilityRegime

    # Thresholds 0.10/0.20 with 10% hysteresis: up above 0.11/0.22, down below 0.09/0.18; a regime
    # lasts at least 2 bars; a bar without volatility keeps the regime (and counts toward its age).
    model = VolatilityRegime(hysteresis=0.1, min_regime_duration=2)
    model.vol_thresholds_ = (0.10, 0.20)
    vol = np.array([np.nan, 0.15, 0.25, 0.25, 0.25, 0.17, 0.17, np.nan, 0.05, 0.05])
    assert model._regimes(vol).tolist() == [-1, 1, 1, 2, 2, 1, 1, 1, 0, 0]
    assert model._regimes(np.full(3, np.nan)).tolist() == [-1, -1, -1]
    assert model._regimes(np.zeros(0)).tolist() == []
