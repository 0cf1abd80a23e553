"""A loaded model stops being served the moment it may no longer be: deleted, or its plugin's override
revoked — also when its predictions are cached (issue 5 review, finding 1)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from mltrainer import services
from mltrainer.compliance.overrides import grant_override, revoke_override
from mltrainer.compliance.plugins import load_plugin, unload_plugins
from mltrainer.config import get_settings
from mltrainer.errors import ComplianceBlockedError, ModelNotFoundError
from mltrainer.registry import get_registry
from mltrainer.serving import (
    InProcessCache,
    PredictionService,
    get_prediction_service,
)
from mltrainer.serving.cache import prediction_cache_key

PLUGIN_TYPE = "serving_plugin_test"
# A critical violation (import of a name that does not exist) inside a method: importable once overridden.
PLUGIN = f'''"""A plugin model type whose only flaw is a fake import in a method."""
from mltrainer.models import SignalModel


class ServingPlugin(SignalModel):
    model_type = "{PLUGIN_TYPE}"
    label = "Serving plugin"

    @property
    def warmup_bars(self):
        return 20

    @property
    def holding_horizon(self):
        return 5

    def _fit(self, bars):
        self.threshold_ = 0.0

    def _predict(self, bars):
        from mltrainer.features import feature_that_does_not_exist
        return feature_that_does_not_exist(bars)
'''


def test_deleting_a_model_through_the_facade_stops_serving_it(own_models_home):
    model_id = own_models_home.ids["mean_reversion"]
    service = get_prediction_service()
    first = services.predict(model_id, "AAPL")
    assert services.predict(model_id, "AAPL").cached
    key = prediction_cache_key(model_id, "AAPL", first.as_of)
    assert service.cache.get(key) is not None

    services.delete_model(model_id)

    assert service.cache.get(key) is None  # its cached predictions are gone too
    assert service.status()["loaded_models"] == []
    with pytest.raises(ModelNotFoundError, match=model_id):
        services.predict(model_id, "AAPL")


def test_a_model_deleted_elsewhere_is_refused_on_a_cache_hit(own_models_home, clock):
    """Another process deletes it: the registry delete is audited, which this service sees."""
    model_id = own_models_home.ids["momentum_breakout"]
    service = PredictionService(settings=get_settings(), cache=InProcessCache(clock=clock), clock=clock)
    service.predict(model_id, "AAPL")
    assert service.predict(model_id, "AAPL").cached

    get_registry().delete(model_id)  # not through services: this service gets no call

    with pytest.raises(ModelNotFoundError, match=model_id):
        service.predict(model_id, "AAPL")
    with pytest.raises(ModelNotFoundError):
        service.predict_bulk(model_id, ["AAPL"])
    assert service.status()["loaded_models"] == []


def test_revoking_a_plugin_override_stops_serving_the_loaded_model(models_home, clock, tmp_path, monkeypatch):
    record = get_registry().get(models_home.ids["mean_reversion"])
    model = get_registry().load_model(record.model_id)
    monkeypatch.setenv("MLTRAINER_HOME", str(tmp_path / "plugin-home"))
    plugins = get_settings().plugins_dir
    plugins.mkdir(parents=True)
    path = plugins / "serving_plugin.py"
    path.write_text(PLUGIN)

    class PluginRecordRegistry:  # the real trained model, registered under the plugin's type
        def get(self, model_id):
            return dataclasses.replace(record, model_id=model_id, model_type=PLUGIN_TYPE)

        def load_model(self, model_id):
            return model

    with pytest.raises(ComplianceBlockedError) as blocked:
        load_plugin(path)
    [violation] = blocked.value.violations
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    override = grant_override(violation.fingerprint, "reviewed: method never called", "lead", tomorrow,
                              rule=violation.rule)
    try:
        load_plugin(path)
        service = PredictionService(settings=get_settings(), cache=InProcessCache(clock=clock), clock=clock,
                                    registry=PluginRecordRegistry())
        model_id = f"{PLUGIN_TYPE}_AAPL_20260101"
        assert service.predict(model_id, "AAPL").cached is False
        assert service.predict(model_id, "AAPL").cached is True

        revoke_override(override.id, "lead")

        with pytest.raises(ComplianceBlockedError, match="serving_plugin.py"):
            service.predict(model_id, "AAPL")  # its answer is still in the cache; refused anyway
        assert service.status()["loaded_models"] == []
    finally:
        unload_plugins()


class WatchedRegistry:
    """The real registry, counting ``get`` calls; ``down = True`` makes ``get`` fail as an outage would."""

    def __init__(self):
        self._real = get_registry()
        self.calls: list[str] = []
        self.down = False

    def get(self, model_id):
        from mltrainer.errors import RegistryError

        if self.down:
            raise RegistryError("Could not open the metadata database; check that it is running.")
        self.calls.append(model_id)
        return self._real.get(model_id)

    def load_model(self, model_id):
        return self._real.load_model(model_id)


def test_servability_is_rechecked_after_a_few_seconds_without_audit_events(models_home, clock):
    """What writes no audit record (an override reaching its expiry) is caught by the time bound."""
    from mltrainer.serving.service import SERVABLE_RECHECK_SECONDS

    model_id = models_home.ids["mean_reversion"]
    registry = WatchedRegistry()
    service = PredictionService(settings=get_settings(), cache=InProcessCache(clock=clock), clock=clock,
                                registry=registry)
    service.predict(model_id, "AAPL")
    service.predict(model_id, "AAPL")
    assert len(registry.calls) == 1  # the load's own lookup covers the next request
    clock.advance(SERVABLE_RECHECK_SECONDS + 0.1)
    service.predict(model_id, "AAPL")
    assert len(registry.calls) == 2


def test_a_transient_registry_error_fails_the_request_but_keeps_the_model(models_home, clock):
    from mltrainer.errors import RegistryError
    from mltrainer.serving.service import SERVABLE_RECHECK_SECONDS

    model_id = models_home.ids["mean_reversion"]
    registry = WatchedRegistry()
    service = PredictionService(settings=get_settings(), cache=InProcessCache(clock=clock), clock=clock,
                                registry=registry)
    service.predict(model_id, "AAPL")
    registry.down = True
    clock.advance(SERVABLE_RECHECK_SECONDS + 0.1)
    with pytest.raises(RegistryError):
        service.predict(model_id, "AAPL")
    assert [m["model_id"] for m in service.status()["loaded_models"]] == [model_id]
    registry.down = False
    assert service.predict(model_id, "AAPL").cached is True
