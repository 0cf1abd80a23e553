"""Real offline bars and fitted models shared by the model tests (fitted once per session)."""

from __future__ import annotations

import pytest

from mltrainer.data import load_bars
from mltrainer.models import MODEL_TYPES, create_model

# Training window used by the shared fitted models: the first TRAIN_BARS bars of each symbol.
TRAIN_BARS = 2000


@pytest.fixture(scope="session")
def train_bars():
    return TRAIN_BARS


@pytest.fixture(scope="session")
def aapl():
    return load_bars("AAPL", source="offline")


@pytest.fixture(scope="session")
def gspc():
    return load_bars("^GSPC", source="offline")


@pytest.fixture(scope="session")
def bars_by_symbol(aapl, gspc):
    return {"AAPL": aapl, "^GSPC": gspc}


@pytest.fixture(scope="session")
def fitted_models(bars_by_symbol):
    """{(model_type, symbol): (model fitted on the first TRAIN_BARS bars, prediction on all bars)}."""
    out = {}
    for symbol, bars in bars_by_symbol.items():
        for model_type in MODEL_TYPES:
            model = create_model(model_type).fit(bars.iloc[:TRAIN_BARS])
            out[(model_type, symbol)] = (model, model.predict(bars))
    return out
