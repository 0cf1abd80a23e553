"""Plugins are loaded lazily by the model registry, so the CLI and API see them without an explicit load;
a type defined by a blocked plugin is refused with its violations, never called "unknown"."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from mltrainer.api import create_app
from mltrainer.audit import get_audit_trail
from mltrainer.cli import main
from mltrainer.compliance.plugins import unload_plugins
from mltrainer.config import Settings, get_settings
from mltrainer.errors import ComplianceBlockedError, UnknownModelTypeError
from mltrainer.models import MODEL_TYPES, available_model_types, create_model, get_model_class

TOKEN = "plugin-autoload-test-token-0123456789"
CLEAN = '''"""The built-in mean reversion under another name."""
from mltrainer.models.mean_reversion import MeanReversion


class AutoReversion(MeanReversion):
    model_type = "auto_reversion"
'''
# The fake import is at module level: importing this file would fail, so only the scan can speak for it.
BLOCKED = '''"""A plugin whose helper does not exist."""
from mltrainer.features import zscore_that_nobody_wrote
from mltrainer.models.mean_reversion import MeanReversion


class FakeAlpha(MeanReversion):
    model_type = "fake_alpha"
'''


@pytest.fixture(autouse=True)
def _unload():
    yield
    unload_plugins()


def _write(name: str, text: str):
    folder = get_settings().plugins_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trains_a_plugin_type_without_an_explicit_load(capsys):
    _write("auto_reversion.py", CLEAN)
    code, out, err = _run(capsys, "train", "--model", "auto_reversion", "--symbol", "AAPL", "--start",
                          "2007-01-01", "--end", "2012-12-31", "--splits", "3", "--param", "rsi_period=10",
                          "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["model_id"].startswith("auto_reversion_AAPL_")
    assert [r["target"] for r in get_audit_trail().log(action="plugin.load")] == ["auto_reversion.py"]


def test_cli_train_of_a_blocked_plugin_type_lists_its_violations(capsys):
    _write("fake_alpha.py", BLOCKED)
    code, out, err = _run(capsys, "train", "--model", "fake_alpha", "--symbol", "AAPL", "--json")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "Unknown model type" not in err
    assert "blocked plugin" in err and "missing-name at line 2" in err and "zscore_that_nobody_wrote" in err


def test_get_model_class_raises_compliance_blocked_with_the_violations():
    _write("fake_alpha.py", BLOCKED)
    with pytest.raises(ComplianceBlockedError) as blocked:
        create_model("fake_alpha")
    [violation] = blocked.value.violations
    assert (violation.rule, violation.line) == ("missing-name", 2)
    assert "fake_alpha" not in available_model_types()
    # A type no plugin declares is still unknown, with the usual suggestion.
    with pytest.raises(UnknownModelTypeError, match="Did you mean 'mean_reversion'"):
        get_model_class("mean_reversio")


def test_the_folder_is_loaded_once_and_again_when_it_changes():
    _write("auto_reversion.py", CLEAN)
    assert available_model_types() == MODEL_TYPES + ("auto_reversion",)
    assert available_model_types() == MODEL_TYPES + ("auto_reversion",)
    get_model_class("auto_reversion")
    with pytest.raises(UnknownModelTypeError):
        get_model_class("still_not_a_type")
    assert len(get_audit_trail().log(action="plugin.load")) == 1  # unchanged folder: not loaded again

    _write("second.py", CLEAN.replace("AutoReversion", "Second").replace('"auto_reversion"', '"second_reversion"'))
    assert get_model_class("second_reversion").__name__ == "Second"
    assert set(available_model_types()) == set(MODEL_TYPES) | {"auto_reversion", "second_reversion"}


def test_a_plugin_listing_types_while_it_is_imported_does_not_reload_the_folder():
    _write("lister.py", CLEAN + "\nfrom mltrainer.models import available_model_types\n"
                                "KNOWN_AT_IMPORT = available_model_types()\n")
    assert "auto_reversion" in available_model_types()
    assert len(get_audit_trail().log(action="plugin.load")) == 1


def test_compliance_plugins_exits_1_when_a_plugin_is_blocked(capsys):
    _write("auto_reversion.py", CLEAN)
    code, out, _ = _run(capsys, "compliance", "plugins", "--json")
    assert code == 0 and [s["loaded"] for s in json.loads(out)] == [True]
    _write("fake_alpha.py", BLOCKED)
    code, out, _ = _run(capsys, "compliance", "plugins", "--json")
    statuses = {s["path"].rsplit("/", 1)[-1]: s for s in json.loads(out)}
    assert code == 1
    assert statuses["auto_reversion.py"]["loaded"] is True and statuses["fake_alpha.py"]["loaded"] is False
    assert [v["rule"] for v in statuses["fake_alpha.py"]["blocking_violations"]] == ["missing-name"]


def test_api_lists_plugin_types_and_refuses_a_blocked_one():
    _write("auto_reversion.py", CLEAN)
    _write("fake_alpha.py", BLOCKED)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(Settings(api_tokens=TOKEN)), raise_server_exceptions=False) as client:
        listed = client.get("/api/models", headers=auth)
        refused = client.post("/api/models/train", headers=auth, json={"model_id": "fake_alpha", "symbol": "AAPL"})
    assert listed.status_code == 200
    assert "auto_reversion" in [t["model_type"] for t in listed.json()["model_types"]]
    assert refused.json()["error"] == "ComplianceBlockedError"
    assert "missing-name at line 2" in refused.json()["detail"]


def test_a_job_for_a_blocked_plugin_type_is_refused_with_its_violations():
    from mltrainer.jobs import submit_training

    _write("fake_alpha.py", BLOCKED)
    with pytest.raises(ComplianceBlockedError, match="missing-name at line 2"):
        submit_training("fake_alpha", "AAPL")
