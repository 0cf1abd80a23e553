"""``python -m mltrainer predict`` and ``python -m mltrainer ensemble`` — latest signals from the CLI.

    predict --model-id ID --symbol SYM [--no-cache] [--json]          one prediction
    predict --model-id ID --symbols A,B,C [--json]                    bulk: {predictions, errors}
    ensemble --model-ids A,B [--weights 0.6,0.4|oos] --symbol SYM [--json]

A bulk request exits 0 even when some symbols failed (their messages are in ``errors``); it exits 1
only when no symbol could be predicted.
"""

from __future__ import annotations

import argparse
import sys

from mltrainer import services
from mltrainer.cli import emit

__all__ = ["register"]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _predict(args: argparse.Namespace) -> int:
    if args.symbols is not None:
        result = services.predict_bulk(args.model_id, _split(args.symbols), use_cache=not args.no_cache,
                                       actor="cli")
        data = result.to_dict()
        if args.json:
            emit({"predictions": data["predictions"], "errors": data["errors"]}, True)
        else:
            for p in data["predictions"]:
                sys.stdout.write(f"{p['symbol']:<8} {p['label']:<4} strength {p['strength']:.2f}  "
                                 f"confidence {p['confidence']:.2f}  as of {p['as_of']}  "
                                 f"close {p['latest_price']:.2f}\n")
            for symbol, message in data["errors"].items():
                sys.stdout.write(f"{symbol:<8} error: {message}\n")
        return 0 if data["predictions"] else 1
    prediction = services.predict(args.model_id, args.symbol, use_cache=not args.no_cache, actor="cli")
    emit(prediction.to_dict(), args.json)
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    weights = args.weights
    if weights is not None and weights.strip().lower() not in ("oos", "equal"):
        weights = _split(weights)  # numbers are validated (finite, >= 0) by the ensemble itself
    result = services.predict_ensemble(_split(args.model_ids), args.symbol, weights=weights, actor="cli")
    emit(result.to_dict(), args.json)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="latest signal of a trained model for one or many symbols",
                              description="Latest signal of a trained model. --symbol for one, --symbols "
                                          "A,B,C for a bulk request ({predictions, errors}).")
    p.add_argument("--model-id", required=True, help="trained model id (see `models list`)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--symbol", help="one ticker, e.g. AAPL")
    which.add_argument("--symbols", help="comma-separated tickers for a bulk request, e.g. AAPL,MSFT,IBM")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute even if a fresh cached prediction exists")
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.set_defaults(handler=_predict)

    e = subparsers.add_parser("ensemble", help="weighted blend of several models' signals for one symbol",
                              description="Blend several models: score = sum(w * signal * strength); "
                                          "BUY at >= 0.2, SELL at <= -0.2.")
    e.add_argument("--model-ids", required=True, help="comma-separated trained model ids")
    e.add_argument("--symbol", required=True, help="ticker, e.g. AAPL")
    e.add_argument("--weights", help="comma-separated weights in --model-ids order (e.g. 0.6,0.4), or 'oos' "
                                     "for inverse out-of-sample volatility; default equal")
    e.add_argument("--json", action="store_true", help="print JSON only")
    e.set_defaults(handler=_ensemble)
