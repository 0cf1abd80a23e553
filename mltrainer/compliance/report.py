"""Scan results: one :class:`Violation` per finding, one :class:`ScanReport` per scan, and their
JSON / markdown renderings (the CLI prints exactly ``ScanReport.to_dict()``)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mltrainer.compliance.rules import SEVERITIES, severity_rank
from mltrainer.errors import InvalidInputError

__all__ = ["Violation", "ScanReport", "check_severity"]


def check_severity(severity: str, name: str = "fail_on") -> str:
    if severity not in SEVERITIES:
        raise InvalidInputError(f"Invalid {name} {severity!r}: use one of {', '.join(SEVERITIES)}.")
    return severity


@dataclass(frozen=True)
class Violation:
    """One finding. ``message`` says what is wrong and how to fix it; ``fingerprint`` identifies the
    finding across unrelated edits (it does not depend on the line number)."""

    rule: str
    severity: str
    path: str
    line: int
    col: int
    message: str
    excerpt: str
    fingerprint: str
    overridden: bool = False
    override_reason: str | None = None
    override_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ScanReport:
    """The result of scanning a file or a tree. ``duration_s`` is wall-clock seconds."""

    root: str
    files_scanned: int
    duration_s: float
    violations: list[Violation] = field(default_factory=list)
    fail_on: str = "critical"
    #: ``{"by_severity": {severity: count}, "by_rule": {rule: count}}``, derived from ``violations``.
    summary: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_severity = {s: 0 for s in SEVERITIES}
        by_rule: Counter[str] = Counter()
        for v in self.violations:
            by_severity[v.severity] += 1
            by_rule[v.rule] += 1
        # A field (not a property) so that generic serialisers such as to_jsonable include it.
        object.__setattr__(self, "summary", {"by_severity": by_severity, "by_rule": dict(sorted(by_rule.items()))})

    def blocking(self, fail_on: str | None = None) -> list[Violation]:
        """Violations without an active override at or above ``fail_on`` (default: the scan's)."""
        threshold = severity_rank(check_severity(fail_on or self.fail_on))
        return [v for v in self.violations if not v.overridden and severity_rank(v.severity) <= threshold]

    @property
    def passed(self) -> bool:
        return not self.blocking()

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "files_scanned": self.files_scanned,
            "duration_s": round(self.duration_s, 4),
            "fail_on": self.fail_on,
            "passed": self.passed,
            "violations": [v.to_dict() for v in self.violations],
            "summary": self.summary,
        }

    def to_markdown(self) -> str:
        s = self.summary["by_severity"]
        lines = [
            f"# Compliance scan of `{self.root}`",
            "",
            f"{self.files_scanned} files in {self.duration_s:.2f} s — "
            + ", ".join(f"{s[k]} {k}" for k in SEVERITIES)
            + f" — **{'PASSED' if self.passed else 'FAILED'}** (fail on {self.fail_on})",
            "",
        ]
        if not self.violations:
            lines.append("No violations.")
            return "\n".join(lines) + "\n"
        lines += ["| severity | rule | location | message | fingerprint |", "|---|---|---|---|---|"]
        for v in self.violations:
            message = v.message.replace("|", "\\|")
            if v.overridden:
                message += f" *(overridden: {v.override_reason})*".replace("|", "\\|")
            lines.append(f"| {v.severity} | {v.rule} | `{v.path}:{v.line}` | {message} | `{v.fingerprint}` |")
        return "\n".join(lines) + "\n"
