"""The jobs table and its rules (claim, lost workers, guards) on the default SQLite database.

These need no service and no training: rows are written by hand and the rules checked on them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from mltrainer.config import get_settings
from mltrainer.errors import InvalidInputError, InvalidParameterError, JobNotFoundError, UnknownModelTypeError
from mltrainer.jobs import job_status, list_jobs, validate_request
from mltrainer.jobs.runner import MAX_ATTEMPTS, _progress_values, claim_job
from mltrainer.jobs.store import (
    LOST_AFTER_SECONDS,
    LOST_MESSAGE,
    create_job,
    this_host,
    update_job,
    utcnow,
)
from mltrainer.jobs.sweep import _sweep_state, expand_grid

from .conftest import REPO_ROOT


def _job(settings, backend="celery", **overrides):
    request = {"model_type": "momentum_breakout", "symbol": "AAPL", "params": {"lookback_period": 10},
               "start": "2008-01-01", "end": "2011-12-31", "cost_bps": 5.0, "n_splits": 3}
    request.update(overrides)
    return create_job(settings, backend=backend, actor="test", **request)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_jobs_created_job_is_queued_with_its_request():
    settings = get_settings()
    job_id = _job(settings)
    status = job_status(job_id)
    assert status["job_id"] == job_id and job_id.startswith("job-")
    assert status["state"] == "queued" and status["progress"] == 0.0
    assert status["model_id"] is None and status["error"] is None
    assert status["params"] == {"lookback_period": 10} and status["n_splits"] == 3
    assert status["created_at"].endswith("+00:00")
    assert [j["job_id"] for j in list_jobs()] == [job_id]


def test_jobs_unknown_id_says_how_to_list():
    with pytest.raises(JobNotFoundError, match="jobs list"):
        job_status("job-doesnotexist")


def test_jobs_running_job_whose_pid_died_is_reported_failed():
    settings = get_settings()
    job_id = _job(settings)
    update_job(settings, job_id, state="running", worker_host=this_host(), worker_pid=_dead_pid(),
               heartbeat_at=utcnow())
    status = job_status(job_id)
    assert status["state"] == "failed"
    assert status["error"] == "WorkerLost" and status["message"] == LOST_MESSAGE


def test_jobs_celery_pool_process_died_under_a_live_worker_waits_for_the_retry():
    settings = get_settings()
    job_id = _job(settings, backend="celery")
    # The Celery worker (supervisor, here this process) is alive: it re-queues the task, so the job is
    # not failed while the heartbeat is recent — and the redelivery may take it over.
    update_job(settings, job_id, state="running", worker_host=this_host(), worker_pid=_dead_pid(),
               supervisor_pid=os.getpid(), attempts=1, heartbeat_at=utcnow())
    assert job_status(job_id)["state"] == "running"
    update_job(settings, job_id, heartbeat_at=utcnow() - dt.timedelta(seconds=LOST_AFTER_SECONDS + 5))
    assert job_status(job_id)["state"] == "failed"  # no retry came in time


def test_jobs_other_host_is_judged_by_heartbeat_age():
    settings = get_settings()
    fresh, stale = _job(settings), _job(settings)
    now = utcnow()
    update_job(settings, fresh, state="running", worker_host="elsewhere", worker_pid=1, heartbeat_at=now)
    update_job(settings, stale, state="running", worker_host="elsewhere", worker_pid=1,
               heartbeat_at=now - dt.timedelta(seconds=LOST_AFTER_SECONDS + 5))
    assert job_status(fresh)["state"] == "running"
    assert job_status(stale)["state"] == "failed"


def test_jobs_queued_on_broker_is_never_lost_but_local_queue_of_dead_submitter_is():
    settings = get_settings()
    on_broker = _job(settings, backend="celery")
    local = _job(settings, backend="local")
    update_job(settings, local, worker_pid=_dead_pid())
    assert job_status(on_broker)["state"] == "queued"
    assert job_status(local)["state"] == "failed"


def test_jobs_claim_is_exclusive_and_terminal_jobs_are_not_rerun():
    settings = get_settings()
    job_id = _job(settings)
    claimed = claim_job(settings, job_id)
    assert claimed is not None and claimed["state"] == "running" and claimed["worker_pid"] == os.getpid()
    assert claimed["attempts"] == 1
    assert claim_job(settings, job_id) is None  # owner alive: a duplicate delivery does nothing
    update_job(settings, job_id, state="succeeded", model_id="m1")
    assert claim_job(settings, job_id) is None


def test_jobs_redelivery_after_lost_worker_retries_then_gives_up():
    settings = get_settings()
    job_id = _job(settings)
    update_job(settings, job_id, state="running", worker_host=this_host(), worker_pid=_dead_pid(),
               attempts=1, heartbeat_at=utcnow())
    retried = claim_job(settings, job_id)
    assert retried is not None and retried["attempts"] == 2 and "Retrying" in retried["message"]
    update_job(settings, job_id, worker_pid=_dead_pid())
    assert MAX_ATTEMPTS == 2
    assert claim_job(settings, job_id) is None
    status = job_status(job_id)
    assert status["state"] == "failed" and "Gave up after 2 attempts" in status["message"]


def test_jobs_late_write_cannot_resurrect_a_failed_job():
    settings = get_settings()
    job_id = _job(settings)
    update_job(settings, job_id, state="failed", message="lost")
    assert update_job(settings, job_id, only_if_state=("running",), state="succeeded") is False
    assert job_status(job_id)["state"] == "failed"


@pytest.mark.parametrize("args, expected", [
    ((0.5, "fold 2/4"), (0.5, "fold 2/4")),
    (("loading bars",), (None, "loading bars")),
    (({"fraction": 1.4, "message": "done"},), (1.0, "done")),
    ((-0.2,), (0.0, None)),
])
def test_jobs_progress_callback_accepts_the_usual_shapes(args, expected):
    assert _progress_values(args, {}) == expected


def test_jobs_request_validation_fails_before_queueing():
    with pytest.raises(UnknownModelTypeError, match="momentum_breakout"):
        validate_request("momentum_breakot", "AAPL", None, None, None, 5.0, 3)
    with pytest.raises(InvalidParameterError):
        validate_request("momentum_breakout", "AAPL", {"lookbak": 3}, None, None, 5.0, 3)
    with pytest.raises(InvalidInputError, match="YYYY-MM-DD"):
        validate_request("momentum_breakout", "AAPL", None, "2010/01/01", None, 5.0, 3)
    with pytest.raises(InvalidInputError, match="start 2012-01-01 is after end 2011-01-01: swap them"):
        validate_request("momentum_breakout", "AAPL", None, "2012-01-01", "2011-01-01", 5.0, 3)
    with pytest.raises(InvalidInputError, match="same day"):
        validate_request("momentum_breakout", "AAPL", None, "2011-01-03", "2011-01-03", 5.0, 3)
    with pytest.raises(InvalidParameterError, match="n_splits"):
        validate_request("momentum_breakout", "AAPL", None, None, None, 5.0, 1)
    ok = validate_request("momentum_breakout", " aapl ", {"lookback_period": 10}, "2008-01-01", None, 5, 3)
    assert ok["symbol"] == "AAPL" and ok["start"] == "2008-01-01" and ok["cost_bps"] == 5.0


def test_jobs_grid_expansion_and_sweep_state():
    assert expand_grid({"a": [1, 2], "b": [True]}) == [{"a": 1, "b": True}, {"a": 2, "b": True}]
    assert expand_grid(None) == [{}]
    with pytest.raises(InvalidParameterError, match="empty"):
        expand_grid({"a": []})
    assert _sweep_state(["queued", "queued"]) == "queued"
    assert _sweep_state(["succeeded", "queued"]) == "running"
    assert _sweep_state(["failed", "succeeded"]) == "succeeded"
    assert _sweep_state(["failed", "failed"]) == "failed"


def test_sweep_validates_each_grid_combination_once_not_once_per_symbol(monkeypatch):
    import mltrainer.jobs
    import mltrainer.models
    from mltrainer.jobs import submit_sweep, sweep_status

    built, dispatched = [], []
    real_create_model = mltrainer.models.create_model

    def counting_create_model(model_type, **params):
        built.append(params)
        return real_create_model(model_type, **params)

    monkeypatch.setattr(mltrainer.models, "create_model", counting_create_model)
    monkeypatch.setattr(mltrainer.jobs, "dispatch", lambda settings, job_id, backend: dispatched.append(job_id))
    grid = {"lookback_period": [10, 20], "entry_z": [2.0]}
    sweep_id = submit_sweep("mean_reversion", "aapl, MSFT,IBM", grid, start="2008-01-01", end="2011-12-31",
                            n_splits=3)
    assert built == [{"lookback_period": 10, "entry_z": 2.0}, {"lookback_period": 20, "entry_z": 2.0}]
    jobs = sweep_status(sweep_id)["jobs"]
    assert [(j["symbol"], j["params"]["lookback_period"]) for j in jobs] == [
        ("AAPL", 10), ("AAPL", 20), ("MSFT", 10), ("MSFT", 20), ("IBM", 10), ("IBM", 20)]
    assert sorted(dispatched) == sorted(j["job_id"] for j in jobs)
    # A bad value still fails before anything is queued, with the model's own message.
    built.clear()
    with pytest.raises(InvalidParameterError, match="lookback_period"):
        submit_sweep("mean_reversion", "AAPL,MSFT", {"lookback_period": [10, -5]})
    assert len(built) == 2 and len(list_jobs()) == 6


def test_jobs_record_survives_a_restart_cli_reads_it_in_a_new_process(mltrainer_home):
    settings = get_settings()
    job_id = _job(settings)
    update_job(settings, job_id, state="succeeded", progress=1.0, model_id="momentum_breakout_AAPL_v1",
               message="Trained momentum_breakout_AAPL_v1.")
    env = {**os.environ, "MLTRAINER_HOME": str(mltrainer_home)}
    out = subprocess.run([sys.executable, "-m", "mltrainer", "jobs", "show", job_id, "--json"], env=env,
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["state"] == "succeeded" and shown["model_id"] == "momentum_breakout_AAPL_v1"


def test_jobs_cli_unknown_id_is_one_error_line(capsys):
    from mltrainer.cli import main

    assert main(["jobs", "show", "job-nope", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: No job with id 'job-nope'") and captured.err.count("\n") == 1


def test_jobs_worker_without_a_broker_says_which_variable_to_set(capsys):
    from mltrainer.cli import main

    assert main(["worker"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: No Celery broker configured: set MLTRAINER_CELERY_BROKER_URL")
    assert err.count("\n") == 1


def test_jobs_host_identity_includes_the_pid_namespace():
    host = this_host()
    if os.path.exists("/proc/self/ns/pid"):
        namespace = os.readlink("/proc/self/ns/pid")[len("pid:"):].strip("[]")
        assert host.endswith("/" + namespace)


def test_jobs_writes_from_a_previous_owner_are_ignored():
    settings = get_settings()
    job_id = _job(settings)
    update_job(settings, job_id, state="running", worker_host="elsewhere", worker_pid=42)
    assert update_job(settings, job_id, only_if_owner=("here", 7), state="succeeded") is False
    assert update_job(settings, job_id, only_if_owner=("elsewhere", 42), progress=0.5) is True
    assert job_status(job_id)["state"] == "running" and job_status(job_id)["progress"] == 0.5


def test_jobs_redelivery_of_a_job_owned_by_another_host_waits_for_its_heartbeat_to_go_stale():
    from mltrainer.jobs.runner import TAKEOVER_AFTER_SECONDS, owner_alive_elsewhere

    settings = get_settings()
    job_id = _job(settings)
    update_job(settings, job_id, state="running", worker_host="elsewhere", worker_pid=1, attempts=1,
               heartbeat_at=utcnow())
    assert claim_job(settings, job_id) is None and owner_alive_elsewhere(settings, job_id) is True
    update_job(settings, job_id, heartbeat_at=utcnow() - dt.timedelta(seconds=TAKEOVER_AFTER_SECONDS + 1))
    assert owner_alive_elsewhere(settings, job_id) is False
    taken = claim_job(settings, job_id)
    assert taken is not None and taken["attempts"] == 2 and taken["worker_host"] == this_host()
