"""``python -m mltrainer compliance ...``: JSON/markdown reports, exit codes, overrides."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from mltrainer.cli import main

CORPUS = Path(__file__).parent / "corpus"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_json_and_exit_codes(capsys):
    code, out, err = _run(capsys, "compliance", "scan", str(CORPUS / "tp_unsafe.py"))
    report = json.loads(out)
    assert code == 1 and err == ""
    assert report["files_scanned"] == 1
    assert report["summary"]["by_rule"] == {"unsafe-deserialization": 5}
    assert report["summary"]["by_severity"] == {"critical": 5, "high": 0, "medium": 0, "low": 0}
    assert {"rule", "severity", "path", "line", "col", "message", "excerpt", "fingerprint"} <= set(report["violations"][0])


def test_fail_on_threshold(capsys):
    secrets = str(CORPUS / "tp_secrets.py")  # only high findings
    assert _run(capsys, "compliance", "scan", secrets)[0] == 0
    assert _run(capsys, "compliance", "scan", secrets, "--fail-on", "high")[0] == 1
    guarded = str(CORPUS / "tn_imports.py")  # only low findings
    assert _run(capsys, "compliance", "scan", guarded, "--fail-on", "medium")[0] == 0
    assert _run(capsys, "compliance", "scan", guarded, "--fail-on", "low")[0] == 1


def test_markdown_format(capsys):
    code, out, _ = _run(capsys, "compliance", "scan", str(CORPUS / "tp_missing_name.py"), "--format", "markdown")
    assert code == 1
    assert out.startswith("# Compliance scan of ")
    assert "**FAILED** (fail on critical)" in out
    assert out.count("| critical | missing-name |") == 4


def test_usage_errors_exit_2(capsys):
    code, out, err = _run(capsys, "compliance", "scan", str(CORPUS / "no_such_file.py"))
    assert (code, out) == (2, "")
    assert err.startswith("error: no such file or directory") and err.count("\n") == 1


def test_override_commands_make_a_scan_pass(capsys):
    target = str(CORPUS / "tp_missing_module.py")
    code, out, _ = _run(capsys, "compliance", "scan", target)
    fingerprints = [v["fingerprint"] for v in json.loads(out)["violations"]]
    assert code == 1 and len(fingerprints) == 4
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    ids = []
    for fingerprint in fingerprints:
        code, out, _ = _run(capsys, "compliance", "overrides", "grant", fingerprint, "--reason", "vendored",
                            "--expires", expires, "--author", "lead", "--json")
        assert code == 0
        ids.append(json.loads(out)["id"])
    code, out, _ = _run(capsys, "compliance", "scan", target)
    assert code == 0 and all(v["overridden"] for v in json.loads(out)["violations"])

    code, out, _ = _run(capsys, "compliance", "overrides", "revoke", str(ids[0]), "--author", "lead", "--json")
    assert code == 0 and json.loads(out)["revoked_by"] == "lead"
    code, out, _ = _run(capsys, "compliance", "overrides", "list", "--active", "--json")
    assert [o["id"] for o in json.loads(out)] == ids[1:]
    assert _run(capsys, "compliance", "scan", target)[0] == 1


def test_grant_errors_are_one_line_exit_1(capsys):
    code, out, err = _run(capsys, "compliance", "overrides", "grant", "0123456789abcdef", "--reason", "x",
                          "--expires", "2000-01-01", "--author", "me")
    assert (code, out) == (1, "")
    assert err.startswith("error: Override expiry") and err.count("\n") == 1
