"""A model deleted while the API serves it is 404 at once, even with its prediction cached (issue 5
review, finding 1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mltrainer import services
from mltrainer.api import create_app
from mltrainer.config import Settings

from .conftest import AUTH, TOKEN


@pytest.fixture
def own_client(api_trained, private_copy):
    """A client on a private copy of the session's models, so the test may delete one."""
    private_copy(api_trained.home)
    with TestClient(create_app(Settings(api_tokens=TOKEN)), raise_server_exceptions=False) as client:
        yield client, api_trained.ids["mean_reversion"]


def test_deleted_model_is_404_even_when_its_prediction_is_cached(own_client):
    client, model_id = own_client
    body = {"model_id": model_id, "symbol": "AAPL"}
    assert client.post("/api/models/predict", headers=AUTH, json=body).json()["cached"] is False
    assert client.post("/api/models/predict", headers=AUTH, json=body).json()["cached"] is True

    services.delete_model(model_id, actor="cli")

    response = client.post("/api/models/predict", headers=AUTH, json=body)
    assert response.status_code == 404 and model_id in response.json()["detail"]
    bulk = client.post("/api/models/predict/bulk", headers=AUTH, json={"model_id": model_id, "symbols": ["AAPL"]})
    assert bulk.status_code == 404
    status = client.get("/api/models/predictions/status", headers=AUTH).json()
    assert status["loaded_models"] == [] and status["cache"]["size"] == 0
