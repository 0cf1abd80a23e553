"""Model type -> class registry: the built-in models plus plugin classes registered at runtime.

Plugin files in ``settings.plugins_dir`` are loaded lazily: listing the types, or looking up a type
that is not registered, first loads the folder (scanned before import; once per process and again
when its files change; see :func:`mltrainer.compliance.plugins.ensure_plugins_loaded`), so every
entry point (CLI, API, dashboard, jobs) sees the same plugins.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import threading
from typing import Any

from mltrainer.errors import InvalidInputError, InvalidParameterError, UnknownModelTypeError
from mltrainer.models.base import ParamSpec

__all__ = [
    "MODEL_TYPES",
    "available_model_types",
    "create_model",
    "get_model_class",
    "describe_model_types",
    "parse_param_value",
    "register_model_class",
    "unregister_model_class",
]

log = logging.getLogger(__name__)

MODEL_TYPES = ("momentum_breakout", "mean_reversion", "volatility_regime", "gradient_boosting")

# Imported on first use so that listing types never pays for LightGBM/arch imports.
_BUILTIN_CLASSES = {
    "momentum_breakout": ("mltrainer.models.momentum_breakout", "MomentumBreakout"),
    "mean_reversion": ("mltrainer.models.mean_reversion", "MeanReversion"),
    "volatility_regime": ("mltrainer.models.volatility_regime", "VolatilityRegime"),
    "gradient_boosting": ("mltrainer.models.gradient_boosting", "GradientBoosting"),
}

_plugins: dict[str, type] = {}
_lock = threading.Lock()


def _plugin_loader():
    """``mltrainer.compliance.plugins``, imported lazily: it pulls in the scanner."""
    return importlib.import_module("mltrainer.compliance.plugins")


def _load_plugin_folder() -> None:
    _plugin_loader().ensure_plugins_loaded()


def available_model_types() -> tuple[str, ...]:
    """The built-in types followed by plugin types (the plugin folder is loaded first if it changed)."""
    _load_plugin_folder()
    with _lock:
        return MODEL_TYPES + tuple(_plugins)


def get_model_class(model_type: str) -> type:
    """The class for ``model_type``.

    A type not registered yet loads the plugin folder first. A type declared by a plugin that is
    blocked raises ``ComplianceBlockedError`` listing its violations (rule, line, message); one that
    failed to import raises ``ComplianceError``; any other unknown type ``UnknownModelTypeError`` with
    a suggestion.
    """
    if model_type in _BUILTIN_CLASSES:
        module_name, class_name = _BUILTIN_CLASSES[model_type]
        return getattr(importlib.import_module(module_name), class_name)
    with _lock:
        if model_type in _plugins:
            return _plugins[model_type]
    _load_plugin_folder()
    with _lock:
        if model_type in _plugins:
            return _plugins[model_type]
    error = _plugin_loader().plugin_error_for(str(model_type))
    if error is not None:
        raise error
    valid = available_model_types()
    hint = difflib.get_close_matches(str(model_type), valid, n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    raise UnknownModelTypeError(
        f"Unknown model type {model_type!r}.{suggestion} Valid model types: {', '.join(valid)}."
    )


def _param_names(cls: type) -> list[str]:
    specs = getattr(cls, "param_specs", None)
    if specs:
        return [s.name for s in specs]
    return [
        p.name for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def create_model(model_type: str, **params: Any):
    """Build an unfitted model. Unknown parameter names and, for built-in models, out-of-range values
    raise ``InvalidParameterError`` naming the fix, so a bad request fails before any data is loaded
    (``fit`` checks again: parameters may be changed with ``set_params`` in between)."""
    cls = get_model_class(model_type)
    valid = _param_names(cls)
    unknown = [name for name in params if name not in valid]
    if unknown:
        name = unknown[0]
        hint = difflib.get_close_matches(name, valid, n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        raise InvalidParameterError(
            f"Unknown parameter {name!r} for model type {model_type!r}.{suggestion} "
            f"Valid parameters: {', '.join(valid)}."
        )
    model = cls(**params)
    check = getattr(model, "_checked_params", None)
    if callable(check):
        check()
    return model


def _infer_spec(name: str, default: Any) -> ParamSpec:
    kind = {bool: "bool", int: "int", float: "float"}.get(type(default), "str")
    return ParamSpec(name, default, kind, f"{name} (plugin parameter)")


def _specs(cls: type) -> tuple[ParamSpec, ...]:
    specs = getattr(cls, "param_specs", None)
    if specs:
        return tuple(specs)
    sig = inspect.signature(cls.__init__)
    return tuple(
        _infer_spec(p.name, None if p.default is p.empty else p.default)
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def describe_model_types() -> list[dict[str, Any]]:
    """Every model type with label, description and parameters (name, default, type, help, bounds)."""
    out = []
    for model_type in available_model_types():
        cls = get_model_class(model_type)
        out.append({
            "model_type": model_type,
            "label": getattr(cls, "label", "") or model_type,
            "description": getattr(cls, "description", "") or (inspect.getdoc(cls) or "").split("\n")[0],
            "builtin": model_type in MODEL_TYPES,
            "params": [spec.describe() for spec in _specs(cls)],
        })
    return out


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def parse_param_value(model_type: str, name: str, text: str) -> Any:
    """Convert the text of a CLI ``key=value`` pair to the parameter's type and check its range."""
    cls = get_model_class(model_type)
    specs = {s.name: s for s in _specs(cls)}
    if name not in specs:
        hint = difflib.get_close_matches(name, list(specs), n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        raise InvalidParameterError(
            f"Unknown parameter {name!r} for model type {model_type!r}.{suggestion} "
            f"Valid parameters: {', '.join(specs)}."
        )
    spec = specs[name]
    raw = str(text).strip()
    if spec.type == "int":
        try:
            value: Any = int(raw)
        except ValueError:
            raise InvalidParameterError(
                f"{model_type} parameter {name} must be a whole number, got {raw!r}."
            ) from None
    elif spec.type == "float":
        try:
            value = float(raw)
        except ValueError:
            raise InvalidParameterError(
                f"{model_type} parameter {name} must be a number, got {raw!r}."
            ) from None
    elif spec.type == "bool":
        if raw.lower() in _TRUE:
            value = True
        elif raw.lower() in _FALSE:
            value = False
        else:
            raise InvalidParameterError(f"{model_type} parameter {name} must be true or false, got {raw!r}.")
    elif isinstance(spec.default, tuple):
        # List-valued parameters (e.g. macro_series) are written comma-separated on the command line.
        value = tuple(part.strip() for part in raw.split(",") if part.strip())
    else:
        value = raw
    return spec.validate(value, model_type)


def register_model_class(cls: type) -> type:
    """Add a plugin model class (usable as a decorator). It must define ``model_type`` (a new name)
    and ``fit(self, bars, y=None)`` / ``predict(self, bars)``; the check is the compliance runtime's."""
    from mltrainer.compliance.runtime import require_methods

    if not inspect.isclass(cls):
        raise InvalidInputError(f"register_model_class expects a class, got {type(cls).__name__}.")
    require_methods(cls, ["fit(self, bars, y=None)", "predict(self, bars)"])
    model_type = getattr(cls, "model_type", None)
    if not isinstance(model_type, str) or not model_type.strip():
        raise InvalidInputError(
            f"Plugin class {cls.__name__} needs a class attribute model_type naming its type, "
            "e.g. 'my_model'."
        )
    if model_type in MODEL_TYPES:
        raise InvalidInputError(
            f"Plugin model_type {model_type!r} clashes with a built-in model type; choose another name."
        )
    # Training and serving need these; a plugin that inherits the abstract ones from SignalModel would
    # fail later with a bare NotImplementedError, so refuse it here with the fix.
    from mltrainer.models.base import SignalModel

    missing = [name for name in ("warmup_bars", "holding_horizon")
               if getattr(cls, name, None) is None
               or (issubclass(cls, SignalModel) and getattr(cls, name) is getattr(SignalModel, name))]
    if missing:
        raise InvalidInputError(
            f"Plugin class {cls.__name__} must define {' and '.join(missing)} (int properties: leading bars "
            "with signal 0, and the bars over which a signal is judged)."
        )
    with _lock:
        existing = _plugins.get(model_type)
        if existing is not None and existing is not cls:
            raise InvalidInputError(
                f"A plugin model type {model_type!r} is already registered ({existing.__name__}); "
                "unregister it first or choose another name."
            )
        _plugins[model_type] = cls
    log.info("registered plugin model type %s (%s)", model_type, cls.__qualname__)
    return cls


def unregister_model_class(model_type: str) -> None:
    """Remove a plugin model type (built-in types cannot be removed)."""
    with _lock:
        if model_type not in _plugins:
            raise UnknownModelTypeError(
                f"No plugin model type {model_type!r} is registered; registered plugins: "
                f"{', '.join(_plugins) or 'none'}."
            )
        del _plugins[model_type]


