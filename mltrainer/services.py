"""The façade that the Streamlit pages, the REST API and the CLI call.

Each function here is one user-level operation; it delegates to the package that owns the logic and
records the operation in the audit trail where the owning package does not. Imports are local so that
a page importing this module stays cheap.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrainer.compliance.masking import SECRET_RULES, mask_literal
from mltrainer.compliance.masking import mask_lines as _mask_lines
from mltrainer.errors import ComplianceError, InvalidInputError, InvalidParameterError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "data_status",
    "list_symbols",
    "describe_symbols",
    "load_bars",
    "load_series",
    "list_series",
    "model_types",
    "train_model",
    "list_models",
    "get_model",
    "delete_model",
    "reproduce_model",
    "get_prediction_service",
    "predict",
    "predict_bulk",
    "predict_ensemble",
    "scan_code",
    "audit_log",
    "verify_audit",
    # dashboard views (issue 6)
    "ModelReview",
    "SignalHistory",
    "INDICATORS",
    "PriceWindow",
    "overview_summary",
    "indicator_overlays",
    "price_window",
    "changed_params",
    "carried_over_symbols",
    "model_review",
    "signal_history",
    "compare_models",
    "normalise_weights",
    "verify_model",
    "scan_targets",
    "SECRET_RULES",
    "mask_literal",
    "violation_context",
    "list_overrides",
    "grant_override",
    "revoke_override",
    "plugins_available",
    "install_plugin",
    "plugin_folder_state",
    "load_plugins",
    "jobs_available",
    "jobs_backend",
    "submit_training_job",
    "job_status",
]


# -- data --------------------------------------------------------------------------------------------
def _is_index(symbol: str) -> bool:
    # Yahoo-style "^GSPC" (offline data) and Polygon's "I:SPX" name indices, not tradeable stocks.
    return symbol.startswith("^") or symbol.upper().startswith("I:")


def data_status(source: str | None = None) -> dict[str, Any]:
    """Active source, its last bar date and which API keys are configured (never their values).

    ``last_bar_by_kind`` gives the newest bar of the stocks and of the indices separately
    (``{"stocks": "2013-03-01", "indices": "2018-12-31"}``; a kind without bars is left out): the
    overall ``last_bar`` alone would promise stock bars up to an index's last day.
    """
    from mltrainer.data import data_status as _status
    from mltrainer.data import describe_symbols as _describe

    status = dict(_status(source))
    lasts: dict[str, list[str]] = {}
    for row in _describe(source):
        if row["last"]:
            lasts.setdefault("indices" if _is_index(row["symbol"]) else "stocks", []).append(row["last"])
    status["last_bar_by_kind"] = {kind: max(lasts[kind]) for kind in ("stocks", "indices") if kind in lasts}
    return status


def list_symbols(source: str | None = None) -> list[str]:
    from mltrainer.data import list_symbols as _list

    return _list(source)


def describe_symbols(source: str | None = None) -> list[dict[str, Any]]:
    from mltrainer.data import describe_symbols as _describe

    return _describe(source)


def load_bars(symbol: str, start=None, end=None, source: str | None = None):
    from mltrainer.data import load_bars as _load

    return _load(symbol, start=start, end=end, source=source)


def load_series(series_id: str, start=None, end=None, source: str | None = None):
    from mltrainer.data import load_series as _load

    return _load(series_id, start=start, end=end, source=source)


def list_series(source: str | None = None) -> list[dict[str, Any]]:
    from mltrainer.data import list_series as _list

    return _list(source)


# -- models and training ----------------------------------------------------------------------------
def model_types() -> list[dict[str, Any]]:
    """Every model type with its parameters (name, default, help, bounds)."""
    from mltrainer.models import describe_model_types

    return describe_model_types()


def train_model(model_type: str, symbol: str, params: dict | None = None, start=None, end=None,
                cost_bps: float = 5.0, n_splits: int = 5, progress=None, actor: str = "user"):
    from mltrainer.training import train_model as _train

    return _train(model_type, symbol, params=params, start=start, end=end, cost_bps=cost_bps,
                  n_splits=n_splits, progress=progress, actor=actor)


def list_models():
    from mltrainer.registry import get_registry

    return get_registry().list()


def get_model(model_id: str):
    from mltrainer.registry import get_registry

    return get_registry().get(model_id)


def delete_model(model_id: str, actor: str = "user") -> None:
    """Delete a model from the registry; the prediction service forgets it and its cached predictions."""
    from mltrainer.registry import get_registry

    try:
        get_registry().delete(model_id, actor=actor)
    finally:  # also when it was already gone: nothing of it may stay served
        get_prediction_service().unload(model_id, drop_cached=True)


def reproduce_model(model_id: str) -> dict[str, Any]:
    from mltrainer.training import reproduce_model as _reproduce

    return _reproduce(model_id)


# -- serving ------------------------------------------------------------------------------------------
def get_prediction_service():
    """The process-wide prediction service (models in memory, prediction cache)."""
    from mltrainer.serving import get_prediction_service as _get

    return _get()


def predict(model_id: str, symbol: str, use_cache: bool = True, actor: str = "user"):
    return get_prediction_service().predict(model_id, symbol, use_cache=use_cache, actor=actor)


def predict_bulk(model_id: str, symbols: list[str], use_cache: bool = True, actor: str = "user"):
    return get_prediction_service().predict_bulk(model_id, symbols, use_cache=use_cache, actor=actor)


def predict_ensemble(model_ids: list[str], symbol: str, weights=None, use_cache: bool = True,
                     actor: str = "user"):
    return get_prediction_service().predict_ensemble(model_ids, symbol, weights=weights, use_cache=use_cache,
                                                     actor=actor)


# -- compliance and audit -----------------------------------------------------------------------------
def scan_code(path, actor: str = "user"):
    from mltrainer.compliance import scan_path

    return scan_path(path, actor=actor)


def audit_log(limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
    """Newest records first; ``action`` filters exactly, or by prefix when it ends with ``*``."""
    from mltrainer.audit import get_audit_trail

    return get_audit_trail().log(limit=limit, action=action or None)


def verify_audit() -> dict[str, Any]:
    from mltrainer.audit import get_audit_trail

    return get_audit_trail().verify()


# -- dashboard views ----------------------------------------------------------------------------------
# Each returns everything one page section renders, so pages stay thin views.

def _recent(action: str, limit: int) -> list[dict[str, Any]]:
    from mltrainer.audit import get_audit_trail

    return get_audit_trail().log(limit=limit, action=action)


def overview_summary(recent: int = 5) -> dict[str, Any]:
    """Counts and recents for the Overview page, all read from the registry and the audit trail.

    ``{models: {count, by_type, recent}, trainings, predictions, compliance, audit, data}``;
    ``compliance`` is the newest ``compliance.scan`` record's details (``None`` before any scan).
    """
    models = list_models()
    by_type: dict[str, int] = {}
    for record in models:
        by_type[record.model_type] = by_type.get(record.model_type, 0) + 1
    scans = _recent("compliance.scan", 1)
    return {
        "models": {"count": len(models), "by_type": by_type,
                   "recent": [m.summary() for m in models[:recent]]},
        "trainings": _recent("model.train", recent),
        "predictions": sorted(_recent("prediction", recent) + _recent("ensemble", recent),
                              key=lambda r: r["seq"], reverse=True)[:recent],
        "compliance": (
            {"target": scans[0]["target"], "timestamp": scans[0]["timestamp"], **scans[0]["details"]}
            if scans else None),
        "audit": verify_audit(),
        "data": data_status(),
    }


#: Indicator overlays the Data page offers: name -> (function in mltrainer.features, kwargs).
INDICATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "SMA 20": ("sma", {"window": 20}),
    "SMA 50": ("sma", {"window": 50}),
    "SMA 200": ("sma", {"window": 200}),
    "EMA 20": ("ema", {"window": 20}),
    "Bollinger 20, 2σ": ("bollinger_bands", {"window": 20, "num_std": 2.0}),
}


def indicator_overlays(bars: pd.DataFrame, names: list[str]) -> dict[str, pd.Series]:
    """Price-scale indicator lines for the named :data:`INDICATORS` (Bollinger gives upper and lower)."""
    import pandas as pd

    from mltrainer import features

    out: dict[str, pd.Series] = {}
    for name in names:
        if name not in INDICATORS:
            raise InvalidInputError(f"Unknown indicator {name!r}: choose from {', '.join(INDICATORS)}.")
        func, kwargs = INDICATORS[name]
        value = getattr(features, func)(bars["close"], **kwargs)
        if isinstance(value, pd.DataFrame):
            for column in ("upper", "lower"):
                out[f"{name} {column}"] = value[column]
        else:
            out[name] = value
    return out


@dataclass(frozen=True)
class PriceWindow:
    """What the Data page charts for one symbol: the last ``years`` of its bars and the chosen
    indicator lines over the same dates.

    ``bars`` is a ``load_bars(symbol, start=start)`` call (its ``attrs["provenance"]`` describes that
    window); the overlays were computed on the whole history and then cut to ``bars``' first date,
    so a 200-bar average is defined from the window's first bar instead of starting with a gap.
    """

    symbol: str
    start: str
    bars: pd.DataFrame
    overlays: dict[str, pd.Series]


def price_window(symbol: str, years: int = 3, indicators: Iterable[str] = (),
                 source: str | None = None) -> PriceWindow:
    """The last ``years`` calendar years of ``symbol``'s bars, counted back from its own last bar,
    with the named :data:`INDICATORS` trimmed to the same dates."""
    import pandas as pd

    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        raise InvalidInputError(f"years must be a whole number of years >= 1; got {years!r}.")
    names = list(indicators)
    full = load_bars(symbol, source=source)
    start = (full.index[-1] - pd.DateOffset(years=years)).date().isoformat()
    bars = load_bars(symbol, start=start, source=source)
    overlays = {name: line.loc[bars.index[0]:] for name, line in indicator_overlays(full, names).items()}
    return PriceWindow(symbol=str(bars.attrs.get("provenance", {}).get("symbol", symbol)), start=start,
                       bars=bars, overlays=overlays)


def changed_params(model_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters whose value differs from the model type's own default.

    A training request then carries what the analyst changed and nothing else, so a default stays
    the model's own (e.g. an empty macro list, not the ``""`` a text input returns for it).
    """
    from mltrainer.models import get_model_class

    described = next((t for t in model_types() if t["model_type"] == model_type), None)
    if described is None:
        get_model_class(model_type)  # raises UnknownModelTypeError with a suggestion
        raise InvalidInputError(f"Unknown model type {model_type!r}.")
    defaults = {spec["name"]: spec["default"] for spec in described["params"]}
    unknown = [name for name in params if name not in defaults]
    if unknown:
        import difflib

        hint = difflib.get_close_matches(unknown[0], list(defaults), n=1)
        raise InvalidParameterError(
            f"Unknown parameter {unknown[0]!r} for model type {model_type!r}."
            + (f" Did you mean {hint[0]!r}?" if hint else "")
            + f" Valid parameters: {', '.join(defaults) or 'none'}."
        )
    return {name: value for name, value in params.items() if value != defaults[name]}


def _same_symbol(a: Any, b: Any) -> bool:
    return str(a).upper() == str(b).upper()


def carried_over_symbols(trained_on: str, symbols: Iterable[str]) -> list[str]:
    """The symbols among ``symbols`` that a model trained on ``trained_on`` was never measured on.

    A model's confidence calibration comes from its training symbol's walk-forward test windows
    only; on every other symbol it is carried over, and the dashboard must say so.
    """
    return [s for s in symbols if not _same_symbol(s, trained_on)]


@dataclass(frozen=True)
class ModelReview:
    """What the Train and Models pages show about one trained model.

    Everything but ``bars``, ``regimes`` and the lookahead check is out of sample: ``oos_equity`` and
    ``trades`` replay the model's stored walk-forward signals through the backtest engine (the same
    call the training made, so they match the registry's metrics); ``buy_and_hold_equity`` covers the
    same out-of-sample bars. ``regimes`` (volatility_regime only) come from the final model, fitted on
    all bars — in-sample. ``lookahead_dates`` lists bars whose prediction changed when later bars were
    removed (empty = causal on ``lookahead_cuts`` cuts); ``None`` when not checked.
    """

    record: Any
    bars: pd.DataFrame
    oos_equity: pd.Series
    buy_and_hold_equity: pd.Series
    trades: pd.DataFrame
    replayed_metrics: dict[str, Any]
    regimes: pd.Series | None
    lookahead_dates: list[pd.Timestamp] | None
    lookahead_cuts: int


def model_review(model_id: str, check_lookahead: bool = True, lookahead_cuts: int = 10) -> ModelReview:
    """Rebuild the out-of-sample view of ``model_id`` from its signed bundle and registry record."""
    from mltrainer.backtest import check_lookahead as _check
    from mltrainer.backtest import run_backtest
    from mltrainer.registry import get_registry

    registry = get_registry()
    record = registry.get(model_id)
    bundle = registry.load_bundle(model_id, actor="dashboard")
    bars = load_bars(record.symbol, start=record.train_start, end=record.train_end)
    oos_signal = bundle["oos_predictions"]["signal"]
    oos_bars = bars.loc[oos_signal.index]
    replay = run_backtest(oos_bars, oos_signal, cost_bps=record.cost_bps)
    model = bundle["model"]
    regimes = None
    if record.model_type == "volatility_regime":
        frame = model.predict(bars)
        regimes = frame["regime"] if "regime" in frame else None
    dates = _check(model, bars, n_cuts=lookahead_cuts) if check_lookahead else None
    return ModelReview(
        record=record, bars=bars, oos_equity=replay.equity, buy_and_hold_equity=replay.benchmark_equity,
        trades=replay.trades, replayed_metrics=replay.metrics, regimes=regimes, lookahead_dates=dates,
        lookahead_cuts=lookahead_cuts,
    )


@dataclass(frozen=True)
class SignalHistory:
    """A model's signals over the latest ``bars`` of a symbol, for the Predictions page chart.

    ``frame`` is the model's ``predict`` output (signal, strength and its analysis columns) on those
    bars. ``fitted_until`` is the last training bar: signals up to it are in-sample when ``symbol`` is
    the symbol the model was trained on.
    """

    model_id: str
    symbol: str
    bars: pd.DataFrame
    frame: pd.DataFrame
    fitted_until: pd.Timestamp | None


def signal_history(model_id: str, symbol: str, n_bars: int = 250) -> SignalHistory:
    """The model's causal signals over the last ``n_bars`` bars of ``symbol`` (warm-up from earlier bars)."""
    import pandas as pd

    from mltrainer.registry import get_registry

    if isinstance(n_bars, bool) or not isinstance(n_bars, int) or n_bars < 2:
        raise InvalidInputError(f"n_bars must be a whole number >= 2; got {n_bars!r}.")
    registry = get_registry()
    record = registry.get(model_id)
    model = registry.load_model(model_id, actor="dashboard")
    bars = load_bars(symbol)
    frame = model.predict(bars).iloc[-n_bars:]
    fitted = pd.Timestamp(record.train_end) if _same_symbol(record.symbol, symbol) else None
    return SignalHistory(model_id=record.model_id, symbol=str(symbol).upper(), bars=bars.iloc[-n_bars:],
                         frame=frame, fitted_until=fitted)


def compare_models(model_ids: list[str]) -> dict[str, Any]:
    """Side-by-side OOS metrics (one column per model) and each model's OOS equity curve."""
    import pandas as pd

    if len(model_ids) < 2:
        raise InvalidInputError("Pick at least two models to compare.")
    records = [get_model(m) for m in model_ids]
    metrics = pd.DataFrame({r.model_id: r.metrics for r in records})
    return {"metrics": metrics, "curves": {r.model_id: r.oos_equity_curve() for r in records},
            "records": records}


def normalise_weights(weights: dict[str, float]) -> dict[str, float]:
    """The weights an ensemble would use for these raw weights (validated, summing to 1)."""
    from mltrainer.serving.ensemble import normalise_weights as _normalise
    from mltrainer.serving.ensemble import parse_weights

    spec = parse_weights(list(weights), dict(weights))
    return _normalise(spec.raw)


def verify_model(model_id: str) -> bool:
    """Whether the model's artifact matches its signature (never unpickles)."""
    from mltrainer.registry import get_registry

    return get_registry().verify(model_id)


def scan_targets() -> dict[str, Path]:
    """What the Compliance page can scan: the plugin folder and mlTrainer's own package."""
    import mltrainer
    from mltrainer.config import get_settings

    return {"Plugins (MLTRAINER_HOME/plugins)": get_settings().plugins_dir,
            "mlTrainer package": Path(mltrainer.__file__).parent}


#: Rules whose flagged lines hold a credential: their string literals are masked wherever shown.
def _flagged_lines(violation: Any) -> set[int]:
    # The excerpt covers exactly the flagged statement's lines (the scanner caps it at five).
    line = int(violation.line)
    return set(range(line, line + max(1, len(str(violation.excerpt).splitlines()))))


def violation_context(root: str | Path, violation: Any, context: int = 3,
                      others: Iterable[Any] = ()) -> tuple[int, str]:
    """``(first line number, text)`` of the scanned file around a violation, for display; falls back
    to the violation's own excerpt when the file is no longer readable.

    String literals on the lines of a hardcoded secret are masked (:func:`mask_literal`): showing the
    credential on a review page would leak it a second time. ``others`` are the rest of the scan's
    violations, so that a secret flagged on a neighbouring line of the same file is masked as well.
    """
    base = Path(root)
    line = int(violation.line)
    flagged: set[int] = set()
    for v in (violation, *others):
        if v.rule in SECRET_RULES and v.path == violation.path:
            flagged |= _flagged_lines(v)
    # Violation paths are relative to the scanned root's parent (they start with the root's name).
    candidates = [base] if base.is_file() else [base.parent / violation.path, base / violation.path]
    path = next((c for c in candidates if c.is_file()), None)
    try:
        if path is None:
            raise OSError(violation.path)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        excerpt = str(violation.excerpt).splitlines()
        if violation.rule in SECRET_RULES:
            excerpt = _mask_lines(excerpt, set(range(1, len(excerpt) + 1)))
        return line, "\n".join(excerpt)
    if flagged:
        lines = _mask_lines(lines, flagged)
    first = max(1, line - context)
    last = min(len(lines), line + context)
    return first, "\n".join(lines[first - 1:last])


def list_overrides(active_only: bool = False) -> list[Any]:
    from mltrainer.compliance.overrides import list_overrides as _list

    return _list(active_only=active_only)


def grant_override(fingerprint: str, reason: str, author: str, expires_at: dt.date | str,
                   rule: str | None = None, path: str | None = None, report: Any = None):
    """Grant an override; ``rule`` and ``path`` not given are taken from the violation with this
    fingerprint in ``report`` (the scan the reviewer is looking at), so the override says what it
    accepts and where."""
    from mltrainer.compliance.overrides import grant_override as _grant

    if report is not None and (rule is None or path is None):
        wanted = (fingerprint or "").strip().lower()
        match = next((v for v in report.violations if v.fingerprint == wanted), None)
        if match is not None:
            rule = match.rule if rule is None else rule
            path = match.path if path is None else path
    return _grant(fingerprint, reason, author, expires_at, rule=rule, path=path)


def revoke_override(override_id: int, author: str):
    from mltrainer.compliance.overrides import revoke_override as _revoke

    return _revoke(override_id, author)


def plugins_available() -> bool:
    """Whether the plugin installer (``mltrainer.compliance.plugins``) is part of this build."""
    import importlib.util

    return importlib.util.find_spec("mltrainer.compliance.plugins") is not None


def install_plugin(filename: str, content: bytes, actor: str = "user") -> Any:
    """Scan an uploaded model file and install it into the plugin folder when it passes."""
    if not plugins_available():
        raise ComplianceError("Plugin upload is not available in this installation yet.")
    from mltrainer.compliance import plugins

    return plugins.install_plugin(filename, content, actor=actor)


def plugin_folder_state() -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """``(folder, ((file name, size, mtime_ns), ...))`` of the plugin files: changes whenever a plugin
    is added, removed or edited (or ``MLTRAINER_HOME`` moves), so callers can cache on it."""
    from mltrainer.config import get_settings

    if not plugins_available():
        return str(get_settings().plugins_dir), ()
    from mltrainer.compliance.plugins import folder_state

    return folder_state()


def load_plugins(actor: str = "user") -> list[Any]:
    """Scan and load every plugin file (``[]`` when the plugin loader is not in this build); each
    status says whether it loaded, its model types, or why it was blocked."""
    if not plugins_available():
        return []
    from mltrainer.compliance import plugins

    return plugins.load_plugins(actor=actor)


def jobs_available() -> bool:
    """Whether background training jobs (``mltrainer.jobs``) are part of this build."""
    import importlib.util

    return importlib.util.find_spec("mltrainer.jobs") is not None


def jobs_backend() -> str | None:
    """``"celery"`` (a broker is configured), ``"local"`` (an in-process pool), or ``None`` when
    background jobs are not part of this build."""
    if not jobs_available():
        return None
    from mltrainer.jobs import backend_name

    return backend_name()


def submit_training_job(model_type: str, symbol: str, params: dict | None = None, start=None, end=None,
                        cost_bps: float = 5.0, n_splits: int = 5, actor: str = "user") -> str:
    from mltrainer.jobs import submit_training

    return submit_training(model_type, symbol, params=params, start=start, end=end, cost_bps=cost_bps,
                           n_splits=n_splits, actor=actor)


def list_jobs(limit: int = 50) -> list[dict[str, Any]]:
    """The most recent background jobs, newest first."""
    from mltrainer.jobs import list_jobs as _list

    return _list(limit=limit)


def submit_sweep(model_type: str, symbols: list[str], param_grid: dict[str, list], cost_bps: float = 5.0,
                 n_splits: int = 5, start=None, end=None, actor: str = "user") -> str:
    """Queue one training per symbol and parameter combination; returns the sweep id."""
    from mltrainer.jobs import submit_sweep as _submit

    return _submit(model_type, symbols, param_grid, cost_bps=cost_bps, n_splits=n_splits, start=start,
                   end=end, actor=actor)


def sweep_status(sweep_id: str) -> dict[str, Any]:
    """A sweep's jobs and its results ranked by OOS Sharpe, with the best trial's Deflated Sharpe."""
    from mltrainer.jobs import sweep_status as _status

    return _status(sweep_id)


def job_status(job_id: str) -> dict[str, Any]:
    from mltrainer.jobs import job_status as _status

    return _status(job_id)
