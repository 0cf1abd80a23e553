"""Serving: the prediction service, ensembles and prediction cache backends."""

from mltrainer.serving.cache import InProcessCache, PredictionCache, make_cache, prediction_cache_key

__all__ = ["PredictionCache", "InProcessCache", "make_cache", "prediction_cache_key"]
