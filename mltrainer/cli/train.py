"""``python -m mltrainer train --model TYPE --symbol SYM [--param key=value ...] [--start] [--end]
[--cost-bps N] [--splits N] [--json]`` — train, validate out of sample, sign and register one model.

The handler is split in two so other ways of running a training (e.g. a background ``--async`` flag)
can reuse the parsing: :func:`train_request_from_args` turns the arguments into the keyword arguments
of ``services.train_model``; :func:`run_training` runs them in this process and prints the result.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from mltrainer.cli import emit
from mltrainer.errors import InvalidParameterError

__all__ = ["register", "add_train_arguments", "parse_params", "train_request_from_args", "run_training",
           "submit_async"]

log = logging.getLogger(__name__)


def parse_params(model_type: str, pairs: list[str] | None) -> dict[str, Any]:
    """``["lookback_period=30", ...]`` -> typed, range-checked params (``InvalidParameterError`` if bad)."""
    from mltrainer.models import parse_param_value

    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidParameterError(
                f"--param {pair!r} must look like key=value, e.g. --param lookback_period=30."
            )
        if key in params:
            raise InvalidParameterError(f"--param {key} is given twice; give each parameter once.")
        params[key] = parse_param_value(model_type, key, text)
    return params


def train_request_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``services.train_model`` for these CLI arguments (validated)."""
    from mltrainer._util import parse_date
    from mltrainer.models import get_model_class

    get_model_class(args.model)  # unknown type: clear error before parsing its params
    return {
        "model_type": args.model,
        "symbol": args.symbol,
        "params": parse_params(args.model, args.param),
        "start": parse_date(args.start, "--start"),
        "end": parse_date(args.end, "--end"),
        "cost_bps": args.cost_bps,
        "n_splits": args.splits,
        "actor": "cli",
    }


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def run_training(request: dict[str, Any], as_json: bool) -> int:
    """Train in this process and print the result (JSON with ``as_json``)."""
    from mltrainer import services
    from mltrainer.training import training_result_to_dict

    def progress(fraction: float, message: str) -> None:
        log.info("%3.0f%% %s", 100 * fraction, message)

    result = services.train_model(progress=progress, **request)
    data = training_result_to_dict(result)
    if as_json:
        emit(data, True)
    else:
        metrics, bh = data["metrics"], data["buy_and_hold"]
        sys.stdout.write(
            f"{data['model_id']}: {data['data']['rows']} bars "
            f"{data['data']['first']} .. {data['data']['last']}, {len(data['folds'])} folds\n"
            f"  out of sample  sharpe {_num(metrics.get('sharpe'))}  total return "
            f"{_pct(metrics.get('total_return'))}  max drawdown {_pct(metrics.get('max_drawdown'))}  "
            f"trades {metrics.get('n_trades', 'n/a')}\n"
            f"  buy and hold   sharpe {_num(bh.get('sharpe'))}  total return {_pct(bh.get('total_return'))}  "
            f"max drawdown {_pct(bh.get('max_drawdown'))}\n"
        )
    return 0


_DETACHED_RUNNER = (
    "import sys\n"
    "from mltrainer.config import get_settings\n"
    "from mltrainer.jobs.runner import run_job\n"
    "run_job(get_settings(), sys.argv[1])\n"
)


def _submit_detached(request: dict[str, Any]) -> str:
    """Queue a job on the local backend and run it in a detached process that outlives this CLI.

    (The local backend's process pool lives inside the submitting process, which for a CLI command
    ends at once.) The child becomes the job's owner before this process exits, so the lost-worker
    check follows the child: if it dies, the job is reported failed.
    """
    import os
    import subprocess

    from mltrainer.config import get_settings
    from mltrainer.errors import JobError
    from mltrainer.jobs import record_submission, validate_request
    from mltrainer.jobs.store import create_job, update_job, utcnow

    settings = get_settings()
    actor = request.get("actor", "cli")
    fields = validate_request(request["model_type"], request["symbol"], request["params"], request["start"],
                              request["end"], request["cost_bps"], request["n_splits"])
    job_id = create_job(settings, backend="local", actor=actor, **fields)
    record_submission(settings, "job.submit", job_id, {**fields, "backend": "local (detached)"}, actor)
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _DETACHED_RUNNER, job_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=dict(os.environ),
        )
    except OSError as exc:
        update_job(settings, job_id, only_if_state=("queued",), state="failed", error=type(exc).__name__,
                   message="Could not start a background process; no model was trained.",
                   finished_at=utcnow())
        raise JobError("Could not start a background process for the training job; "
                       "run it without --async.") from None
    update_job(settings, job_id, only_if_state=("queued",), worker_pid=child.pid)
    return job_id


def submit_async(request: dict[str, Any], as_json: bool) -> int:
    """``train ... --async``: queue the training and print ``{job_id, backend}`` at once."""
    from mltrainer.jobs import backend_name, submit_training

    backend = backend_name()
    if backend == "local":
        job_id = _submit_detached(request)
    else:
        job_id = submit_training(**request)
    if as_json:
        emit({"job_id": job_id, "backend": backend}, True)
    else:
        sys.stdout.write(f"{job_id} queued ({backend}); follow it with: "
                         f"python -m mltrainer jobs show {job_id}\n")
    return 0


def _train(args: argparse.Namespace) -> int:
    request = train_request_from_args(args)
    if getattr(args, "run_async", False):
        return submit_async(request, args.json)
    return run_training(request, args.json)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of one training (shared with other commands that start trainings)."""
    parser.add_argument("--model", required=True, metavar="TYPE",
                        help="model type (see `python -m mltrainer models types`)")
    parser.add_argument("--symbol", required=True, help="ticker, e.g. AAPL or ^GSPC")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="model parameter, repeatable (e.g. --param lookback_period=30)")
    parser.add_argument("--start", default=None, help="first training date YYYY-MM-DD (default: all data)")
    parser.add_argument("--end", default=None, help="last training date YYYY-MM-DD (default: latest)")
    parser.add_argument("--cost-bps", type=float, default=5.0, dest="cost_bps",
                        help="trading cost per side in basis points (default 5)")
    parser.add_argument("--splits", type=int, default=5, help="walk-forward folds (default 5)")
    parser.add_argument("--json", action="store_true", help="pure JSON on stdout")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train, validate out of sample and register a model")
    add_train_arguments(parser)
    parser.add_argument("--async", action="store_true", dest="run_async",
                        help="queue a background job and print {job_id} at once (Celery when "
                             "MLTRAINER_CELERY_BROKER_URL is set, else a detached local process); "
                             "follow it with `jobs show JOB_ID`")
    parser.set_defaults(handler=_train)
