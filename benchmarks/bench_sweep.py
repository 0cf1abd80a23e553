"""Benchmark: sweep throughput on Celery with 1 worker vs 2 workers (not a test).

    python benchmarks/bench_sweep.py [--workers 1,2] [--symbols AAPL,MSFT,IBM,GOOG] \
        [--grid lookback_period=10,20,40] [--model momentum_breakout] [--start 2004-01-01] [--end 2015-12-31]

Each configuration gets a fresh deployment: a new PostgreSQL schema (SQLite under a temporary
``MLTRAINER_HOME`` when PostgreSQL is unreachable), its own Redis broker key prefix, and N real
``python -m mltrainer worker --concurrency 1`` processes. Once every worker is ready, one sweep (symbols
x grid, real offline bars, 5 bps, 3 walk-forward folds) is submitted and timed until every trial has
finished. Reported per configuration: wall seconds, trials per minute, mean seconds per trial (from
the jobs' own start/finish stamps) and the speed-up over one worker. Worker start-up is not timed.
For scale, the script also measures the CPU ceiling: how much more pure-Python work N processes get
done than one on this machine at that moment (a shared machine may give far less than N).

Results go to ``benchmarks/results/bench_sweep.json``; a markdown table is printed.
Needs Redis on 127.0.0.1:6379 (``MLTRAINER_BENCH_REDIS_URL`` to change it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "bench_sweep.json"
PG_URL = os.environ.get("MLTRAINER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MLTRAINER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _postgres_schema() -> tuple[str, str] | None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
    except Exception as exc:
        print(f"PostgreSQL unavailable ({type(exc).__name__}); using SQLite", file=sys.stderr)
        return None
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def _drop_schema(schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def _wait(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)
    return value


def _spin(n: int) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - started


def parallel_ceiling(n_processes: int, loops: int = 20_000_000) -> float:
    """How much faster ``n_processes`` CPU-bound processes get through a fixed amount of pure-Python work
    than one process, on this machine right now: the best speed-up any n-worker setup can show here."""
    import multiprocessing

    one = _spin(loops)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(n_processes) as pool:
        started = time.perf_counter()
        pool.map(_spin, [loops] * n_processes)
        many = time.perf_counter() - started
    return round(n_processes * one / many, 2)


def run_configuration(n_workers: int, args: argparse.Namespace, grid: dict[str, list]) -> dict:
    import redis

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    pg = _postgres_schema()
    database_url = pg[1] if pg else f"sqlite:///{tmp / 'home' / 'mltrainer.db'}"
    prefix = f"bench_{uuid.uuid4().hex[:10]}:"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRAINER_")}
    env.update(MLTRAINER_HOME=str(tmp / "home"), MLTRAINER_DATABASE_URL=database_url,
               MLTRAINER_CELERY_BROKER_URL=REDIS_URL, MLTRAINER_CELERY_KEY_PREFIX=prefix)
    os.environ.update({k: v for k, v in env.items() if k.startswith("MLTRAINER_")})
    (tmp / "home").mkdir(parents=True, exist_ok=True)

    from mltrainer.db import dispose_engines, get_engine
    from mltrainer.jobs import submit_sweep, sweep_status
    from mltrainer.jobs.store import JobRow

    get_engine()  # migrate once here, not in every worker at once
    workers, logs = [], []
    try:
        for i in range(n_workers):
            log_path = tmp / f"worker{i}.log"
            logs.append(log_path)
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "mltrainer", "worker", "--concurrency", "1", "--name", f"bench{i}@%h"],
                env=env, cwd=REPO, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
                start_new_session=True,
            ))
        _wait(lambda: all(" ready." in p.read_text(errors="replace") for p in logs), 180, "workers to start")
        started = time.perf_counter()
        sweep_id = submit_sweep(args.model, args.symbols.split(","), grid, start=args.start, end=args.end,
                                n_splits=3, cost_bps=5.0, actor="bench")
        status = _wait(lambda: (s := sweep_status(sweep_id))["complete"] and s, 3600, "the sweep",
                       interval=0.2)
        wall = time.perf_counter() - started
        from mltrainer.db import session_scope

        with session_scope() as session:
            rows = session.query(JobRow).filter(JobRow.sweep_id == sweep_id).all()
            per_trial = [(r.finished_at - r.started_at).total_seconds()
                         for r in rows if r.started_at and r.finished_at]
            pids = {r.worker_pid for r in rows}
        n_trials = status["n_jobs"]
        return {
            "workers": n_workers,
            "trials": n_trials,
            "succeeded": status["counts"]["succeeded"],
            "wall_seconds": round(wall, 2),
            "trials_per_minute": round(60.0 * n_trials / wall, 1),
            "distinct_worker_processes": len(pids),
            "best": {k: status["best"][k] for k in ("symbol", "params", "sharpe", "deflated_sharpe")}
            if status["best"] else None,
            "_per_trial": per_trial,
        }
    finally:
        for proc in workers:
            try:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=30)
            except Exception:
                os.killpg(proc.pid, 9)
        dispose_engines()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        if pg:
            _drop_schema(pg[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--model", default="momentum_breakout")
    parser.add_argument("--symbols", default="AAPL,MSFT,IBM,GOOG")
    parser.add_argument("--grid", action="append", default=None)
    parser.add_argument("--start", default="2004-01-01")
    parser.add_argument("--end", default="2015-12-31")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from mltrainer.cli.sweep import parse_grid

    grid = parse_grid(args.model, args.grid or ["lookback_period=10,20,40"])
    runs = []
    for n in (int(x) for x in args.workers.split(",")):
        result = run_configuration(n, args, grid)
        per_trial = result.pop("_per_trial")
        result["mean_trial_seconds"] = round(sum(per_trial) / len(per_trial), 2) if per_trial else None
        runs.append(result)
        print(f"{n} worker(s): {result['trials']} trials in {result['wall_seconds']} s", file=sys.stderr)
    ceiling = {n: parallel_ceiling(n) for n in (r["workers"] for r in runs) if n > 1}
    base = runs[0]["wall_seconds"]
    for r in runs:
        r["speedup_vs_first"] = round(base / r["wall_seconds"], 2)
    out = {
        "command": "python benchmarks/bench_sweep.py " + " ".join(sys.argv[1:]),
        "model": args.model, "symbols": args.symbols, "grid": grid, "start": args.start, "end": args.end,
        "n_splits": 3, "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                   "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                                   "cpu_parallel_speedup_ceiling": ceiling,
                                   "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS",
                                                                                 "OPENBLAS_NUM_THREADS")}},
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print("| workers | trials | wall s | trials/min | mean s/trial | speed-up |")
    print("|---|---|---|---|---|---|")
    for n, value in ceiling.items():
        print(f"CPU ceiling on this machine now: {n} processes do {value}x the pure-Python work of one",
              file=sys.stderr)
    for r in runs:
        print(f"| {r['workers']} | {r['trials']} | {r['wall_seconds']} | {r['trials_per_minute']} | "
              f"{r['mean_trial_seconds']} | {r['speedup_vs_first']}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
