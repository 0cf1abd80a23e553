"""REST API on models trained from the real offline data: auth, endpoints, validation and errors."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from mltrainer import errors, services
from mltrainer.api import create_app, status_for
from mltrainer.config import Settings
from mltrainer.data import load_bars
from mltrainer.serving import PredictionService

from .conftest import AUTH, TOKEN

AAPL_CLOSE_2013_03_01 = 56.137353095488


def safe(response):
    """No traceback, file path or raw exception text in any response body."""
    text = response.text
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text, text
    return response


# -- auth ----------------------------------------------------------------------------------------------
def test_health_needs_no_auth_and_docs_are_served(bare_client):
    assert safe(bare_client.get("/health")).json()["status"] == "ok"
    assert bare_client.get("/docs").status_code == 200
    schema = bare_client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
                                    "Bearer "])
def test_api_routes_need_a_valid_bearer_token(bare_client, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, path, body in [("get", "/api/models", None), ("get", "/api/models/predictions/status", None),
                               ("post", "/api/models/predict", {"model_id": "x", "symbol": "AAPL"})]:
        extra = {"json": body} if body else {}
        response = safe(getattr(bare_client, method)(path, headers=headers, **extra))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text


def test_valid_token_is_accepted_and_several_tokens_can_be_configured():
    for token in ("first-token-aaaaaaaa", "second-token-bbbbbbbb"):
        app = create_app(Settings(api_tokens="first-token-aaaaaaaa, second-token-bbbbbbbb"))
        with TestClient(app) as client:
            assert client.get("/api/models/predictions/status",
                              headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_without_configured_tokens_one_is_generated_and_printed_once(capsys):
    app = create_app(Settings())
    err = capsys.readouterr().err
    tokens = re.findall(r"generated bearer token for this run: (\S+)", err)
    assert len(tokens) == 1 and len(tokens[0]) >= 40
    with TestClient(app) as client:
        ok = client.get("/api/models/predictions/status", headers={"Authorization": f"Bearer {tokens[0]}"})
        assert ok.status_code == 200
        assert client.get("/api/models/predictions/status").status_code == 401
    assert tokens[0] not in capsys.readouterr().err  # printed once, never again
    create_app(Settings())
    assert tokens[0] not in capsys.readouterr().err  # no default secret: a new run gets a new token


# -- predictions ----------------------------------------------------------------------------------------
def test_predict_returns_a_real_prediction_then_a_cached_one(client, models_home):
    model_id = models_home.ids["mean_reversion"]
    body = {"model_id": model_id, "symbol": "AAPL"}
    first = safe(client.post("/api/models/predict", json=body, headers=AUTH))
    assert first.status_code == 200
    data = first.json()
    assert data["model_id"] == model_id and data["symbol"] == "AAPL" and data["as_of"] == "2013-03-01"
    assert data["latest_price"] == pytest.approx(AAPL_CLOSE_2013_03_01)
    assert data["label"] in ("BUY", "HOLD", "SELL") and 0 <= data["confidence"] <= 1
    assert {"zscore", "rsi", "reversion_probability", "exit_level"} <= set(data["analysis"])
    assert data["cached"] is False
    second = client.post("/api/models/predict", json=body, headers=AUTH).json()
    assert second["cached"] is True and second["generated_at"] == data["generated_at"]
    fresh = client.post("/api/models/predict", json=body | {"use_cache": False}, headers=AUTH).json()
    assert fresh["cached"] is False


def test_unknown_model_and_unknown_symbol_are_404(client, models_home):
    missing = safe(client.post("/api/models/predict", headers=AUTH,
                               json={"model_id": "nope_AAPL_20200101", "symbol": "AAPL"}))
    assert missing.status_code == 404 and "No model with id 'nope_AAPL_20200101'" in missing.json()["detail"]
    unknown = safe(client.post("/api/models/predict", headers=AUTH,
                               json={"model_id": models_home.ids["mean_reversion"], "symbol": "NOPE"}))
    assert unknown.status_code == 404 and "Unknown symbol 'NOPE'" in unknown.json()["detail"]
    ensemble = client.post("/api/models/predict/ensemble", headers=AUTH,
                           json={"model_ids": [models_home.ids["mean_reversion"]], "symbol": "NOPE"})
    assert ensemble.status_code == 404


def test_bulk_returns_predictions_and_per_symbol_errors(client, models_home):
    response = safe(client.post("/api/models/predict/bulk", headers=AUTH,
                                json={"model_id": models_home.ids["momentum_breakout"],
                                      "symbols": ["AAPL", "NOPE", "^GSPC", "bad symbol!"]}))
    assert response.status_code == 200
    data = response.json()
    assert [p["symbol"] for p in data["predictions"]] == ["AAPL", "^GSPC"]
    assert "Invalid symbol 'bad symbol!'" in data["errors"].pop("bad symbol!")
    gspc = data["predictions"][1]
    assert gspc["as_of"] == "2018-12-31"
    assert gspc["latest_price"] == pytest.approx(load_bars("^GSPC")["close"].iloc[-1])
    assert list(data["errors"]) == ["NOPE"] and "Unknown symbol" in data["errors"]["NOPE"]


@pytest.mark.parametrize("weights", [None, [0.6, 0.4], "dict", "oos"])
def test_ensemble_endpoint(client, models_home, weights):
    ids = [models_home.ids["mean_reversion"], models_home.ids["momentum_breakout"]]
    if weights == "dict":
        weights = {ids[0]: 1, ids[1]: 3}
    body = {"model_ids": ids, "symbol": "AAPL"} | ({"weights": weights} if weights is not None else {})
    response = safe(client.post("/api/models/predict/ensemble", json=body, headers=AUTH))
    assert response.status_code == 200, response.text
    data = response.json()
    assert sum(data["weights"].values()) == pytest.approx(1.0)
    expected_method = "equal" if weights is None else ("oos" if weights == "oos" else "given")
    assert data["weights_method"] == expected_method
    if isinstance(weights, list):
        assert data["weights"] == {ids[0]: pytest.approx(0.6), ids[1]: pytest.approx(0.4)}
    if isinstance(weights, dict):
        assert data["weights"] == {ids[0]: 0.25, ids[1]: 0.75}
    assert [m["model_id"] for m in data["members"]] == ids
    score = sum(data["weights"][m["model_id"]] * m["signal"] * m["strength"] for m in data["members"])
    assert data["score"] == pytest.approx(score)


def test_status_and_model_listing(client, models_home):
    model_id = models_home.ids["momentum_breakout"]
    client.post("/api/models/predict", json={"model_id": model_id, "symbol": "IBM"}, headers=AUTH)
    status = safe(client.get("/api/models/predictions/status", headers=AUTH)).json()
    assert model_id in [m["model_id"] for m in status["loaded_models"]]
    assert status["predictions_served"] == 1 and status["cache"]["ttl_seconds"] == 300
    listing = safe(client.get("/api/models", headers=AUTH)).json()
    types = {t["model_type"]: t for t in listing["model_types"]}
    assert {"mean_reversion", "momentum_breakout", "volatility_regime", "gradient_boosting"} <= set(types)
    lookback = [p for p in types["momentum_breakout"]["params"] if p["name"] == "lookback_period"][0]
    assert lookback["default"] == 20
    models = {m["model_id"]: m for m in listing["models"]}
    assert set(models_home.ids.values()) <= set(models)
    assert "sharpe" in models[model_id]["metrics"]


# -- validation and errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/models/predict", {"model_id": "m", "symbol": "AA PL"}, ["body", "symbol"]),
        ("/api/models/predict", {"model_id": "m"}, ["body", "symbol"]),
        ("/api/models/predict", {"model_id": "m", "symbol": "AAPL", "use_cache": "maybe"},
         ["body", "use_cache"]),
        ("/api/models/predict", {"model_id": "m", "symbol": "AAPL", "extra": 1}, ["body", "extra"]),
        ("/api/models/predict", {"model_id": "", "symbol": "AAPL"}, ["body", "model_id"]),
        ("/api/models/predict/bulk", {"model_id": "m", "symbols": []}, ["body", "symbols"]),
        ("/api/models/predict/bulk", {"model_id": "m", "symbols": ["AAPL"] * 501}, ["body", "symbols"]),
        ("/api/models/predict/ensemble", {"model_ids": [], "symbol": "AAPL"}, ["body", "model_ids"]),
        ("/api/models/train", {"model_id": "mean_reversion", "symbol": "AAPL", "cost_bps": -1},
         ["body", "cost_bps"]),
        ("/api/models/train", {"model_id": "mean_reversion", "symbol": "AAPL", "start": "2010-13-01"},
         ["body", "start"]),
    ],
)
def test_invalid_input_is_422_with_field_messages(bare_client, path, body, field):
    response = safe(bare_client.post(path, json=body, headers=AUTH))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(item["loc"][: len(field)] == field and item["msg"] for item in detail), detail


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [([1, -1], "greater than or equal to 0"), ([0, 0], "must be positive"),
     ("dict", "not in the ensemble: zzz")],
)
def test_invalid_ensemble_weights_are_422_with_a_message(client, models_home, weights, fragment):
    ids = [models_home.ids["mean_reversion"], models_home.ids["momentum_breakout"]]
    if weights == "dict":
        weights = {ids[0]: 1, ids[1]: 1, "zzz": 1}
    response = safe(client.post("/api/models/predict/ensemble", headers=AUTH,
                                json={"model_ids": ids, "symbol": "AAPL", "weights": weights}))
    # A negative weight is a field error (a list of {loc, msg}); the others come from the service.
    assert response.status_code == 422 and fragment in json.dumps(response.json()["detail"])


def test_nan_weight_is_rejected_not_a_server_error(client, models_home):
    ids = [models_home.ids["mean_reversion"], models_home.ids["momentum_breakout"]]
    raw = json.dumps({"model_ids": ids, "symbol": "AAPL"})[:-1] + ', "weights": [1, NaN]}'
    response = safe(client.post("/api/models/predict/ensemble", content=raw,
                                headers=AUTH | {"Content-Type": "application/json"}))
    assert response.status_code == 422


def test_unexpected_error_is_a_generic_500(client, models_home, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("internal detail /srv/secret/path.py line 3")

    monkeypatch.setattr(PredictionService, "predict_async", broken)
    body = {"model_id": "m", "symbol": "AAPL"}
    response = safe(client.post("/api/models/predict", json=body, headers=AUTH))
    assert response.status_code == 500
    assert "internal detail" not in response.text and "RuntimeError" not in response.text
    assert response.json()["detail"].startswith("Internal server error")


# -- training ----------------------------------------------------------------------------------------
def test_train_endpoint_trains_on_real_data(bare_client):
    response = safe(bare_client.post("/api/models/train", headers=AUTH, json={
        "model_id": "momentum_breakout", "symbol": "AAPL", "start": "2007-01-01", "end": "2012-12-31",
        "n_splits": 3, "parameters": {"lookback_period": 20}}))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["model_id"].startswith("momentum_breakout_AAPL_")
    assert len(data["folds"]) == 3 and "sharpe" in data["metrics"]
    listed = bare_client.get("/api/models", headers=AUTH).json()["models"]
    assert [m["model_id"] for m in listed] == [data["model_id"]]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [({"model_id": "no_such_type", "symbol": "AAPL"}, 404, "Unknown model type"),
     ({"model_id": "mean_reversion", "symbol": "NOPE"}, 404, "Unknown symbol"),
     ({"model_id": "mean_reversion", "symbol": "AAPL", "parameters": {"no_such_param": 1}}, 422,
      "no_such_param")],
)
def test_train_endpoint_rejects_bad_requests(bare_client, body, status, fragment):
    response = safe(bare_client.post("/api/models/train", json=body, headers=AUTH))
    assert response.status_code == status and fragment in response.json()["detail"]


def test_oversized_body_is_413_before_parsing(bare_client):
    body = b'{"model_id": "m", "symbol": "AAPL", "pad": "' + b"x" * 1_000_001 + b'"}'
    response = safe(bare_client.post("/api/models/predict", content=body,
                                     headers=AUTH | {"Content-Type": "application/json"}))
    assert response.status_code == 413 and "limit is 1000000 bytes" in response.json()["detail"]


@pytest.mark.parametrize(
    ("exc", "status"),
    [(errors.UnknownSymbolError("x"), 404), (errors.ModelNotFoundError("x"), 404),
     (errors.UnknownModelTypeError("x"), 404), (errors.InvalidParameterError("x"), 422),
     (errors.InsufficientDataError("x"), 422), (errors.EnsembleError("x"), 422),
     (errors.ArtifactIntegrityError("x"), 409), (errors.ComplianceBlockedError("x"), 409),
     (errors.ServingError("x"), 409), (errors.DataSourceError("x"), 503), (errors.RegistryError("x"), 503),
     (errors.AuditError("x"), 503), (errors.ConfigError("x"), 503), (errors.DataValidationError("x"), 503),
     (errors.NotFittedError("x"), 400)],
)
def test_status_codes_of_the_exception_tree(exc, status):
    assert status_for(exc) == status


def test_serve_command_prints_a_generated_token_once_and_serves(tmp_path):
    """``python -m mltrainer serve`` end to end: readiness is read from uvicorn's own log line."""
    import os
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "MLTRAINER_API_TOKENS"}
    proc = subprocess.Popen([sys.executable, "-m", "mltrainer", "serve", "--port", str(port)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        lines = []
        for line in proc.stderr:  # ends at EOF if the server dies
            lines.append(line)
            if "Uvicorn running on" in line:
                break
        tokens = re.findall(r"generated bearer token for this run: (\S+)", "".join(lines))
        assert len(tokens) == 1, lines
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok"
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        listing = httpx.get(f"{base}/api/models", headers=auth, timeout=30)
        assert listing.status_code == 200 and listing.json()["models"] == []
        assert httpx.get(f"{base}/api/models", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rest = proc.stderr.read()
    assert tokens[0] not in rest  # printed once only


def test_job_routes_are_mounted_behind_the_same_auth(bare_client):
    assert bare_client.get("/api/jobs").status_code == 401
    assert bare_client.get("/api/jobs", headers=AUTH).json() == []
    missing = safe(bare_client.get("/api/jobs/no-such-job", headers=AUTH))
    assert missing.status_code == 404 and missing.json()["error"] == "JobNotFoundError"


def test_api_predictions_are_audited_as_the_api(client, models_home):
    from mltrainer.audit import get_audit_trail

    model_id = models_home.ids["mean_reversion"]
    assert client.post("/api/models/predict", json={"model_id": model_id, "symbol": "AAPL"},
                       headers=AUTH).status_code == 200
    assert client.post("/api/models/predict/bulk", json={"model_id": model_id, "symbols": ["AAPL", "IBM"]},
                       headers=AUTH).status_code == 200
    records = get_audit_trail().log(limit=2, action="prediction")
    assert [r["actor"] for r in records] == ["api", "api"]
    assert all(r["target"].startswith(model_id) or model_id in str(r["details"]) for r in records)
