"""Compliance: a static scanner for model code, runtime method checks, audited overrides, plugins.

The scanner never imports or executes the code it judges: files are parsed with ``ast`` and names
are resolved from installed libraries' own source (see :mod:`mltrainer.compliance._resolver`).

    report = scan_path("my_models/", fail_on="critical")
    report.blocking()      # violations without an active override at/above fail_on
    report.to_dict()       # exactly the JSON the CLI prints

Rules and their default severities live in :mod:`mltrainer.compliance.rules`.
"""

from mltrainer.compliance.report import ScanReport, Violation
from mltrainer.compliance.rules import RULES, SEVERITIES, Rule
from mltrainer.compliance.runtime import require_methods
from mltrainer.compliance.scanner import scan_path, scan_source

__all__ = [
    "scan_path",
    "scan_source",
    "ScanReport",
    "Violation",
    "RULES",
    "SEVERITIES",
    "Rule",
    "require_methods",
]
