"""``python -m mltrainer audit verify|log`` — read and check the hash-chained audit trail."""

from __future__ import annotations

import argparse

from mltrainer.cli import emit, positive_int

__all__ = ["register"]


def _verify(args: argparse.Namespace) -> int:
    from mltrainer import services

    result = services.verify_audit()
    emit(result, args.json)
    # Scripts can rely on the exit code: a broken chain is a failure, reported on stdout as data.
    return 0 if result["ok"] else 1


def _log(args: argparse.Namespace) -> int:
    from mltrainer.audit import get_audit_trail

    emit(get_audit_trail().log(limit=args.limit, action=args.action), args.json)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="verify or read the audit trail")
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = commands.add_parser("verify", help="recompute the hash chain: {ok, records, first_bad_index}")
    verify.add_argument("--json", action="store_true", help="pure JSON on stdout")
    verify.set_defaults(handler=_verify)

    log = commands.add_parser("log", help="newest audit records first")
    log.add_argument("--limit", type=positive_int, default=100, help="how many records (default 100)")
    log.add_argument("--action", default=None, help="only this action, or a prefix ending in * (override.*)")
    log.add_argument("--json", action="store_true", help="pure JSON on stdout")
    log.set_defaults(handler=_log)
