"""Compliance page: scan, filter, excerpt, override grant/revoke, audit trail status."""

from __future__ import annotations

from mltrainer import services
from mltrainer.config import get_settings

PLUGIN = "import numpy as np\nimport nonexistent_mod_xyz\n\nprices = np.random.randn(100)\n"


def _plugin_dir():
    plugins = get_settings().plugins_dir
    plugins.mkdir(parents=True)
    (plugins / "bad_model.py").write_text(PLUGIN)
    return plugins


def test_scan_filter_excerpt_and_override(page):
    _plugin_dir()
    at = page("compliance").run()
    assert "No scan recorded yet" in at.info[0].value
    at.button(key="comp_scan").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    assert {m.label: m.value for m in at.metric} == {"Critical": "2", "High": "0", "Medium": "0", "Low": "0"}
    violations = at.dataframe[1].value
    assert sorted(violations["rule"]) == ["missing-module", "synthetic-data"]
    assert list(violations["line"]) == [2, 4]

    at.multiselect(key="comp_rule").set_value(["synthetic-data"]).run()
    assert list(at.dataframe[1].value["rule"]) == ["synthetic-data"]
    assert at.code[0].value == PLUGIN.rstrip("\n")  # lines 1-4: three lines of context around line 4
    fingerprint = at.dataframe[1].value["fingerprint"][0]

    at.button(key="comp_use_fp").click().run()
    assert at.text_input(key="comp_fp").value == fingerprint
    at.text_input(key="comp_reason").input("fixture for the dashboard test")
    at.text_input(key="comp_author").input("alice")
    at.button(key="comp_grant").click().run()
    assert any(s.value.startswith("Override 1 granted") for s in at.success)

    at.button(key="comp_scan").click().run()
    assert "**1 blocking**" in at.markdown[0].value
    assert [o.fingerprint for o in services.list_overrides(active_only=True)] == [fingerprint]
    (granted,) = services.list_overrides(active_only=True)
    # The override records what it accepts and where, taken from the scanned violation.
    assert (granted.rule, granted.path) == ("synthetic-data", "plugins/bad_model.py")
    table = next(df.value for df in at.dataframe if "revoked by" in df.value.columns)
    assert list(table["rule"]) == ["synthetic-data"] and list(table["file"]) == ["plugins/bad_model.py"]

    at.text_input(key="comp_revoke_author").input("bob")
    at.button(key="comp_revoke").click().run()
    assert services.list_overrides(active_only=True) == []
    actions = [r["action"] for r in services.audit_log(limit=10)]
    assert actions[:4] == ["override.revoke", "compliance.scan", "override.use", "override.grant"]


def test_grant_without_reason_shows_the_fix(page):
    at = page("compliance").run()
    at.text_input(key="comp_fp").input("aaa8f44c61a3e375")
    at.text_input(key="comp_author").input("alice")
    at.button(key="comp_grant").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "non-empty reason" in at.error[0].value


def test_audit_viewer_filters_and_shows_chain_status(page, models_home):
    at = page("compliance").run()
    verdict = services.verify_audit()
    assert verdict["ok"]
    assert f"Chain verified: {verdict['records']} records" in at.success[0].value
    at.text_input(key="comp_audit_action").input("model.train").run()
    log = at.dataframe[-1].value
    assert set(log["target"]) == {models_home.regime_id, models_home.reversion_id}
    assert set(log["action"]) == {"model.train"}


# Credential-looking literals (the shapes of the scanner's corpus); the page must never print them.
SECRET_PLUGIN = (
    '"""A plugin someone wrote a key into."""\n'
    "import os\n"
    "\n"
    'POLYGON_API_KEY = "pk8Xq2LmZ7vR4tW9yB3nC6dF"\n'
    'settings = {"api_token": "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "id": "ab"}\n'
    'HOME = os.environ.get("HOME_DIR_NAME")\n'
)
SECRETS = ("pk8Xq2LmZ7vR4tW9yB3nC6dF", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")


def _everything_shown(at) -> str:
    parts = [str(getattr(e, "value", "")) for kind in ("code", "markdown", "caption", "text", "info",
                                                       "success", "warning", "error", "metric")
             for e in getattr(at, kind)]
    parts += [df.value.to_csv() for df in at.dataframe]
    parts += [str(o) for o in at.selectbox[0].options] if len(at.selectbox) else []
    return "\n".join(parts)


def test_hardcoded_secret_is_masked_in_the_excerpt_and_nowhere_shown(page):
    plugins = get_settings().plugins_dir
    plugins.mkdir(parents=True)
    (plugins / "leaky_model.py").write_text(SECRET_PLUGIN)
    at = page("compliance").run()
    at.button(key="comp_scan").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    violations = at.dataframe[1].value
    assert list(violations["rule"]) == ["hardcoded-secret", "hardcoded-secret"]
    assert list(violations["line"]) == [4, 5]

    # Line 4 with three lines of context either side; every literal on a flagged line (4 and 5) shows
    # its first 4 characters and its length; the 2-character one reveals nothing and stays.
    assert at.code[0].value == (
        '"""A plugin someone wrote a key into."""\n'
        "import os\n"
        "\n"
        'POLYGON_API_KEY = "pk8X…(24 chars)"\n'
        'settings = {"api_…(9 chars)": "ghp_…(40 chars)", "id": "ab"}\n'
        'HOME = os.environ.get("HOME_DIR_NAME")'
    )
    assert not any(secret in _everything_shown(at) for secret in SECRETS)

    at.selectbox(key="comp_violation").set_value(1).run()
    code = at.code[0].value.splitlines()
    # Lines 4 and 5 of an excerpt that starts on line 2.
    assert code[2:4] == ['POLYGON_API_KEY = "pk8X…(24 chars)"',
                         'settings = {"api_…(9 chars)": "ghp_…(40 chars)", "id": "ab"}']
    assert not any(secret in _everything_shown(at) for secret in SECRETS)
