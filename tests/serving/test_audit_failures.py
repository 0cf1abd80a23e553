"""Failed prediction and ensemble requests are audited too: one record per request, naming the error
(issue 5 review, finding 3)."""

from __future__ import annotations

import pytest

from mltrainer.audit import get_audit_trail
from mltrainer.config import get_settings
from mltrainer.errors import EnsembleError, InvalidInputError, ModelNotFoundError, UnknownSymbolError
from mltrainer.serving import InProcessCache, PredictionService


@pytest.fixture
def service(models_home, clock):
    return PredictionService(settings=get_settings(), cache=InProcessCache(clock=clock), clock=clock)


_REQUEST_ACTIONS = ("prediction", "ensemble")  # loading a model writes its own model.load record


def _requests() -> list[dict]:
    return [r for r in get_audit_trail().log(limit=10_000) if r["action"] in _REQUEST_ACTIONS]


def _new_records(before: int) -> list[dict]:
    """Request records appended since ``before`` (their count then), oldest first."""
    records = _requests()
    return list(reversed(records[: len(records) - before]))


def _count() -> int:
    return len(_requests())


def test_unknown_model_prediction_is_audited_with_its_error(service):
    before = _count()
    with pytest.raises(ModelNotFoundError):
        service.predict("no_such_model", "aapl", actor="api")
    [record] = _new_records(before)
    assert (record["action"], record["target"], record["actor"]) == ("prediction", "no_such_model", "api")
    assert record["details"]["symbols"] == ["AAPL"]
    assert record["details"]["error"] == "ModelNotFoundError"
    assert "no_such_model" in record["details"]["message"]


def test_unknown_symbol_prediction_is_audited_with_its_error(service, models_home):
    model_id = models_home.ids["mean_reversion"]
    before = _count()
    with pytest.raises(UnknownSymbolError):
        service.predict(model_id, "NOPE")
    [record] = _new_records(before)
    assert record["action"] == "prediction" and record["target"] == model_id
    assert record["details"]["error"] == "UnknownSymbolError" and "NOPE" in record["details"]["message"]


def test_invalid_symbol_is_audited_as_sent(service, models_home):
    before = _count()
    with pytest.raises(InvalidInputError):
        service.predict(models_home.ids["mean_reversion"], "bad symbol!")
    [record] = _new_records(before)
    assert record["details"]["symbols"] == ["bad symbol!"] and record["details"]["error"] == "InvalidInputError"


def test_bulk_with_unknown_model_is_audited_once(service):
    before = _count()
    with pytest.raises(ModelNotFoundError):
        service.predict_bulk("no_such_model", ["AAPL", "MSFT"])
    [record] = _new_records(before)
    assert record["action"] == "prediction" and record["details"]["bulk"] is True
    assert record["details"]["symbols"] == ["AAPL", "MSFT"]
    assert record["details"]["error"] == "ModelNotFoundError"


def test_ensemble_with_every_member_failing_is_audited(service):
    before = _count()
    with pytest.raises(EnsembleError):
        service.predict_ensemble(["no_such_a", "no_such_b"], "AAPL")
    [record] = _new_records(before)
    assert (record["action"], record["target"]) == ("ensemble", "AAPL")
    assert record["details"]["model_ids"] == ["no_such_a", "no_such_b"]
    assert record["details"]["failed"] == ["no_such_a", "no_such_b"]
    assert record["details"]["error"] == "EnsembleError" and "no_such_a" in record["details"]["message"]


def test_ensemble_on_an_unknown_symbol_is_audited(service, models_home):
    ids = [models_home.ids["mean_reversion"], models_home.ids["momentum_breakout"]]
    before = _count()
    with pytest.raises(UnknownSymbolError):
        service.predict_ensemble(ids, "NOPE")
    [record] = _new_records(before)
    assert (record["action"], record["target"]) == ("ensemble", "NOPE")
    assert record["details"]["error"] == "UnknownSymbolError"


def test_successful_requests_still_write_exactly_one_record_without_error(service, models_home):
    model_id = models_home.ids["mean_reversion"]
    before = _count()
    service.predict(model_id, "AAPL")
    [record] = _new_records(before)
    assert record["target"] == model_id and "error" not in record["details"]
    assert record["details"]["symbols"] == ["AAPL"] and record["details"]["as_of"] == "2013-03-01"
    assert get_audit_trail().verify()["ok"] is True
