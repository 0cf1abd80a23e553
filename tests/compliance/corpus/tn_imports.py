"""Tricky negatives (and low-severity guarded imports) for the import rules."""
from __future__ import annotations

import os.path
import sys
from typing import TYPE_CHECKING

import reexport_pkg.sub.leaf
from reexport_pkg import Engine, helper_one, sub
from reexport_pkg import core as engine_core
from reexport_pkg.helpers import _private
from reexport_pkg.lazy import computed_on_demand
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression

try:
    import ujson_not_installed_anywhere as fast_json
except ImportError:
    fast_json = None

try:
    from mltrainer.errors import ComplianceError
except ModuleNotFoundError:
    from mltrainer.errors import ComplianceErrorFallbackThatDoesNotExist as ComplianceError

if TYPE_CHECKING:
    from pandas_stubs_not_installed import FrameAlias

if sys.version_info >= (3, 99):
    from json import override
else:
    def override(func):
        return func


def run() -> object:
    path = os.path.join("a", "b")
    return (Engine(), helper_one(), sub, engine_core.Engine, _private(), computed_on_demand, BaseEstimator,
            clone, LogisticRegression, reexport_pkg.sub.leaf.leaf_function(), fast_json, ComplianceError,
            override, path)
