"""``train --async``: the CLI returns a job id at once; the job runs on after the CLI has exited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from mltrainer.jobs import job_status
from mltrainer.registry import get_registry


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mltrainer", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def test_async_training_outlives_the_cli_and_registers_the_model():
    done = _run_cli("train", "--model", "momentum_breakout", "--symbol", "AAPL", "--start", "2008-01-01",
                    "--end", "2011-12-31", "--splits", "3", "--async", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["backend"] == "local" and answer["job_id"].startswith("job-")
    # The CLI has exited; the detached process owns the job, so it is not reported lost.
    assert job_status(answer["job_id"])["state"] in ("queued", "running")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = job_status(answer["job_id"])
        if status["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)  # polling observable state with a bounded deadline, not timing anything
    assert status["state"] == "succeeded", status
    record = get_registry().get(status["model_id"])
    assert (record.model_type, record.symbol) == ("momentum_breakout", "AAPL")
    shown = _run_cli("jobs", "show", answer["job_id"], "--json")
    assert json.loads(shown.stdout)["model_id"] == status["model_id"]


def test_async_with_a_bad_parameter_fails_at_once_with_one_line():
    done = _run_cli("train", "--model", "momentum_breakout", "--symbol", "AAPL", "--param",
                    "lookback_period=1", "--async", "--json")
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "lookback_period" in done.stderr
