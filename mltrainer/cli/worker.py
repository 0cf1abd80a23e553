"""``python -m mltrainer worker [--concurrency N]`` — a Celery worker that runs training jobs.

Needs ``MLTRAINER_CELERY_BROKER_URL`` (Redis) and the same ``MLTRAINER_DATABASE_URL`` and
``MLTRAINER_HOME`` (or shared artifact storage) as the API and dashboard that submit the jobs.
"""

from __future__ import annotations

import argparse
import os

from mltrainer.cli import positive_int

__all__ = ["register"]


def _worker(args: argparse.Namespace) -> int:
    from mltrainer.jobs.celery_app import QUEUE_NAME, configure

    app = configure()  # ConfigError (exit 1, one line) when no broker is configured
    argv = [
        "worker",
        f"--concurrency={args.concurrency}",
        f"--loglevel={args.loglevel}",
        f"--queues={QUEUE_NAME}",
        # Workers need not talk to each other: skipping gossip/mingle makes start-up fast.
        "--without-gossip",
        "--without-mingle",
    ]
    if args.name:
        argv.append(f"--hostname={args.name}")
    else:
        argv.append(f"--hostname=mltrainer-{os.getpid()}@%h")
    app.worker_main(argv=argv)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="start a Celery worker for training jobs (needs a broker)")
    parser.add_argument("--concurrency", type=positive_int, default=1,
                        help="trainings run in parallel by this worker (default 1)")
    parser.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--name", default=None, help="worker node name, e.g. w1@%%h (default: unique)")
    parser.set_defaults(handler=_worker)
