"""Benchmark: ``PredictionService.predict_bulk`` over a 500-symbol universe, uncached and cached.

    python benchmarks/bench_serving.py [--symbols 500] [--repeats 3] [--model-types mean_reversion,...]

The offline data holds 7 real symbols. For this benchmark only, 500 names (``BNCH000`` …) are mapped
round-robin onto those real bars by replacing ``mltrainer.data.load_bars`` *inside this script*; each
call still goes through the real loader (so bar loading is measured), and nothing in the product
changes. Models are trained on the real offline AAPL bars into a throw-away ``MLTRAINER_HOME``.

Measured per model type, after the model is loaded (artifact verification is not part of a request):
- ``uncached``: a fresh cache, every symbol computed (load bars, predict full history, explain);
- ``cached``: the same request again, every symbol a cache hit (the as-of dates learnt by the
  uncached pass key the cache, so bars are not reloaded; the per-request servability check and the
  audit record are included);
- ``single_cached``: one cached ``predict`` (servability check and audit record included).
Targets (issue 5): uncached bulk <= 1 s, cached <= 20 ms. Results go to benchmarks/results/bench_serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_serving.json"
TARGET_UNCACHED_S = 1.0
TARGET_CACHED_S = 0.020


def _universe(n: int, real: list[str]) -> dict[str, str]:
    return {f"BNCH{i:03d}": real[i % len(real)] for i in range(n)}


def install_universe(n: int) -> None:
    """Map the benchmark names onto the real offline bars in this process (the parent, and each bulk
    worker process through the pool's initializer)."""
    import mltrainer.data as data

    real_load_bars = getattr(data.load_bars, "real", data.load_bars)
    universe = _universe(n, data.list_symbols())

    def benchmark_load_bars(symbol, start=None, end=None, source=None):
        return real_load_bars(universe.get(symbol, symbol), start=start, end=end, source=source)

    benchmark_load_bars.real = real_load_bars
    data.load_bars = benchmark_load_bars  # benchmark-only universe; see the module docstring


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="bulk worker processes (MLTRAINER_BULK_PROCESSES; 0 = threads only)")
    parser.add_argument("--model-types",
                        default="mean_reversion,momentum_breakout,volatility_regime,gradient_boosting")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="mltrainer-bench-serving-")
    os.environ["MLTRAINER_HOME"] = home
    for name in ("MLTRAINER_DATABASE_URL", "MLTRAINER_REDIS_URL", "MLTRAINER_SIGNING_KEY",
                 "MLTRAINER_DATA_SOURCE"):
        os.environ.pop(name, None)

    import functools

    import mltrainer.data as data
    from mltrainer.config import get_settings
    from mltrainer.serving import InProcessCache, PredictionService
    from mltrainer.serving.pool import BulkPool
    from mltrainer.training import train_model

    install_universe(args.symbols)
    symbols = list(_universe(args.symbols, data.list_symbols()))
    settings = get_settings(bulk_processes=args.processes)
    pool = None
    if args.processes > 0:
        # The product's pool, with the benchmark universe installed in each worker; started (and the
        # stack imported) before timing, as `serve` does at start-up.
        pool = BulkPool(args.processes, initializer=functools.partial(install_universe, args.symbols))
        t0 = time.perf_counter()
        pool.warm()
        print(f"bulk pool of {args.processes} processes started in {time.perf_counter() - t0:.2f} s",
              flush=True)
    results = []
    for model_type in [t.strip() for t in args.model_types.split(",") if t.strip()]:
        model_id = train_model(model_type, "AAPL", start="2007-01-01", end="2012-12-31", n_splits=3).model_id
        uncached, cached, single = [], [], []
        for _ in range(args.repeats):
            service = PredictionService(settings=settings, cache=InProcessCache(), bulk_pool=pool)
            service.load(model_id)
            t0 = time.perf_counter()
            bulk = service.predict_bulk(model_id, symbols)
            uncached.append(time.perf_counter() - t0)
            assert not bulk.errors and len(bulk.predictions) == len(symbols), bulk.errors
            assert not any(p.cached for p in bulk.predictions)
            t0 = time.perf_counter()
            again = service.predict_bulk(model_id, symbols)
            cached.append(time.perf_counter() - t0)
            assert all(p.cached for p in again.predictions)
            for _ in range(20):
                t0 = time.perf_counter()
                assert service.predict(model_id, "BNCH000").cached
                single.append(time.perf_counter() - t0)
        row = {
            "model_type": model_type,
            "symbols": len(symbols),
            "bulk_processes": args.processes,
            "uncached_bulk_s": {"min": min(uncached), "median": statistics.median(uncached)},
            "cached_bulk_s": {"min": min(cached), "median": statistics.median(cached)},
            "single_cached_predict_s": {"p50": statistics.median(single),
                                        "p95": statistics.quantiles(single, n=20)[-1]},
            "uncached_per_symbol_ms": 1000 * statistics.median(uncached) / len(symbols),
            "meets_uncached_target": statistics.median(uncached) <= TARGET_UNCACHED_S,
            "meets_cached_bulk_target": statistics.median(cached) <= TARGET_CACHED_S,
            "meets_single_cached_target": statistics.median(single) <= TARGET_CACHED_S,
        }
        results.append(row)
        print(f"{model_type:<18} uncached {row['uncached_bulk_s']['median']:.3f} s "
              f"({row['uncached_per_symbol_ms']:.1f} ms/symbol)  "
              f"cached bulk {row['cached_bulk_s']['median'] * 1000:.1f} ms  "
              f"single cached p50 {row['single_cached_predict_s']['p50']*1000:.2f} ms", flush=True)
    data.load_bars = data.load_bars.real
    if pool is not None:
        pool.shutdown()

    report = {
        "benchmark": "bench_serving",
        "command": "python benchmarks/bench_serving.py "
                   + " ".join(argv if argv is not None else sys.argv[1:]),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
                    "python": platform.python_version(), "platform": platform.platform()},
        "targets": {"uncached_bulk_s": TARGET_UNCACHED_S, "cached_s": TARGET_CACHED_S},
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
