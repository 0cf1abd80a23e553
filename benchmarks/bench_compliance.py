"""Compliance scanner benchmark (not a test): files per second on the installed scikit-learn source,
against pylint restricted to the equivalent checks, on the same files in the same run.

    python benchmarks/bench_compliance.py [--package sklearn] [--max-files N] [--skip-pylint]

Equivalent checks: our ``missing-module``/``missing-name``/``missing-attribute`` vs pylint's
``E0401`` (import-error), ``E0611`` (no-name-in-module) and ``E1101`` (no-member), i.e.
``pylint --disable=all --enable=E0401,E0611,E1101``. We also time a scan with every rule. Both tools
run single-process (``--jobs=1``), each once, cold (fresh process for pylint, fresh resolver for us).
Wall time and the CPU time of the process doing the work are recorded: on a shared machine CPU time is
the fairer comparison.

Results go to ``benchmarks/results/bench_compliance.json``; a markdown table is printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_compliance.json"
IMPORT_RULES = ("missing-module", "missing-name", "missing-attribute")
PYLINT_CHECKS = "E0401,E0611,E1101"


def _files(root: Path, max_files: int | None) -> list[Path]:
    from mltrainer.compliance.scanner import iter_python_files

    files = iter_python_files(root)
    return files[:max_files] if max_files else files


def _run_ours(root: Path, files: list[Path], rules) -> dict:
    from mltrainer.compliance.rules import RULES
    from mltrainer.compliance.scanner import scan_files

    chosen = frozenset(rules or RULES)
    wall, cpu = time.perf_counter(), time.process_time()
    violations = scan_files(files, [root], chosen)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    critical = sum(1 for v in violations if v.severity == "critical" and v.rule in IMPORT_RULES)
    return {"wall_s": wall, "cpu_s": cpu, "findings": len(violations), "critical_import_findings": critical}


def _run_pylint(files: list[Path]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(str(f) for f in files))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pylint", "--disable=all", f"--enable={PYLINT_CHECKS}", "--jobs=1",
             "--score=n", "--output-format=json", "--persistent=n", *map(str, files)],
            capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode & 32 or not proc.stdout.strip().startswith("["):  # 32: pylint usage error
        raise RuntimeError(f"pylint failed (exit {proc.returncode}): {proc.stderr.strip()[:500]}")
    messages = json.loads(proc.stdout)
    by_symbol: dict[str, int] = {}
    for message in messages:
        by_symbol[message["symbol"]] = by_symbol.get(message["symbol"], 0) + 1
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "findings": len(messages), "by_symbol": by_symbol}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="sklearn", help="installed package to scan (default sklearn)")
    parser.add_argument("--max-files", type=int, default=None, help="only the first N files (sorted)")
    parser.add_argument("--skip-pylint", action="store_true", help="time only our scanner")
    args = parser.parse_args(argv)

    package = importlib.import_module(args.package)
    root = Path(package.__path__[0])
    files = _files(root, args.max_files)
    runs = {
        "mltrainer (import rules)": _run_ours(root, files, IMPORT_RULES),
        "mltrainer (all rules)": _run_ours(root, files, None),
    }
    if not args.skip_pylint:
        runs[f"pylint {importlib.import_module('pylint').__version__} ({PYLINT_CHECKS})"] = _run_pylint(files)
    for run in runs.values():
        run["files_per_s_wall"] = len(files) / run["wall_s"]
        run["files_per_s_cpu"] = len(files) / run["cpu_s"] if run["cpu_s"] else None

    result = {
        "package": args.package,
        "version": getattr(package, "__version__", "?"),
        "files": len(files),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{len(files)} files of {args.package} {result['version']} (Python {result['python']})\n")
    print("| tool | wall s | CPU s | files/s (wall) | files/s (CPU) | findings |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in runs.items():
        per_cpu = f"{run['files_per_s_cpu']:.1f}" if run["files_per_s_cpu"] else "n/a"
        print(f"| {name} | {run['wall_s']:.1f} | {run['cpu_s']:.1f} | {run['files_per_s_wall']:.1f} | {per_cpu} "
              f"| {run['findings']} |")
    print(f"\nresults written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
