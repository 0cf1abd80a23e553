"""Page tests: Streamlit's AppTest against the real offline data.

Models are trained once per module in their own MLTRAINER_HOME (the root conftest gives each test an
empty one; ``models_home`` points it back at the trained one). Streamlit's data/resource caches and
the process-wide prediction service are reset around every test, because both outlive an AppTest.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from mltrainer.serving import reset_prediction_service

ROOT = Path(__file__).resolve().parents[2]
#: Long enough for a training on a cold cache on a busy 2-core machine.
TIMEOUT = 120
#: A short real history and three folds keep a training to a few seconds.
TRAIN_KWARGS = {"start": "2008-01-01", "end": "2012-12-31", "n_splits": 3}


@pytest.fixture
def page():
    """``page("train")`` -> an AppTest of ``pages/train.py``."""
    return lambda name: AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT)


@pytest.fixture
def router():
    """An AppTest of ``app.py`` (navigation and the shared sidebar)."""
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def _fresh_streamlit_state():
    st.cache_data.clear()
    st.cache_resource.clear()
    reset_prediction_service()
    yield
    reset_prediction_service()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``SimpleNamespace(home, regime_id, reversion_id)``: two models on offline AAPL 2008–2012."""
    from mltrainer.training import train_model

    home = tmp_path_factory.mktemp("pages-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLTRAINER_HOME", str(home))
        for name in ("MLTRAINER_DATABASE_URL", "MLTRAINER_DATA_SOURCE", "MLTRAINER_SIGNING_KEY",
                     "MLTRAINER_REDIS_URL", "MLTRAINER_CELERY_BROKER_URL", "POLYGON_API_KEY"):
            mp.delenv(name, raising=False)
        regime = train_model("volatility_regime", "AAPL", **TRAIN_KWARGS)
        reversion = train_model("mean_reversion", "AAPL", **TRAIN_KWARGS)
    return SimpleNamespace(home=home, regime_id=regime.model_id, reversion_id=reversion.model_id)


@pytest.fixture
def models_home(trained, mltrainer_home, monkeypatch):
    """Point MLTRAINER_HOME at the module's trained home for this test."""
    monkeypatch.setenv("MLTRAINER_HOME", str(trained.home))
    reset_prediction_service()
    return trained
