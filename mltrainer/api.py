"""The REST API: a thin FastAPI layer over :mod:`mltrainer.services`.

Run it with ``python -m mltrainer serve [--host 127.0.0.1] [--port 8000]``; OpenAPI docs at ``/docs``.

Auth: every ``/api/...`` route needs ``Authorization: Bearer <token>``. Tokens come from
``MLTRAINER_API_TOKENS`` (comma-separated). When none is configured, :func:`create_app` generates one
(``secrets.token_urlsafe``) and prints it once to stderr — there is no default secret. Tokens are
compared in constant time (``hmac.compare_digest``); anything else is 401 with ``WWW-Authenticate``.

Errors map the exception tree to status codes (see :func:`status_for`): unknown model/symbol/type ->
404, invalid input (including request validation, with field messages) -> 422, a model or plugin that
may not be served -> 409, an unavailable or misbehaving provider/database -> 503, anything unexpected
-> 500 with a generic message. Responses never contain tracebacks or raw exception text:
``MLTrainerError`` messages are user-safe by contract; everything else is logged server-side only.
Request bodies over 1 MB get 413 (by Content-Length unread; a chunked body once 1 MB has arrived); a
request without a valid token gets 401 before its body is read.

The app serves models, data and caches from the environment's settings through the services façade
(one process-wide prediction service); ``settings`` given to :func:`create_app` set the API tokens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hmac
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mltrainer import __version__, services
from mltrainer._util import to_jsonable
from mltrainer.config import Settings, get_settings
from mltrainer.errors import (
    ArtifactIntegrityError,
    AuditError,
    ComplianceError,
    ConfigError,
    DataError,
    InvalidInputError,
    JobError,
    MLTrainerError,
    NotFoundError,
    RegistryError,
    ServingError,
)
from mltrainer.serving.ensemble import MAX_ENSEMBLE_MODELS
from mltrainer.serving.service import SYMBOL_PATTERN

__all__ = ["create_app", "status_for", "MAX_API_BULK_SYMBOLS", "MAX_BULK_SYMBOL_CHARS", "MAX_BODY_BYTES",
           "TOKEN_ENV"]

log = logging.getLogger(__name__)

#: Most symbols one ``/api/models/predict/bulk`` request may carry.
MAX_API_BULK_SYMBOLS = 500
TOKEN_ENV = "MLTRAINER_API_TOKENS"
#: Longest string accepted as one bulk symbol; shorter malformed ones are reported per symbol.
MAX_BULK_SYMBOL_CHARS = 200
#: Largest request body accepted (bytes); larger ones get 413 without being read.
MAX_BODY_BYTES = 1_000_000
_GENERIC_500 = "Internal server error; it has been logged. Please retry or contact the operator."

Symbol = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20,
                                          pattern=SYMBOL_PATTERN)]
ModelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                           pattern=r"^[A-Za-z0-9_.\-]+$")]
ModelType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                             pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                             pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# Strict: JSON true/false or "2" is a client mistake to report, not 1.0/0.0/2.0 (integers stay valid).
Weight = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


class TrainRequest(_Request):
    model_id: ModelType = Field(description="Model type to train, e.g. mean_reversion (see GET /api/models).")
    symbol: Symbol = Field(description="Ticker to train on, e.g. AAPL.")
    parameters: Annotated[dict[ParamName, bool | int | float | str], Field(max_length=50)] | None = Field(
        default=None, description="Model parameters by name; omitted ones take their defaults.")
    start: dt.date | None = Field(default=None, description="First training date, YYYY-MM-DD.")
    end: dt.date | None = Field(default=None, description="Last training date, YYYY-MM-DD.")
    cost_bps: float = Field(default=5.0, ge=0, le=1000,
                            description="Transaction cost per fill, basis points.")
    n_splits: int = Field(default=5, ge=2, le=20, description="Walk-forward folds.")


class PredictRequest(_Request):
    model_id: ModelId = Field(description="Id of a trained model (see GET /api/models).")
    symbol: Symbol
    use_cache: bool = True


class BulkPredictRequest(_Request):
    model_id: ModelId
    # Any string (bounded only against abuse): an empty or malformed ticker is reported in ``errors``
    # like an unknown one; it never fails the batch.
    symbols: list[Annotated[str, StringConstraints(max_length=MAX_BULK_SYMBOL_CHARS)]] = Field(
        min_length=1, max_length=MAX_API_BULK_SYMBOLS,
        description="Tickers; each one that cannot be predicted is reported in 'errors' with its reason.")


class EnsembleRequest(_Request):
    model_ids: list[ModelId] = Field(min_length=1, max_length=MAX_ENSEMBLE_MODELS)
    symbol: Symbol
    weights: (
        Annotated[list[Weight], Field(min_length=1, max_length=MAX_ENSEMBLE_MODELS)]
        | Annotated[dict[ModelId, Weight], Field(min_length=1, max_length=MAX_ENSEMBLE_MODELS)]
        | Literal["oos", "equal"]
        | None
    ) = Field(default=None,
              description="One weight per model (list, same order), a mapping model id -> weight, "
                          "'oos' (inverse out-of-sample volatility) or omitted (equal).")


def status_for(exc: MLTrainerError) -> int:
    """The HTTP status code of one of our exceptions."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, (DataError, RegistryError, AuditError, JobError, ConfigError)):
        return 503
    if isinstance(exc, (ArtifactIntegrityError, ComplianceError, ServingError)):
        return 409
    return 400


def _tokens(settings: Settings) -> tuple[list[bytes], str | None]:
    raw = settings.api_tokens.get_secret_value() if settings.api_tokens else ""
    tokens = [t.strip().encode() for t in raw.split(",") if t.strip()]
    if tokens:
        return tokens, None
    generated = secrets.token_urlsafe(32)
    return [generated.encode()], generated


_AUTH_DETAIL = ("Missing or invalid bearer token; send 'Authorization: Bearer <token>' with a token from "
                "MLTRAINER_API_TOKENS.")


def _token_ok(presented: bytes, tokens: list[bytes]) -> bool:
    ok = False
    for token in tokens:  # no early exit: time does not depend on which matched
        ok |= hmac.compare_digest(presented, token)
    return bool(presented) and ok


_bearer = HTTPBearer(auto_error=False, description="Token from MLTRAINER_API_TOKENS (or printed at start).")


_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _require_token(request: Request, credentials: _Credentials) -> None:
    presented = credentials.credentials.encode() if credentials and credentials.credentials else b""
    if not _token_ok(presented, request.app.state.api_tokens):
        raise HTTPException(status_code=401, detail=_AUTH_DETAIL, headers={"WWW-Authenticate": "Bearer"})


def _json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(to_jsonable(data), status_code=status_code)


def _json_ready(data: dict[str, Any]) -> JSONResponse:
    """A result's own ``to_dict()`` is JSON-ready already; converting it again cost ~4 ms per
    500-symbol bulk answer."""
    return JSONResponse(data)


def _register_error_handlers(app: FastAPI) -> None:
    async def on_mltrainer_error(request: Request, exc: MLTrainerError) -> JSONResponse:
        status = status_for(exc)
        message = (str(exc) or type(exc).__name__)[:2000]
        if status >= 500:
            log.warning("%s %s -> %d %s", request.method, request.url.path, status, type(exc).__name__)
        return JSONResponse({"detail": message, "error": type(exc).__name__}, status_code=status)

    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Field location and message only: echoing the input back could reflect huge or hostile values.
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "invalid value")),
                   "type": str(e.get("type", "value_error"))} for e in exc.errors()]
        return JSONResponse({"detail": errors, "error": "ValidationError"}, status_code=422)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": _GENERIC_500, "error": "InternalServerError"}, status_code=500)

    app.add_exception_handler(MLTrainerError, on_mltrainer_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


def _routes() -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(_require_token)],
                       responses={401: {"description": "Missing or invalid bearer token"}})

    @router.post("/models/train", tags=["models"], summary="Train a model on real data (walk-forward, OOS)")
    def train(body: TrainRequest) -> JSONResponse:
        result = services.train_model(body.model_id, body.symbol, params=body.parameters, start=body.start,
                                      end=body.end, cost_bps=body.cost_bps, n_splits=body.n_splits,
                                      actor="api")
        return _json({"model_id": result.model_id, "metrics": result.metrics, "folds": result.folds})

    @router.post("/models/predict", tags=["predictions"], summary="Latest signal of a model for a symbol")
    async def predict(body: PredictRequest) -> JSONResponse:
        # Async: a fresh cached answer is served in the event loop and the audit record awaited, with
        # no worker-thread hop; loading and computing still run in a thread (see predict_async).
        service = services.get_prediction_service()
        prediction = await service.predict_async(body.model_id, body.symbol, use_cache=body.use_cache,
                                                 actor="api")
        return _json_ready(prediction.to_dict())

    @router.post("/models/predict/bulk", tags=["predictions"], summary="Latest signals for many symbols")
    def predict_bulk(body: BulkPredictRequest) -> JSONResponse:
        return _json_ready(services.predict_bulk(body.model_id, body.symbols, actor="api").to_dict())

    @router.post("/models/predict/ensemble", tags=["predictions"], summary="Weighted blend of several models")
    def predict_ensemble(body: EnsembleRequest) -> JSONResponse:
        result = services.predict_ensemble(body.model_ids, body.symbol, weights=body.weights, actor="api")
        return _json_ready(result.to_dict())

    @router.get("/models/predictions/status", tags=["predictions"], summary="Prediction service status")
    def prediction_status() -> JSONResponse:
        return _json(services.get_prediction_service().status())

    @router.get("/models", tags=["models"], summary="Model types (with parameters) and trained models")
    def list_models() -> JSONResponse:
        models = [r.summary() if hasattr(r, "summary") else r for r in services.list_models()]
        return _json({"model_types": services.model_types(), "models": models})

    return router


class _BearerAuth:
    """401 for an ``/api`` request without a valid bearer token, before its body is read.

    Route dependencies run after FastAPI has parsed the body, so an unauthenticated malformed body
    would otherwise get a 422 describing the API's fields. The route dependency stays too: it puts
    the scheme in the OpenAPI document.
    """

    def __init__(self, app: Any, tokens: list[bytes]):
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/api" or path.startswith("/api/"):
            presented = b""
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    scheme, _, credentials = value.partition(b" ")
                    if scheme.lower() == b"bearer":
                        presented = credentials.strip()
                    break
            if not _token_ok(presented, self.tokens):
                response = JSONResponse({"detail": _AUTH_DETAIL, "error": "Unauthorized"}, status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body streams past the limit (FastAPI re-raises HTTPExceptions
    met while reading the body, so it arrives at its handler rather than as a parse error)."""

    def __init__(self, max_bytes: int):
        super().__init__(status_code=413, detail=f"Request body too large; the limit is {max_bytes} bytes.")


def _too_large_response(exc: _BodyTooLarge) -> JSONResponse:
    return JSONResponse({"detail": exc.detail, "error": "PayloadTooLarge"}, status_code=413)


class _BodySizeLimit:
    """413 for request bodies over ``max_bytes``: by Content-Length before reading, and by counting the
    bytes actually received (a chunked body has no Content-Length).

    A plain ASGI middleware: the largest valid request (500 symbols) is a few kB, and this costs
    nothing on the hot path, unlike an ``@app.middleware("http")`` wrapper.
    """

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await _too_large_response(_BodyTooLarge(self.max_bytes))(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge as exc:  # read outside a route (no handler met it)
            if started:
                raise
            await _too_large_response(exc)(scope, receive, send)


def _settle_heap() -> None:
    """Import what serving predictions needs, then move everything alive into the collector's permanent
    generation.

    A server's modules, classes and caches live as long as it does. Left to the garbage collector, each
    full collection walks them all (pandas, SQLAlchemy, LightGBM, scikit-learn: ~50 ms here, about once
    a second under load) and stalls every request in flight: that was the API's p95. Importing the
    model stack now (not at the first request) and freezing it leaves only request garbage to collect.
    """
    from mltrainer.serving.service import import_serving_stack

    import_serving_stack()
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. With no ``MLTRAINER_API_TOKENS`` a token is generated and printed once to stderr."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Built now rather than by the first request, so status() uptime counts from server start.
        services.get_prediction_service()
        _settle_heap()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="mlTrainer API",
        version=__version__,
        description="Train trading-signal models on real market data, validated out of sample, and serve "
                    "their signals. Every /api route needs 'Authorization: Bearer <token>'.",
    )
    tokens, generated = _tokens(settings)
    app.state.api_tokens = tokens
    if generated is not None:
        # Printed once, on stderr, for the operator who started the server; never logged.
        sys.stderr.write(f"mlTrainer API: no {TOKEN_ENV} configured; generated bearer token for this "
                         f"run: {generated}\n")
        sys.stderr.flush()
    _register_error_handlers(app)

    async def on_body_too_large(request: Request, exc: _BodyTooLarge) -> JSONResponse:
        return _too_large_response(exc)

    app.add_exception_handler(_BodyTooLarge, on_body_too_large)
    app.add_middleware(_BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(_BearerAuth, tokens=tokens)  # added last: runs first, before any body is read

    @app.get("/health", tags=["health"], summary="Liveness (no auth)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(_routes())
    from mltrainer.jobs.api import router as jobs_router

    # Background trainings and sweeps (the jobs package owns the routes; auth is the same as above).
    app.include_router(jobs_router, dependencies=[Depends(_require_token)],
                       responses={401: {"description": "Missing or invalid bearer token"}})
    return app
