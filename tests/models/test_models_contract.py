"""The contract every built-in model keeps, on real offline AAPL and ^GSPC bars."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from mltrainer.errors import InsufficientDataError, InvalidInputError, InvalidParameterError, NotFittedError
from mltrainer.models import MODEL_TYPES, create_model, get_model_class

SYMBOLS = ("AAPL", "^GSPC")
CASES = [(m, s) for m in MODEL_TYPES for s in SYMBOLS]

# Learned state per model type: attributes that must exist after fit and depend on the training bars.
LEARNED = {
    "momentum_breakout": ("volume_ratio_q_", "vol_low_", "vol_high_"),
    "mean_reversion": ("reversion_table_",),
    "volatility_regime": ("vol_thresholds_", "garch_params_"),
    "gradient_boosting": ("classifier_", "feature_names_", "training_up_fraction_"),
}


@pytest.mark.parametrize(("model_type", "symbol"), CASES)
def test_prediction_frame_contract(fitted_models, bars_by_symbol, train_bars, model_type, symbol):
    model, pred = fitted_models[(model_type, symbol)]
    bars = bars_by_symbol[symbol]
    assert pred.index.equals(bars.index)
    assert pred["signal"].dtype == np.int64
    assert set(np.unique(pred["signal"])) <= {-1, 0, 1}
    assert pred["strength"].dtype == np.float64
    assert pred["strength"].between(0.0, 1.0).all()
    for column in model.analysis_columns:
        assert column in pred.columns
    # Warm-up bars are flat and without strength; afterwards the model does trade both ways or one.
    warm = model.warmup_bars
    assert warm > 0
    assert (pred["signal"].iloc[:warm] == 0).all()
    assert (pred["strength"].iloc[:warm] == 0.0).all()
    assert (pred["strength"][pred["signal"] == 0] == 0.0).all()
    traded = pred["signal"].iloc[warm:] != 0
    assert 0.02 < traded.mean() < 0.98, "the default parameters should trade some of the time, not always"
    assert model.holding_horizon >= 1 and isinstance(model.holding_horizon, int)
    assert model.n_training_bars_ == train_bars
    assert model.training_end_ == bars.index[train_bars - 1]


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_learned_state_changes_with_the_training_window(fitted_models, aapl, train_bars, model_type):
    early, _ = fitted_models[(model_type, "AAPL")]
    late = create_model(model_type).fit(aapl.iloc[-train_bars:])
    differs = []
    for name in LEARNED[model_type]:
        a, b = getattr(early, name), getattr(late, name)
        if name == "classifier_":
            a, b = a.predict_proba(early._matrix(aapl))[:, 1], b.predict_proba(late._matrix(aapl))[:, 1]
        elif isinstance(a, pd.DataFrame):
            a, b = a["probability"].to_numpy(), b["probability"].to_numpy()
        elif isinstance(a, dict):
            a, b = np.array(list(a.values())), np.array(list(b.values()))
        elif isinstance(a, tuple) and isinstance(a[0], str):
            continue  # feature names do not depend on the window
        differs.append(not np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))
    assert differs and all(differs)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_predict_before_fit_raises_not_fitted(aapl, model_type):
    with pytest.raises(NotFittedError, match="call fit"):
        create_model(model_type).predict(aapl)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_too_little_history_names_the_minimum(aapl, model_type):
    model = create_model(model_type)
    with pytest.raises(InsufficientDataError) as exc:
        model.fit(aapl.iloc[: model.min_fit_bars - 1])
    assert f"at least {model.min_fit_bars} bars" in str(exc.value)


@pytest.mark.parametrize(
    ("model_type", "params", "fragment"),
    [
        ("momentum_breakout", {"lookback_period": 1}, "lookback_period must be >= 2"),
        ("momentum_breakout", {"breakout_threshold": 0.0}, "breakout_threshold must be > 0"),
        ("momentum_breakout", {"exit_threshold": 2.5},
         "exit_threshold (2.5) must be below breakout_threshold"),
        ("momentum_breakout", {"max_holding": 2.5}, "max_holding must be a whole number"),
        ("mean_reversion", {"exit_z": 2.0}, "exit_z (2) must be below entry_z (2)"),
        ("mean_reversion", {"stop_z": 1.5}, "stop_z (1.5) must be above entry_z"),
        ("mean_reversion", {"rsi_oversold": 70.0}, "rsi_oversold (70) must be below rsi_overbought"),
        ("mean_reversion", {"entry_z": -1.0}, "entry_z must be > 0"),
        ("volatility_regime", {"high_quantile": 0.2}, "high_quantile (0.2) must be above low_quantile"),
        ("volatility_regime", {"lookback_period": 0}, "lookback_period must be >= 2"),
        ("gradient_boosting", {"probability_threshold": 0.5}, "probability_threshold must be > 0.5"),
        ("gradient_boosting", {"horizon": 0}, "horizon must be >= 1"),
        ("gradient_boosting", {"macro_series": 5}, "macro_series must be a list"),
        ("gradient_boosting", {"allow_short": "yes"}, "allow_short must be true or false"),
    ],
)
def test_invalid_params_are_rejected_with_the_fix(aapl, model_type, params, fragment):
    with pytest.raises(InvalidParameterError) as early:
        create_model(model_type, **params)
    assert fragment in str(early.value)
    model = get_model_class(model_type)(**params)  # __init__ only stores
    assert all(getattr(model, k) == v for k, v in params.items())
    with pytest.raises(InvalidParameterError) as exc:
        model.fit(aapl)
    assert fragment in str(exc.value)
    # set_params after a valid construction is caught by fit as well.
    valid = create_model(model_type).set_params(**params)
    with pytest.raises(InvalidParameterError, match="must"):
        valid.fit(aapl)


def test_bad_bars_are_rejected(aapl):
    model = create_model("mean_reversion")
    with pytest.raises(InvalidInputError, match="missing column"):
        model.fit(aapl.drop(columns=["volume"]))
    with pytest.raises(InvalidInputError, match="ascending, unique"):
        model.fit(aapl.iloc[::-1])
    with pytest.raises(InvalidInputError, match="DatetimeIndex"):
        model.fit(aapl.reset_index(drop=True))
    with pytest.raises(InvalidInputError, match="DataFrame"):
        model.fit(aapl["close"].to_numpy())


@pytest.mark.parametrize(("model_type", "symbol"), CASES)
def test_no_lookahead(fitted_models, bars_by_symbol, model_type, symbol):
    from mltrainer.backtest import check_lookahead

    model, _ = fitted_models[(model_type, symbol)]
    assert check_lookahead(model, bars_by_symbol[symbol], n_cuts=10) == []


def test_prediction_on_a_prefix_matches_the_full_prediction_exactly(fitted_models, aapl):
    # A stricter, direct form of the lookahead guard for the stateful exit logic: identical signals.
    for model_type in MODEL_TYPES:
        model, full = fitted_models[(model_type, "AAPL")]
        cut = 2500
        prefix = model.predict(aapl.iloc[:cut])
        assert prefix["signal"].equals(full["signal"].iloc[:cut]), model_type


@pytest.mark.parametrize(("model_type", "symbol"), CASES)
def test_walks_forward(bars_by_symbol, model_type, symbol):
    from mltrainer.backtest import WalkForward, walk_forward

    bars = bars_by_symbol[symbol]
    result = walk_forward(create_model(model_type), bars, cv=WalkForward(n_splits=3), cost_bps=5.0)
    assert len(result.folds) == 3
    predictions = result.predictions
    assert predictions.index.is_monotonic_increasing and predictions.index.isin(bars.index).all()
    assert (predictions["signal"] != 0).any()
    metrics = result.backtest.metrics
    assert metrics  # the OOS backtest produced its figures
    assert np.isfinite(result.backtest.equity.iloc[-1]) and result.backtest.equity.iloc[-1] > 0


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_pickled_model_predicts_identically(fitted_models, aapl, model_type):
    # The registry stores fitted models as (signed) pickles; a reload must give the same signals.
    model, pred = fitted_models[(model_type, "AAPL")]
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.predict(aapl), pred)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_predict_on_fewer_bars_than_the_warmup_is_flat(fitted_models, aapl, model_type):
    model, pred = fitted_models[(model_type, "AAPL")]
    short = model.predict(aapl.iloc[:5])
    assert short.index.equals(aapl.index[:5])
    assert (short["signal"] == 0).all() and (short["strength"] == 0.0).all()
    assert list(short.columns) == list(pred.columns)


def test_describe_model_types_is_strict_json():
    from mltrainer.models import describe_model_types

    text = json.dumps(describe_model_types(), allow_nan=False)
    assert '"model_type": "gradient_boosting"' in text


@pytest.mark.parametrize("model_type", ["momentum_breakout", "mean_reversion"])
def test_bars_without_volume_skip_the_volume_confirmation(fitted_models, gspc, train_bars, model_type):
    # Some providers report no volume for an index; the volume filter must not block every entry.
    no_volume = gspc.assign(volume=0.0)
    model = create_model(model_type).fit(no_volume.iloc[:train_bars])
    assert model.volume_available_ is False
    signal = model.predict(no_volume)["signal"]
    assert (signal != 0).sum() > (fitted_models[(model_type, "^GSPC")][1]["signal"] != 0).sum() * 0.5
    assert fitted_models[(model_type, "^GSPC")][0].volume_available_ is True


@pytest.mark.parametrize(("model_type", "symbol"), CASES)
@pytest.mark.parametrize("last_n", [1, 7, 400])
def test_predict_last_n_equals_the_tail_of_the_full_prediction(fitted_models, bars_by_symbol, model_type,
                                                               symbol, last_n):
    """Serving asks for the latest row only; it must be exactly the full prediction's row."""
    model, full = fitted_models[(model_type, symbol)]
    tail = model.predict(bars_by_symbol[symbol], last_n=last_n)
    pd.testing.assert_frame_equal(tail, full.iloc[-last_n:], check_exact=True)
    assert tail.attrs == full.attrs


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_predict_last_n_inside_and_beyond_the_warmup(fitted_models, aapl, model_type):
    model, _ = fitted_models[(model_type, "AAPL")]
    bars = aapl.iloc[: model.warmup_bars + 3]  # the last 3 rows past the warm-up, the rest inside it
    full = model.predict(bars)
    for last_n in (2, 5, len(bars), len(bars) + 10):
        pd.testing.assert_frame_equal(model.predict(bars, last_n=last_n), full.iloc[-last_n:],
                                      check_exact=True)
    assert model.predict(bars, last_n=5)["signal"].iloc[:2].eq(0).all()  # warm-up rows stay flat


@pytest.mark.parametrize("last_n", [0, -1, 1.5, True, "1"])
def test_predict_last_n_must_be_a_positive_whole_number(fitted_models, aapl, last_n):
    model, _ = fitted_models[("mean_reversion", "AAPL")]
    with pytest.raises(InvalidParameterError, match="last_n must be a whole number"):
        model.predict(aapl, last_n=last_n)
