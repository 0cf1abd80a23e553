"""Shared test fixtures. Every test runs with its own MLTRAINER_HOME and no provider keys, so the
suite never writes to ~/.mltrainer and never reaches a real provider."""

from __future__ import annotations

import pytest

_ENV_TO_CLEAR = (
    "POLYGON_API_KEY",
    "FRED_API_KEY",
    "MLTRAINER_POLYGON_API_KEY",
    "MLTRAINER_FRED_API_KEY",
    "MLTRAINER_DATA_SOURCE",
    "MLTRAINER_DATABASE_URL",
    "MLTRAINER_SIGNING_KEY",
    "MLTRAINER_API_TOKENS",
    "MLTRAINER_REDIS_URL",
    "MLTRAINER_CELERY_BROKER_URL",
    "MLTRAINER_POLYGON_BASE_URL",
    "MLTRAINER_FRED_BASE_URL",
    "MLTRAINER_CELERY_KEY_PREFIX",
    "MLTRAINER_LOCAL_WORKERS",
    "MLTRAINER_MAX_LOADED_MODELS",
    "MLTRAINER_PREDICTION_TTL_SECONDS",
)


@pytest.fixture(autouse=True)
def mltrainer_home(tmp_path, monkeypatch):
    """A fresh, empty MLTRAINER_HOME for each test; returns its path."""
    home = tmp_path / "mltrainer-home"
    monkeypatch.setenv("MLTRAINER_HOME", str(home))
    monkeypatch.setenv("MLTRAINER_ENV_FILE", "")  # a developer's .env must never reach the tests
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    return home
