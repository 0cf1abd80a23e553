"""``python -m mltrainer models list|show|delete|reproduce|types`` — the model registry."""

from __future__ import annotations

import argparse
import sys

from mltrainer.cli import emit, fail

__all__ = ["register"]


def _list(args: argparse.Namespace) -> int:
    from mltrainer.registry import get_registry

    records = get_registry().list(model_type=args.type, symbol=args.symbol)
    if args.json:
        emit([r.summary() for r in records], True)
    elif not records:
        sys.stdout.write("No models yet; train one with "
                         "`python -m mltrainer train --model TYPE --symbol SYM`.\n")
    else:
        for r in records:
            sharpe = r.metrics.get("sharpe")
            sharpe_text = "n/a" if sharpe is None else f"{sharpe:.2f}"
            sys.stdout.write(f"{r.model_id:<45} {r.symbol:<8} {r.train_start} .. {r.train_end}  "
                             f"OOS sharpe {sharpe_text}\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    from mltrainer import services
    from mltrainer.registry import get_registry

    record = services.get_model(args.model_id)
    data = record.to_dict(include_returns=args.returns)
    data["signature_ok"] = get_registry().verify(record.model_id)
    emit(data, args.json)
    return 0


def _delete(args: argparse.Namespace) -> int:
    from mltrainer import services

    record = services.get_model(args.model_id)  # unknown id: clear error before asking
    if not args.yes:
        if not sys.stdin.isatty():
            return fail(f"refusing to delete {record.model_id} without confirmation; pass --yes.")
        # The prompt goes to stderr (input() would print it on stdout, breaking --json's pure JSON).
        sys.stderr.write(f"Delete {record.model_id} and its artifact? This cannot be undone. [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if answer.strip().lower() not in ("y", "yes"):
            sys.stderr.write("not deleted\n")
            return 1
    services.delete_model(record.model_id, actor="cli")
    emit({"deleted": record.model_id}, args.json)
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from mltrainer import services

    result = services.reproduce_model(args.model_id)
    emit(result, args.json)
    return 0 if result["fingerprint_match"] and result["metrics_match"] else 1


def _types(args: argparse.Namespace) -> int:
    from mltrainer import services

    emit(services.model_types(), args.json)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, show, delete or reproduce trained models")
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    lst = commands.add_parser("list", help="trained models, newest first, with OOS metrics")
    lst.add_argument("--type", default=None, help="only this model type")
    lst.add_argument("--symbol", default=None, help="only this symbol (as trained, e.g. ^GSPC)")
    lst.add_argument("--json", action="store_true", help="pure JSON on stdout")
    lst.set_defaults(handler=_list)

    show = commands.add_parser("show", help="everything recorded about one model, and its signature status")
    show.add_argument("model_id", metavar="MODEL_ID")
    show.add_argument("--returns", action="store_true", help="include the OOS daily return series")
    show.add_argument("--json", action="store_true", help="pure JSON on stdout")
    show.set_defaults(handler=_show)

    delete = commands.add_parser(
        "delete", help="remove a model's record and artifact (audited); asks on a terminal unless --yes")
    delete.add_argument("model_id", metavar="MODEL_ID")
    delete.add_argument("--yes", action="store_true",
                        help="do not ask for confirmation (required when stdin is not a terminal)")
    delete.add_argument("--json", action="store_true", help='pure JSON on stdout: {"deleted": MODEL_ID}')
    delete.set_defaults(handler=_delete)

    reproduce = commands.add_parser(
        "reproduce", help="retrain from the recorded params and data; exit 1 unless data and metrics match")
    reproduce.add_argument("model_id", metavar="MODEL_ID")
    reproduce.add_argument("--json", action="store_true", help="pure JSON on stdout")
    reproduce.set_defaults(handler=_reproduce)

    types = commands.add_parser("types", help="model types and their parameters")
    types.add_argument("--json", action="store_true", help="pure JSON on stdout")
    types.set_defaults(handler=_types)
