"""``python -m mltrainer compliance scan|overrides|plugins`` — the static scanner and its overrides.

``scan PATH`` prints the report (JSON by default, or markdown) and exits 1 when a violation without
an active override is at or above ``--fail-on`` (default critical), else 0. A path that does not
exist is a usage error: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from mltrainer.cli import emit, fail

__all__ = ["register"]

_SEVERITIES = ("critical", "high", "medium", "low")


def _scan(args: argparse.Namespace) -> int:
    from mltrainer import services

    if not Path(args.path).exists():
        return fail(f"no such file or directory: {args.path} (give a .py file or a folder to scan)", 2)
    report = services.scan_code(args.path, actor=args.actor)
    report = dataclasses.replace(report, fail_on=args.fail_on)
    if args.format == "markdown" and not args.json:
        sys.stdout.write(report.to_markdown())
    else:
        emit(report.to_dict(), True)
    return 1 if report.blocking(args.fail_on) else 0


def _list(args: argparse.Namespace) -> int:
    from mltrainer import services

    emit([dataclasses.asdict(o) for o in services.list_overrides(active_only=args.active)], args.json)
    return 0


def _grant(args: argparse.Namespace) -> int:
    from mltrainer import services

    override = services.grant_override(args.fingerprint, args.reason, args.author, args.expires,
                                       rule=args.rule, path=args.file)
    emit(dataclasses.asdict(override), args.json)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from mltrainer import services

    emit(dataclasses.asdict(services.revoke_override(args.override_id, args.author)), args.json)
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from mltrainer.compliance.plugins import load_plugins

    statuses = load_plugins(actor=args.actor)
    emit([dataclasses.asdict(s) for s in statuses], args.json)
    return 1 if any(not s.loaded for s in statuses) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compliance", help="scan model code; manage audited overrides")
    commands = parser.add_subparsers(dest="compliance_command", metavar="ACTION", required=True)

    scan = commands.add_parser("scan", help="scan a .py file or a folder (never imports or runs it)")
    scan.add_argument("path", help="file or folder to scan")
    scan.add_argument("--format", choices=("json", "markdown"), default="json", help="report format (default json)")
    scan.add_argument("--fail-on", choices=_SEVERITIES, default="critical",
                      help="exit 1 when a non-overridden violation is at or above this severity (default critical)")
    scan.add_argument("--actor", default="user", help="who runs the scan (audit trail)")
    scan.add_argument("--json", action="store_true", help="same as --format json")
    scan.set_defaults(handler=_scan)

    overrides = commands.add_parser("overrides", help="list, grant or revoke overrides")
    actions = overrides.add_subparsers(dest="override_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="all overrides (or only active ones)")
    listing.add_argument("--active", action="store_true", help="only unexpired, unrevoked overrides")
    listing.add_argument("--json", action="store_true", help="pure JSON on stdout")
    listing.set_defaults(handler=_list)

    grant = actions.add_parser("grant", help="accept one violation (by fingerprint) until a date")
    grant.add_argument("fingerprint", help="the violation's fingerprint from a scan report")
    grant.add_argument("--reason", required=True, help="why this violation is acceptable")
    grant.add_argument("--expires", required=True, help="expiry date YYYY-MM-DD (in the future, at most 180 days away)")
    grant.add_argument("--author", required=True, help="who grants it")
    grant.add_argument("--rule", default=None, help="only for this rule id (optional)")
    grant.add_argument("--file", default=None, help="the violation's path, for the record (optional)")
    grant.add_argument("--json", action="store_true", help="pure JSON on stdout")
    grant.set_defaults(handler=_grant)

    revoke = actions.add_parser("revoke", help="end an override now")
    revoke.add_argument("override_id", type=int, help="override id (see overrides list)")
    revoke.add_argument("--author", required=True, help="who revokes it")
    revoke.add_argument("--json", action="store_true", help="pure JSON on stdout")
    revoke.set_defaults(handler=_revoke)

    plugins = commands.add_parser("plugins", help="scan and load the plugin folder; one status per file")
    plugins.add_argument("--actor", default="user", help="who loads them (audit trail)")
    plugins.add_argument("--json", action="store_true", help="pure JSON on stdout")
    plugins.set_defaults(handler=_plugins)
