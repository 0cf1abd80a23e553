"""Models trained once per session from the REAL offline data, in a dedicated MLTRAINER_HOME.

The root conftest gives every test its own empty MLTRAINER_HOME; tests that need the trained models
take ``models_home``, which points MLTRAINER_HOME back at the session's home and resets the
process-wide prediction service around the test.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mltrainer.models import MODEL_TYPES
from mltrainer.serving import reset_prediction_service

#: A short real history and few folds keep training to a few seconds for all four types.
TRAIN_KWARGS = {"start": "2007-01-01", "end": "2012-12-31", "n_splits": 3}
_ENV_TO_CLEAR = ("MLTRAINER_SIGNING_KEY", "MLTRAINER_DATABASE_URL", "MLTRAINER_DATA_SOURCE",
                 "MLTRAINER_REDIS_URL", "MLTRAINER_API_TOKENS", "MLTRAINER_MAX_LOADED_MODELS",
                 "MLTRAINER_PREDICTION_TTL_SECONDS")


class FakeClock:
    """Monotonic seconds that only move when the test says so (no sleeping)."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``SimpleNamespace(home, ids)``: one model of every type trained on offline AAPL 2007–2012."""
    from mltrainer.training import train_model

    home = tmp_path_factory.mktemp("serving-models") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLTRAINER_HOME", str(home))
        for name in _ENV_TO_CLEAR:
            mp.delenv(name, raising=False)
        ids = {t: train_model(t, "AAPL", **TRAIN_KWARGS).model_id for t in MODEL_TYPES}
    return SimpleNamespace(home=home, ids=ids)


@pytest.fixture
def models_home(trained, monkeypatch):
    """Run the test against the session's trained models."""
    monkeypatch.setenv("MLTRAINER_HOME", str(trained.home))
    reset_prediction_service()
    yield trained
    reset_prediction_service()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def own_models_home(trained, private_copy):
    """A private copy of the session's trained models, so a test may delete one."""
    private_copy(trained.home)
    return trained
