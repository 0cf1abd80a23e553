"""PredictionService on models trained from the real offline data."""

from __future__ import annotations

import math

import pytest

from mltrainer.audit import get_audit_trail
from mltrainer.calibration import Calibration
from mltrainer.config import get_settings
from mltrainer.data import load_bars
from mltrainer.errors import (
    ComplianceBlockedError,
    EnsembleError,
    InvalidInputError,
    ModelNotFoundError,
    NotFoundError,
    UnknownSymbolError,
)
from mltrainer.registry import get_registry
from mltrainer.serving import InProcessCache, Prediction, PredictionService

# Hand-read from the offline AAPL bars (bokeh sampledata, adjusted): the last two closes.
AAPL_LAST_DATE = "2013-03-01"
AAPL_CLOSE_2013_02_28 = 57.562728311726005
AAPL_CLOSE_2013_03_01 = 56.137353095488


def make_service(clock, **overrides) -> PredictionService:
    settings = get_settings(**overrides)
    return PredictionService(settings=settings, cache=InProcessCache(clock=clock), clock=clock)


def _calibration(model_id: str) -> Calibration:
    return Calibration.from_dict(get_registry().get(model_id).calibration)


@pytest.mark.parametrize("model_type", ["mean_reversion", "momentum_breakout", "volatility_regime",
                                        "gradient_boosting"])
def test_prediction_carries_real_values(models_home, clock, model_type):
    model_id = models_home.ids[model_type]
    prediction = make_service(clock).predict(model_id, "aapl")
    assert isinstance(prediction, Prediction)
    assert prediction.model_id == model_id and prediction.symbol == "AAPL"
    assert prediction.as_of == AAPL_LAST_DATE
    assert prediction.latest_price == pytest.approx(AAPL_CLOSE_2013_03_01, rel=1e-12)
    change = AAPL_CLOSE_2013_03_01 / AAPL_CLOSE_2013_02_28 - 1
    assert prediction.price_change_1d == pytest.approx(change, rel=1e-12)
    assert prediction.price_change_1d == pytest.approx(-0.0247621205, abs=1e-9)
    assert prediction.signal in (-1, 0, 1)
    assert prediction.label == {-1: "SELL", 0: "HOLD", 1: "BUY"}[prediction.signal]
    assert 0.0 <= prediction.strength <= 1.0
    expected = _calibration(model_id).confidence(prediction.signal, prediction.strength)
    assert prediction.confidence == expected
    assert prediction.cached is False and prediction.generated_at.endswith("Z")
    # the service's last row is the model's own last row on the full history
    model = get_registry().load_model(model_id)
    last = model.predict(load_bars("AAPL")).iloc[-1]
    assert prediction.signal == int(last["signal"])
    assert prediction.strength == pytest.approx(float(last["strength"]))


def test_analysis_is_model_specific(models_home, clock):
    service = make_service(clock)
    ids = models_home.ids
    mr = service.predict(ids["mean_reversion"], "AAPL").analysis
    assert {"zscore", "rsi", "reversion_probability", "exit_level"} <= set(mr)
    assert mr["zscore"] == pytest.approx(-1.9520272, abs=1e-6)  # 20-day z-score of the 2013-03-01 close
    assert 0 <= mr["rsi"] <= 100 and 0 <= mr["reversion_probability"] <= 1 and mr["exit_level"] > 0
    vr = service.predict(ids["volatility_regime"], "AAPL").analysis
    assert vr["regime"] in ("low", "medium", "high") and vr["realized_vol"] > 0 and vr["vol_forecast"] > 0
    mb = service.predict(ids["momentum_breakout"], "AAPL").analysis
    assert math.isfinite(mb["momentum_z"]) and mb["breakout_level"] > 0
    gb = service.predict(ids["gradient_boosting"], "AAPL").analysis
    top = gb["top_contributions"]
    assert len(top) == 5
    magnitudes = [abs(row["contribution"]) for row in top]
    assert magnitudes == sorted(magnitudes, reverse=True) and magnitudes[0] > 0
    model = get_registry().load_model(ids["gradient_boosting"])
    contributions = model.feature_contributions(load_bars("AAPL")).iloc[-1].drop("bias")
    # explained on a trailing window for speed, yet equal to the full-history contributions
    order = contributions.abs().sort_values(ascending=False, kind="stable").index
    expected = contributions.reindex(order)[:5]
    assert [row["feature"] for row in top] == list(expected.index)
    for row in top:
        assert row["contribution"] == pytest.approx(expected[row["feature"]], abs=1e-9)


def test_confidence_is_calibrated_and_not_constant(models_home, clock):
    model_id = models_home.ids["gradient_boosting"]
    calibration = _calibration(model_id)
    bulk = make_service(clock).predict_bulk(model_id, ["AAPL", "MSFT", "IBM", "GOOG", "FB", "^GSPC", "^IXIC"])
    assert not bulk.errors
    service = make_service(clock)
    for p in bulk.predictions:
        assert p.confidence == calibration.confidence(p.signal, p.strength)
        # computed concurrently, yet identical to a one-by-one prediction
        alone = service.predict(model_id, p.symbol, use_cache=False)
        assert alone.to_dict() | {"generated_at": ""} == p.to_dict() | {"generated_at": ""}
    assert len({p.confidence for p in bulk.predictions}) >= 2
    assert len({(p.signal, p.strength) for p in bulk.predictions}) >= 2


def test_bulk_reports_bad_symbols_without_failing_the_batch(models_home, clock):
    service = make_service(clock)
    symbols = ["AAPL", "NOPE", "msft", "bad symbol!", "AAPL"]
    bulk = service.predict_bulk(models_home.ids["mean_reversion"], symbols)
    assert [p.symbol for p in bulk.predictions] == ["AAPL", "MSFT"]
    assert set(bulk.errors) == {"NOPE", "bad symbol!"}
    assert "Unknown symbol 'NOPE'" in bulk.errors["NOPE"]
    assert "Invalid symbol" in bulk.errors["bad symbol!"]
    msft = bulk.predictions[1]
    bars = load_bars("MSFT")
    assert msft.as_of == "2013-03-01" and msft.latest_price == pytest.approx(bars["close"].iloc[-1])
    data = bulk.to_dict()
    assert set(data) == {"model_id", "predictions", "errors"} and len(data["predictions"]) == 2


def test_bulk_with_unknown_model_fails_as_a_whole(models_home, clock):
    with pytest.raises(ModelNotFoundError, match="No model with id"):
        make_service(clock).predict_bulk("nope_AAPL_20200101", ["AAPL"])
    with pytest.raises(InvalidInputError, match="non-empty list"):
        make_service(clock).predict_bulk(models_home.ids["mean_reversion"], [])


def test_cache_hit_miss_and_expiry_with_injected_clock(models_home, clock):
    service = make_service(clock, prediction_ttl_seconds=300)
    model_id = models_home.ids["mean_reversion"]
    first = service.predict(model_id, "AAPL")
    second = service.predict(model_id, "AAPL")
    assert (first.cached, second.cached) == (False, True)
    assert second.to_dict() | {"cached": False} == first.to_dict()
    clock.advance(299)
    assert service.predict(model_id, "AAPL").cached is True
    assert service.predict(model_id, "AAPL", use_cache=False).cached is False  # recomputed, entry re-set
    clock.advance(301)  # past the TTL of the re-set entry
    assert service.predict(model_id, "AAPL").cached is False
    stats = service.status()["cache"]
    assert stats["hits"] == 2 and stats["misses"] == 2 and stats["ttl_seconds"] == 300


def test_recent_as_of_date_keys_the_cache_without_reloading_bars(models_home, clock, monkeypatch):
    import mltrainer.data as data
    from mltrainer.serving.service import AS_OF_TTL_SECONDS

    real_load_bars, loads = data.load_bars, []

    def counting_load_bars(symbol, *args, **kwargs):  # the real bars, counted
        loads.append(symbol)
        return real_load_bars(symbol, *args, **kwargs)

    monkeypatch.setattr(data, "load_bars", counting_load_bars)
    service = make_service(clock)
    model_id = models_home.ids["mean_reversion"]
    assert service.predict(model_id, "AAPL").cached is False and loads == ["AAPL"]
    assert service.predict(model_id, "AAPL").cached is True and loads == ["AAPL"]
    clock.advance(AS_OF_TTL_SECONDS)  # the remembered date is now too old: reload, then hit
    assert service.predict(model_id, "AAPL").cached is True and loads == ["AAPL", "AAPL"]
    assert service.predict(model_id, "AAPL", use_cache=False).cached is False and len(loads) == 3
    assert (service.status()["cache"]["hits"], service.status()["cache"]["misses"]) == (2, 1)


def test_lru_eviction_with_two_loaded_models(models_home, clock):
    service = make_service(clock, max_loaded_models=2)
    a, b, c = (models_home.ids[t] for t in ("mean_reversion", "momentum_breakout", "volatility_regime"))
    service.load(a)
    service.load(b)
    service.predict(a, "AAPL")  # a is now the most recently used
    service.load(c)  # evicts b, the least recently used
    loaded = [m["model_id"] for m in service.status()["loaded_models"]]
    assert loaded == [a, c]
    assert service.unload(a) is True and service.unload(a) is False
    assert [m["model_id"] for m in service.status()["loaded_models"]] == [c]


def test_status_counters_and_uptime(models_home, clock):
    service = make_service(clock)
    status = service.status()
    assert status["predictions_served"] == 0 and status["uptime_seconds"] == 0.0
    model_id = models_home.ids["momentum_breakout"]
    service.predict(model_id, "AAPL")
    service.predict(model_id, "AAPL")
    service.predict_bulk(model_id, ["MSFT", "NOPE"])
    clock.advance(12.5)
    status = service.status()
    assert status["predictions_served"] == 3
    assert status["uptime_seconds"] == 12.5
    assert status["cache"]["size"] == 2 and status["cache"]["backend"] == "in-process"
    assert status["cache"]["healthy"] is True and status["cache"]["warning"] is None
    assert status["started_at"].endswith("Z")


def test_each_request_is_audited_once(models_home, clock):
    service = make_service(clock)
    trail = get_audit_trail()
    before = len(trail.log(limit=10_000, action="prediction"))
    model_id = models_home.ids["mean_reversion"]
    service.predict(model_id, "AAPL")
    service.predict_bulk(model_id, ["MSFT", "IBM", "NOPE"])
    service.predict_ensemble([model_id, models_home.ids["momentum_breakout"]], "AAPL")
    records = trail.log(limit=10_000, action="prediction")
    assert len(records) == before + 2
    assert records[0]["details"]["symbols"] == ["MSFT", "IBM", "NOPE"] and records[0]["target"] == model_id
    assert records[1]["details"]["symbols"] == ["AAPL"]
    ensemble = trail.log(limit=1, action="ensemble")[0]
    assert ensemble["target"] == "AAPL" and ensemble["details"]["weights_method"] == "equal"
    assert trail.verify()["ok"] is True


@pytest.mark.parametrize("plugin_source", [None, "import no_such_module_for_mltrainer_tests\n"])
def test_plugin_model_is_not_served_without_compliance_clearance(models_home, clock, tmp_path, monkeypatch,
                                                                 plugin_source):
    import dataclasses

    record = get_registry().get(models_home.ids["mean_reversion"])
    monkeypatch.setenv("MLTRAINER_HOME", str(tmp_path / "plugin-home"))
    if plugin_source is not None:  # a plugin whose import does not resolve: a critical violation
        plugins = get_settings().plugins_dir
        plugins.mkdir(parents=True)
        body = "\n\nclass MyPlugin:\n    model_type = 'my_plugin'\n"
        (plugins / "my_plugin.py").write_text(plugin_source + body)

    class PluginRecordRegistry:  # the real record, relabelled as a plugin type
        def get(self, model_id):
            return dataclasses.replace(record, model_id=model_id, model_type="my_plugin")

        def load_model(self, model_id):  # pragma: no cover - must never be reached
            raise AssertionError("a blocked plugin model must not be unpickled")

    service = PredictionService(settings=get_settings(), cache=InProcessCache(clock=clock), clock=clock,
                                registry=PluginRecordRegistry())
    expected = NotFoundError if plugin_source is None else ComplianceBlockedError
    with pytest.raises(expected, match="my_plugin"):
        service.predict("my_plugin_AAPL_20260101", "AAPL")
    assert service.status()["loaded_models"] == []


# -- ensembles ---------------------------------------------------------------------------------------
def test_ensemble_given_weights_are_normalised_and_score_hand_checked(models_home, clock):
    a, b = models_home.ids["mean_reversion"], models_home.ids["gradient_boosting"]
    service = make_service(clock)
    result = service.predict_ensemble([a, b], "MSFT", weights=[3, 1])
    assert result.weights_method == "given"
    assert result.weights == {a: 0.75, b: 0.25}
    members = {m.model_id: m for m in result.members}
    pa, pb = service.predict(a, "MSFT"), service.predict(b, "MSFT")
    assert (members[a].signal, members[a].strength) == (pa.signal, pa.strength)
    score = 0.75 * pa.signal * pa.strength + 0.25 * pb.signal * pb.strength
    assert result.score == pytest.approx(score)
    assert result.strength == pytest.approx(abs(score))
    expected_signal = 1 if score >= 0.2 else (-1 if score <= -0.2 else 0)
    assert result.signal == expected_signal
    assert result.label == {1: "BUY", 0: "HOLD", -1: "SELL"}[expected_signal]
    agreement = sum(w for m, w in result.weights.items() if members[m].signal == result.signal)
    assert result.agreement == pytest.approx(agreement)
    assert result.as_of == "2013-03-01" and not result.failed_members and result.renormalised is False


def test_ensemble_reports_failing_member_and_renormalises(models_home, clock):
    a, b = models_home.ids["mean_reversion"], models_home.ids["momentum_breakout"]
    result = make_service(clock).predict_ensemble([a, "missing_model_x", b], "AAPL", weights=[1, 2, 1])
    assert result.failed_members == ("missing_model_x",)
    assert result.renormalised is True and "re-normalised" in result.note
    failed = [m for m in result.members if m.model_id == "missing_model_x"][0]
    assert failed.weight == 0.0 and failed.requested_weight == pytest.approx(0.5)
    assert "No model with id 'missing_model_x'" in failed.error and failed.signal is None
    assert result.weights == {a: 0.5, "missing_model_x": 0.0, b: 0.5}


def test_ensemble_with_every_member_failing_lists_each_error(models_home, clock):
    with pytest.raises(EnsembleError) as info:
        make_service(clock).predict_ensemble(["missing_a", "missing_b"], "AAPL")
    assert "missing_a: No model with id 'missing_a'" in str(info.value)
    assert "missing_b: No model with id 'missing_b'" in str(info.value)


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [([1, -1], "must not be negative"), ([1, float("nan")], "finite"), ([0, 0], "must be positive"),
     ({"zzz": 1, "x": 1}, "not in the ensemble: zzz")],
)
def test_ensemble_weight_validation(models_home, clock, weights, fragment):
    ids = [models_home.ids["mean_reversion"], models_home.ids["momentum_breakout"]]
    if isinstance(weights, dict):
        weights = {ids[0]: 1, "zzz": 1}
    with pytest.raises(EnsembleError, match=fragment):
        make_service(clock).predict_ensemble(ids, "AAPL", weights=weights)


def test_ensemble_unknown_symbol_is_not_found(models_home, clock):
    with pytest.raises(UnknownSymbolError):
        make_service(clock).predict_ensemble([models_home.ids["mean_reversion"]], "NOPE")


def test_ensemble_oos_weights_reported_and_sum_to_one(models_home, clock):
    ids = [models_home.ids[t] for t in ("mean_reversion", "volatility_regime", "gradient_boosting")]
    result = make_service(clock).predict_ensemble(ids, "AAPL", weights="oos")
    assert result.weights_method == "oos"
    assert sum(result.weights.values()) == pytest.approx(1.0)
    assert all(w > 0 for w in result.weights.values())
    # inverse volatility: the member with the most volatile OOS returns gets the smallest weight
    registry = get_registry()
    vols = {m: registry.get(m).oos_return_series().std() for m in ids}
    assert min(result.weights, key=result.weights.get) == max(vols, key=vols.get)
    assert "InverseVolatility" in result.note


def test_unreachable_redis_cache_degrades_to_uncached_with_a_warning(models_home, clock):
    from mltrainer.serving import redis_cache
    cache = redis_cache.RedisPredictionCache("redis://127.0.0.1:1/0", ttl_seconds=300)  # nothing listens
    service = PredictionService(settings=get_settings(), cache=cache, clock=clock)
    model_id = models_home.ids["mean_reversion"]
    first, second = service.predict(model_id, "AAPL"), service.predict(model_id, "AAPL")
    assert (first.cached, second.cached) == (False, False)
    assert first.latest_price == pytest.approx(AAPL_CLOSE_2013_03_01)
    status = service.status()["cache"]
    assert status["backend"] == "redis" and status["healthy"] is False
    assert "unavailable" in status["warning"]
