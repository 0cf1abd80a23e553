"""Plugins: scanned before import; a planted fake import blocks loading, training and serving until a
reviewer grants an override; every step is in a verified audit trail."""

from __future__ import annotations

import datetime as dt

import pytest

from mltrainer import services
from mltrainer.audit import get_audit_trail
from mltrainer.compliance.overrides import grant_override, revoke_override
from mltrainer.compliance.plugins import (
    check_plugin,
    install_plugin,
    load_plugin,
    load_plugins,
    plugin_files,
    unload_plugins,
)
from mltrainer.config import get_settings
from mltrainer.errors import ComplianceBlockedError, InvalidInputError, NotFoundError
from mltrainer.models import available_model_types

MODEL_TYPE = "plugin_momentum_test"
# The planted fake import sits in a method, so once overridden the module imports (and the bad method
# would fail loudly only if called); at module level it would make the import itself fail.
PLANTED = f'''"""An analyst's momentum plugin."""
from mltrainer.models import SignalModel


class PluginMomentum(SignalModel):
    model_type = "{MODEL_TYPE}"
    label = "Plugin momentum"
    warmup_bars = 20
    holding_horizon = 5

    def _fit(self, bars):
        self.threshold_ = 0.0

    def _predict(self, bars):
        from mltrainer.features import alpha_that_does_not_exist
        return alpha_that_does_not_exist(bars)
'''
CLEAN = PLANTED.replace(
    "        from mltrainer.features import alpha_that_does_not_exist\n        return alpha_that_does_not_exist(bars)\n",
    "        return bars\n",
)


@pytest.fixture(autouse=True)
def _unload():
    yield
    unload_plugins()


def _tomorrow() -> dt.date:
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)


def _write(name: str, text: str):
    folder = get_settings().plugins_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_planted_fake_import_blocks_until_an_override_is_granted():
    path = _write("momentum_plugin.py", PLANTED)
    [status] = load_plugins(actor="loader")
    assert not status.loaded and status.model_types == []
    [violation] = status.blocking_violations
    assert (violation.rule, violation.line) == ("missing-name", 15)
    assert "missing-name at line 15" in status.error and "alpha_that_does_not_exist" in status.error
    assert MODEL_TYPE not in available_model_types()
    with pytest.raises(ComplianceBlockedError) as blocked:
        check_plugin(MODEL_TYPE)
    assert [v.fingerprint for v in blocked.value.violations] == [violation.fingerprint]
    # Defined by a blocked plugin: the violations, not "unknown model type".
    with pytest.raises(ComplianceBlockedError, match="blocked plugin.*missing-name at line 15") as refused:
        services.train_model(MODEL_TYPE, "AAPL")
    assert [v.fingerprint for v in refused.value.violations] == [violation.fingerprint]

    override = grant_override(violation.fingerprint, "reviewed: method never called in production", "lead",
                              _tomorrow(), rule="missing-name")
    loaded = load_plugin(path, actor="loader")
    assert loaded.loaded and loaded.model_types == [MODEL_TYPE]
    assert MODEL_TYPE in available_model_types()
    assert check_plugin(MODEL_TYPE).blocking() == []

    revoke_override(override.id, "lead")
    with pytest.raises(ComplianceBlockedError, match="missing-name at line 15"):
        services.train_model(MODEL_TYPE, "AAPL")

    trail = get_audit_trail()
    actions = [r["action"] for r in reversed(trail.log(limit=100))]
    assert actions.index("plugin.blocked") < actions.index("override.grant") < actions.index("override.use") \
        < actions.index("plugin.load") < actions.index("override.revoke")
    [load] = trail.log(action="plugin.load")
    assert load["target"] == "momentum_plugin.py" and load["details"]["model_types"] == [MODEL_TYPE]
    assert trail.verify()["ok"] is True


def test_a_loaded_plugin_whose_file_changes_is_refused():
    path = _write("momentum_plugin.py", CLEAN)
    assert load_plugin(path).model_types == [MODEL_TYPE]
    path.write_text(CLEAN + "\n# edited after loading\n")
    with pytest.raises(ComplianceBlockedError, match="changed since it was loaded"):
        check_plugin(MODEL_TYPE)
    load_plugin(path)  # loading again re-scans and accepts the new bytes
    assert check_plugin(MODEL_TYPE).files_scanned == 1


def test_install_plugin_scans_before_writing():
    with pytest.raises(ComplianceBlockedError):
        install_plugin("momentum_plugin.py", PLANTED.encode())
    assert plugin_files() == []
    status = install_plugin("momentum_plugin.py", CLEAN.encode(), actor="analyst")
    assert status.loaded and status.model_types == [MODEL_TYPE]
    assert [p.name for p in plugin_files()] == ["momentum_plugin.py"]
    assert [p.name for p in get_settings().plugins_dir.iterdir()] == ["momentum_plugin.py"]  # no temp left


@pytest.mark.parametrize("name", ["../evil.py", "sub/model.py", "model.txt", "_private.py", "", "a b.py"])
def test_install_plugin_rejects_bad_file_names(name):
    with pytest.raises(InvalidInputError, match="Invalid plugin file name"):
        install_plugin(name, CLEAN.encode())


def test_install_plugin_rejects_empty_and_oversized_content():
    with pytest.raises(InvalidInputError, match="empty"):
        install_plugin("model.py", b"")
    with pytest.raises(InvalidInputError, match="larger than"):
        install_plugin("model.py", b"#" * 1_000_001)


def test_synthetic_data_plugin_is_blocked_and_never_imported(tmp_path):
    marker = tmp_path / "ran.marker"
    _write("noisy.py", f"import numpy as np\nopen({str(marker)!r}, 'w')\nprices = np.random.normal(size=10)\n")
    [status] = load_plugins()
    assert not status.loaded
    assert [v.rule for v in status.blocking_violations] == ["synthetic-data"]
    assert not marker.exists()


def test_a_class_registered_in_process_is_checked_through_its_source_file(tmp_path):
    from mltrainer.models import register_model_class, unregister_model_class
    from mltrainer.models.mean_reversion import MeanReversion

    class ReversionPlugin(MeanReversion):
        model_type = "reversion_in_process"

    register_model_class(ReversionPlugin)
    try:
        report = check_plugin("reversion_in_process")  # this test file's own source is scanned
        assert report.root.endswith("test_compliance_plugins.py") and report.blocking() == []
    finally:
        unregister_model_class("reversion_in_process")
    with pytest.raises(NotFoundError, match="No plugin defines model type"):
        check_plugin("reversion_in_process")


def test_importing_a_plugin_module_by_name_is_scanned_first(tmp_path):
    """What unpickling a trained plugin model does in a fresh process: import mltrainer_plugins.<file>."""
    import importlib
    import pickle
    import sys

    clean = _write("momentum_plugin.py", CLEAN)
    load_plugin(clean)
    model = sys.modules["mltrainer_plugins.momentum_plugin"].PluginMomentum()
    assert b"mltrainer_plugins.momentum_plugin" in pickle.dumps(model)  # pickled by reference
    for name in ("mltrainer_plugins.momentum_plugin", "mltrainer_plugins"):
        sys.modules.pop(name)
    check_plugin("momentum_plugin.py")  # installs the scanned import route again
    # Unpickling imports the class's module by name; that import is scanned, then executed.
    module = importlib.import_module("mltrainer_plugins.momentum_plugin")
    assert module.PluginMomentum.model_type == MODEL_TYPE
    assert sys.modules["mltrainer_plugins"].__path__ == []  # no unscanned import route

    marker = tmp_path / "ran.marker"
    _write("bad_plugin.py", f"open({str(marker)!r}, 'w')\nfrom mltrainer.models import NoSuchBase\n")
    with pytest.raises(ImportError, match="bad_plugin.py is blocked"):
        importlib.import_module("mltrainer_plugins.bad_plugin")
    assert not marker.exists()
    assert get_audit_trail().log(action="plugin.blocked")[0]["target"] == "bad_plugin.py"
