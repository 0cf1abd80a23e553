"""Gradient-boosting explanations ask the model for the last row's contributions only when it can
(``feature_contributions(..., last_n=1)``), and still work with a model that cannot."""

from __future__ import annotations

import pandas as pd

from mltrainer.data import load_bars
from mltrainer.serving.analysis import CONTRIBUTION_WINDOW_BARS, explain_latest

CONTRIBUTIONS = {"rsi": 0.25, "zscore": -0.5, "momentum": 0.125, "bias": 3.0}


class _WithLastN:
    warmup_bars = 10

    def __init__(self):
        self.calls = []

    def feature_contributions(self, bars, last_n=None):
        self.calls.append((len(bars), last_n))
        rows = bars.index[-last_n:] if last_n else bars.index
        return pd.DataFrame([CONTRIBUTIONS] * len(rows), index=rows)


class _WithoutLastN(_WithLastN):
    def feature_contributions(self, bars):
        self.calls.append((len(bars), None))
        return pd.DataFrame([CONTRIBUTIONS] * len(bars), index=bars.index)


def _explain(model):
    bars = load_bars("AAPL")
    frame = pd.DataFrame({"signal": [0] * len(bars), "strength": [0.0] * len(bars),
                          "rsi": [40.0] * len(bars)}, index=bars.index)
    return explain_latest(model, "gradient_boosting", bars, frame)["top_contributions"]


def test_last_row_only_when_the_model_supports_it():
    model = _WithLastN()
    top = _explain(model)
    assert model.calls == [(CONTRIBUTION_WINDOW_BARS, 1)]
    assert top == [{"feature": "zscore", "contribution": -0.5}, {"feature": "rsi", "contribution": 0.25,
                                                                 "value": 40.0},
                   {"feature": "momentum", "contribution": 0.125}]


def test_models_without_last_n_get_the_window():
    model = _WithoutLastN()
    top = _explain(model)
    assert model.calls == [(CONTRIBUTION_WINDOW_BARS, None)]
    assert [t["feature"] for t in top] == ["zscore", "rsi", "momentum"]


def test_contributions_given_in_the_frame_are_used_without_asking_the_model():
    """predict_explained puts the contributions beside the prediction; the model is not asked again."""
    model = _WithLastN()
    bars = load_bars("AAPL")
    columns = {"signal": [0], "strength": [0.0], "rsi": [40.0],
               **{f"contribution:{k}": [v] for k, v in CONTRIBUTIONS.items()}}
    frame = pd.DataFrame(columns, index=bars.index[-1:])
    top = explain_latest(model, "gradient_boosting", bars, frame)["top_contributions"]
    assert model.calls == []
    assert top == [{"feature": "zscore", "contribution": -0.5},
                   {"feature": "rsi", "contribution": 0.25, "value": 40.0},
                   {"feature": "momentum", "contribution": 0.125}]


def test_served_gradient_boosting_explanation_is_the_full_historys(models_home):
    """The served top contributions are the model's own for the latest bar over the whole history."""
    from mltrainer.registry import get_registry
    from mltrainer.serving import PredictionService

    model_id = models_home.ids["gradient_boosting"]
    prediction = PredictionService().predict(model_id, "MSFT", use_cache=False)
    model = get_registry().load_model(model_id)
    bars = load_bars("MSFT")
    latest = model.feature_contributions(bars, last_n=1).iloc[-1].drop("bias")
    expected = latest.abs().sort_values(ascending=False, kind="stable").index[:5]
    top = prediction.analysis["top_contributions"]
    assert [t["feature"] for t in top] == list(expected)
    assert [t["contribution"] for t in top] == [float(latest[name]) for name in expected]
