"""The training pipeline: bars -> walk-forward (out of sample) -> final fit -> calibration -> signed
artifact + registry row -> audit record.

Every number a trained model is judged by comes from the walk-forward test windows only; the model
that is stored (and later served) is then refitted on all bars of the requested range. The stored
record (params, data range, data fingerprint, costs, folds) is enough to retrain the model and check
that the out-of-sample metrics come out the same (:func:`reproduce_model`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import clone

from mltrainer._util import to_jsonable
from mltrainer.calibration import Calibration, fit_calibration
from mltrainer.errors import InvalidParameterError
from mltrainer.registry import ModelRecord, bars_fingerprint, data_fingerprint, get_registry

__all__ = ["TrainingResult", "train_model", "reproduce_model", "training_result_to_dict"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]

#: Relative tolerance when comparing reproduced metrics: the pipeline is deterministic, so anything
#: beyond floating-point noise is a real difference.
METRIC_RTOL = 1e-9
BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class TrainingResult:
    """A trained, registered model and how it did out of sample.

    ``metrics`` are the out-of-sample backtest's metrics (the backtest package's names); ``data`` is
    ``{first, last, rows, fingerprint, source, dataset}`` of the training bars (``source``/``dataset``
    from the bars' provenance, e.g. ``offline`` and the package the bars came from; the fingerprint
    also covers the macro values a model with macro series used); ``timings`` are seconds per step
    (``load_s, walk_forward_s, fit_s, save_s, total_s``).
    """

    model_id: str
    model: Any
    backtest: Any
    folds: list[dict[str, Any]]
    metrics: dict[str, Any]
    buy_and_hold: dict[str, Any]
    data: dict[str, Any]
    params: dict[str, Any]
    calibration: Calibration
    timings: dict[str, float]
    record: ModelRecord


@dataclass(frozen=True)
class _PipelineOutput:
    symbol: str  # as the data source spells it ("aapl" -> "AAPL")
    bars: pd.DataFrame
    model: Any
    walk_forward: Any
    calibration: Calibration
    params: dict[str, Any]
    data: dict[str, Any]
    timings: dict[str, float]


class _Progress:
    """Forwards monotone fractions in [0, 1] to the user's callback (never lets it go backwards)."""

    def __init__(self, callback: ProgressCallback | None):
        self.callback = callback
        self.last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        if self.callback is None:
            return
        self.last = max(self.last, min(1.0, float(fraction)))
        self.callback(self.last, message)

    def scaled(self, low: float, high: float) -> ProgressCallback:
        return lambda fraction, message: self(low + (high - low) * float(fraction), message)


def _check_arguments(cost_bps: Any, n_splits: Any) -> tuple[float, int]:
    try:
        cost = float(cost_bps)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"cost_bps must be a number of basis points, e.g. 5; got {cost_bps!r}."
        ) from None
    if not math.isfinite(cost) or cost < 0:
        raise InvalidParameterError(f"cost_bps must be a finite number >= 0 (bps); got {cost_bps!r}.")
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
        raise InvalidParameterError(
            f"n_splits must be a whole number >= 2 (walk-forward folds); got {n_splits!r}."
        )
    return cost, n_splits


def _macro_inputs(model: Any, bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The macro values the fitted model used (``SignalModel.macro_inputs``); none for a plugin model
    that does not implement it."""
    inputs = getattr(model, "macro_inputs", None)
    return dict(inputs(bars)) if callable(inputs) else {}


def _run_pipeline(model_type: str, symbol: str, params: dict[str, Any] | None, start: Any, end: Any,
                  cost_bps: float, n_splits: int, progress: _Progress,
                  source: str | None = None) -> _PipelineOutput:
    """Everything but saving: load (from ``source``, default the configured one), walk-forward, final
    fit, calibration."""
    from mltrainer.backtest import WalkForward, walk_forward
    from mltrainer.data import load_bars, parse_date_range
    from mltrainer.models import create_model

    if params is not None and not isinstance(params, dict):
        raise InvalidParameterError("params must be a mapping of parameter name to value.")
    first, last = parse_date_range(start, end)
    model = create_model(model_type, **dict(params or {}))  # unknown type/param fail before any work
    from mltrainer.compliance.plugins import require_allowed_model_type

    require_allowed_model_type(model_type)  # a blocked plugin is never trained

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress(0.0, f"loading {symbol} bars")
    bars = load_bars(symbol, start=first, end=last, source=source)
    timings["load_s"] = time.perf_counter() - t0
    progress(0.05, f"loaded {len(bars)} bars {bars.index[0].date()}..{bars.index[-1].date()}")

    t1 = time.perf_counter()
    result = walk_forward(model, bars, cv=WalkForward(n_splits=n_splits), cost_bps=cost_bps,
                          progress=progress.scaled(0.05, 0.75))
    timings["walk_forward_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    progress(0.75, "fitting the final model on all bars")
    final = clone(model).fit(bars)
    calibration = fit_calibration(result.predictions, bars, int(final.holding_horizon))
    timings["fit_s"] = time.perf_counter() - t2
    progress(0.85, "model fitted and calibrated")

    provenance = bars.attrs.get("provenance", {})
    data = {"first": bars.index[0], "last": bars.index[-1], "rows": int(len(bars)),
            "fingerprint": data_fingerprint(bars, _macro_inputs(final, bars)),
            "source": provenance.get("source"), "dataset": provenance.get("dataset")}
    canonical = str(provenance.get("symbol") or symbol)
    return _PipelineOutput(symbol=canonical, bars=bars, model=final, walk_forward=result,
                           calibration=calibration, params=dict(final.get_params()), data=data,
                           timings=timings)


def train_model(model_type: str, symbol: str, params: dict[str, Any] | None = None, start: Any = None,
                end: Any = None, cost_bps: float = 5.0, n_splits: int = 5,
                progress: ProgressCallback | None = None, actor: str = "user") -> TrainingResult:
    """Train, validate out of sample, sign, register and audit one model.

    ``progress(fraction, message)`` is called with non-decreasing fractions ending at 1.0. A failure at
    any step leaves no registry row and no artifact.
    """
    cost, splits = _check_arguments(cost_bps, n_splits)
    tracker = _Progress(progress)
    started = time.perf_counter()
    out = _run_pipeline(model_type, symbol, params, start, end, cost, splits, tracker)
    backtest = out.walk_forward.backtest

    t3 = time.perf_counter()
    tracker(0.9, "saving the signed artifact")
    bundle = {
        "format": BUNDLE_FORMAT,
        "model": out.model,
        "model_type": model_type,
        "symbol": out.symbol,
        "params": out.params,
        "calibration": out.calibration.to_dict(),
        "data": out.data,
        "cost_bps": cost,
        "n_splits": splits,
        "oos_predictions": out.walk_forward.predictions[["signal", "strength"]].copy(),
    }
    record = get_registry().register(
        model_type=model_type, symbol=out.symbol, bundle=bundle, params=out.params,
        train_start=out.data["first"], train_end=out.data["last"], data_rows=out.data["rows"],
        data_fingerprint=out.data["fingerprint"], metrics=backtest.metrics, folds=out.walk_forward.folds,
        buy_and_hold=backtest.benchmark_metrics, calibration=out.calibration.to_dict(),
        oos_returns=backtest.returns, cost_bps=cost, n_splits=splits, actor=actor,
        data_source=out.data["source"], dataset=out.data["dataset"],
        audit_details={"params": out.params, "cost_bps": cost, "n_splits": splits,
                       "data_source": out.data["source"],
                       "train_start": out.data["first"], "train_end": out.data["last"],
                       "oos_sharpe": backtest.metrics.get("sharpe"),
                       "oos_total_return": backtest.metrics.get("total_return")},
    )
    timings = dict(out.timings)
    timings["save_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - started
    tracker(1.0, f"registered {record.model_id}")
    log.info("trained %s in %.2fs", record.model_id, timings["total_s"])
    return TrainingResult(
        model_id=record.model_id, model=out.model, backtest=backtest, folds=out.walk_forward.folds,
        metrics=backtest.metrics, buy_and_hold=backtest.benchmark_metrics, data=out.data,
        params=out.params, calibration=out.calibration, timings=timings, record=record,
    )


def training_result_to_dict(result: TrainingResult) -> dict[str, Any]:
    """The JSON the CLI and API return for a training."""
    return to_jsonable({
        "model_id": result.model_id,
        "model_type": result.record.model_type,
        "symbol": result.record.symbol,
        "params": result.params,
        "metrics": result.metrics,
        "folds": result.folds,
        "buy_and_hold": result.buy_and_hold,
        "data": result.data,
        "calibration": {"base_rate": result.calibration.base_rate,
                        "brier_score": result.calibration.brier_score,
                        "brier_skill": result.calibration.brier_skill,
                        "brier_method": result.calibration.brier_method,
                        "n_samples": result.calibration.n_samples},
        "timings": result.timings,
    })


def _params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    # JSON turned tuples (e.g. a list of series ids) into lists; models were built with tuples.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def _differences(original: Any, reproduced: Any, path: str = "") -> dict[str, Any]:
    """Leaf-by-leaf differences between two JSON values (numbers compared with METRIC_RTOL)."""
    if isinstance(original, dict) and isinstance(reproduced, dict):
        diffs: dict[str, Any] = {}
        for key in sorted(set(original) | set(reproduced)):
            child = f"{path}.{key}" if path else str(key)
            diffs.update(_differences(original.get(key), reproduced.get(key), child))
        return diffs
    if isinstance(original, list) and isinstance(reproduced, list) and len(original) == len(reproduced):
        diffs = {}
        for i, (a, b) in enumerate(zip(original, reproduced, strict=True)):
            diffs.update(_differences(a, b, f"{path}[{i}]"))
        return diffs
    numeric = (int, float)
    if isinstance(original, numeric) and isinstance(reproduced, numeric) \
            and not isinstance(original, bool) and not isinstance(reproduced, bool):
        if math.isclose(original, reproduced, rel_tol=METRIC_RTOL, abs_tol=1e-12):
            return {}
    elif original == reproduced:
        return {}
    return {path or "value": {"original": original, "reproduced": reproduced}}


def reproduce_model(model_id: str, progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Retrain ``model_id`` from its recorded params, data source and range, costs and folds — without
    registering anything — and report whether the data fingerprint and the out-of-sample metrics match.

    The bars are loaded from the recorded ``data_source`` (the configured source for models registered
    before it was recorded), so a changed default source does not change what is reproduced. A model
    with macro series registered before macro values were part of the fingerprint recorded the bars'
    fingerprint only; its bars are compared the same way.

    Returns ``{model_id, fingerprint_match, metrics_match, original, reproduced, differences}`` where
    ``original``/``reproduced`` hold ``data``, ``metrics``, ``folds`` and ``buy_and_hold``.
    """
    record = get_registry().get(model_id)
    params = _params_from_json(record.params)
    out = _run_pipeline(record.model_type, record.symbol, params, record.train_start, record.train_end,
                        record.cost_bps, record.n_splits, _Progress(progress), source=record.data_source)
    backtest = out.walk_forward.backtest
    original = {
        "data": {"first": record.train_start, "last": record.train_end, "rows": record.data_rows,
                 "fingerprint": record.data_fingerprint, "source": record.data_source,
                 "dataset": record.dataset},
        "metrics": record.metrics, "folds": record.folds, "buy_and_hold": record.buy_and_hold,
    }
    reproduced_data = dict(out.data)
    bars_only = bars_fingerprint(out.bars)
    if record.data_fingerprint == bars_only != reproduced_data["fingerprint"]:
        # Recorded before macro values were fingerprinted: compare the bars, as the record did.
        reproduced_data["fingerprint"] = bars_only
    reproduced = {"data": reproduced_data, "metrics": backtest.metrics, "folds": out.walk_forward.folds,
                  "buy_and_hold": backtest.benchmark_metrics}
    original, reproduced = to_jsonable(original), to_jsonable(reproduced)
    differences = _differences(original, reproduced)
    if progress is not None:
        progress(1.0, "reproduction finished")
    return {
        "model_id": record.model_id,
        "fingerprint_match": original["data"]["fingerprint"] == reproduced["data"]["fingerprint"],
        "metrics_match": not any(k.startswith(("metrics", "folds", "buy_and_hold")) for k in differences),
        "original": original,
        "reproduced": reproduced,
        "differences": differences,
    }
