"""Scan a file or a tree: parse each file, apply the rules, fingerprint findings, apply overrides.

Nothing scanned is ever imported or executed: files are read as text and parsed with ``ast``; names
are resolved by :mod:`mltrainer.compliance._resolver`.

Fingerprints are SHA-256 (first 16 hex digits) of: rule, the file's path relative to its source root,
the enclosing scope's qualified name, the normalised offending source text, and the occurrence index
of that text within the scope. They survive edits elsewhere in the file (lines moving) and change
when the offending code itself, its scope or its file changes.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import textwrap
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from mltrainer.compliance._checks import FileChecker, Finding, drop_supplied_by_subclasses, is_test_path
from mltrainer.compliance._resolver import Resolver, module_name_for_file
from mltrainer.compliance.masking import SECRET_RULES, mask_lines
from mltrainer.compliance.report import ScanReport, Violation, check_severity
from mltrainer.compliance.rules import RULES, severity_rank
from mltrainer.errors import InvalidInputError

__all__ = ["scan_path", "scan_source", "scan_file_content", "scan_files", "iter_python_files", "record_audit"]

log = logging.getLogger(__name__)

_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".venv", "venv", "node_modules", ".tox", ".mypy_cache",
                        ".pytest_cache", ".ruff_cache", "build", "dist", ".eggs"})
#: Findings for a file that cannot be parsed: it cannot be judged, so it cannot be trusted either.
SYNTAX_RULE = "syntax-error"


def _check_rules(rules: Iterable[str] | None) -> frozenset[str]:
    if rules is None:
        return frozenset(RULES)
    chosen = frozenset(rules)
    unknown = sorted(chosen - set(RULES))
    if unknown:
        raise InvalidInputError(f"Unknown compliance rule(s) {', '.join(unknown)}: use any of {', '.join(RULES)}.")
    return chosen


def iter_python_files(root: Path) -> list[Path]:
    """``.py`` files under ``root`` (or ``root`` itself), sorted, skipping caches and VCS folders."""
    if root.is_file():
        return [root]
    found = []
    for path in root.rglob("*.py"):
        rel_parts = path.relative_to(root).parts[:-1]
        if any(p in _SKIP_DIRS or p.startswith(".") for p in rel_parts):
            continue
        found.append(path)
    return sorted(found)


def _fingerprint(rule: str, relpath: str, scope: str, key_text: str, occurrence: int) -> str:
    payload = "\0".join((rule, relpath, scope, key_text, str(occurrence)))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _excerpt(lines: list[str], start: int, end: int) -> str:
    end = min(end, start + 4, len(lines))
    chunk = lines[start - 1 : end] if 1 <= start <= len(lines) else []
    return textwrap.dedent("\n".join(line.rstrip() for line in chunk)).strip("\n")


def _violations_for(findings: list[Finding], lines: list[str], relpath: str, display: str) -> list[Violation]:
    # A report must not repeat the secret it flags: literals on those lines are masked in every excerpt.
    secret_lines = {n for f in findings if f.rule in SECRET_RULES
                    for n in range(f.line, max(f.line, f.end_line or f.line) + 1)}
    if secret_lines:
        lines = mask_lines(lines, secret_lines)
    seen: Counter[tuple[str, str, str]] = Counter()
    out = []
    for f in sorted(findings, key=lambda f: (f.line, f.col, f.rule)):
        key = (f.rule, f.scope, f.key_text)
        occurrence = seen[key]
        seen[key] += 1
        out.append(Violation(
            rule=f.rule, severity=f.severity, path=display, line=f.line, col=f.col, message=f.message,
            excerpt=_excerpt(lines, f.line, f.end_line),
            fingerprint=_fingerprint(f.rule, relpath, f.scope, f.key_text, occurrence),
        ))
    return out


def _scan_text(text: str, relpath: str, module_name: str, is_package: bool, resolver: Resolver,
               rules: frozenset[str], tree: ast.Module | None = None,
               display: str | None = None) -> list[Violation]:
    """Findings of one file. ``relpath`` (from the source root) keys fingerprints and path allowances;
    ``display`` (from the folder holding the scanned root) is what reports show and what decides
    whether the file is in a test folder."""
    findings, lines = _findings_for(text, relpath, module_name, is_package, resolver, rules, tree, display)
    return _violations_for(findings, lines, relpath, display or relpath)


def _findings_for(text: str, relpath: str, module_name: str, is_package: bool, resolver: Resolver,
                  rules: frozenset[str], tree: ast.Module | None = None, display: str | None = None,
                  class_index: list | None = None) -> tuple[list[Finding], list[str]]:
    display = display or relpath
    lines = text.splitlines()
    try:
        tree = tree or ast.parse(text, filename=relpath)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None) or 1
        finding = Finding(SYNTAX_RULE, "critical", line, (getattr(exc, "offset", None) or 0) + 1, line,
                          f"The file does not parse ({getattr(exc, 'msg', exc)}), so it cannot be checked or "
                          "run. Fix the syntax error.", "<module>", SYNTAX_RULE)
        return [finding], lines
    checker = FileChecker(tree, lines, module_name, is_package, resolver, relpath, rules,
                          is_test=is_test_path(display) or is_test_path(relpath))
    findings = checker.run()
    if class_index is not None:
        class_index.extend(checker.class_index)
    return drop_supplied_by_subclasses(findings, checker.class_index), lines


def scan_files(files: list[Path], scanned: list[Path], rules: frozenset[str]) -> list[Violation]:
    """Scan ``files`` (all under ``scanned``) with one shared resolver."""
    located = []
    roots: list[Path] = []
    for file in files:
        module_name, root = module_name_for_file(file)
        located.append((file, module_name, root))
        if root not in roots:
            roots.append(root)
    resolver = Resolver(tree_roots=roots, scanned_paths=scanned)
    bases = [p.resolve().parent for p in scanned]
    class_index: list = []
    per_file = []
    for file, module_name, root in located:
        resolved = file.resolve()
        relpath = resolved.relative_to(root).as_posix()
        base = next((b for b in bases if resolved.is_relative_to(b)), root)
        display = resolved.relative_to(base).as_posix()
        try:
            text = file.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"Cannot read {relpath} as UTF-8 text ({type(exc).__name__}); "
                                    "save it as UTF-8 and scan again.") from None
        name = module_name or file.stem
        resolver.module(name)  # parses the file once for both the resolver and the checks
        findings, lines = _findings_for(text, relpath, name, file.name == "__init__.py", resolver, rules,
                                        resolver.take_tree(file), display, class_index)
        if findings:
            per_file.append((findings, lines, relpath, display))
    violations: list[Violation] = []
    for findings, lines, relpath, display in per_file:
        violations += _violations_for(drop_supplied_by_subclasses(findings, class_index), lines, relpath, display)
    return violations


def scan_source(text: str, path: str = "<string>", rules: Iterable[str] | None = None,
                fail_on: str = "critical") -> ScanReport:
    """Scan source text (nothing is executed). ``path`` is used for messages and, when it names an
    existing file, for resolving relative imports against its package. No overrides, no audit."""
    chosen = _check_rules(rules)
    check_severity(fail_on)
    start = time.perf_counter()
    candidate = Path(path)
    if path != "<string>" and candidate.is_file():
        module_name, root = module_name_for_file(candidate)
        resolver = Resolver(tree_roots=[root], scanned_paths=[candidate])
        relpath = candidate.resolve().relative_to(root).as_posix()
        is_package = candidate.name == "__init__.py"
    else:
        module_name, resolver, relpath, is_package = "<string>", Resolver(), path, False
    violations = _scan_text(text, relpath, module_name, is_package, resolver, chosen)
    return ScanReport(root=path, files_scanned=1, duration_s=time.perf_counter() - start,
                      violations=violations, fail_on=fail_on)


def scan_path(path: str | Path, actor: str = "user", fail_on: str = "critical",
              rules: Iterable[str] | None = None, apply_overrides: bool = True) -> ScanReport:
    """Scan a ``.py`` file or a directory tree and record one ``compliance.scan`` audit entry.

    Violations with an active override (by fingerprint) are marked ``overridden`` and each use of an
    override is audited; they no longer count in :meth:`ScanReport.blocking`.
    """
    chosen = _check_rules(rules)
    check_severity(fail_on)
    root = Path(path)
    if not root.exists():
        raise InvalidInputError(f"Nothing to scan at {str(path)!r}: give an existing .py file or directory.")
    if root.is_file() and root.suffix != ".py":
        raise InvalidInputError(f"{root.name!r} is not a Python file: give a .py file or a directory.")
    start = time.perf_counter()
    files = iter_python_files(root)
    violations = scan_files(files, [root], chosen)
    return _finish(str(path), len(files), violations, start, actor, fail_on, apply_overrides)


def scan_file_content(path: Path, content: bytes, actor: str = "system", fail_on: str = "critical",
                      apply_overrides: bool = True) -> ScanReport:
    """Scan ``content`` as if it were the file at ``path`` (which need not exist yet), audited.

    The plugin loader scans exactly the bytes it will execute, so the file cannot change in between.
    """
    check_severity(fail_on)
    start = time.perf_counter()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path.name} is not UTF-8 text: save it as UTF-8 and try again.") from None
    module_name, root = module_name_for_file(path)
    resolver = Resolver(tree_roots=[root], scanned_paths=[path])
    relpath = path.resolve().relative_to(root).as_posix()
    violations = _scan_text(text, relpath, module_name or path.stem, path.name == "__init__.py", resolver,
                            frozenset(RULES))
    return _finish(str(path), 1, violations, start, actor, fail_on, apply_overrides)


def _finish(root: str, files_scanned: int, violations: list[Violation], start: float, actor: str,
            fail_on: str, apply_overrides: bool) -> ScanReport:
    if apply_overrides and violations:
        violations = _apply_overrides(violations, actor)
    violations.sort(key=lambda v: (severity_rank(v.severity), v.path, v.line, v.col))
    report = ScanReport(root=root, files_scanned=files_scanned, duration_s=time.perf_counter() - start,
                        violations=violations, fail_on=fail_on)
    record_audit("compliance.scan", root, {
        "files_scanned": report.files_scanned,
        "violations": len(violations),
        "by_severity": report.summary["by_severity"],
        "blocking": len(report.blocking()),
        "fail_on": fail_on,
    }, actor)
    log.info("scanned %s: %d files, %d violations", root, files_scanned, len(violations))
    return report


def _apply_overrides(violations: list[Violation], actor: str) -> list[Violation]:
    from dataclasses import replace

    from mltrainer.compliance.overrides import active_overrides_by_fingerprint

    active = active_overrides_by_fingerprint({v.fingerprint for v in violations})
    out = []
    for v in violations:
        override = active.get(v.fingerprint)
        if override is None or (override.rule and override.rule != v.rule):
            out.append(v)
            continue
        out.append(replace(v, overridden=True, override_reason=override.reason, override_id=override.id))
        record_audit("override.use", v.fingerprint, {
            "override_id": override.id, "rule": v.rule, "path": v.path, "line": v.line,
        }, actor)
    return out


def record_audit(action: str, target: str, details: dict | None, actor: str) -> None:
    """Append to the audit trail."""
    from mltrainer.audit import get_audit_trail

    get_audit_trail().record(action, target, details=details, actor=actor)
