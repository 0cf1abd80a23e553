"""API fixtures: two models trained once per session from the REAL offline data, and test clients.

The root conftest gives each test an empty MLTRAINER_HOME; ``models_home`` points it back at the
session's trained models (and resets the process-wide prediction service around the test).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from mltrainer.api import create_app
from mltrainer.config import Settings
from mltrainer.serving import reset_prediction_service

TOKEN = "api-test-token-not-a-secret-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRAIN_KWARGS = {"start": "2007-01-01", "end": "2012-12-31", "n_splits": 3}
_ENV_TO_CLEAR = ("MLTRAINER_SIGNING_KEY", "MLTRAINER_DATABASE_URL", "MLTRAINER_DATA_SOURCE",
                 "MLTRAINER_REDIS_URL", "MLTRAINER_API_TOKENS", "MLTRAINER_MAX_LOADED_MODELS",
                 "MLTRAINER_PREDICTION_TTL_SECONDS")


@pytest.fixture(scope="session")
def api_trained(tmp_path_factory):
    """``SimpleNamespace(home, ids)`` with a mean-reversion and a momentum model on AAPL 2007–2012."""
    from mltrainer.training import train_model

    home = tmp_path_factory.mktemp("api-models") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLTRAINER_HOME", str(home))
        for name in _ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        types = ("mean_reversion", "momentum_breakout")
        ids = {t: train_model(t, "AAPL", **TRAIN_KWARGS).model_id for t in types}
    return SimpleNamespace(home=home, ids=ids)


@pytest.fixture
def models_home(api_trained, monkeypatch):
    monkeypatch.setenv("MLTRAINER_HOME", str(api_trained.home))
    reset_prediction_service()
    yield api_trained
    reset_prediction_service()


@pytest.fixture
def bare_client():
    """A client on the test's own empty MLTRAINER_HOME (no trained models)."""
    reset_prediction_service()
    with TestClient(create_app(Settings(api_tokens=TOKEN)), raise_server_exceptions=False) as client:
        yield client
    reset_prediction_service()


@pytest.fixture
def client(models_home):
    """A client serving the session's trained models."""
    with TestClient(create_app(Settings(api_tokens=TOKEN)), raise_server_exceptions=False) as client:
        yield client
