"""Runtime contract checks for classes the static scanner cannot fully see (e.g. plugin models).

``require_methods(SomeModel, ["fit(self, bars)", "predict(self, bars)", "get_params"])`` checks
that each method exists, is callable, and accepts every call the required signature allows: the
required parameters positionally and by keyword, and each optional parameter by keyword. It raises
:class:`mltrainer.errors.InvalidInputError` (the class given is the bad input) listing every problem
at once, so a plugin author fixes them all in one go.
"""

from __future__ import annotations

import ast
import inspect
import logging
from collections.abc import Iterable
from typing import Any

from mltrainer.errors import InvalidInputError

__all__ = ["require_methods", "parse_signature"]

log = logging.getLogger(__name__)

_RECEIVERS = ("self", "cls")


def parse_signature(text: str) -> tuple[str, list[inspect.Parameter] | None]:
    """``"predict(self, bars, horizon=1)"`` -> ("predict", parameters without self); a bare name ->
    (name, None) meaning "any signature"."""
    text = text.strip()
    if "(" not in text:
        if not text.isidentifier():
            raise InvalidInputError(f"Invalid method name {text!r}: give a name or 'name(self, a, b=None)'.")
        return text, None
    try:
        func = ast.parse(f"def {text}: pass").body[0]
    except SyntaxError:
        raise InvalidInputError(
            f"Invalid method signature {text!r}: write it like a def line, e.g. 'predict(self, bars, horizon=1)'."
        ) from None
    assert isinstance(func, ast.FunctionDef)
    params: list[inspect.Parameter] = []
    args = func.args
    positional = args.posonlyargs + args.args
    defaults_start = len(positional) - len(args.defaults)
    for i, arg in enumerate(positional):
        kind = (inspect.Parameter.POSITIONAL_ONLY if i < len(args.posonlyargs)
                else inspect.Parameter.POSITIONAL_OR_KEYWORD)
        default = None if i >= defaults_start else inspect.Parameter.empty
        params.append(inspect.Parameter(arg.arg, kind, default=default))
    if args.vararg:
        params.append(inspect.Parameter(args.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if default is None else None))
    if args.kwarg:
        params.append(inspect.Parameter(args.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    if params and params[0].name in _RECEIVERS:
        params = params[1:]
    return func.name, params


def _bound_signature(target: Any, name: str) -> inspect.Signature | str:
    """Signature of ``target.name`` as a caller sees it (without self/cls), or a problem text."""
    is_class = isinstance(target, type)
    raw = inspect.getattr_static(target, name) if is_class else None
    if is_class and isinstance(raw, property):
        return f"{name} is a property, not a method"
    member = getattr(target, name)
    if not callable(member):
        return f"{name} is a {type(member).__name__}, not a callable method"
    try:
        sig = inspect.signature(member)
    except (TypeError, ValueError):
        return ""  # builtins without signature metadata: callable is all we can check
    if is_class and inspect.isfunction(raw):  # plain function on the class: first parameter is self
        params = list(sig.parameters.values())[1:]
        sig = sig.replace(parameters=params)
    return sig


def _incompatibilities(name: str, actual: inspect.Signature, wanted: list[inspect.Parameter]) -> list[str]:
    problems = []
    required = [p for p in wanted if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required_kw = [p for p in wanted if p.default is inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY]
    optional = [p for p in wanted if p.default is not inspect.Parameter.empty]
    kw_required = {p.name: object() for p in required_kw}
    calls = [("positionally", [object() for _ in required], dict(kw_required))]
    if all(p.kind is not p.POSITIONAL_ONLY for p in required):
        calls.append(("by keyword", [], {**{p.name: object() for p in required}, **kw_required}))
    for p in optional:
        positional_part = [object() for _ in required]
        calls.append((f"with {p.name}=...", positional_part, {**kw_required, p.name: object()}))
    if any(p.kind is p.VAR_POSITIONAL for p in wanted):
        calls.append(("with extra positional arguments", [object() for _ in range(len(required) + 3)], kw_required))
    if any(p.kind is p.VAR_KEYWORD for p in wanted):
        calls.append(("with extra keyword arguments", [object() for _ in required],
                      {**kw_required, "_extra_keyword_": object()}))
    for how, args, kwargs in calls:
        try:
            actual.bind(*args, **kwargs)
        except TypeError as exc:
            problems.append(f"{name}{actual} cannot be called {how} ({exc})")
    return problems


def require_methods(obj_or_cls: Any, names_or_signatures: Iterable[str]) -> None:
    """Check that ``obj_or_cls`` provides each method, callable with a compatible signature.

    ``names_or_signatures``: plain names ("fit") or def-style signatures ("predict(self, bars, horizon=1)").
    Raises ``InvalidInputError`` listing every missing, non-callable or incompatible method.
    """
    if isinstance(names_or_signatures, str):
        names_or_signatures = [names_or_signatures]
    owner = obj_or_cls.__name__ if isinstance(obj_or_cls, type) else type(obj_or_cls).__name__
    problems: list[str] = []
    for spec in names_or_signatures:
        name, wanted = parse_signature(spec)
        if not hasattr(obj_or_cls, name):
            problems.append(f"missing method {spec}")
            continue
        actual = _bound_signature(obj_or_cls, name)
        if isinstance(actual, str):
            if actual:
                problems.append(actual)
            continue
        if wanted is not None:
            problems += _incompatibilities(name, actual, wanted)
    if problems:
        raise InvalidInputError(
            f"{owner} does not meet the required interface: " + "; ".join(problems)
            + ". Implement these methods with the signatures shown."
        )
