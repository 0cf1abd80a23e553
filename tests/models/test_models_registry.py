"""Registry: model types, create_model/parse_param_value errors, describe_model_types, plugins, clone."""

from __future__ import annotations

import inspect

import pytest
from sklearn.base import clone

from mltrainer.errors import InvalidInputError, InvalidParameterError, UnknownModelTypeError
from mltrainer.models import (
    MODEL_TYPES,
    available_model_types,
    create_model,
    describe_model_types,
    get_model_class,
    parse_param_value,
    register_model_class,
    unregister_model_class,
)


def test_model_types_are_the_four_builtins():
    assert MODEL_TYPES == ("momentum_breakout", "mean_reversion", "volatility_regime", "gradient_boosting")
    for model_type in MODEL_TYPES:
        assert get_model_class(model_type).model_type == model_type


def test_unknown_model_type_suggests_the_close_one_and_lists_all():
    with pytest.raises(UnknownModelTypeError) as exc:
        create_model("mean_revresion")
    message = str(exc.value)
    assert "Did you mean 'mean_reversion'?" in message
    for model_type in MODEL_TYPES:
        assert model_type in message


def test_unknown_param_names_the_valid_ones():
    with pytest.raises(InvalidParameterError) as exc:
        create_model("momentum_breakout", lookback=10)
    message = str(exc.value)
    assert "'lookback'" in message and "Did you mean 'lookback_period'?" in message
    assert "breakout_threshold" in message and "max_holding" in message


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_describe_matches_the_constructor_signature(model_type):
    entry = next(d for d in describe_model_types() if d["model_type"] == model_type)
    assert entry["label"] and entry["description"]
    signature = inspect.signature(get_model_class(model_type).__init__)
    defaults = {name: p.default for name, p in signature.parameters.items() if name != "self"}
    assert [p["name"] for p in entry["params"]] == list(defaults)
    for param in entry["params"]:
        assert param["help"], param["name"]
        assert param["type"] in {"int", "float", "bool", "str", "choice"}
        default = defaults[param["name"]]
        expected = ",".join(default) if isinstance(default, tuple) else default
        assert param["default"] == expected
        # The default itself must pass the documented bounds.
        if param["type"] in {"int", "float"}:
            assert param["min"] is None or default >= param["min"]
            assert param["max"] is None or default <= param["max"]


def test_parse_param_value_converts_cli_text():
    assert parse_param_value("momentum_breakout", "lookback_period", "30") == 30
    assert parse_param_value("momentum_breakout", "breakout_threshold", "1.5") == 1.5
    assert parse_param_value("momentum_breakout", "allow_short", "false") is False
    assert parse_param_value("gradient_boosting", "macro_series", "CPILFESL, BAA") == ("CPILFESL", "BAA")


@pytest.mark.parametrize(
    ("model_type", "name", "text", "fragment"),
    [
        ("momentum_breakout", "lookback_period", "2.5", "whole number"),
        ("momentum_breakout", "lookback_period", "1", ">= 2"),
        ("momentum_breakout", "breakout_threshold", "0", "> 0"),
        ("momentum_breakout", "breakout_threshold", "abc", "must be a number"),
        ("momentum_breakout", "allow_short", "maybe", "true or false"),
        ("mean_reversion", "rsi_oversold", "100", "< 100"),
        ("mean_reversion", "lookbak_period", "3", "Did you mean 'lookback_period'?"),
    ],
)
def test_parse_param_value_rejects_bad_text(model_type, name, text, fragment):
    with pytest.raises(InvalidParameterError) as exc:
        parse_param_value(model_type, name, text)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_clone_and_get_params_round_trip(model_type):
    cls = get_model_class(model_type)
    changed = {"max_holding": 7} if "max_holding" in cls().get_params() else {"horizon": 3}
    model = create_model(model_type, **changed)
    params = model.get_params()
    assert params[next(iter(changed))] == next(iter(changed.values()))
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    assert create_model(model_type, **params).get_params() == params


class _PluginModel:
    """A minimal plugin: holds a fixed position."""

    model_type = "always_long_plugin"
    warmup_bars = 0
    holding_horizon = 1

    def __init__(self, position=1):
        self.position = position

    def fit(self, bars, y=None):
        self.fitted_ = True
        return self

    def predict(self, bars):
        return bars[["close"]].assign(signal=self.position, strength=1.0)


class _NoPredict:
    model_type = "broken_plugin"

    def fit(self, bars, y=None):
        return self


def test_register_plugin_model_class():
    register_model_class(_PluginModel)
    try:
        assert available_model_types() == MODEL_TYPES + ("always_long_plugin",)
        assert len(MODEL_TYPES) == 4  # the builtin tuple is untouched
        model = create_model("always_long_plugin", position=-1)
        assert isinstance(model, _PluginModel) and model.position == -1
        entry = next(d for d in describe_model_types() if d["model_type"] == "always_long_plugin")
        assert entry["builtin"] is False
        assert entry["params"][0]["name"] == "position" and entry["params"][0]["type"] == "int"
        with pytest.raises(InvalidParameterError, match="Valid parameters: position"):
            create_model("always_long_plugin", size=2)
    finally:
        unregister_model_class("always_long_plugin")
    assert "always_long_plugin" not in available_model_types()


def test_register_rejects_class_without_predict_and_builtin_names():
    from mltrainer.errors import ComplianceError

    with pytest.raises((InvalidInputError, ComplianceError), match="predict"):
        register_model_class(_NoPredict)
    assert "broken_plugin" not in available_model_types()

    class Clash(_PluginModel):
        model_type = "mean_reversion"

    with pytest.raises(InvalidInputError, match="clashes with a built-in"):
        register_model_class(Clash)


def test_register_rejects_a_plugin_without_warmup_or_horizon():
    from mltrainer.models.base import SignalModel

    class NoWarmup(SignalModel):
        model_type = "no_warmup_plugin"

        def __init__(self, position=1):
            self.position = position

        def _fit(self, bars):
            self.fitted_ = True

        def _predict(self, bars):
            raise AssertionError("never reached")

    with pytest.raises(InvalidInputError, match="must define warmup_bars and holding_horizon"):
        register_model_class(NoWarmup)
    assert "no_warmup_plugin" not in available_model_types()
