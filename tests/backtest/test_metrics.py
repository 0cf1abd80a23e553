"""Backtest metrics against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from mltrainer._util import to_jsonable
from mltrainer.backtest.metrics import (
    BUY_AND_HOLD_KEYS,
    METRIC_INFO,
    METRIC_KEYS,
    buy_and_hold_metrics,
    compute_metrics,
    deflated_sharpe_ratio,
    drawdown_series,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from mltrainer.errors import InvalidInputError, InvalidParameterError, SignalAlignmentError

EULER_GAMMA = 0.5772156649015329


def _series(values, start="2024-01-01") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq="B", name="date")
    return pd.Series(values, index=index, dtype=float)


# Four bars, periods_per_year=4 so that the sample is exactly one year.
RETURNS = [0.01, 0.02, -0.01, 0.02]
POSITIONS = [1.0, 1.0, -1.0, 0.0]
TRADES = [0.05, -0.02, 0.01, -0.03]

# Step by step for RETURNS:
#   mean = 0.04 / 4 = 0.01; deviations 0, +0.01, -0.02, +0.01
#   sample variance = (0 + 1e-4 + 4e-4 + 1e-4) / 3 = 2e-4 -> std = sqrt(2e-4) = 0.0141421
#   per-bar Sharpe SR = 0.01 / sqrt(2e-4) = 1/sqrt(2) = 0.7071068
#   m2 = 6e-4 / 4 = 1.5e-4; m3 = (0 + 1e-6 - 8e-6 + 1e-6) / 4 = -1.5e-6;
#   m4 = (0 + 1e-8 + 16e-8 + 1e-8) / 4 = 4.5e-8
#   skewness = m3 / m2^1.5 = -sqrt(2/3) = -0.8164966; kurtosis = m4 / m2^2 = 2.0
#   PSR: V = 1 - skew*SR + (kurt-1)/4*SR^2 = 1 + sqrt(2/3)/sqrt(2) + 1/8 = 1 + 1/sqrt(3) + 0.125 = 1.7023503
#        z = SR * sqrt(n-1) / sqrt(V) = sqrt(3/2) / sqrt(1.7023503) = 0.9386878 -> Phi(z) = 0.826054
SR = 1 / math.sqrt(2)
V = 1 + 1 / math.sqrt(3) + 0.125
Z_PSR = math.sqrt(3) * SR / math.sqrt(V)


@pytest.fixture
def hand_metrics() -> dict[str, float]:
    r = _series(RETURNS)
    return compute_metrics(
        r,
        positions=pd.Series(POSITIONS, index=r.index),
        trades=pd.DataFrame({"return": TRADES}),
        periods_per_year=4,
    )


def test_return_metrics_by_hand(hand_metrics):
    m = hand_metrics
    # equity 1.01, 1.0302, 1.019898, 1.04029596
    assert m["total_return"] == pytest.approx(0.04029596, abs=1e-12)
    assert m["cagr"] == pytest.approx(0.04029596, abs=1e-12)  # exactly one year of 4 bars
    assert m["annual_volatility"] == pytest.approx(math.sqrt(2e-4) * 2, abs=1e-12)  # std * sqrt(4)
    assert m["sharpe"] == pytest.approx(SR * 2, abs=1e-12)  # 1.4142136
    # downside: min(r, 0) = 0, 0, -0.01, 0 -> sqrt(1e-4 / 4) = 0.005; 0.01 / 0.005 * sqrt(4) = 4
    assert m["sortino"] == pytest.approx(4.0, abs=1e-12)
    # peak 1.0302 then 1.019898 = 1.0302 * 0.99 -> -1%
    assert m["max_drawdown"] == pytest.approx(-0.01, abs=1e-12)
    assert m["calmar"] == pytest.approx(0.04029596 / 0.01, abs=1e-9)


def test_trade_and_position_metrics_by_hand(hand_metrics):
    m = hand_metrics
    assert m["win_rate"] == 0.5  # 0.05 and 0.01 win out of 4
    assert m["profit_factor"] == pytest.approx(0.06 / 0.05, abs=1e-12)  # (0.05 + 0.01) / (0.02 + 0.03)
    assert m["avg_trade_return"] == pytest.approx(0.01 / 4, abs=1e-15)
    assert m["n_trades"] == 4 and isinstance(m["n_trades"], int)
    assert m["exposure"] == 0.75  # 3 of 4 bars not flat
    # |1-0| + |1-1| + |-1-1| + |0-(-1)| = 4 over 4 bars = 1 per bar, times 4 bars a year
    assert m["turnover"] == pytest.approx(4.0, abs=1e-12)


def test_psr_step_by_step(hand_metrics):
    assert Z_PSR == pytest.approx(0.9386878, abs=1e-7)
    assert hand_metrics["psr"] == pytest.approx(norm.cdf(Z_PSR), abs=1e-12)
    assert hand_metrics["psr"] == pytest.approx(0.826054, abs=1e-6)
    assert hand_metrics["dsr"] == hand_metrics["psr"]  # one trial: nothing to deflate
    direct = probabilistic_sharpe_ratio(SR, 4, skewness=-math.sqrt(2 / 3), kurtosis=2.0)
    assert direct == pytest.approx(norm.cdf(Z_PSR), abs=1e-12)


def test_dsr_step_by_step_with_trials_sharpe_std():
    r = _series(RETURNS)
    m = compute_metrics(r, periods_per_year=4, n_trials=10, trials_sharpe_std=0.5)
    # Annualised std 0.5 -> per bar 0.5 / sqrt(4) = 0.25.
    # Z(10) = (1 - g) * Phi^-1(0.9) + g * Phi^-1(1 - 1/(10e)) = 0.4227843 * 1.2815516 + 0.5772157 * 1.7892418
    #       = 0.5418199 + 1.0327784 = 1.5745983; SR0 = 0.25 * 1.5745983 = 0.3936496
    z_max = (1 - EULER_GAMMA) * norm.ppf(0.9) + EULER_GAMMA * norm.ppf(1 - 1 / (10 * math.e))
    assert z_max == pytest.approx(1.5745983, abs=1e-7)
    sr0 = 0.25 * z_max
    # DSR = Phi((SR - SR0) * sqrt(3) / sqrt(V)) = Phi((0.7071068 - 0.3936496) * 1.7320508 / 1.3047415)
    #     = Phi(0.4161160) = 0.661337
    expected = norm.cdf((SR - sr0) * math.sqrt(3) / math.sqrt(V))
    assert m["dsr"] == pytest.approx(expected, abs=1e-12)
    assert m["dsr"] == pytest.approx(0.661337, abs=1e-6)
    assert m["dsr"] < m["psr"]


def test_dsr_without_trials_std_uses_the_null_dispersion_of_sharpe():
    r = _series(RETURNS)
    m = compute_metrics(r, periods_per_year=4, n_trials=10)
    # Skill-less trials of n = 4 bars have per-bar Sharpe std 1 / sqrt(n - 1) = 1 / sqrt(3).
    z_max = (1 - EULER_GAMMA) * norm.ppf(0.9) + EULER_GAMMA * norm.ppf(1 - 1 / (10 * math.e))
    sr0 = z_max / math.sqrt(3)
    assert m["dsr"] == pytest.approx(norm.cdf((SR - sr0) * math.sqrt(3) / math.sqrt(V)), abs=1e-12)


def test_dsr_reproduces_the_papers_numerical_example():
    # Bailey & López de Prado (2014), numerical example: annualised SR 2.5 over 5 years of daily
    # returns (T = 1250, 250 a year), skewness -3, kurtosis 10, N = 100 trials whose annualised Sharpe
    # ratios have variance 1/2. The paper reports SR0 ~ 0.1132 (per day) and DSR ~ 0.9004.
    sr_std = math.sqrt(0.5 / 250)
    assert expected_max_sharpe(100, sr_std) == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(250), 1250, 100, sr_std, skewness=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_of_one_trial_is_zero():
    assert expected_max_sharpe(1, 0.3) == 0.0


def test_risk_free_rate_is_annual_and_de_compounded():
    r = _series(RETURNS)
    # 1.01^4 - 1 a year -> exactly 0.01 a bar; excess returns 0, 0.01, -0.02, 0.01 have mean 0.
    m = compute_metrics(r, periods_per_year=4, risk_free=1.01**4 - 1)
    assert m["sharpe"] == pytest.approx(0.0, abs=1e-12)
    assert m["psr"] == pytest.approx(0.5, abs=1e-12)
    # downside of excess: -0.02 only -> sqrt(4e-4 / 4) = 0.01; mean excess 0 -> Sortino 0
    assert m["sortino"] == pytest.approx(0.0, abs=1e-12)
    assert m["total_return"] == pytest.approx(0.04029596, abs=1e-12)  # raw returns unaffected


def test_cagr_annualises_over_the_number_of_bars():
    r = _series([0.01] * 126 + [-0.005] * 126)
    m = compute_metrics(r)  # 252 bars = one year at 252 a year
    growth = 1.01**126 * 0.995**126
    assert m["cagr"] == pytest.approx(growth - 1, rel=1e-12)
    half = compute_metrics(r.iloc[:126])  # half a year: CAGR compounds the half-year growth twice
    assert half["cagr"] == pytest.approx(1.01**252 - 1, rel=1e-12)


def test_drawdown_series_by_hand():
    equity = _series([1.0, 1.2, 0.9, 1.5, 1.2])
    # peaks 1, 1.2, 1.2, 1.5, 1.5 -> 0, 0, 0.9/1.2-1 = -0.25, 0, 1.2/1.5-1 = -0.2
    dd = drawdown_series(equity)
    np.testing.assert_allclose(dd.to_numpy(), [0.0, 0.0, -0.25, 0.0, -0.2], atol=1e-15)
    assert dd.index.equals(equity.index)
    assert (dd <= 0).all()


def test_a_loss_on_the_first_bar_is_a_drawdown():
    m = compute_metrics(_series([-0.1, 0.05]))
    # equity 0.9, 0.945 against the starting peak 1.0 -> -10%
    assert m["max_drawdown"] == pytest.approx(-0.1, abs=1e-12)


def test_ruined_account():
    m = compute_metrics(_series([0.1, -1.0, 0.0]))
    assert m["total_return"] == -1.0
    assert m["cagr"] == -1.0
    assert m["max_drawdown"] == -1.0


def test_zero_volatility_gives_nan_ratios_not_inf():
    m = compute_metrics(_series([0.01] * 5))
    assert m["total_return"] == pytest.approx(1.01**5 - 1, abs=1e-12)
    assert m["cagr"] == pytest.approx(1.01**252 - 1, rel=1e-9)
    assert m["annual_volatility"] == 0.0
    assert m["max_drawdown"] == 0.0
    for key in ("sharpe", "sortino", "calmar", "psr", "dsr"):
        assert math.isnan(m[key]), key


def test_empty_returns_give_nan_everywhere():
    m = compute_metrics(_series([]), positions=_series([]), trades=pd.DataFrame({"return": []}))
    assert list(m) == list(METRIC_KEYS)
    assert m["n_trades"] == 0
    assert all(math.isnan(v) for k, v in m.items() if k != "n_trades")


def test_trade_edge_cases():
    r = _series(RETURNS)
    winners = compute_metrics(r, trades=pd.DataFrame({"return": [0.02, 0.01]}))
    assert winners["win_rate"] == 1.0
    assert math.isnan(winners["profit_factor"])  # no losing trade: documented NaN, not inf
    none = compute_metrics(r, trades=pd.DataFrame(columns=["entry_date", "return"]))
    assert none["n_trades"] == 0
    assert all(math.isnan(none[k]) for k in ("win_rate", "profit_factor", "avg_trade_return"))
    unknown = compute_metrics(r)
    assert all(math.isnan(unknown[k]) for k in ("win_rate", "n_trades", "exposure", "turnover"))


def test_metrics_serialise_to_strict_json(hand_metrics):
    flat = compute_metrics(_series([0.0, 0.0, 0.0]))
    for metrics in (hand_metrics, flat):
        text = json.dumps(to_jsonable(metrics), allow_nan=False)
        assert set(json.loads(text)) == set(METRIC_KEYS)


def test_metric_info_describes_every_key():
    assert set(METRIC_INFO) == set(METRIC_KEYS)
    assert set(BUY_AND_HOLD_KEYS) <= set(METRIC_KEYS)
    for key, info in METRIC_INFO.items():
        assert set(info) == {"label", "unit", "higher_is_better", "help"}, key
        assert info["unit"] in {"ratio", "fraction", "count"}, key
        assert isinstance(info["higher_is_better"], bool), key
        assert info["label"] and info["help"], key
    assert METRIC_INFO["sharpe"]["label"] == "Sharpe ratio"
    assert METRIC_INFO["annual_volatility"]["higher_is_better"] is False


def test_buy_and_hold_by_hand():
    bars = pd.DataFrame({"close": [100.0, 110.0, 99.0, 108.9]}, index=pd.date_range("2024-01-01", periods=4))
    m = buy_and_hold_metrics(bars, periods_per_year=3)
    assert list(m) == list(BUY_AND_HOLD_KEYS)
    # returns +10%, -10%, +10% -> 108.9 / 100 - 1 = 8.9%; 3 bars = one year at 3 a year
    assert m["total_return"] == pytest.approx(0.089, abs=1e-12)
    assert m["cagr"] == pytest.approx(0.089, abs=1e-12)
    # peak 110, trough 99 -> -10%
    assert m["max_drawdown"] == pytest.approx(-0.1, abs=1e-12)
    # mean 1/30, sample std sqrt(((2/30)^2 * 2 + (4/30)^2) / 2) = sqrt(0.0133333) = 0.1154701
    std = math.sqrt(((0.2 / 3) ** 2 * 2 + (0.4 / 3) ** 2) / 2)
    assert m["annual_volatility"] == pytest.approx(std * math.sqrt(3), abs=1e-12)
    assert m["sharpe"] == pytest.approx((0.1 / 3) / std * math.sqrt(3), abs=1e-12)
    # 10 bps bought and 10 bps sold: 1.089 * 0.999^2 - 1
    with_costs = buy_and_hold_metrics(bars, cost_bps=10, periods_per_year=3)
    assert with_costs["total_return"] == pytest.approx(1.089 * 0.999**2 - 1, abs=1e-12)


def test_buy_and_hold_on_real_aapl_bars():
    from mltrainer.data import load_bars

    bars = load_bars("AAPL")
    m = buy_and_hold_metrics(bars)
    # Adjusted closes 2000-03-01 4.186662803811 -> 2013-03-01 56.137353095488 over 3269 returns:
    # 56.137353095488 / 4.186662803811 - 1 = 12.4086; CAGR = 13.4086^(252/3269) - 1 = 22.15%
    assert m["total_return"] == pytest.approx(12.408615817922515, rel=1e-9)
    assert m["cagr"] == pytest.approx(0.22153957597128082, rel=1e-9)
    # The dot-com bust took AAPL down about 80% from its 2000 high.
    assert -0.9 < m["max_drawdown"] < -0.7
    # Holding is the same as a strategy that is always long with no costs.
    returns = bars["close"].pct_change().iloc[1:]
    same = compute_metrics(returns)
    for key in BUY_AND_HOLD_KEYS:
        assert m[key] == pytest.approx(same[key], rel=1e-9), key


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"periods_per_year": 0}, "periods_per_year must be a number > 0"),
        ({"n_trials": 0}, "n_trials must be a whole number >= 1"),
        ({"n_trials": 2.5}, "n_trials must be a whole number >= 1"),
        ({"n_trials": 5, "trials_sharpe_std": -1.0}, "trials_sharpe_std must be a finite number >= 0"),
        ({"risk_free": -1.0}, "risk_free must be an annual rate > -1"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        compute_metrics(_series(RETURNS), **kwargs)


def test_bad_inputs():
    r = _series(RETURNS)
    with pytest.raises(SignalAlignmentError, match="indexed exactly like returns"):
        compute_metrics(r, positions=pd.Series(POSITIONS))
    gap = r.copy()
    gap.iloc[2] = np.nan
    with pytest.raises(InvalidInputError, match="2024-01-03"):
        compute_metrics(gap)
    with pytest.raises(InvalidInputError, match="'return' column"):
        compute_metrics(r, trades=pd.DataFrame({"pnl": [1.0]}))
    with pytest.raises(InvalidInputError, match="pandas Series"):
        compute_metrics(RETURNS)
    with pytest.raises(InvalidInputError, match="'close' column"):
        buy_and_hold_metrics(pd.DataFrame({"open": [1.0, 2.0]}))
    with pytest.raises(InvalidParameterError, match="cost_bps"):
        buy_and_hold_metrics(pd.DataFrame({"close": [1.0, 2.0]}), cost_bps=-5)


def test_cagr_that_overflows_is_nan_not_an_error():
    # One bar of +9,900% compounded 252 times a year is beyond float range and meaningless.
    m = compute_metrics(_series([99.0]))
    assert m["total_return"] == 99.0
    assert math.isnan(m["cagr"])


def test_n_trades_counts_a_trade_still_open_at_the_end_and_says_so():
    from mltrainer.backtest import run_backtest
    from mltrainer.data import load_bars

    # First 10 real AAPL bars (2000-03-01..2000-03-14): long over bars 1-2 (closed), and long again from
    # bar 6 to the end, so the second trade is still open at the last close.
    bars = load_bars("AAPL").iloc[:10]
    signal = pd.Series([0, 1, 1, 0, 0, 0, 1, 1, 1, 1], index=bars.index)
    result = run_backtest(bars, signal, cost_bps=0.0)
    assert result.trades["open_at_end"].tolist() == [False, True]
    assert result.metrics["n_trades"] == 2
    help_text = METRIC_INFO["n_trades"]["help"]
    assert "Completed round trips" not in help_text
    assert help_text.startswith("Trades taken (the last may still be open, marked at the last close)")
