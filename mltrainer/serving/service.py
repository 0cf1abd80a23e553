"""The prediction service: verified models kept in memory (LRU), cached predictions, bulk and ensembles.

One process-wide instance (:func:`get_prediction_service`) is shared by the API, the CLI and the
dashboard through ``mltrainer.services``. Every request is recorded in the audit trail, failed ones too
(with the error class and message): one ``prediction`` record per single or bulk request (bulk lists its
symbols), one ``ensemble`` record per ensemble request.

Every request also confirms that each model it uses may still be served: still registered and, for a
plugin model type, still passing ``check_plugin`` (see :meth:`PredictionService._confirm_servable`).
The API's cached path makes the same confirmation without a database read of its own: its audit
record is appended only if no invalidating record is newer than the model's last check
(:meth:`PredictionService.predict_async`).

Large uncached bulk requests are computed in worker processes (:mod:`mltrainer.serving.pool`);
the rest in a thread pool.

Freshness: a prediction is cached under (model id, symbol, date of the last bar), so the service must
know that date before it consults the cache: it loads the bars (cheap for the offline source), or
reuses the date learnt from a load at most ``AS_OF_TTL_SECONDS`` (60 s) ago. A new bar therefore
never hits an old entry (at most 60 s late); the TTL bounds reuse within a day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import pandas as pd

from mltrainer._util import takes_keyword
from mltrainer.config import Settings, get_settings
from mltrainer.errors import (
    ComplianceError,
    EnsembleError,
    InsufficientDataError,
    InvalidInputError,
    MLTrainerError,
    NotFoundError,
    ServingError,
)
from mltrainer.serving import ensemble as _ens
from mltrainer.serving.analysis import explain_latest
from mltrainer.serving.cache import PredictionCache, make_cache, prediction_cache_key
from mltrainer.serving.results import (
    BulkPrediction,
    EnsembleMember,
    EnsemblePrediction,
    Prediction,
    signal_label,
)

__all__ = [
    "PredictionService",
    "get_prediction_service",
    "reset_prediction_service",
    "MAX_BULK_SYMBOLS",
    "BULK_WORKERS",
    "SYMBOL_PATTERN",
    "AS_OF_TTL_SECONDS",
    "SERVABLE_RECHECK_SECONDS",
]

log = logging.getLogger(__name__)

#: Most symbols one bulk request may ask for.
MAX_BULK_SYMBOLS = 1000
#: Threads computing a bulk request. Prediction is mostly pandas code holding the GIL, so threads
#: beyond the cores only contend: on 2 cores, 100 uncached symbols took ~0.72 s with 1–4 threads and
#: 1.4–1.6 s with 8.
BULK_WORKERS = max(2, min(8, os.cpu_count() or 2))
#: What a ticker may look like: letters, digits and ``^ . - = _``, at most 20 characters.
SYMBOL_PATTERN = r"^[A-Za-z0-9^.=_\-]{1,20}$"
_SYMBOL_RE = re.compile(SYMBOL_PATTERN)
#: Seconds for which the date of a symbol's last bar, learnt when its bars were loaded, is trusted to
#: key the cache without loading the bars again (capped by the prediction TTL). A bar published within
#: this window is picked up at most this late; loading bars costs ~1 ms per symbol, which would
#: otherwise dominate a cached bulk request.
AS_OF_TTL_SECONDS = 60.0
#: Seconds a passed "may this loaded model still be served?" check (model still registered; plugin
#: types still pass ``check_plugin``) is trusted while the audit trail shows no model deletion, override
#: or plugin change since. The time bound catches what writes no audit record: an override reaching its
#: expiry date, a plugin file edited on disk.
SERVABLE_RECHECK_SECONDS = 2.0
#: How long the in-loop path keeps answering (each answer still guarded against invalidating audit
#: records) while one request makes the time-based re-check that fell due.
RECHECK_CLAIM_SECONDS = 1.0
#: Audit actions after which every loaded model is checked again before it serves. Not
#: ``override.use``: a passing check of an overridden plugin writes it, and must not force the next.
_INVALIDATING_ACTIONS = ("model.delete", "override.grant", "override.revoke", "plugin.load",
                         "plugin.blocked")
_INTERNAL_ERROR = "Internal error while predicting {symbol}; the incident was logged."


def _utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalise_symbol(symbol: Any) -> str:
    """Upper-case, stripped ticker; ``InvalidInputError`` naming the allowed form otherwise."""
    if not isinstance(symbol, str) or not _SYMBOL_RE.match(symbol.strip()):
        shown = str(symbol)[:30] if isinstance(symbol, str) else type(symbol).__name__
        raise InvalidInputError(
            f"Invalid symbol {shown!r}: use a ticker of 1–20 letters, digits or ^ . - = _, "
            "e.g. AAPL or ^GSPC."
        )
    return symbol.strip().upper()


def _normalise_model_id(model_id: Any) -> str:
    if not isinstance(model_id, str) or not model_id.strip() or len(model_id) > 200:
        raise InvalidInputError("model_id must be a non-empty string naming a trained model, e.g. "
                                "mean_reversion_AAPL_20260101 (see `python -m mltrainer models list`).")
    return model_id.strip()


@dataclass
class _LoadedModel:
    """A verified model in memory with what serving needs from its registry record."""

    model_id: str
    model_type: str
    symbol: str
    model: Any
    calibration: Any
    oos_returns: pd.Series | None
    loaded_at: str
    #: Audit generation and service-clock deadline of the last passed servability check.
    checked_generation: int | None = None
    checked_until: float = field(default=-math.inf)
    #: A request has claimed the time-based re-check; the others keep the guarded in-loop path meanwhile.
    recheck_due: bool = False
    def worker_fields(self) -> dict[str, Any]:
        """What a bulk worker needs besides the model to compute as :meth:`PredictionService._compute`."""
        return {"model_id": self.model_id, "model_type": self.model_type, "symbol": self.symbol,
                "calibration": self.calibration, "oos_returns": None, "loaded_at": self.loaded_at}


class PredictionService:
    """Serve predictions of registered models.

    ``settings`` defaults to :func:`~mltrainer.config.get_settings`; ``cache`` to
    :func:`~mltrainer.serving.cache.make_cache`; ``clock`` (monotonic seconds) drives the uptime and
    the default in-process cache's TTL; ``registry`` to ``mltrainer.registry.get_registry()``.
    """

    def __init__(self, settings: Settings | None = None, cache: PredictionCache | None = None,
                 clock: Callable[[], float] | None = None, registry: Any = None, bulk_pool: Any = None):
        self._settings = settings or get_settings()
        self._bulk_pool = bulk_pool
        self._clock = clock or time.monotonic
        self._cache = cache if cache is not None else make_cache(self._settings, clock=self._clock)
        self._registry = registry
        self._models: OrderedDict[str, _LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._as_of: dict[str, tuple[str, float]] = {}
        self._served = 0
        self._ensembles_served = 0
        self._started_at = _utc_now_iso()
        self._started_clock = self._clock()
        self._audit_writer: Any = None

    # -- collaborators ---------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def cache(self) -> PredictionCache:
        return self._cache

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from mltrainer.registry import get_registry

            self._registry = get_registry(self._settings)
        return self._registry

    @property
    def audit_writer(self) -> Any:
        """The service's :class:`~mltrainer.audit.AuditWriter`: concurrent requests share commits."""
        if self._audit_writer is None:
            from mltrainer.audit import AuditWriter, get_audit_trail

            with self._lock:
                if self._audit_writer is None:
                    self._audit_writer = AuditWriter(get_audit_trail(self._settings))
        return self._audit_writer

    def _submit_audit(self, action: str, target: Any, details: dict[str, Any], actor: str,
                      error: Exception | None) -> Future:
        """Queue the request's single audit record; a failure adds the error class and, for our
        user-safe exceptions, its message."""
        if error is None:
            return self.audit_writer.submit(action, details.pop("_target", target), details, actor)
        details["error"] = type(error).__name__
        details["message"] = (str(error)[:500] if isinstance(error, MLTrainerError)
                              else "internal error; see the server log")
        return self.audit_writer.submit(action, str(details.pop("_target", target))[:200], details, actor)

    def _audited(self, action: str, target: Any, details: dict[str, Any], actor: str,
                 run: Callable[[], Any]) -> Any:
        """Run one request and write its single audit record, also when it fails.

        ``run`` fills ``details`` as it learns them (normalised ids, symbols, outcome). The answer is
        returned only once its record is committed. If the audit write fails after the request
        failed, that is logged and the request's own error is the one raised.
        """
        error: Exception | None = None
        try:
            return run()
        except Exception as exc:
            error = exc
            raise
        finally:
            if error is None:
                self._submit_audit(action, target, details, actor, None).result()
            else:
                try:
                    self._submit_audit(action, target, details, actor, error).result()
                except Exception:
                    log.exception("could not audit the failed %s request on %s", action, target)

    async def _audited_async(self, action: str, target: Any, details: dict[str, Any], actor: str,
                             run: Callable[[], Any]) -> Any:
        """:meth:`_audited` for an event loop: ``run`` goes to a worker thread and the audit record is
        awaited, not blocked on."""
        error: Exception | None = None
        try:
            return await anyio.to_thread.run_sync(run)
        except Exception as exc:
            error = exc
            raise
        finally:
            if error is None:
                await asyncio.wrap_future(self._submit_audit(action, target, details, actor, None))
            else:
                try:
                    await asyncio.wrap_future(self._submit_audit(action, target, details, actor, error))
                except Exception:
                    log.exception("could not audit the failed %s request on %s", action, target)

    # -- model memory ------------------------------------------------------------------------------
    def load(self, model_id: str) -> dict[str, Any]:
        """Load (signature verified) and keep ``model_id`` in memory; returns its summary.

        At most ``settings.max_loaded_models`` stay loaded; the least recently used is evicted.
        """
        return self._summary(self._get_loaded(_normalise_model_id(model_id)))

    def unload(self, model_id: str, drop_cached: bool = False) -> bool:
        """Forget a loaded model; ``True`` if it was loaded.

        ``drop_cached`` also removes the model's cached predictions (a deleted model must leave
        nothing behind that could be served).
        """
        model_id = str(model_id).strip()
        with self._lock:
            was_loaded = self._models.pop(model_id, None) is not None
        if drop_cached:
            self._cache.delete_model(model_id)
        return was_loaded

    def _get_loaded(self, model_id: str) -> _LoadedModel:
        """The loaded model, loading it on first use; confirms on every call that it may still be served."""
        with self._lock:
            entry = self._models.get(model_id)
            if entry is not None:
                self._models.move_to_end(model_id)
        if entry is not None:
            self._confirm_servable(entry)
            return entry
        with self._lock:
            load_lock = self._load_locks.setdefault(model_id, threading.Lock())
        with load_lock:  # one load per model even when concurrent requests race on it
            with self._lock:
                entry = self._models.get(model_id)
                if entry is not None:
                    self._models.move_to_end(model_id)
            if entry is not None:
                self._confirm_servable(entry)
                return entry
            try:
                # Read before the checks of the load, so a change while loading forces a re-check.
                generation = self._servable_generation()
                entry = self._load_from_registry(model_id)
            finally:
                with self._lock:  # also after a failed load, so unknown ids leave nothing behind
                    self._load_locks.pop(model_id, None)
            entry.checked_generation = generation
            entry.checked_until = self._clock() + SERVABLE_RECHECK_SECONDS
            with self._lock:
                self._models[model_id] = entry
                self._models.move_to_end(model_id)
                while len(self._models) > self._settings.max_loaded_models:
                    evicted, _ = self._models.popitem(last=False)
                    log.info("evicted model %s (max_loaded_models=%d)", evicted,
                             self._settings.max_loaded_models)
        return entry

    def _servable_generation(self) -> int:
        """Newest audit ``seq`` of an action that can make a loaded model unservable (0 if none).

        One indexed ``max(seq)`` query per request: a deletion, override change or plugin event in
        any process is seen by the next request here.
        """
        from mltrainer.audit import newest_record_query
        from mltrainer.db import get_engine

        stmt = newest_record_query(_INVALIDATING_ACTIONS)
        try:
            with get_engine(self._settings).connect() as conn:
                newest = conn.execute(stmt).scalar()
        except MLTrainerError:
            raise
        except Exception as exc:
            log.warning("servability query failed: %s: %s", type(exc).__name__, exc)  # for the operator
            raise ServingError(
                f"Could not confirm that models may still be served ({type(exc).__name__}); check that "
                "the metadata database is reachable."
            ) from exc
        return int(newest or 0)

    def _confirm_servable(self, entry: _LoadedModel) -> None:
        """Refuse a loaded model that was deleted or whose plugin no longer passes its compliance check.

        Skipped while nothing relevant was audited since the last passed check and that check is less
        than :data:`SERVABLE_RECHECK_SECONDS` old. A refused model is unloaded and its cached
        predictions dropped.
        """
        generation = self._servable_generation()
        if (entry.checked_generation == generation and self._clock() < entry.checked_until
                and not entry.recheck_due):
            return
        try:
            record = self.registry.get(entry.model_id)  # ModelNotFoundError once deleted
            self._check_servable(record)  # ComplianceBlockedError once the override is gone
        except (NotFoundError, ComplianceError):
            log.info("model %s may no longer be served; unloaded", entry.model_id)
            self.unload(entry.model_id, drop_cached=True)
            raise
        # Any other error (e.g. the database briefly unreachable) fails this request and keeps the model.
        entry.checked_generation = generation
        entry.checked_until = self._clock() + SERVABLE_RECHECK_SECONDS
        entry.recheck_due = False

    def _load_from_registry(self, model_id: str) -> _LoadedModel:
        registry = self.registry
        record = registry.get(model_id)  # ModelNotFoundError -> 404 at the API
        model_type = str(_field(record, "model_type"))
        self._check_servable(record)
        model = registry.load_model(model_id)  # verifies the signature before unpickling
        oos_returns = _oos_returns_of(record)
        calibration = _calibration_of(record, model_id)
        log.info("loaded model %s (%s)", model_id, model_type)
        return _LoadedModel(
            model_id=model_id,
            model_type=model_type,
            symbol=str(_field(record, "symbol", "")),
            model=model,
            calibration=calibration,
            oos_returns=oos_returns,
            loaded_at=_utc_now_iso(),
        )

    def _check_servable(self, record: Any) -> None:
        """Compliance hook: a plugin model type must pass the plugin check before it is served."""
        from mltrainer.compliance.plugins import require_allowed_model_type

        require_allowed_model_type(str(_field(record, "model_type")))

    def _summary(self, entry: _LoadedModel) -> dict[str, Any]:
        return {"model_id": entry.model_id, "model_type": entry.model_type, "symbol": entry.symbol,
                "loaded_at": entry.loaded_at}

    # -- single predictions --------------------------------------------------------------------------
    def predict(self, model_id: str, symbol: str, use_cache: bool = True, actor: str = "user") -> Prediction:
        """The latest signal of ``model_id`` for ``symbol``, from the cache when fresh."""
        details: dict[str, Any] = {"symbols": [str(symbol)[:200]]}
        return self._audited("prediction", model_id, details, actor,
                             lambda: self._predict_request(model_id, symbol, use_cache, details))

    async def predict_async(self, model_id: str, symbol: str, use_cache: bool = True,
                            actor: str = "user") -> Prediction:
        """:meth:`predict` for an event loop (the API): same answer, same single audit record.

        A fresh cached prediction of a loaded, recently checked model is answered without leaving the
        loop and without reading the database: its audit record is appended with a
        :class:`~mltrainer.audit.Guard` — only if nothing that can make a model unservable (deletion,
        override or plugin change, in any process) was recorded since the model's last check. That
        check runs under the audit chain's lock, so it is as strict as the per-request query of the
        other paths, and the answer is returned only once its record is committed. If the guard
        fails, or anything is not at hand (model not loaded, as-of date unknown, cache miss, a
        networked cache), the request runs as :meth:`predict` does, in a worker thread.

        Records are group-committed (:class:`~mltrainer.audit.AuditWriter`): a busy server spends one
        transaction per batch of requests, not per request.
        """
        from mltrainer.audit import Guard, Stale

        if use_cache and self._cache.in_process:
            fresh = self._fresh_hit(model_id, symbol)
            if fresh is not None:
                entry, hit = fresh
                details = {"symbols": [hit.symbol], "as_of": hit.as_of, "signal": hit.signal, "cached": True}
                guard = Guard(_INVALIDATING_ACTIONS, int(entry.checked_generation or 0))
                outcome = await asyncio.wrap_future(
                    self.audit_writer.submit("prediction", entry.model_id, details, actor, guard=guard))
                if not isinstance(outcome, Stale):
                    self._count_served()
                    return hit
                # Something changed: the model is checked again (by the full path) before any more
                # in-loop answers.
                entry.recheck_due, entry.checked_until = True, -math.inf
        details: dict[str, Any] = {"symbols": [str(symbol)[:200]]}
        return await self._audited_async("prediction", model_id, details, actor,
                                         lambda: self._predict_request(model_id, symbol, use_cache, details))

    def _fresh_hit(self, model_id: Any, symbol: Any) -> tuple[_LoadedModel, Prediction] | None:
        """A loaded, recently checked model's fresh cached prediction, found without any I/O; or None."""
        try:
            mid, sym = _normalise_model_id(model_id), normalise_symbol(symbol)
        except InvalidInputError:
            return None  # the full path raises it and records it
        with self._lock:
            entry = self._models.get(mid)
            if entry is None or entry.checked_generation is None:
                return None
            now = self._clock()
            if now >= entry.checked_until:
                # The time-based re-check is due: this request makes it (in a thread); the requests
                # arriving meanwhile stay on the guarded path for up to RECHECK_CLAIM_SECONDS instead
                # of all piling into threads at once (which once made every 2 s a ~100 ms stall).
                entry.recheck_due = True
                entry.checked_until = now + RECHECK_CLAIM_SECONDS
                return None
            self._models.move_to_end(mid)
        as_of = self._recent_as_of(sym)
        if as_of is None:
            return None
        hit = self._cache.get(prediction_cache_key(mid, sym, as_of))
        if hit is None:
            return None
        try:
            return entry, Prediction.from_dict(hit, cached=True)
        except (TypeError, ValueError):
            return None

    def _predict_request(self, model_id: Any, symbol: Any, use_cache: bool,
                         details: dict[str, Any]) -> Prediction:
        mid = _normalise_model_id(model_id)
        details["_target"] = mid
        sym = normalise_symbol(symbol)
        details["symbols"] = [sym]
        entry = self._get_loaded(mid)
        prediction = self._predict_one(entry, sym, use_cache=use_cache)
        details.update(as_of=prediction.as_of, signal=prediction.signal, cached=prediction.cached)
        return prediction

    def _load_bars(self, symbol: str) -> pd.DataFrame:
        from mltrainer.data import load_bars

        bars = load_bars(symbol)
        if bars is None or len(bars) == 0:
            raise InsufficientDataError(
                f"No bars available for {symbol}; check the symbol and the data source.")
        as_of = pd.Timestamp(bars.index[-1]).date().isoformat()
        # pandas deep-copies ``attrs`` (the provenance) into every derived object; the models do not
        # need it, and dropping it on a shallow copy makes predict 25-40% faster.
        bars = bars.copy(deep=False)
        bars.attrs = {}
        with self._lock:
            trust = min(AS_OF_TTL_SECONDS, self._settings.prediction_ttl_seconds)
            self._as_of[symbol] = (as_of, self._clock() + trust)
        return bars

    def _recent_as_of(self, symbol: str) -> str | None:
        with self._lock:
            known = self._as_of.get(symbol)
        if known is not None and known[1] > self._clock():
            return known[0]
        return None

    def _cached(self, entry: _LoadedModel, symbol: str, as_of: str) -> Prediction | None:
        key = prediction_cache_key(entry.model_id, symbol, as_of)
        hit = self._cache.get(key)
        if hit is None:
            return None
        try:
            prediction = Prediction.from_dict(hit, cached=True)
        except (TypeError, ValueError):
            log.warning("ignoring malformed cache entry %s", key)
            return None
        self._count_served()
        return prediction

    def _predict_one(self, entry: _LoadedModel, symbol: str, use_cache: bool = True,
                     bars: pd.DataFrame | None = None) -> Prediction:
        looked_up = None
        if use_cache and bars is None:
            # The as-of date learnt from a load moments ago keys the cache without reloading the bars.
            looked_up = self._recent_as_of(symbol)
            if looked_up is not None and (hit := self._cached(entry, symbol, looked_up)) is not None:
                return hit
        if bars is None:
            bars = self._load_bars(symbol)
        as_of = pd.Timestamp(bars.index[-1]).date().isoformat()
        if use_cache and as_of != looked_up and (hit := self._cached(entry, symbol, as_of)) is not None:
            return hit
        prediction = self._compute(entry, symbol, bars, as_of)
        key = prediction_cache_key(entry.model_id, symbol, as_of)
        self._cache.set(key, prediction.to_dict(), self._settings.prediction_ttl_seconds)
        self._count_served()
        return prediction

    def _compute(self, entry: _LoadedModel, symbol: str, bars: pd.DataFrame, as_of: str) -> Prediction:
        warmup = int(getattr(entry.model, "warmup_bars", 0) or 0)
        if len(bars) <= warmup:
            raise InsufficientDataError(
                f"{symbol} has {len(bars)} bars but model {entry.model_id} needs more than {warmup} for its "
                "warm-up; use a symbol with a longer history."
            )
        # No lock: a fitted model's predict reads its learned state only (no model assigns to self
        # outside fit), so bulk threads predict concurrently; a test checks bulk == one-by-one.
        # Only the latest row is served; models built on SignalModel compute just that (same values),
        # and a model that explains its prediction (gradient boosting) does so from the same features.
        model = entry.model
        if callable(getattr(model, "predict_explained", None)):
            frame = model.predict_explained(bars, last_n=1)
        elif takes_keyword(type(model), "predict", "last_n"):
            frame = model.predict(bars, last_n=1)
        else:
            frame = model.predict(bars)
        analysis = explain_latest(entry.model, entry.model_type, bars, frame)
        warmup = int(frame.attrs.get("warmup_bars", warmup) or 0)
        if len(bars) <= warmup:
            raise InsufficientDataError(
                f"{symbol} has {len(bars)} bars but model {entry.model_id} needs more than {warmup} for its "
                "warm-up; use a symbol with a longer history."
            )
        # Two cells, not the whole last row (a mixed-dtype row is built as an object Series).
        last_signal, last_strength = frame["signal"].iat[-1], frame["strength"].iat[-1]
        if pd.isna(last_signal) or pd.isna(last_strength):
            raise ServingError(f"Model {entry.model_id} produced no signal for {symbol} on {as_of}.")
        signal = int(last_signal)
        strength = float(min(1.0, max(0.0, float(last_strength))))
        confidence = float(entry.calibration.confidence(signal, strength))
        if not math.isfinite(confidence):
            raise ServingError(f"Model {entry.model_id} has an unusable calibration; retrain it.")
        closes = bars["close"]
        latest_price = float(closes.iloc[-1])
        change = float(closes.iloc[-1] / closes.iloc[-2] - 1.0) if len(closes) >= 2 else None
        return Prediction(
            model_id=entry.model_id,
            symbol=symbol,
            as_of=as_of,
            signal=signal,
            label=signal_label(signal),
            strength=strength,
            confidence=min(1.0, max(0.0, confidence)),
            latest_price=latest_price,
            price_change_1d=change,
            analysis=analysis,
            cached=False,
            generated_at=_utc_now_iso(),
        )

    def _count_served(self, n: int = 1) -> None:
        with self._lock:
            self._served += n

    # -- bulk ----------------------------------------------------------------------------------------
    def predict_bulk(self, model_id: str, symbols: Sequence[str], use_cache: bool = True,
                     actor: str = "user") -> BulkPrediction:
        """Predictions for many symbols, computed concurrently; each failure is reported per symbol."""
        details: dict[str, Any] = {"symbols": _symbols_for_audit(symbols), "bulk": True}
        return self._audited("prediction", model_id, details, actor,
                             lambda: self._bulk(model_id, symbols, use_cache, details))

    def _bulk(self, model_id: str, symbols: Any, use_cache: bool, details: dict[str, Any]) -> BulkPrediction:
        model_id = _normalise_model_id(model_id)
        details["_target"] = model_id
        if isinstance(symbols, str):
            symbols = symbols.split(",")
        if not isinstance(symbols, Sequence) or len(symbols) == 0:
            raise InvalidInputError("symbols must be a non-empty list of tickers, e.g. ['AAPL', 'MSFT'].")
        if len(symbols) > MAX_BULK_SYMBOLS:
            raise InvalidInputError(
                f"At most {MAX_BULK_SYMBOLS} symbols per bulk request; {len(symbols)} given.")
        entry = self._get_loaded(model_id)  # an unknown or tampered model fails the whole request
        unique: dict[str, None] = {}  # insertion-ordered set: a list's `in` made 500 symbols O(n²)
        errors: dict[str, str] = {}
        for raw in symbols:
            try:
                unique[normalise_symbol(raw)] = None
            except InvalidInputError as exc:
                errors[str(raw)[:200]] = str(exc)  # keyed as sent, so the caller can match it
        ordered = list(unique)

        def run(symbol: str) -> Prediction | str:
            try:
                return self._predict_one(entry, symbol, use_cache=use_cache)
            except MLTrainerError as exc:
                return str(exc)
            except Exception:  # a bug for one symbol must not sink the batch; it is logged in full
                log.exception("bulk prediction failed for %s with %s", symbol, model_id)
                return _INTERNAL_ERROR.format(symbol=symbol)

        outcomes: dict[str, Prediction | str] = {}
        if use_cache:  # fresh cache hits need no thread: answer them inline, compute only the rest
            for symbol in ordered:
                as_of = self._recent_as_of(symbol)
                if as_of is not None and (hit := self._cached(entry, symbol, as_of)) is not None:
                    outcomes[symbol] = hit
        remaining = [s for s in ordered if s not in outcomes]
        if len(remaining) >= self._settings.bulk_process_min_symbols:
            computed = self._bulk_in_processes(entry, remaining)
            if computed is not None:
                outcomes.update(computed)
                remaining = []
        if remaining:
            workers = max(1, min(BULK_WORKERS, len(remaining)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mltrainer-bulk") as pool:
                outcomes.update(zip(remaining, pool.map(run, remaining), strict=False))
        predictions = []
        for symbol in ordered:
            outcome = outcomes[symbol]
            if isinstance(outcome, Prediction):
                predictions.append(outcome)
            else:
                errors[symbol] = outcome
        details.update(symbols=ordered, errors=sorted(errors))
        return BulkPrediction(model_id=model_id, predictions=tuple(predictions), errors=errors)

    def bulk_pool(self) -> Any:
        """The worker-process pool for large bulk requests, or None when ``bulk_processes`` is 0."""
        if self._bulk_pool is not None:
            return self._bulk_pool
        if self._settings.bulk_processes < 1:
            return None
        from mltrainer.serving.pool import get_bulk_pool

        return get_bulk_pool(self._settings.bulk_processes)

    def warm_bulk_pool(self) -> list[int]:
        """Start the bulk worker processes now (the API server does at start-up); their pids."""
        pool = self.bulk_pool()
        return pool.warm() if pool is not None else []

    def _bulk_in_processes(self, entry: _LoadedModel,
                           symbols: list[str]) -> dict[str, Prediction | str] | None:
        """Compute ``symbols`` in the worker processes; None (use threads) without a pool or if it broke.

        Unlike a thread, a worker cannot consult this service's cache after loading a symbol's bars, so
        a symbol whose as-of date was not known here is computed afresh even if an entry for it exists
        (the answer is the same; only ``cached`` is False).
        """
        from concurrent.futures.process import BrokenProcessPool

        pool = self.bulk_pool()
        if pool is None:
            return None
        try:
            results = pool.compute(entry.worker_fields(), symbols)
        except (BrokenProcessPool, OSError) as exc:
            log.warning("bulk worker processes unavailable (%s); computing %d symbols in threads",
                        type(exc).__name__, len(symbols))
            return None
        trust = min(AS_OF_TTL_SECONDS, self._settings.prediction_ttl_seconds)
        ttl = self._settings.prediction_ttl_seconds
        for symbol, outcome in results.items():
            if isinstance(outcome, Prediction):
                with self._lock:
                    self._as_of[symbol] = (outcome.as_of, self._clock() + trust)
                key = prediction_cache_key(entry.model_id, symbol, outcome.as_of)
                self._cache.set(key, outcome.to_dict(), ttl)
        self._count_served(sum(isinstance(o, Prediction) for o in results.values()))
        return results

    # -- ensembles -----------------------------------------------------------------------------------
    def predict_ensemble(self, model_ids: Sequence[str], symbol: str, weights: Any = None,
                         use_cache: bool = True, actor: str = "user") -> EnsemblePrediction:
        """Blend several models' latest signals for ``symbol``; see :mod:`mltrainer.serving.ensemble`.

        A member that fails (unknown id, too little data, ...) is reported with its error and weight
        0, and the others' weights are re-normalised; if none succeeds an ``EnsembleError`` lists each
        member's error.
        """
        details: dict[str, Any] = {"model_ids": _symbols_for_audit(model_ids)}
        return self._audited("ensemble", str(symbol)[:200] if isinstance(symbol, str) else "", details, actor,
                             lambda: self._ensemble(model_ids, symbol, weights, use_cache, details))

    def _ensemble(self, model_ids: Any, symbol: Any, weights: Any, use_cache: bool,
                  details: dict[str, Any]) -> EnsemblePrediction:
        ids = _ens.validate_model_ids(model_ids)
        details["model_ids"] = ids
        spec = _ens.parse_weights(ids, weights)
        details["weights_method"] = spec.method
        symbol = normalise_symbol(symbol)
        details["_target"] = symbol
        bars = self._load_bars(symbol)  # an unknown symbol is the request's fault, not a member's

        def run(model_id: str) -> tuple[Prediction | None, _LoadedModel | None, str | None]:
            try:
                entry = self._get_loaded(model_id)
                return self._predict_one(entry, symbol, use_cache=use_cache, bars=bars), entry, None
            except MLTrainerError as exc:
                return None, None, str(exc)
            except Exception:
                log.exception("ensemble member %s failed for %s", model_id, symbol)
                return None, None, _INTERNAL_ERROR.format(symbol=symbol)

        with ThreadPoolExecutor(max_workers=min(len(ids), BULK_WORKERS),
                                thread_name_prefix="mltrainer-ensemble") as pool:
            outcomes = dict(zip(ids, pool.map(run, ids), strict=False))
        ok = {m: o for m, o in outcomes.items() if o[0] is not None}
        failed = [m for m in ids if outcomes[m][0] is None]
        details["failed"] = list(failed)
        if not ok:
            detail = "; ".join(f"{m}: {outcomes[m][2]}" for m in ids)
            raise EnsembleError(f"Every ensemble member failed for {symbol} — {detail}")

        note = None
        if spec.method == "oos":
            returns = {}
            for m, (_, entry, _) in ok.items():
                if entry.oos_returns is None or len(entry.oos_returns) == 0:
                    raise EnsembleError(f"Model {m} has no stored out-of-sample returns, so 'oos' weights "
                                        "cannot be derived; retrain it or use explicit weights.")
                returns[m] = entry.oos_returns
            requested = _ens.oos_weights(returns)
            requested.update({m: 0.0 for m in failed})
            note = "weights are inverse out-of-sample volatility (skfolio InverseVolatility)"
        else:
            requested = _ens.normalise_weights(spec.raw)
        used_raw = {m: requested[m] for m in ok}
        if not any(w > 0 for w in used_raw.values()):
            raise EnsembleError("Every model with a positive weight failed — "
                                + "; ".join(f"{m}: {outcomes[m][2]}" for m in failed))
        used = _ens.normalise_weights(used_raw)
        renormalised = bool(failed) and any(requested[m] > 0 for m in failed)
        if failed:
            msg = f"{len(failed)} member(s) failed ({', '.join(failed)}) and were left out"
            if renormalised:
                msg += "; the remaining weights were re-normalised to sum to 1"
            note = f"{note}; {msg}" if note else msg

        members_in = {m: (ok[m][0].signal, ok[m][0].strength, ok[m][0].confidence) for m in ok}
        result = _ens.blend(members_in, used)
        members = []
        for m in ids:
            prediction, _, error = outcomes[m]
            if prediction is None:
                members.append(EnsembleMember(m, None, None, None, None, 0.0, requested.get(m, 0.0), error))
            else:
                members.append(EnsembleMember(m, prediction.signal, prediction.label, prediction.strength,
                                              prediction.confidence, used[m], requested[m], None))
        as_of = pd.Timestamp(bars.index[-1]).date().isoformat()
        ensemble = EnsemblePrediction(
            symbol=symbol,
            as_of=as_of,
            signal=result.signal,
            label=signal_label(result.signal),
            score=result.score,
            strength=result.strength,
            confidence=result.confidence,
            agreement=result.agreement,
            weights={m: used.get(m, 0.0) for m in ids},
            weights_method=spec.method,
            members=tuple(members),
            failed_members=tuple(failed),
            renormalised=renormalised,
            thresholds={"buy": _ens.BUY_THRESHOLD, "sell": _ens.SELL_THRESHOLD},
            note=note,
            generated_at=_utc_now_iso(),
        )
        with self._lock:
            self._ensembles_served += 1
        details.update(weights=ensemble.weights, signal=ensemble.signal, as_of=as_of)
        return ensemble

    # -- status --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Loaded models (least recently used first), cache statistics, counters and uptime."""
        with self._lock:
            loaded = [self._summary(e) for e in self._models.values()]
            served, ensembles = self._served, self._ensembles_served
        try:
            cache = dict(self._cache.stats())
        except Exception:  # a backend must not raise here; if one does, report instead of failing
            log.warning("cache stats unavailable", exc_info=True)
            cache = {"backend": getattr(self._cache, "backend", "unknown"), "size": None, "hits": None,
                     "misses": None, "healthy": False, "warning": "cache statistics unavailable"}
        cache["ttl_seconds"] = self._settings.prediction_ttl_seconds
        return {
            "loaded_models": loaded,
            "max_loaded_models": self._settings.max_loaded_models,
            "cache": cache,
            "predictions_served": served,
            "ensembles_served": ensembles,
            "started_at": self._started_at,
            "uptime_seconds": max(0.0, float(self._clock() - self._started_clock)),
        }


def _symbols_for_audit(values: Any) -> list[str]:
    """What a request asked for, as audit-safe strings, before (or without) validation."""
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, Sequence):
        return [type(values).__name__]
    return [str(v)[:200] for v in list(values)[:MAX_BULK_SYMBOLS]]


# -- registry adapters -------------------------------------------------------------------------------
def _field(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, dict):
        return record.get(name, default)
    return getattr(record, name, default)


def _calibration_of(record: Any, model_id: str) -> Any:
    from mltrainer.calibration import Calibration

    data = _field(record, "calibration")
    if not data:
        raise ServingError(f"Model {model_id} has no stored calibration, so its confidence is unknown; "
                           "retrain it with this version of mlTrainer.")
    return data if hasattr(data, "confidence") else Calibration.from_dict(data)


def _oos_returns_of(record: Any) -> pd.Series | None:
    """The model's out-of-sample daily strategy returns recorded at training time, if any."""
    series_of = getattr(record, "oos_return_series", None)
    if callable(series_of):
        returns = series_of()
        return returns if len(returns) else None
    return None


# -- process-wide instance ---------------------------------------------------------------------------
_service: PredictionService | None = None
_service_lock = threading.Lock()


def import_serving_stack() -> None:
    """Import what loading and predicting with every built-in model type needs (the model modules and
    the libraries their fitted state unpickles into), so a server pays for it at start-up."""
    import importlib

    from mltrainer.models import MODEL_TYPES, get_model_class

    for model_type in MODEL_TYPES:
        get_model_class(model_type)
    for name in ("lightgbm", "mltrainer.registry", "mltrainer.data", "mltrainer.calibration",
                 "mltrainer.serving.analysis"):
        importlib.import_module(name)


def get_prediction_service() -> PredictionService:
    """The process-wide prediction service, created on first use from the current settings."""
    global _service
    with _service_lock:
        if _service is None:
            _service = PredictionService()
        return _service


def reset_prediction_service() -> None:
    """Drop the process-wide service (tests; settings changes). The next call builds a new one."""
    global _service
    with _service_lock:
        _service = None
