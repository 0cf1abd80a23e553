"""The façade that the Streamlit pages, the REST API and the CLI call.

Each function here is one user-level operation; it delegates to the package that owns the logic and
records the operation in the audit trail where the owning package does not. Imports are local so that
a page importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "data_status",
    "list_symbols",
    "describe_symbols",
    "load_bars",
    "load_series",
    "list_series",
    "model_types",
    "train_model",
    "list_models",
    "get_model",
    "delete_model",
    "reproduce_model",
    "get_prediction_service",
    "predict",
    "predict_bulk",
    "predict_ensemble",
    "scan_code",
    "audit_log",
    "verify_audit",
]


# -- data --------------------------------------------------------------------------------------------
def data_status(source: str | None = None) -> dict[str, Any]:
    """Active source, its last bar date and which API keys are configured (never their values)."""
    from mltrainer.data import data_status as _status

    return _status(source)


def list_symbols(source: str | None = None) -> list[str]:
    from mltrainer.data import list_symbols as _list

    return _list(source)


def describe_symbols(source: str | None = None) -> list[dict[str, Any]]:
    from mltrainer.data import describe_symbols as _describe

    return _describe(source)


def load_bars(symbol: str, start=None, end=None, source: str | None = None):
    from mltrainer.data import load_bars as _load

    return _load(symbol, start=start, end=end, source=source)


def load_series(series_id: str, start=None, end=None, source: str | None = None):
    from mltrainer.data import load_series as _load

    return _load(series_id, start=start, end=end, source=source)


def list_series(source: str | None = None) -> list[dict[str, Any]]:
    from mltrainer.data import list_series as _list

    return _list(source)


# -- models and training ----------------------------------------------------------------------------
def model_types() -> list[dict[str, Any]]:
    """Every model type with its parameters (name, default, help, bounds)."""
    from mltrainer.models import describe_model_types

    return describe_model_types()


def train_model(model_type: str, symbol: str, params: dict | None = None, start=None, end=None,
                cost_bps: float = 5.0, n_splits: int = 5, progress=None, actor: str = "user"):
    from mltrainer.training import train_model as _train

    return _train(model_type, symbol, params=params, start=start, end=end, cost_bps=cost_bps,
                  n_splits=n_splits, progress=progress, actor=actor)


def list_models():
    from mltrainer.registry import get_registry

    return get_registry().list()


def get_model(model_id: str):
    from mltrainer.registry import get_registry

    return get_registry().get(model_id)


def delete_model(model_id: str, actor: str = "user") -> None:
    from mltrainer.registry import get_registry

    get_registry().delete(model_id, actor=actor)


def reproduce_model(model_id: str) -> dict[str, Any]:
    from mltrainer.training import reproduce_model as _reproduce

    return _reproduce(model_id)


# -- serving ------------------------------------------------------------------------------------------
def get_prediction_service():
    """The process-wide prediction service (models in memory, prediction cache)."""
    from mltrainer.serving import get_prediction_service as _get

    return _get()


def predict(model_id: str, symbol: str, use_cache: bool = True):
    return get_prediction_service().predict(model_id, symbol, use_cache=use_cache)


def predict_bulk(model_id: str, symbols: list[str]):
    return get_prediction_service().predict_bulk(model_id, symbols)


def predict_ensemble(model_ids: list[str], symbol: str, weights=None):
    return get_prediction_service().predict_ensemble(model_ids, symbol, weights=weights)


# -- compliance and audit -----------------------------------------------------------------------------
def scan_code(path, actor: str = "user"):
    from mltrainer.compliance import scan_path

    return scan_path(path, actor=actor)


def audit_log(limit: int = 100) -> list[dict[str, Any]]:
    from mltrainer.audit import get_audit_trail

    return get_audit_trail().log(limit=limit)


def verify_audit() -> dict[str, Any]:
    from mltrainer.audit import get_audit_trail

    return get_audit_trail().verify()
