"""require_methods: existence, callability and signature compatibility, all problems at once."""

from __future__ import annotations

import inspect

import pytest

from mltrainer.compliance import require_methods
from mltrainer.compliance.runtime import parse_signature
from mltrainer.errors import InvalidInputError


class GoodModel:
    def fit(self, bars, y=None):
        return self

    def predict(self, bars):
        return bars

    @staticmethod
    def describe(verbose=False):
        return "good"

    @classmethod
    def create(cls, **params):
        return cls()


class BadModel:
    window = 5

    def fit(self, bars):  # no y=None
        return self

    def predict(self, bars, horizon):  # extra required parameter
        return bars

    @property
    def describe(self):
        return "bad"


def test_accepts_compatible_methods_on_classes_and_instances():
    specs = ["fit(self, bars, y=None)", "predict(self, bars)", "describe(verbose=False)", "create(cls, a=1)", "fit"]
    require_methods(GoodModel, specs)
    require_methods(GoodModel(), specs)


def test_lists_every_problem():
    with pytest.raises(InvalidInputError) as info:
        require_methods(BadModel, ["fit(self, bars, y=None)", "predict(self, bars)", "describe()", "window",
                                   "score(self, bars)"])
    message = str(info.value)
    assert message.startswith("BadModel does not meet the required interface: ")
    assert "fit(bars) cannot be called with y=..." in message
    assert "predict(bars, horizon) cannot be called positionally" in message
    assert "describe is a property, not a method" in message
    assert "window is a int, not a callable method" in message
    assert "missing method score(self, bars)" in message


def test_keyword_only_and_var_args_requirements():
    class KwOnly:
        def run(self, bars, *, cost_bps):
            return bars

        def flexible(self, *args, **kwargs):
            return args

    require_methods(KwOnly, ["run(self, bars, *, cost_bps)", "flexible(self, a, *rest, **options)"])
    with pytest.raises(InvalidInputError, match="cannot be called with extra keyword arguments"):
        require_methods(KwOnly, ["run(self, bars, *, cost_bps, **extra)"])


def test_parse_signature_and_bad_specs():
    name, params = parse_signature("predict(self, bars, horizon=1)")
    assert name == "predict"
    assert [(p.name, p.default is inspect.Parameter.empty) for p in params] == [("bars", True), ("horizon", False)]
    assert parse_signature("fit") == ("fit", None)
    with pytest.raises(InvalidInputError, match="Invalid method signature"):
        parse_signature("fit(self, ")
    with pytest.raises(InvalidInputError, match="Invalid method name"):
        parse_signature("not a name")


def test_the_model_registry_uses_it():
    from mltrainer.models import register_model_class

    class NoPredict:
        model_type = "no_predict_plugin"

        def fit(self, bars, y=None):
            return self

    with pytest.raises(InvalidInputError, match="missing method predict"):
        register_model_class(NoPredict)
