"""Trading models: one module per model and a registry mapping model type -> class.

    MODEL_TYPES                    the built-in types
    create_model(type, **params)   an unfitted model (unknown type/param -> clear error)
    describe_model_types()         types with label, description and parameter specs (forms, API, CLI)
    parse_param_value(t, k, text)  CLI ``key=value`` text -> typed, range-checked value
    register_model_class(cls)      add a plugin model class; ``available_model_types()`` lists all

Every model follows :class:`~mltrainer.models.base.SignalModel`: scikit-learn style (``fit`` returns
``self``, learned state ends in ``_``), ``predict(bars)`` -> DataFrame indexed like ``bars`` with
``signal`` in {-1, 0, 1} (the position after that bar's close), ``strength`` in [0, 1] and the
model's ``analysis_columns``. Signals are causal: the value at bar t uses bars up to t only.

The model classes are imported lazily (``get_model_class``) so that listing types stays cheap.
"""

from mltrainer.models._registry import (
    MODEL_TYPES,
    available_model_types,
    create_model,
    describe_model_types,
    get_model_class,
    parse_param_value,
    register_model_class,
    unregister_model_class,
)
from mltrainer.models.base import ParamSpec, SignalModel

__all__ = [
    "MODEL_TYPES",
    "available_model_types",
    "create_model",
    "describe_model_types",
    "get_model_class",
    "parse_param_value",
    "register_model_class",
    "unregister_model_class",
    "ParamSpec",
    "SignalModel",
]
