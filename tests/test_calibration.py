"""Calibrated confidence: hand-checked values, binning + monotonicity, and a real walk-forward."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mltrainer.calibration import Calibration, fit_calibration
from mltrainer.errors import InsufficientDataError, InvalidInputError


def _bars(closes):
    index = pd.bdate_range("2024-01-01", periods=len(closes), name="date")
    return pd.DataFrame({"close": np.asarray(closes, dtype=float)}, index=index)


def _preds(bars, signals, strengths):
    return pd.DataFrame({"signal": signals, "strength": strengths}, index=bars.index[: len(signals)])


def test_hand_checked_values_horizon_1():
    bars = _bars([100, 102, 101, 103, 103.5, 102, 104])
    preds = _preds(bars, [1, -1, 1, -1, 0, 1, 1], [0.5, 0.8, 0.2, 0.4, 0.0, 0.9, 0.7])
    cal = fit_calibration(preds, bars, horizon=1)
    # The last bar has no next close, so 6 rows count: longs 3/3 right, shorts 1/2, the hold was quiet.
    assert cal.n_samples == 5
    assert cal.base_rate == pytest.approx(4 / 5)
    assert cal.confidence(1, 0.3) == pytest.approx((3 + 1) / (3 + 2))
    assert cal.confidence(-1, 0.99) == pytest.approx((1 + 1) / (2 + 2))
    # |r| of the hold (1.449%) is below the median |r| over the 6 bars (1.705%): right.
    assert cal.hold_threshold == pytest.approx((1.5 / 103.5 + 2 / 102) / 2)
    assert (cal.n_hold_samples, cal.n_hold_right) == (1, 1)
    assert cal.confidence(0, 0.0) == pytest.approx(2 / 3)
    # Six bars are too few for five cross-fitting blocks: the scores are in-sample, and say so.
    assert cal.brier_method == "in-sample"
    assert cal.brier_score == cal.brier_score_in_sample
    assert cal.brier_score == pytest.approx((3 * 0.2**2 + 0.5**2 + 0.5**2 + (1 / 3) ** 2) / 6)
    assert cal.brier_score_reference == pytest.approx((0.5**2 + 0.5**2) / 6)


def test_brier_score_is_cross_fitted_with_purging():
    # Four LONG bars, h=1: right, right, wrong, wrong. Two blocks: [t0, t1] and [t2, t3].
    bars = _bars([100, 101, 102, 101, 100])
    cal = fit_calibration(_preds(bars, [1, 1, 1, 1], [0.5] * 4), bars, horizon=1, n_blocks=2)
    assert cal.brier_method == "blocked-cv-2"
    # In sample: P = (2+1)/(4+2) = 0.5 for every bar.
    assert cal.brier_score_in_sample == pytest.approx(0.25)
    # Block [t2, t3] is scored by a fit on t0 only (t1's outcome window touches t2, so it is purged):
    # P = (1+1)/(1+2) = 2/3 against two wrongs; block [t0, t1] by a fit on t3: P = 1/3 against two rights.
    assert cal.brier_score == pytest.approx((2 / 3) ** 2)
    # The unsmoothed hit-rate forecaster is confidently wrong on both blocks.
    assert cal.brier_score_reference == pytest.approx(1.0)
    assert cal.brier_skill == pytest.approx(1 - 4 / 9)


def _two_strength_groups(right_low: list[bool], right_high: list[bool]):
    """60 LONG signals, h=1: strength 0.1 for the first 30, 0.9 for the rest; right == price went up."""
    ups = right_low + right_high
    closes = [100.0]
    for up in ups:
        closes.append(closes[-1] * (1.01 if up else 0.99))
    bars = _bars(closes)
    return fit_calibration(_preds(bars, [1] * 60, [0.1] * 30 + [0.9] * 30), bars, horizon=1)


def test_strength_bins_with_laplace_smoothing():
    cal = _two_strength_groups([t % 3 == 0 for t in range(30)], [t % 6 != 0 for t in range(30)])
    assert [(b.n_signals, b.n_right) for b in cal.long_bins] == [(30, 10), (30, 25)]
    assert cal.confidence(1, 0.1) == pytest.approx(11 / 32)
    assert cal.confidence(1, 0.9) == pytest.approx(26 / 32)
    assert cal.confidence(1, 0.95) == pytest.approx(26 / 32)  # beyond the seen range: nearest bin
    assert cal.confidence(-1, 0.5) == 0.5  # never seen out of sample: no evidence either way
    assert cal.confidence(0, 0.0) == 0.5  # no HOLD observed: Laplace prior


def test_weaker_evidence_for_stronger_signals_is_pooled_not_inverted():
    cal = _two_strength_groups([t % 6 != 0 for t in range(30)], [t % 3 == 0 for t in range(30)])
    assert cal.confidence(1, 0.1) == pytest.approx(37 / 64)
    assert cal.confidence(1, 0.9) == pytest.approx(37 / 64)


def test_roundtrip_and_input_errors():
    bars = _bars([100, 102, 101, 103, 103.5, 102, 104])
    cal = fit_calibration(_preds(bars, [1, -1, 1, -1, 0, 1, 1], [0.5] * 7), bars, horizon=2)
    data = json.loads(json.dumps(cal.to_dict()))
    assert Calibration.from_dict(data) == cal
    with pytest.raises(InvalidInputError):
        cal.confidence(2, 0.5)
    with pytest.raises(InvalidInputError):
        cal.confidence(1, float("nan"))
    with pytest.raises(InvalidInputError):
        fit_calibration(_preds(bars, [1] * 7, [0.5] * 7), bars, horizon=0)
    with pytest.raises(InsufficientDataError):
        fit_calibration(_preds(bars, [1], [0.5]).iloc[:0], bars, horizon=1)
    with pytest.raises(InvalidInputError, match="malformed"):
        Calibration.from_dict({"horizon_bars": 1})


def test_on_a_real_walk_forward():
    from mltrainer.backtest import WalkForward, walk_forward
    from mltrainer.data import load_bars
    from mltrainer.models import create_model

    bars = load_bars("AAPL", start="2009-01-01", end="2012-12-31")
    model = create_model("momentum_breakout")
    result = walk_forward(model, bars, cv=WalkForward(n_splits=3), cost_bps=5.0)
    horizon = model.holding_horizon
    cal = fit_calibration(result.predictions, bars, horizon)

    fwd = (bars["close"].shift(-horizon) / bars["close"] - 1).reindex(result.predictions.index)
    known = fwd.notna()
    signal = result.predictions["signal"][known]
    directional = signal != 0
    hits = (np.sign(fwd[known][directional]) == signal[directional]).mean()
    assert cal.n_samples == int(directional.sum()) > 0
    assert cal.base_rate == pytest.approx(hits)
    assert cal.n_hold_samples == int((~directional).sum())
    assert cal.brier_method == "blocked-cv-5"
    assert 0.0 < cal.brier_score_in_sample <= cal.brier_score < 0.5
    probabilities = [b.probability for b in cal.long_bins + cal.short_bins] + [cal.hold_probability]
    assert all(0.0 < p < 1.0 for p in probabilities)
    assert [b.probability for b in cal.long_bins] == sorted(b.probability for b in cal.long_bins)
    assert sum(b.n_signals for b in cal.long_bins + cal.short_bins) == cal.n_samples


def test_forecasts_on_a_real_walk_forward_pin_exact_values():
    # Regression pin (values from offline AAPL 2009-2012, momentum_breakout, 3 folds, h=20 bars): the
    # Brier scores are means over every out-of-sample row of the vectorised per-row forecasts, so any
    # change in how a row finds its bin moves them.
    from mltrainer.backtest import WalkForward, walk_forward
    from mltrainer.calibration import _forecasts
    from mltrainer.data import load_bars
    from mltrainer.models import create_model

    bars = load_bars("AAPL", start="2009-01-01", end="2012-12-31")
    model = create_model("momentum_breakout")
    result = walk_forward(model, bars, cv=WalkForward(n_splits=3), cost_bps=5.0)
    cal = fit_calibration(result.predictions, bars, model.holding_horizon)
    assert (cal.horizon_bars, cal.n_samples, cal.n_hold_samples) == (20, 148, 585)
    assert cal.brier_score == 0.24973416905764198
    assert cal.brier_score_reference == 0.24681685617193616
    assert cal.brier_score_in_sample == 0.24414686639327893
    assert [(b.n_signals, b.n_right) for b in cal.long_bins] == [(37, 20), (36, 23), (36, 24), (37, 25)]

    # Strengths on, between and beyond the bins' upper edges (0.4069, 0.5119, 0.6227, 1.0 for LONG).
    strength = np.array([0.0, 0.2, 0.5, 0.8, 1.0, 1.5, 0.406886388611648])
    for direction, expected in [
        (1.0, [21 / 39, 21 / 39, 24 / 38, 26 / 39, 26 / 39, 26 / 39, 21 / 39]),
        (-1.0, [0.75] * 7),  # one SHORT bin (2 of 2 right): (2+1)/(2+2) at every strength
        (0.0, [0.5417376490630323] * 7),
    ]:
        signal = np.full(len(strength), direction)
        forecast, outcome, reference = _forecasts(cal, signal, strength, np.full(len(strength), 0.01))
        np.testing.assert_array_equal(forecast, expected)
        assert forecast.tolist() == [cal.confidence(int(direction), x) for x in strength]
    # The no-strength reference is the raw hit rate of the direction: 92 of 146 LONGs, 2 of 2 SHORTs.
    assert reference[0] == 0.5418803418803418
    assert _forecasts(cal, np.array([1.0, -1.0]), np.zeros(2), np.zeros(2))[2].tolist() == [92 / 146, 1.0]
