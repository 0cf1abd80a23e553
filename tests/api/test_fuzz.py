"""Fuzz the OpenAPI schema with schemathesis: no input, valid or not, may produce a 5xx.

Bounded: at most 25 examples per operation and no deadline, so the whole run stays well under a
minute. ``POST /api/models/train`` is excluded from fuzzing (a valid call trains a model, seconds each);
its validation is covered by explicit tests in ``test_api.py``. ``POST /api/jobs/...`` is excluded too
(a valid call starts background training processes); tests/scale covers those routes.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mltrainer.api import create_app
from mltrainer.config import Settings
from mltrainer.serving import reset_prediction_service

from .conftest import AUTH, TOKEN

app = create_app(Settings(api_tokens=TOKEN))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(autouse=True)
def _fresh_service():
    reset_prediction_service()
    yield
    reset_prediction_service()


@schema.exclude(path="/api/models/train").exclude(method="POST", path_regex="^/api/jobs").parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_server_errors(case):
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error])
    assert "Traceback" not in response.text


def test_the_fuzz_check_does_catch_a_server_error(monkeypatch):
    """Guard against a fuzz test that cannot fail: a 500 must be reported by the same check."""
    from mltrainer.serving import PredictionService

    async def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(PredictionService, "predict_async", broken)
    case = schema.make_case(operation=schema["/api/models/predict"]["POST"],
                            body={"model_id": "m", "symbol": "AAPL"}, media_type="application/json")
    # In-process, schemathesis' ASGI transport re-raises the server's exception; over HTTP the 500 fails
    # the not_a_server_error check. Either way the fuzz test above fails on such a bug.
    with pytest.raises((RuntimeError, AssertionError)):
        response = case.call(headers=AUTH)
        case.validate_response(response, checks=[not_a_server_error])
