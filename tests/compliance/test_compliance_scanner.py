"""The scanner on its labelled corpus, on mlTrainer's own code, and its safety properties."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mltrainer.compliance import RULES, scan_path, scan_source
from mltrainer.errors import InvalidInputError

CORPUS = Path(__file__).parent / "corpus"
PACKAGE = Path(__file__).resolve().parents[2] / "mltrainer"


@pytest.fixture(scope="module")
def corpus_report():
    return scan_path(CORPUS, apply_overrides=False)


def _found(report) -> Counter:
    return Counter((v.path.removeprefix("corpus/"), v.line, v.rule, v.severity) for v in report.violations)


def test_corpus_precision_and_recall_are_perfect(corpus_report):
    labels = json.loads((CORPUS / "labels.json").read_text())["expected"]
    expected = Counter(tuple(item) for item in labels)
    found = _found(corpus_report)
    true_positives = sum((expected & found).values())
    precision = true_positives / sum(found.values())
    recall = true_positives / sum(expected.values())
    assert (precision, recall) == (1.0, 1.0), {
        "unexpected": sorted((found - expected).elements()),
        "missed": sorted((expected - found).elements()),
    }


def test_corpus_has_true_positives_for_every_rule(corpus_report):
    blocking_rules = {v.rule for v in corpus_report.violations if v.severity in ("critical", "high")}
    assert blocking_rules == set(RULES)


def test_tricky_negative_files_have_no_blocking_findings(corpus_report):
    blocking = [v for v in corpus_report.violations
                if Path(v.path).name.startswith("tn_") and v.severity in ("critical", "high", "medium")]
    assert blocking == []
    assert corpus_report.files_scanned == len(list(CORPUS.rglob("*.py")))


def test_violation_fields_say_what_and_how_to_fix(corpus_report):
    [v] = [v for v in corpus_report.violations if v.path == "corpus/tp_missing_name.py" and v.line == 2]
    assert (v.rule, v.severity, v.col) == ("missing-name", "critical", 1)
    assert v.excerpt == "from json import dumps, dumps_fast"
    assert "`json` has no name `dumps_fast`" in v.message and "Did you mean dumps" in v.message
    assert len(v.fingerprint) == 16 and not v.overridden
    summary = corpus_report.summary
    assert summary["by_rule"]["unsafe-deserialization"] == 5
    assert sum(summary["by_severity"].values()) == len(corpus_report.violations)


def test_report_dict_is_the_cli_json(corpus_report):
    data = corpus_report.to_dict()
    assert set(data) >= {"files_scanned", "duration_s", "violations", "summary"}
    assert set(data["summary"]) == {"by_severity", "by_rule"}
    assert json.loads(json.dumps(data)) == data
    assert len(corpus_report.blocking("critical")) == data["summary"]["by_severity"]["critical"]
    assert len(corpus_report.blocking("high")) == (data["summary"]["by_severity"]["critical"]
                                                   + data["summary"]["by_severity"]["high"])
    assert "| critical | missing-module |" in corpus_report.to_markdown()


def test_mltrainer_itself_scans_clean():
    report = scan_path(PACKAGE, apply_overrides=False)
    problems = [(v.path, v.line, v.rule, v.message) for v in report.violations if v.severity in ("critical", "high")]
    assert problems == []
    assert report.files_scanned > 20


def test_scanning_never_imports_or_runs_the_code(tmp_path):
    marker = tmp_path / "imported.marker"
    target = tmp_path / "scanned" / "evil_model.py"
    target.parent.mkdir()
    target.write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('ran')\n"
        "import json\n"
        "json.not_there()\n"
        "if __name__ == '__main__':\n"
        f"    Path({str(marker)!r}).write_text('ran as main')\n"
    )
    (target.parent / "sibling.py").write_text(f"open({str(marker)!r}, 'w').write('sibling ran')\n")
    (target.parent / "user.py").write_text("import evil_model\nimport sibling\nevil_model.Path\n")
    report = scan_path(target.parent, apply_overrides=False)
    assert not marker.exists()
    assert [(v.path, v.rule) for v in report.violations] == [("scanned/evil_model.py", "missing-attribute")]


def test_fingerprint_survives_unrelated_edits_and_changes_with_the_code():
    original = "import json\n\n\ndef load(text):\n    return json.loadz(text)\n"
    edited = "import json\nimport os\n\nCONSTANT = 1\n\n\ndef load(text):\n    return json.loadz(text)\n"
    renamed = original.replace("def load", "def load_all")
    [a] = scan_source(original, "model.py").violations
    [b] = scan_source(edited, "model.py").violations
    [c] = scan_source(renamed, "model.py").violations
    [d] = scan_source(original, "other_model.py").violations
    assert (a.line, b.line) == (5, 8)
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, c.fingerprint, d.fingerprint}) == 3


def test_repeated_findings_in_one_scope_get_distinct_fingerprints():
    source = "import pickle\n\ndef f(a, b):\n    return pickle.loads(a), pickle.loads(a)\n"
    first, second = scan_source(source, "m.py").violations
    assert first.fingerprint != second.fingerprint


def test_unsafe_deserialization_allowance_is_keyed_by_path(tmp_path):
    code = "import joblib\n\n\ndef load(path):\n    return joblib.load(path)\n"
    registry = tmp_path / "mltrainer" / "registry"
    registry.mkdir(parents=True)
    (tmp_path / "mltrainer" / "__init__.py").write_text("")
    (registry / "__init__.py").write_text("")
    (registry / "artifacts.py").write_text(code)
    (registry / "elsewhere.py").write_text(code)
    report = scan_path(tmp_path / "mltrainer", apply_overrides=False, rules=["unsafe-deserialization"])
    assert [v.path for v in report.violations] == ["mltrainer/registry/elsewhere.py"]
    assert RULES["unsafe-deserialization"].options["allowed_paths"] == ("mltrainer/registry/artifacts.py",)


def test_rules_filter_and_bad_arguments(tmp_path):
    only = scan_path(CORPUS / "tp_unsafe.py", apply_overrides=False, rules=["hardcoded-secret"])
    assert only.violations == [] and only.files_scanned == 1
    with pytest.raises(InvalidInputError, match="Unknown compliance rule"):
        scan_path(CORPUS, rules=["no-such-rule"])
    with pytest.raises(InvalidInputError, match="fail_on"):
        scan_path(CORPUS, fail_on="severe")
    with pytest.raises(InvalidInputError, match="Nothing to scan"):
        scan_path(tmp_path / "missing")


def test_a_file_that_does_not_parse_is_a_critical_finding():
    [v] = scan_source("def broken(:\n    pass\n", "broken.py").violations
    assert (v.rule, v.severity, v.line) == ("syntax-error", "critical", 1)


def test_scan_path_is_audited():
    from mltrainer.audit import get_audit_trail

    report = scan_path(CORPUS / "tp_unsafe.py", actor="alice")
    [entry] = get_audit_trail().log(limit=10, action="compliance.scan")
    assert entry["actor"] == "alice"
    assert entry["details"]["violations"] == len(report.violations) == 5
    assert entry["details"]["blocking"] == 5


@pytest.mark.parametrize(("source", "expected_lines"), [
    ('import os\nos.putenv("POLYGON_API_KEY", "Zq8Lr2vN5tK9wX3bM7cJ4pH6")\n', [2]),
    ('connect = lambda host, token="Wm4Tq9Zr2Lx7Vb5Nc8Kd3Hf": (host, token)\n', [1]),
    # A random key body may contain "123456" by chance; the prefix still marks a real key.
    ('STRIPE_KEY = "sk_live_4eC39HqLyj123456WDarjtT1zdp7dc"\n', [1]),
    ('config = {}\nconfig["api_key"] = "Zq8Lr2vN5tK9wX3bM7cJ4pH6"\nconfig["sort_key"] = "date"\n', [2]),
    ('STRIPE_KEY = "sk_live_****************"\nGITHUB_TOKEN = "ghp_<paste-your-token>"\n', []),
])
def test_hardcoded_secret_forms(source, expected_lines):
    report = scan_source(source, "settings_module.py", rules=["hardcoded-secret"])
    assert [v.line for v in report.violations] == expected_lines


@pytest.mark.parametrize(("call", "flagged"), [
    ('pd.read_excel("https://stooq.com/db/d/?b=d_us_txt")', True),
    ('pd.read_csv(filepath_or_buffer="http://data.example-vendor.net/spx.csv")', True),
    ('np.loadtxt("https://www.cboe.com/vix.csv", delimiter=",")', True),
    ('pd.read_csv("https://api.stlouisfed.org/fred/series/observations?series_id=DGS10")', False),
    ('pd.read_csv("prices/AAPL.csv")', False),
    ('pd.read_csv(settings.polygon_base_url + "/bars.csv")', False),
    ('pd.DataFrame({"url": ["https://stooq.com"]})', False),
])
def test_file_readers_given_an_unapproved_url(call, flagged):
    source = f"import numpy as np\nimport pandas as pd\n\n\ndef load(settings):\n    return {call}\n"
    report = scan_source(source, "loader.py", rules=["unapproved-source"])
    assert [(v.rule, v.line) for v in report.violations] == ([("unapproved-source", 6)] if flagged else [])


def test_reports_never_repeat_a_hardcoded_secret(tmp_path):
    """The scan's excerpts (CLI/API/report output) mask the literal they flag."""
    from mltrainer.compliance import scan_path

    path = tmp_path / "keys.py"
    path.write_text('import os\nSTRIPE_SECRET = "sk_live_51HqLyjWDarjtT1zdp7dcXa9Rf"\n')
    report = scan_path(path)
    secrets = [v for v in report.violations if v.rule == "hardcoded-secret"]
    assert len(secrets) == 1 and secrets[0].line == 2
    assert secrets[0].excerpt == 'STRIPE_SECRET = "sk_l…(34 chars)"'
    assert "51HqLyjWDarjtT1zdp7dcXa9Rf" not in str(report.to_dict())
