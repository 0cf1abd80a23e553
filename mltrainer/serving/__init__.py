"""Serving: the prediction service, ensembles and prediction cache backends.

Public surface: :class:`PredictionService` (``get_prediction_service()`` for the process-wide one), the
result types :class:`Prediction`, :class:`BulkPrediction`, :class:`EnsemblePrediction`, and the cache
interface :class:`PredictionCache` with its in-process default and :func:`make_cache`.
"""

from mltrainer.serving.cache import InProcessCache, PredictionCache, make_cache, prediction_cache_key
from mltrainer.serving.ensemble import BUY_THRESHOLD, SELL_THRESHOLD
from mltrainer.serving.results import BulkPrediction, EnsembleMember, EnsemblePrediction, Prediction
from mltrainer.serving.service import (
    PredictionService,
    get_prediction_service,
    reset_prediction_service,
)

__all__ = [
    "PredictionService",
    "get_prediction_service",
    "reset_prediction_service",
    "Prediction",
    "BulkPrediction",
    "EnsembleMember",
    "EnsemblePrediction",
    "PredictionCache",
    "InProcessCache",
    "make_cache",
    "prediction_cache_key",
    "BUY_THRESHOLD",
    "SELL_THRESHOLD",
]
