"""``python -m mltrainer jobs show JOB_ID | list`` — background training jobs (see ``mltrainer.jobs``)."""

from __future__ import annotations

import argparse

from mltrainer.cli import emit, positive_int

__all__ = ["register"]


def _show(args: argparse.Namespace) -> int:
    from mltrainer.jobs import job_status

    emit(job_status(args.job_id), args.json)
    return 0


def _list(args: argparse.Namespace) -> int:
    from mltrainer.jobs import list_jobs

    jobs = list_jobs(limit=args.limit)
    if args.json:
        emit(jobs, True)
    else:
        emit([f"{j['job_id']}  {j['state']:<9}  {j['progress']:>4.0%}  {j['model_type']} {j['symbol']}  "
              f"{j['model_id'] or j['message']}" for j in jobs], False)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jobs", help="background training jobs: show one, list recent")
    commands = parser.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    show = commands.add_parser("show",
                               help="one job: {job_id, state, progress, message, model_id, error, ...}")
    show.add_argument("job_id", metavar="JOB_ID")
    show.add_argument("--json", action="store_true", help="pure JSON on stdout")
    show.set_defaults(handler=_show)

    lst = commands.add_parser("list", help="recent jobs, newest first")
    lst.add_argument("--limit", type=positive_int, default=50, help="how many jobs (default 50)")
    lst.add_argument("--json", action="store_true", help="pure JSON on stdout")
    lst.set_defaults(handler=_list)
