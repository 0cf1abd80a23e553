"""``python -m mltrainer`` — a thin CLI over ``mltrainer.services``.

Every sub-module of ``mltrainer.cli`` that defines ``register(subparsers)`` adds its commands; the
handler it sets with ``parser.set_defaults(handler=...)`` receives the parsed arguments and returns
an exit code (or ``None`` for 0).

Conventions for every command:
- ``--json`` makes stdout pure JSON (use :func:`emit`); logs and errors go to stderr.
- An ``MLTrainerError`` exits 1 with one line ``error: <message>`` on stderr and no traceback.
- A usage error (argparse) exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from mltrainer import __version__
from mltrainer._util import to_jsonable
from mltrainer.errors import MLTrainerError

__all__ = ["main", "build_parser", "emit", "fail", "positive_int"]

log = logging.getLogger(__name__)


def emit(obj: Any, as_json: bool = True) -> None:
    """Print a result: strict JSON with ``as_json``, else a readable rendering."""
    data = to_jsonable(obj)
    if as_json:
        sys.stdout.write(json.dumps(data, allow_nan=False) + "\n")
        return
    if isinstance(data, list):
        for item in data:
            sys.stdout.write((json.dumps(item) if isinstance(item, (dict, list)) else str(item)) + "\n")
    elif isinstance(data, dict):
        width = max((len(str(k)) for k in data), default=0)
        for key, value in data.items():
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            sys.stdout.write(f"{str(key).ljust(width)}  {text}\n")
    else:
        sys.stdout.write(f"{data}\n")


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def fail(message: str, code: int = 1) -> int:
    """Write one error line to stderr and return the exit code."""
    sys.stderr.write(f"error: {message}\n")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mltrainer",
        description="mlTrainer: train, validate and serve trading-signal models on real market data.",
    )
    parser.add_argument("--version", action="version", version=f"mltrainer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    package = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code = handler(args)
    except MLTrainerError as exc:
        return fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    return 0 if code is None else int(code)
