"""Ensemble arithmetic on hand-written values with hand-checked results."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mltrainer.errors import EnsembleError, InvalidInputError
from mltrainer.serving.ensemble import (
    BUY_THRESHOLD,
    SELL_THRESHOLD,
    blend,
    normalise_weights,
    oos_weights,
    parse_weights,
    signal_from_score,
    validate_model_ids,
)

IDS = ["a", "b", "c"]


def test_default_weights_are_equal():
    spec = parse_weights(IDS, None)
    assert spec.method == "equal"
    assert spec.raw == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_list_and_dict_and_text_weights_normalise_the_same():
    by_list = normalise_weights(parse_weights(IDS, [3, 1, 0]).raw)
    by_dict = normalise_weights(parse_weights(IDS, {"c": 0, "a": 3.0, "b": 1}).raw)
    by_text = normalise_weights(parse_weights(IDS, "3,1,0").raw)
    assert by_list == by_dict == by_text == {"a": 0.75, "b": 0.25, "c": 0.0}
    assert parse_weights(IDS, [3, 1, 0]).method == "given"
    assert parse_weights(IDS, "oos").method == "oos" and parse_weights(IDS, "OOS").raw is None


def test_huge_finite_weights_normalise_instead_of_overflowing():
    """1e308 + 1e308 overflows to inf; the weights must still come out as halves, not as zeros."""
    assert normalise_weights({"a": 1e308, "b": 1e308}) == {"a": 0.5, "b": 0.5}
    assert normalise_weights(parse_weights(IDS, [1e308, 1e308, 0]).raw) == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert normalise_weights({"a": 1.5e308, "b": 5e307}) == {"a": 0.75, "b": 0.25}


def test_tiny_weights_normalise_too():
    assert normalise_weights({"a": 5e-324, "b": 0.0}) == {"a": 1.0, "b": 0.0}


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [
        ([1, -0.5, 1], "must not be negative"),
        ([1, float("nan"), 1], "finite"),
        ([1, float("inf"), 1], "finite"),
        ([0, 0, 0], "At least one ensemble weight must be positive"),
        ([1, 1], "2 weights given for 3 models"),
        ({"a": 1, "b": 1, "c": 1, "zzz": 1}, "not in the ensemble: zzz"),
        ({"a": 1, "b": 1}, "No weight given for: c"),
        ([1, "x", 1], "must be a number"),
        ([1, True, 1], "must be a number"),
        (7, "weights must be a list"),
    ],
)
def test_invalid_weights_are_rejected_with_a_clear_message(weights, fragment):
    with pytest.raises(EnsembleError, match=fragment) as info:
        parse_weights(IDS, weights)
    assert isinstance(info.value, InvalidInputError)  # -> HTTP 422


def test_model_ids_validation():
    assert validate_model_ids(["a", " b "]) == ["a", "b"]
    with pytest.raises(EnsembleError, match="at least one"):
        validate_model_ids([])
    with pytest.raises(EnsembleError, match="repeated: a"):
        validate_model_ids(["a", "b", "a"])
    with pytest.raises(EnsembleError, match="at most 20"):
        validate_model_ids([f"m{i}" for i in range(21)])


def test_thresholds_are_inclusive():
    assert (BUY_THRESHOLD, SELL_THRESHOLD) == (0.2, -0.2)
    assert signal_from_score(0.2) == 1 and signal_from_score(0.1999) == 0
    assert signal_from_score(-0.2) == -1 and signal_from_score(-0.1999) == 0


def test_blend_hand_computed():
    # score = 0.5*1*0.8 + 0.3*(-1)*0.5 + 0.2*0*0 = 0.40 - 0.15 = 0.25 -> BUY
    members = {"a": (1, 0.8, 0.62), "b": (-1, 0.5, 0.55), "c": (0, 0.0, 0.51)}
    result = blend(members, {"a": 0.5, "b": 0.3, "c": 0.2})
    assert result.score == pytest.approx(0.25)
    assert result.signal == 1 and result.strength == pytest.approx(0.25)
    assert result.agreement == pytest.approx(0.5)  # only "a" says BUY
    assert result.confidence == pytest.approx(0.62)


def test_blend_confidence_is_weighted_over_agreeing_members():
    # score = 0.5*0.6 + 0.25*1.0 - 0.25*0.4 = 0.45 -> BUY; agreeing a, b: (0.5*0.6 + 0.25*0.7) / 0.75
    members = {"a": (1, 0.6, 0.6), "b": (1, 1.0, 0.7), "c": (-1, 0.4, 0.9)}
    result = blend(members, {"a": 0.5, "b": 0.25, "c": 0.25})
    assert result.score == pytest.approx(0.45)
    assert result.agreement == pytest.approx(0.75)
    assert result.confidence == pytest.approx((0.5 * 0.6 + 0.25 * 0.7) / 0.75)


def test_split_vote_is_hold_with_no_agreeing_member():
    result = blend({"a": (1, 0.5, 0.6), "b": (-1, 0.5, 0.6)}, {"a": 0.5, "b": 0.5})
    assert result.score == 0.0 and result.signal == 0
    assert result.agreement == 0.0 and result.confidence == 0.0


def test_oos_weights_are_inverse_volatility_and_sum_to_one():
    dates = pd.date_range("2012-01-02", periods=40, freq="B")
    # b's returns are a rotated copy of twice a's: same values in another order, so twice the
    # volatility (and half the weight) without being perfectly correlated
    base = [0.01, -0.02, 0.015, -0.005] * 10
    a = pd.Series(base, index=dates)
    b = pd.Series([2 * x for x in base[1:] + base[:1]], index=dates)
    weights = oos_weights({"a": a, "b": b})
    assert math.isclose(sum(weights.values()), 1.0)
    assert weights["a"] == pytest.approx(2 / 3, rel=1e-6)
    assert weights["b"] == pytest.approx(1 / 3, rel=1e-6)


def test_oos_weights_need_enough_overlap_and_varying_returns():
    a = pd.Series([0.01, -0.01] * 10, index=pd.date_range("2012-01-02", periods=20, freq="B"))
    b = pd.Series([0.01, -0.01] * 10, index=pd.date_range("2013-01-01", periods=20, freq="B"))
    with pytest.raises(EnsembleError, match="share 0"):
        oos_weights({"a": a, "b": b})
    flat = pd.Series(0.0, index=a.index)
    with pytest.raises(EnsembleError, match="flat for: f"):
        oos_weights({"a": a, "f": flat})
