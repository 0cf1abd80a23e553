"""The jobs router mounted on the real API app the way the API includes it (with the API's auth), with
jobs queued on the real Redis broker (no worker: they stay queued, which is what is checked)."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from mltrainer.api import _require_token, create_app
from mltrainer.jobs.api import router

pytestmark = pytest.mark.services

TOKEN = "test-token-123"


@pytest.fixture
def client(redis_prefix, monkeypatch):
    url, prefix = redis_prefix
    monkeypatch.setenv("MLTRAINER_API_TOKENS", TOKEN)
    monkeypatch.setenv("MLTRAINER_CELERY_BROKER_URL", url)
    monkeypatch.setenv("MLTRAINER_CELERY_KEY_PREFIX", prefix)
    app = create_app()
    app.include_router(router, dependencies=[Depends(_require_token)])
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test_client


def test_api_jobs_need_the_api_token(client):
    response = client.get("/api/jobs", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_api_submit_and_read_a_job(client):
    response = client.post("/api/jobs/train", json={"model_type": "momentum_breakout", "symbol": "aapl",
                                                    "params": {"lookback_period": 10}, "n_splits": 3})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    job = client.get(f"/api/jobs/{job_id}").json()
    assert (job["state"], job["symbol"], job["params"], job["backend"]) == (
        "queued", "AAPL", {"lookback_period": 10}, "celery")
    assert [j["job_id"] for j in client.get("/api/jobs").json()] == [job_id]


def test_api_errors_map_to_status_codes(client):
    unknown_type = client.post("/api/jobs/train", json={"model_type": "momentum", "symbol": "AAPL"})
    assert unknown_type.status_code == 404 and "momentum_breakout" in unknown_type.text
    bad_param = client.post("/api/jobs/train", json={"model_type": "momentum_breakout", "symbol": "AAPL",
                                                     "params": {"lookbak": 3}})
    assert bad_param.status_code == 422
    assert client.get("/api/jobs/job-nope").status_code == 404
    assert client.get("/api/jobs/sweeps/sweep-nope").status_code == 404


def test_api_sweep_fans_out_one_job_per_trial(client):
    response = client.post("/api/jobs/sweep", json={
        "model_type": "momentum_breakout", "symbols": ["AAPL", "MSFT"],
        "param_grid": {"lookback_period": [10, 20]}, "n_splits": 3})
    assert response.status_code == 202
    sweep = client.get(f"/api/jobs/sweeps/{response.json()['sweep_id']}").json()
    assert sweep["state"] == "queued" and sweep["n_jobs"] == 4 and sweep["best"] is None
    assert sorted((j["symbol"], j["params"]["lookback_period"]) for j in sweep["jobs"]) == [
        ("AAPL", 10), ("AAPL", 20), ("MSFT", 10), ("MSFT", 20)]


def test_api_broker_down_is_503_and_the_job_is_recorded_failed(client, monkeypatch):
    monkeypatch.setenv("MLTRAINER_CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    response = client.post("/api/jobs/train", json={"model_type": "momentum_breakout", "symbol": "AAPL"})
    assert response.status_code == 503 and "MLTRAINER_CELERY_BROKER_URL" in response.text
    jobs = client.get("/api/jobs").json()
    assert jobs[0]["state"] == "failed" and "broker" in jobs[0]["message"]
