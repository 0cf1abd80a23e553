"""Model predict benchmark (not a test): median ``predict`` time per model type on real offline bars.

    python benchmarks/bench_predict.py [--repeats 50] [--out benchmarks/results/bench_predict.json]

Each model type is fitted with default parameters on offline ^GSPC 2000–2010, then ``predict`` is timed
on all offline ^GSPC bars (~5,000) and all offline AAPL bars (~3,300); the median of ``--repeats``
calls is reported in milliseconds, plus gradient boosting's ``feature_contributions(last_n=1)`` (what
serving calls) when the model has it. The machine is shared, so the 1/5/15-minute load averages are
recorded with the figures; compare runs only at similar load.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import time
from pathlib import Path

from mltrainer.data import load_bars
from mltrainer.models import MODEL_TYPES, create_model

RESULTS = Path(__file__).resolve().parent / "results" / "bench_predict.json"


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm caches and lazy imports outside the timing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def run(repeats: int) -> dict:
    train = load_bars("^GSPC", start="2000-01-01", end="2010-12-31")
    targets = {"^GSPC": load_bars("^GSPC"), "AAPL": load_bars("AAPL")}
    rows = []
    for model_type in MODEL_TYPES:
        model = create_model(model_type).fit(train)
        for symbol, bars in targets.items():
            row = {"model_type": model_type, "symbol": symbol, "bars": len(bars),
                   "predict_median_ms": round(_median_ms(lambda m=model, b=bars: m.predict(b), repeats), 3)}
            contrib = getattr(model, "feature_contributions", None)
            if contrib is not None and "last_n" in inspect.signature(contrib).parameters:
                row["feature_contributions_last1_median_ms"] = round(
                    _median_ms(lambda f=contrib, b=bars: f(b, last_n=1), repeats), 3)
            rows.append(row)
            print(f"{model_type:20s} {symbol:6s} {len(bars):5d} bars  predict {row['predict_median_ms']:8.3f} ms"
                  + (f"  contributions(last_n=1) {row['feature_contributions_last1_median_ms']:.3f} ms"
                     if "feature_contributions_last1_median_ms" in row else ""))
    return {"repeats": repeats, "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = run(args.repeats)
    print("load average (1, 5, 15 min):", report["load_average_1_5_15"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
