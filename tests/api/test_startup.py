"""The API creates the prediction service at start-up, so uptime counts from server start (issue 5
review)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from mltrainer.api import create_app
from mltrainer.config import Settings
from mltrainer.serving import reset_prediction_service
from mltrainer.serving import service as service_module

from .conftest import AUTH, TOKEN


def test_prediction_service_is_created_at_server_start():
    reset_prediction_service()
    before = dt.datetime.now(dt.UTC)
    with TestClient(create_app(Settings(api_tokens=TOKEN))) as client:
        assert service_module._service is not None  # built by the lifespan, before any request
        started = service_module._service.status()["started_at"]
        status = client.get("/api/models/predictions/status", headers=AUTH).json()
    reset_prediction_service()
    assert status["started_at"] == started
    started_at = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    assert started_at >= before.replace(microsecond=before.microsecond // 1000 * 1000)
