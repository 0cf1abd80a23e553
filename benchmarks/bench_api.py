"""Benchmark: REST API latency under concurrent clients on 127.0.0.1 (uvicorn in a subprocess).

    python benchmarks/bench_api.py [--clients 50] [--requests-per-client 20] [--workers 1] [--port 0]

A model is trained on the real offline AAPL bars into a throw-away ``MLTRAINER_HOME``; the API runs as
``python -m mltrainer serve`` in a child process with a benchmark token. Each of ``--clients`` httpx
async clients sends its requests back to back (closed loop), so latency includes queueing behind
the other clients. Scenarios:

- ``health``: ``GET /health`` (no auth, no work) — the framework's floor on this machine;
- ``predict_cached``: ``POST /api/models/predict`` for symbols whose predictions are cached
  (auth, validation, cache lookup and the per-request audit record).

Target (issue 5): cached p95 <= 50 ms. Results go to benchmarks/results/bench_api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results" / "bench_api.json"
TARGET_P95_S = 0.050
SYMBOLS = ["AAPL", "MSFT", "IBM", "GOOG", "FB", "^GSPC", "^IXIC"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API process exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # readiness polling of a child process, not a timing measurement
    raise RuntimeError("the API did not become ready in time")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


async def _scenario(base: str, clients: int, per_client: int, make_request) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as client:
        async def one_client(index: int) -> None:
            for j in range(per_client):
                method, path, kwargs = make_request(index, j)
                t0 = time.perf_counter()
                response = await client.request(method, path, **kwargs)
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        wall, client_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * _percentile(latencies, 0.95),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies),
        "throughput_rps": len(latencies) / wall,
        "wall_s": wall,
        # CPU the load generator itself used: when it nears wall_s the client, not the API, is the limit
        "client_cpu_s": client_cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests-per-client", type=int, default=20)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the API")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="mltrainer-bench-api-")
    token = secrets.token_urlsafe(24)
    private = ("MLTRAINER_DATABASE_URL", "MLTRAINER_REDIS_URL", "MLTRAINER_SIGNING_KEY",
               "MLTRAINER_DATA_SOURCE")
    env = {k: v for k, v in os.environ.items() if k not in private}
    env.update({"MLTRAINER_HOME": home, "MLTRAINER_API_TOKENS": token})
    os.environ.update({"MLTRAINER_HOME": home})
    for key in private:
        os.environ.pop(key, None)

    from mltrainer.training import train_model

    trained = train_model("mean_reversion", "AAPL", start="2007-01-01", end="2012-12-31", n_splits=3)
    model_id = trained.model_id
    port = args.port or _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "mltrainer", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", "--workers", str(args.workers)],
                            env=env)
    try:
        _wait_ready(base, proc)
        auth = {"Authorization": f"Bearer {token}"}
        for symbol in SYMBOLS:  # warm the model and the cache
            r = httpx.post(f"{base}/api/models/predict", json={"model_id": model_id, "symbol": symbol},
                           headers=auth, timeout=60.0)
            r.raise_for_status()

        def health(i, j):
            return "GET", "/health", {}

        def predict_cached(i, j):
            symbol = SYMBOLS[(i + j) % len(SYMBOLS)]
            body = {"model_id": model_id, "symbol": symbol}
            return "POST", "/api/models/predict", {"json": body, "headers": auth}

        scenarios = {}
        for name, maker in (("health", health), ("predict_cached", predict_cached)):
            scenarios[name] = asyncio.run(_scenario(base, args.clients, args.requests_per_client, maker))
            s = scenarios[name]
            print(f"{name:<15} {s['requests']} requests  p50 {s['p50_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms  "
                  f"p99 {s['p99_ms']:.1f} ms  {s['throughput_rps']:.0f} req/s  "
                  f"client CPU {s['client_cpu_s']:.1f} s of {s['wall_s']:.1f} s  statuses {s['statuses']}",
                  flush=True)
        status = httpx.get(f"{base}/api/models/predictions/status", headers=auth, timeout=30.0).json()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    report = {
        "benchmark": "bench_api",
        "command": "python benchmarks/bench_api.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
                    "python": platform.python_version(), "platform": platform.platform()},
        "clients": args.clients,
        "api_workers": args.workers,
        "requests_per_client": args.requests_per_client,
        "target_cached_p95_ms": 1000 * TARGET_P95_S,
        "meets_cached_p95_target": scenarios["predict_cached"]["p95_ms"] <= 1000 * TARGET_P95_S,
        "scenarios": scenarios,
        "server_cache": status.get("cache"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
