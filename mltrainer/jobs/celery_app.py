"""The Celery backend: the app, the training task and how jobs are sent to it.

Start workers with ``python -m mltrainer worker`` (or ``celery -A mltrainer.jobs.celery_app worker``);
both read ``MLTRAINER_CELERY_BROKER_URL`` (a Redis URL such as ``redis://host:6379/1``).

Choices, and why:

- No result backend: the jobs table is the record of every job (state, progress, model id), so results
  are ignored by Celery and nothing else needs to be kept in sync.
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after the job
  finished, so a pool process killed mid-training puts the job back in the queue. Meanwhile the job
  stays ``running`` (its supervisor, the worker's main process, is alive: a retry is coming, see
  :func:`.store.is_lost`); the next delivery takes the job over once its previous owner is provably
  dead (same host: its pid; another host: its heartbeat, the task retrying until then — see
  :mod:`.runner`). ``MAX_ATTEMPTS`` bounds the retries of a job that kills its worker every time.
  When the whole worker is killed, the lost-job check reports the job ``failed`` as soon as its pid is
  gone (same host) or its heartbeat is stale (other hosts); a later redelivery of a failed job is
  ignored.
- ``worker_prefetch_multiplier=1``: trainings are long, so an idle worker should take the next job
  rather than a busy one reserving several.
- ``visibility_timeout`` of 6 h: with Redis, an unacknowledged message is redelivered after this long,
  so it must exceed the longest training.
- ``MLTRAINER_CELERY_KEY_PREFIX`` (``settings.celery_key_prefix``, optional) puts every broker key under
  a prefix (kombu's ``global_keyprefix``) so several deployments, or tests, can share one Redis.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from mltrainer.config import Settings, get_settings
from mltrainer.errors import ConfigError, JobError

__all__ = ["app", "train_task", "configure", "enqueue_training", "TRAIN_TASK_NAME", "KEY_PREFIX_ENV",
           "QUEUE_NAME"]

log = logging.getLogger(__name__)

TRAIN_TASK_NAME = "mltrainer.train"
QUEUE_NAME = "mltrainer.train"
#: The environment variable behind ``Settings.celery_key_prefix``.
KEY_PREFIX_ENV = "MLTRAINER_CELERY_KEY_PREFIX"
VISIBILITY_TIMEOUT_SECONDS = 6 * 3600

app = Celery("mltrainer", set_as_current=False)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    task_default_queue=QUEUE_NAME,
    task_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=5,
)


def _transport_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    if settings.celery_key_prefix:
        options["global_keyprefix"] = settings.celery_key_prefix
    return options


def configure(settings: Settings | None = None) -> Celery:
    """Point the app at the configured broker (call before starting a worker)."""
    settings = settings or get_settings()
    if not settings.celery_broker_url:
        raise ConfigError(
            "No Celery broker configured: set MLTRAINER_CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/1."
        )
    app.conf.broker_url = settings.celery_broker_url
    app.conf.broker_transport_options = _transport_options(settings)
    return app


# ``celery -A mltrainer.jobs.celery_app worker`` imports this module and uses ``app`` as it is.
if get_settings().celery_broker_url:
    configure()


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not share the parent's pooled database connections."""
    from mltrainer.db import dispose_engines

    dispose_engines()


@app.task(name=TRAIN_TASK_NAME, bind=True, max_retries=3)
def train_task(self, job_id: str) -> None:
    """Run the training job ``job_id`` (its parameters are in the jobs table)."""
    from mltrainer.jobs.runner import TAKEOVER_AFTER_SECONDS, owner_alive_elsewhere, run_job

    settings = get_settings()
    if run_job(settings, job_id) is None and owner_alive_elsewhere(settings, job_id):
        # Re-queued because its pool process died on another host, whose heartbeat is not yet stale:
        # look again once it would be (a duplicate delivery of a job really running stops after the
        # retries, harmlessly).
        raise self.retry(countdown=TAKEOVER_AFTER_SECONDS + 2)


def enqueue_training(settings: Settings, job_id: str) -> None:
    """Send ``job_id`` to the broker; the Celery task id is the job id."""
    from kombu import Connection

    try:
        with Connection(settings.celery_broker_url, transport_options=_transport_options(settings),
                        connect_timeout=5) as conn:
            app.send_task(TRAIN_TASK_NAME, args=[job_id], task_id=job_id, connection=conn, queue=QUEUE_NAME,
                          retry=True, retry_policy={"max_retries": 3, "interval_start": 0.2,
                                                    "interval_step": 0.5, "interval_max": 2})
    except Exception as exc:
        raise JobError(
            f"Could not queue the job on the Celery broker ({type(exc).__name__}). Check that Redis is "
            "running and MLTRAINER_CELERY_BROKER_URL is right."
        ) from exc
