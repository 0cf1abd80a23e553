"""``python -m mltrainer data ...`` — list symbols, fetch bars and macro series.

Dates are parsed in the handlers (not by argparse) so that a bad date is an ``InvalidInputError``:
exit code 1 and one ``error:`` line, like every other user mistake.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mltrainer import services
from mltrainer._util import parse_date
from mltrainer.cli import emit

__all__ = ["register"]


def _symbols(args: argparse.Namespace) -> int:
    rows = services.describe_symbols(args.source)
    if args.json:
        emit(rows, True)
    elif not rows:
        sys.stdout.write(f"No symbols stored for {args.source or 'the active source'} yet; "
                         "fetch one with `python -m mltrainer data fetch SYMBOL`.\n")
    else:
        for row in rows:
            sys.stdout.write(f"{row['symbol']:<8} {row['source']:<8} {row['first']} .. {row['last']}  "
                             f"{row['rows']} bars\n")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    bars = services.load_bars(args.symbol, start=start, end=end, source=args.source)
    provenance: dict[str, Any] = bars.attrs["provenance"]
    result = {
        "symbol": provenance["symbol"],
        "source": provenance["source"],
        "rows": provenance["rows"],
        "first": provenance["first"],
        "last": provenance["last_bar"],
        "fetched_rows": provenance["fetched_rows"],
    }
    if args.json:
        emit(result, True)
    else:
        sys.stdout.write(
            f"{result['symbol']} ({result['source']}, {provenance['dataset']}): {result['rows']} bars "
            f"{result['first']} .. {result['last']}, {result['fetched_rows']} fetched over the network\n"
        )
    return 0


def _series(args: argparse.Namespace) -> int:
    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    series = services.load_series(args.series_id, start=start, end=end, source=args.source)
    provenance: dict[str, Any] = series.attrs["provenance"]
    result = {
        "series_id": provenance["series_id"],
        "source": provenance["source"],
        "rows": provenance["rows"],
        "first": provenance["first"],
        "last": provenance["last"],
    }
    if args.json:
        emit(result, True)
    else:
        sys.stdout.write(
            f"{result['series_id']} ({result['source']}: {provenance['title']}): "
            f"{result['rows']} observations "
            f"{result['first']} .. {result['last']}\n"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="market bars and macro series")
    commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(handler=lambda args: (data.print_help(sys.stderr), 2)[1])

    symbols = commands.add_parser("symbols", help="symbols a source offers, with their date ranges")
    symbols.add_argument("--source", choices=("offline", "polygon"), default=None,
                         help="data source (default: MLTRAINER_DATA_SOURCE)")
    symbols.add_argument("--json", action="store_true", help="print JSON only")
    symbols.set_defaults(handler=_symbols)

    fetch = commands.add_parser("fetch", help="load daily bars of a symbol (caches network sources)")
    fetch.add_argument("symbol", help="ticker, e.g. AAPL or ^GSPC")
    fetch.add_argument("--start", default=None, help="first date, YYYY-MM-DD")
    fetch.add_argument("--end", default=None, help="last date, YYYY-MM-DD")
    fetch.add_argument("--source", choices=("offline", "polygon"), default=None,
                       help="data source (default: MLTRAINER_DATA_SOURCE)")
    fetch.add_argument("--json", action="store_true", help="print JSON only")
    fetch.set_defaults(handler=_fetch)

    series = commands.add_parser("series", help="load a macro series by its FRED id")
    series.add_argument("series_id", help="FRED id, e.g. VIXCLS or CPILFESL")
    series.add_argument("--start", default=None, help="first date, YYYY-MM-DD")
    series.add_argument("--end", default=None, help="last date, YYYY-MM-DD")
    series.add_argument("--source", choices=("offline", "fred"), default=None,
                        help="offline or fred (default: fred when FRED_API_KEY is set)")
    series.add_argument("--json", action="store_true", help="print JSON only")
    series.set_defaults(handler=_series)
