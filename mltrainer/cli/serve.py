"""``python -m mltrainer serve [--host 127.0.0.1] [--port 8000]`` — run the REST API with uvicorn.

With no ``MLTRAINER_API_TOKENS`` set, a bearer token is generated for this run and printed once to
stderr. Binding to anything but loopback exposes the API to the network: use real tokens and TLS
(a reverse proxy) before doing that.
"""

from __future__ import annotations

import argparse
import threading

__all__ = ["register"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use a number from 1 to 65535") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value}: use a number from 1 to 65535")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid worker count {text!r}: use a number from 1 to 64") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"invalid worker count {value}: use a number from 1 to 64")
    return value


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mltrainer.api import create_app
    from mltrainer.config import get_settings
    from mltrainer.errors import ConfigError

    if args.workers > 1:
        if not get_settings().api_tokens:
            raise ConfigError("--workers above 1 needs MLTRAINER_API_TOKENS: each worker would otherwise "
                              "generate its own token. Set MLTRAINER_API_TOKENS=<token> and retry.")
        # Each worker process builds its own app (and, without MLTRAINER_REDIS_URL, its own cache).
        uvicorn.run("mltrainer.api:create_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
        return 0
    app = create_app()
    # Start the bulk worker processes while uvicorn starts (a second or two of imports), so the first
    # large bulk request does not pay for them; with --workers each server starts its own on first use.
    threading.Thread(target=_warm_bulk_pool, name="mltrainer-warm-bulk", daemon=True).start()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _warm_bulk_pool() -> None:
    import logging

    from mltrainer import services

    try:
        services.get_prediction_service().warm_bulk_pool()
    except Exception:  # the pool is an optimisation: requests fall back to threads
        logging.getLogger(__name__).warning("could not start the bulk worker processes", exc_info=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the REST API (FastAPI + uvicorn)",
                              description="Run the REST API; OpenAPI docs at /docs. Every /api route needs "
                                          "'Authorization: Bearer <token>' (MLTRAINER_API_TOKENS).")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=_workers, default=1,
                   help="worker processes (default 1); above 1 needs MLTRAINER_API_TOKENS, and a "
                        "shared cache needs MLTRAINER_REDIS_URL")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default info)")
    p.set_defaults(handler=_serve)
