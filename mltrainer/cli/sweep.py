"""``python -m mltrainer sweep --model TYPE --symbols A,B --grid key=v1,v2 ... [--wait] [--json]``.

Queues one training job per symbol and grid combination; ``--wait`` polls until every trial has finished
and prints the ranking with the best trial's Deflated Sharpe Ratio. On the local backend (no broker) the
trials run in this process, so the command waits for them either way.
"""

from __future__ import annotations

import argparse
import time

from mltrainer.cli import emit
from mltrainer.errors import InvalidParameterError, JobError

__all__ = ["register"]


def parse_grid(model_type: str, items: list[str]) -> dict[str, list]:
    """``["lookback_period=10,20", "allow_short=false"]`` -> typed, range-checked value lists."""
    from mltrainer.models import parse_param_value

    grid: dict[str, list] = {}
    for item in items or []:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise InvalidParameterError(
                f"--grid expects key=v1,v2,... e.g. lookback_period=10,20; got {item!r}.")
        grid[name] = [parse_param_value(model_type, name, v.strip()) for v in values.split(",") if v.strip()]
    return grid


def _sweep(args: argparse.Namespace) -> int:
    from mltrainer.jobs import submit_sweep, sweep_status

    grid = parse_grid(args.model, args.grid)
    sweep_id = submit_sweep(args.model, args.symbols.split(","), grid, cost_bps=args.cost_bps,
                            n_splits=args.n_splits, start=args.start, end=args.end, actor="cli")
    if not args.wait:
        emit({"sweep_id": sweep_id}, args.json)
        return 0
    deadline = time.monotonic() + args.timeout
    status = sweep_status(sweep_id)
    while not status["complete"]:
        if time.monotonic() > deadline:
            raise JobError(f"Sweep {sweep_id} did not finish within {args.timeout:.0f} s; check it later "
                           f"with `python -m mltrainer sweep --status {sweep_id}`.")
        time.sleep(0.5)  # polling pace only
        status = sweep_status(sweep_id)
    emit(status, args.json)
    return 0 if status["state"] == "succeeded" else 1


def _status(args: argparse.Namespace) -> int:
    from mltrainer.jobs import sweep_status

    emit(sweep_status(args.status), args.json)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.status:
        return _status(args)
    if not args.model or not args.symbols:
        raise InvalidParameterError("sweep needs --model and --symbols (or --status SWEEP_ID).")
    return _sweep(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep",
                                   help="train a grid of parameters over symbols; rank by OOS Sharpe")
    parser.add_argument("--model", help="model type, e.g. momentum_breakout")
    parser.add_argument("--symbols", help="comma-separated tickers, e.g. AAPL,MSFT")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="parameter values to try (repeat for several parameters)")
    parser.add_argument("--start", default=None, help="first training date YYYY-MM-DD")
    parser.add_argument("--end", default=None, help="last training date YYYY-MM-DD")
    parser.add_argument("--cost-bps", type=float, default=5.0,
                        help="trading cost in basis points (default 5)")
    parser.add_argument("--splits", "--n-splits", type=int, default=5, dest="n_splits",
                        help="walk-forward folds (default 5; same flag as `train --splits`)")
    parser.add_argument("--wait", action="store_true", help="wait for every trial and print the ranking")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits (default 3600)")
    parser.add_argument("--status", metavar="SWEEP_ID", default=None, help="show an existing sweep instead")
    parser.add_argument("--json", action="store_true", help="pure JSON on stdout")
    parser.set_defaults(handler=_dispatch)
