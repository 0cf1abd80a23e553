"""Parameter sweeps: one training job per (symbol, parameter combination), ranked by OOS Sharpe.

Trying many variants and keeping the best inflates its Sharpe ratio by selection alone. The sweep
therefore reports, for the best trial, the Deflated Sharpe Ratio (Bailey & López de Prado, 2014): the
probability that its true Sharpe exceeds the best one would expect from ``n_trials`` unskilled variants
with the observed spread of trial Sharpes. ``n_trials`` is the number of completed trials, so the DSR
of a running sweep is provisional (``complete`` says whether every trial has finished).
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from mltrainer.config import Settings, get_settings
from mltrainer.errors import InvalidInputError, InvalidParameterError, JobError
from mltrainer.jobs.store import (
    TERMINAL_STATES,
    create_job,
    create_sweep,
    get_sweep,
    new_sweep_id,
    sweep_job_dicts,
)

__all__ = ["submit_sweep", "sweep_status", "expand_grid", "MAX_TRIALS"]

log = logging.getLogger(__name__)

#: A guard against a grid typo queueing thousands of trainings.
MAX_TRIALS = 500

#: Metrics copied into each ranked result when the training reported them.
_RESULT_METRICS = ("sharpe", "total_return", "cagr", "annual_volatility", "max_drawdown", "sortino", "calmar",
                   "n_trades", "win_rate", "exposure", "psr")


def expand_grid(param_grid: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order (``{}`` → one default combination)."""
    if param_grid is None:
        return [{}]
    if not isinstance(param_grid, dict):
        raise InvalidParameterError("param_grid must map parameter names to lists of values.")
    names = list(param_grid)
    values = []
    for name in names:
        options = param_grid[name]
        if isinstance(options, (str, bytes)) or not isinstance(options, (list, tuple)):
            options = [options]
        if len(options) == 0:
            raise InvalidParameterError(f"param_grid[{name!r}] is empty; give at least one value.")
        values.append(list(options))
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def submit_sweep(model_type: str, symbols: list[str] | str, param_grid: dict[str, list[Any]] | None = None,
                 cost_bps: float = 5.0, n_splits: int = 5, start=None, end=None, actor: str = "user",
                 settings: Settings | None = None) -> str:
    """Queue one training job per symbol and grid combination; returns the sweep id."""
    from mltrainer.jobs import backend_name, dispatch, record_submission, validate_request

    settings = settings or get_settings()
    if isinstance(symbols, str):
        symbols = [s for s in symbols.split(",")]
    symbols = list(dict.fromkeys(s.strip().upper() for s in symbols if s and s.strip()))
    if not symbols:
        raise InvalidInputError("Give at least one symbol to sweep, e.g. symbols=['AAPL', 'MSFT'].")
    combos = expand_grid(param_grid)
    n_trials = len(symbols) * len(combos)
    if n_trials > MAX_TRIALS:
        raise InvalidParameterError(
            f"The sweep has {n_trials} trials ({len(symbols)} symbols x {len(combos)} combinations); "
            f"the limit is {MAX_TRIALS}. Use fewer grid values or symbols."
        )
    # The grid, dates and costs do not depend on the symbol: check each combination once, then give
    # every symbol its copy (symbols are already normalised above).
    checked = [validate_request(model_type, symbols[0], combo, start, end, cost_bps, n_splits)
               for combo in combos]
    requests = [dict(req, symbol=sym, params=dict(req["params"])) for sym in symbols for req in checked]
    sweep_id = new_sweep_id()
    first = requests[0]
    create_sweep(settings, sweep_id=sweep_id, model_type=model_type, symbols=symbols,
                 param_grid={k: list(v) if isinstance(v, (list, tuple)) else [v]
                             for k, v in (param_grid or {}).items()},
                 cost_bps=first["cost_bps"], n_splits=first["n_splits"], start=first["start"],
                 end=first["end"], actor=actor)
    backend = backend_name(settings)
    job_ids = [create_job(settings, backend=backend, actor=actor, sweep_id=sweep_id, **req)
               for req in requests]
    record_submission(settings, "sweep.submit", sweep_id, {
        "model_type": model_type, "symbols": symbols, "param_grid": param_grid or {}, "trials": len(job_ids),
        "cost_bps": first["cost_bps"], "n_splits": first["n_splits"], "start": first["start"],
        "end": first["end"], "backend": backend}, actor)
    failures = 0
    for job_id in job_ids:
        try:
            dispatch(settings, job_id, backend)
        except JobError:
            failures += 1
    if failures == len(job_ids):
        raise JobError(f"Could not queue any trial of sweep {sweep_id}; check the job backend "
                       "(MLTRAINER_CELERY_BROKER_URL, Redis).")
    log.info("sweep %s: %d trials queued on the %s backend", sweep_id, len(job_ids) - failures, backend)
    return sweep_id


def _sweep_state(states: list[str]) -> str:
    if not states or all(s == "queued" for s in states):
        return "queued"
    if any(s not in TERMINAL_STATES for s in states):
        return "running"
    return "succeeded" if any(s == "succeeded" for s in states) else "failed"


def _oos_returns(model_id: str, settings: Settings) -> pd.Series | None:
    """The best model's OOS daily strategy returns, as the registry keeps them."""
    from mltrainer.registry import get_registry

    try:
        record = get_registry(settings).get(model_id)
    except Exception:
        log.warning("could not read model %s for the deflated Sharpe ratio", model_id, exc_info=True)
        return None
    returns = record.oos_return_series()
    return returns if len(returns) else None


def deflated_sharpe_of(returns: pd.Series, n_trials: int, trials_sharpe_std: float) -> float | None:
    """DSR of ``returns`` given the number of trials and the standard deviation of their *annualised*
    Sharpe ratios, computed by :mod:`mltrainer.backtest.metrics` (one definition in the product)."""
    from mltrainer.backtest.metrics import compute_metrics

    value = compute_metrics(returns, n_trials=int(n_trials),
                            trials_sharpe_std=float(trials_sharpe_std) if n_trials > 1 else None)["dsr"]
    value = float(value)
    return value if math.isfinite(value) else None


def sweep_status(sweep_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """The sweep's state, its jobs, the completed trials ranked by OOS Sharpe and the best one's DSR.

    ``best`` is ``None`` until a trial has succeeded. ``best.deflated_sharpe`` is a probability in
    [0, 1]; it uses ``n_trials`` = completed trials and the standard deviation of their Sharpe ratios.
    """
    settings = settings or get_settings()
    sweep = get_sweep(settings, sweep_id)
    jobs = sweep_job_dicts(settings, sweep_id)
    states = [j["state"] for j in jobs]
    results = []
    for job in jobs:
        if job["state"] != "succeeded" or not job.get("metrics"):
            continue
        metrics = job["metrics"]
        sharpe = metrics.get("sharpe")
        entry = {"job_id": job["job_id"], "model_id": job["model_id"], "symbol": job["symbol"],
                 "params": job["params"], "sharpe": sharpe}
        entry.update({k: metrics[k] for k in _RESULT_METRICS if k in metrics and k != "sharpe"})
        results.append(entry)

    def _key(r: dict[str, Any]) -> tuple[int, float]:
        s = r["sharpe"]
        ok = isinstance(s, (int, float)) and math.isfinite(s)
        return (0 if ok else 1, -(s if ok else 0.0))

    results.sort(key=_key)
    for rank, r in enumerate(results, start=1):
        r["rank"] = rank
    sharpes = [r["sharpe"] for r in results
               if isinstance(r["sharpe"], (int, float)) and math.isfinite(r["sharpe"])]
    best = None
    if results:
        best = dict(results[0])
        n_trials = len(results)
        std = float(np.std(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
        best["n_trials"] = n_trials
        best["trials_sharpe_std"] = std
        returns = _oos_returns(best["model_id"], settings) if best["model_id"] else None
        best["deflated_sharpe"] = (deflated_sharpe_of(returns, n_trials, std)
                                   if returns is not None and len(returns) > 2 else None)
    counts = {s: states.count(s) for s in ("queued", "running", "succeeded", "failed")}
    done = counts["succeeded"] + counts["failed"]
    return {
        **sweep,
        "state": _sweep_state(states),
        "complete": bool(jobs) and done == len(jobs),
        "n_jobs": len(jobs),
        "counts": counts,
        "progress": (sum(1.0 if j["state"] in TERMINAL_STATES else j["progress"] for j in jobs) / len(jobs)
                     if jobs else 0.0),
        "jobs": [{k: j[k] for k in ("job_id", "state", "progress", "message", "symbol", "params", "model_id",
                                    "error")} for j in jobs],
        "results": results,
        "best": best,
    }
