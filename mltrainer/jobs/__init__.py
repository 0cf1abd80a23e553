"""Background training jobs and parameter sweeps.

    >>> from mltrainer.jobs import submit_training, job_status
    >>> job_id = submit_training("momentum_breakout", "AAPL", n_splits=3)      # doctest: +SKIP
    >>> job_status(job_id)["state"]                                            # doctest: +SKIP
    'running'

Backends behind one interface (chosen per call from the settings):

- **Celery** when ``MLTRAINER_CELERY_BROKER_URL`` is set: jobs go to the broker and any
  ``python -m mltrainer worker`` process, on any machine sharing the database, runs them.
- **local** otherwise: a process pool inside the submitting process (:mod:`.local`).

Either way the jobs table (:mod:`.store`) records every job — state ``queued|running|succeeded|failed``,
progress 0–1, message, ``model_id`` or ``error`` — so ``job_status`` answers the same in every process and
after a restart. A job whose worker died is reported ``failed`` with a message
(:func:`.store.reconcile_lost`).
"""

from __future__ import annotations

import logging
from typing import Any

from mltrainer.config import Settings, get_settings
from mltrainer.errors import InvalidInputError, InvalidParameterError, JobError, UnknownModelTypeError
from mltrainer.jobs.store import JOB_STATES, create_job, get_job, list_job_dicts, update_job, utcnow

__all__ = [
    "submit_training",
    "job_status",
    "list_jobs",
    "backend_name",
    "submit_sweep",
    "sweep_status",
    "validate_request",
    "JOB_STATES",
]

log = logging.getLogger(__name__)


def backend_name(settings: Settings | None = None) -> str:
    """``"celery"`` when a broker is configured, else ``"local"``."""
    settings = settings or get_settings()
    return "celery" if settings.celery_broker_url else "local"


def validate_request(model_type: str, symbol: str, params: dict | None, start: Any, end: Any, cost_bps: float,
                     n_splits: int) -> dict[str, Any]:
    """Check what can be checked before queueing, so a typo fails now rather than as a failed job."""
    from mltrainer.data import parse_date_range
    from mltrainer.models import create_model, get_model_class

    if not isinstance(model_type, str):
        raise UnknownModelTypeError(f"model_type must be a model type name, got {model_type!r}.")
    # Unknown type: the registry's message with a suggestion; a blocked plugin type: its violations.
    get_model_class(model_type)
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidInputError("symbol must be a ticker such as 'AAPL'.")
    if params is not None and not isinstance(params, dict):
        raise InvalidParameterError("params must be a mapping of parameter name to value.")
    create_model(model_type, **dict(params or {}))  # unknown parameter names fail here, with suggestions
    first, last = parse_date_range(start, end)  # the data layer's own check and wording
    if first is not None and first == last:
        raise InvalidInputError(f"start and end are the same day ({first.date()}): a training needs a range "
                                "of bars; widen it.")
    start_text = None if first is None else first.date().isoformat()
    end_text = None if last is None else last.date().isoformat()
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
        raise InvalidParameterError(f"n_splits must be a whole number >= 2, got {n_splits!r}.")
    try:
        cost = float(cost_bps)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"cost_bps must be a number of basis points, got {cost_bps!r}.") from None
    if not cost >= 0:
        raise InvalidParameterError(f"cost_bps must be >= 0 basis points, got {cost_bps!r}.")
    return {"model_type": model_type, "symbol": symbol.strip().upper(), "params": dict(params or {}),
            "start": start_text, "end": end_text, "cost_bps": cost, "n_splits": int(n_splits)}


def dispatch(settings: Settings, job_id: str, backend: str) -> None:
    """Hand a recorded job to its backend; if that fails, the job is marked failed and JobError raised."""
    try:
        if backend == "celery":
            from mltrainer.jobs.celery_app import enqueue_training

            enqueue_training(settings, job_id)
        else:
            from mltrainer.jobs.local import submit_local

            submit_local(settings, job_id)
    except Exception as exc:
        message = str(exc) if isinstance(exc, JobError) else (
            f"Could not start the job ({type(exc).__name__}); no model was trained.")
        update_job(settings, job_id, only_if_state=("queued",), state="failed", error=type(exc).__name__,
                   message=message, finished_at=utcnow())
        if isinstance(exc, JobError):
            raise
        raise JobError(message) from exc


def record_submission(settings: Settings, action: str, target: str, details: dict[str, Any],
                      actor: str) -> None:
    """Audit who queued what (the training itself is audited as ``model.train`` when it succeeds)."""
    from mltrainer.audit import get_audit_trail

    get_audit_trail(settings).record(action, target, details, actor=actor)


def submit_training(model_type: str, symbol: str, params: dict | None = None, start=None, end=None,
                    cost_bps: float = 5.0, n_splits: int = 5, actor: str = "user",
                    settings: Settings | None = None) -> str:
    """Queue a training (the arguments of :func:`mltrainer.training.train_model`) and return its job id.

    Raises the usual input errors (unknown model type or parameter, bad date) immediately, and
    ``JobError`` when the job cannot be queued (broker down).
    """
    settings = settings or get_settings()
    request = validate_request(model_type, symbol, params, start, end, cost_bps, n_splits)
    backend = backend_name(settings)
    job_id = create_job(settings, backend=backend, actor=actor, **request)
    record_submission(settings, "job.submit", job_id, {**request, "backend": backend}, actor)
    log.info("queued job %s (%s %s) on the %s backend", job_id, request["model_type"], request["symbol"],
             backend)
    dispatch(settings, job_id, backend)
    return job_id


def job_status(job_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """``{job_id, state, progress, message, model_id, error, created_at, updated_at, ...}``.

    Raises ``JobNotFoundError`` for an unknown id.
    """
    return get_job(settings or get_settings(), str(job_id))


def list_jobs(limit: int = 50, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The most recent jobs, newest first."""
    return list_job_dicts(settings or get_settings(), limit=limit)


def submit_sweep(*args: Any, **kwargs: Any) -> str:
    """See :func:`mltrainer.jobs.sweep.submit_sweep`."""
    from mltrainer.jobs.sweep import submit_sweep as _submit

    return _submit(*args, **kwargs)


def sweep_status(sweep_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """See :func:`mltrainer.jobs.sweep.sweep_status`."""
    from mltrainer.jobs.sweep import sweep_status as _status

    return _status(sweep_id, settings=settings)
