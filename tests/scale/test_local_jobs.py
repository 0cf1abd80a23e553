"""The local process-pool backend end to end: real trainings on the shipped AAPL/MSFT bars."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest

from mltrainer.backtest.metrics import compute_metrics
from mltrainer.config import get_settings
from mltrainer.jobs import job_status, submit_sweep, submit_training, sweep_status
from mltrainer.jobs.local import shutdown_local_pool
from mltrainer.registry import get_registry

from .conftest import wait_until

SHORT = {"start": "2008-01-01", "end": "2011-12-31", "n_splits": 3}


@pytest.fixture(scope="module", autouse=True)
def _pool():
    yield
    shutdown_local_pool(wait=False)


def _finished(job_id: str):
    status = job_status(job_id)
    return status if status["state"] in ("succeeded", "failed") else None


def test_local_job_runs_to_succeeded_with_a_registered_model():
    job_id = submit_training("momentum_breakout", "AAPL", params={"lookback_period": 20}, **SHORT)
    assert job_status(job_id)["state"] in ("queued", "running", "succeeded")
    status = wait_until(lambda: _finished(job_id), 90, "the local job to finish")
    assert status["state"] == "succeeded", status
    assert status["progress"] == 1.0 and status["error"] is None
    assert status["backend"] == "local" and status["attempts"] == 1
    record = get_registry().get(status["model_id"])
    assert record.model_type == "momentum_breakout" and record.symbol == "AAPL"
    assert record.params["lookback_period"] == 20 and record.n_splits == 3
    assert record.train_start.isoformat() >= "2008-01-01" and record.train_end.isoformat() <= "2011-12-31"
    assert status["metrics"]["sharpe"] == pytest.approx(record.metrics["sharpe"])


def test_local_job_with_unknown_symbol_fails_with_the_training_message():
    job_id = submit_training("momentum_breakout", "NOSUCHTICKER", **SHORT)
    status = wait_until(lambda: _finished(job_id), 90, "the local job to fail")
    assert status["state"] == "failed"
    assert status["error"] == "UnknownSymbolError"
    assert "NOSUCHTICKER" in status["message"] and status["model_id"] is None
    assert get_registry().list() == []


def test_local_sweep_ranks_by_oos_sharpe_and_deflates_the_best():
    sweep_id = submit_sweep("momentum_breakout", ["AAPL", "MSFT"], {"lookback_period": [10, 20]}, **SHORT)
    status = wait_until(lambda: (s := sweep_status(sweep_id))["complete"] and s, 120, "the sweep to finish")
    assert status["state"] == "succeeded" and status["counts"]["succeeded"] == 4
    results = status["results"]
    assert {(r["symbol"], r["params"]["lookback_period"]) for r in results} == {
        ("AAPL", 10), ("AAPL", 20), ("MSFT", 10), ("MSFT", 20)}
    sharpes = [r["sharpe"] for r in results]
    assert sharpes == sorted(sharpes, reverse=True) and [r["rank"] for r in results] == [1, 2, 3, 4]
    registry = get_registry()
    for r in results:  # each ranked figure is the registered model's OOS Sharpe
        assert r["sharpe"] == pytest.approx(registry.get(r["model_id"]).metrics["sharpe"])
    best = status["best"]
    assert best["model_id"] == results[0]["model_id"] and best["n_trials"] == 4
    assert best["trials_sharpe_std"] == pytest.approx(float(np.std(sharpes, ddof=1)))
    # Independently: DSR of the best model's stored OOS returns with 4 trials and that spread.
    returns = registry.get(best["model_id"]).oos_return_series()
    expected = compute_metrics(returns, n_trials=4, trials_sharpe_std=best["trials_sharpe_std"])["dsr"]
    assert best["deflated_sharpe"] == pytest.approx(expected)
    # Selection among 4 trials can only lower the probability that the Sharpe is real.
    single = compute_metrics(returns)["psr"]
    assert 0.0 <= best["deflated_sharpe"] < single <= 1.0 and math.isfinite(best["deflated_sharpe"])


def test_local_pool_process_killed_mid_training_leaves_failed_job_and_nothing_saved():
    settings = get_settings()
    job_id = submit_training("gradient_boosting", "AAPL", params={"n_estimators": 300}, n_splits=5)

    def _training():
        status = job_status(job_id)
        assert status["state"] in ("queued", "running"), f"the job ended before it could be killed: {status}"
        return status["state"] == "running" and 0.05 <= status["progress"] < 0.75

    wait_until(_training, 90, "the job to be mid-training", interval=0.02)
    from mltrainer.db import session_scope
    from mltrainer.jobs.store import JobRow

    with session_scope(settings) as session:
        pid = session.get(JobRow, job_id).worker_pid
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    status = wait_until(lambda: _finished(job_id), 30, "the killed job to be reported")
    assert status["state"] == "failed" and status["error"] == "WorkerLost"
    assert "no model was saved" in status["message"]
    assert get_registry().list() == []
    models_dir = settings.models_dir
    assert not models_dir.exists() or [p for p in models_dir.rglob("*") if p.is_file()] == []

    # The pool recovers: the next job runs on a fresh process.
    again = submit_training("momentum_breakout", "AAPL", **SHORT)
    assert wait_until(lambda: _finished(again), 90, "a job after the crash")["state"] == "succeeded"


def test_local_sweep_cli_waits_and_prints_the_ranking_as_json(capsys):
    import json

    from mltrainer.cli import main

    code = main(["sweep", "--model", "mean_reversion", "--symbols", "AAPL", "--grid", "entry_z=1.5,2.0",
                 "--grid", "allow_short=false", "--start", "2008-01-01", "--end", "2011-12-31",
                 "--splits", "3", "--wait", "--timeout", "120", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["state"] == "succeeded" and out["complete"] is True
    assert {r["params"]["entry_z"] for r in out["results"]} == {1.5, 2.0}
    assert all(r["params"]["allow_short"] is False for r in out["results"])
    assert out["best"]["n_trials"] == 2
    assert main(["jobs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {j["job_id"] for j in listed} == {j["job_id"] for j in out["jobs"]}


def test_local_sweep_cli_rejects_a_bad_grid(capsys):
    from mltrainer.cli import main

    assert main(["sweep", "--model", "mean_reversion", "--symbols", "AAPL", "--grid", "entry_z"]) == 1
    assert "key=v1,v2" in capsys.readouterr().err
    assert main(["sweep", "--model", "mean_reversion", "--symbols", "AAPL", "--grid", "entry_z=abc"]) == 1
    assert "entry_z" in capsys.readouterr().err


def test_local_submissions_are_audited():
    from mltrainer.audit import get_audit_trail

    job_id = submit_training("momentum_breakout", "AAPL", params={"lookback_period": 15}, actor="frank",
                             **SHORT)
    wait_until(lambda: _finished(job_id), 90, "the job to finish")
    entries = get_audit_trail().log(action="job.submit")
    assert [(e["target"], e["actor"], e["details"]["params"], e["details"]["backend"]) for e in entries] == [
        (job_id, "frank", {"lookback_period": 15}, "local")]
    assert get_audit_trail().verify()["ok"] is True
