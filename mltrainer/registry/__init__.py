"""Trained models: signed artifacts (:mod:`.artifacts`, the only unpickling code) and the versioned
registry of their metadata (:mod:`.registry`, table in :mod:`.models_table`).

    >>> from mltrainer.registry import get_registry
    >>> get_registry().list(symbol="AAPL")[0].metrics["sharpe"]   # doctest: +SKIP
"""

from mltrainer.registry.artifacts import load_artifact, save_artifact, verify_artifact
from mltrainer.registry.fingerprint import bars_fingerprint, data_fingerprint
from mltrainer.registry.registry import ModelRecord, ModelRegistry, get_registry, model_id_base, symbol_for_id

__all__ = [
    "ModelRecord",
    "ModelRegistry",
    "get_registry",
    "model_id_base",
    "symbol_for_id",
    "bars_fingerprint",
    "data_fingerprint",
    "save_artifact",
    "load_artifact",
    "verify_artifact",
]
