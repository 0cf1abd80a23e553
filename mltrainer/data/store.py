"""Local bar store: Parquet files under ``settings.bars_dir``, one per (source, symbol).

Each file holds the validated bars plus, in its Parquet metadata, the *coverage*: the calendar
ranges already requested from the provider. Coverage is about requested dates, not bars — a weekend
or holiday inside a covered range is known to have no bar and is never asked for again. Keeping
bars and coverage in one file means one atomic write (temp file in the same directory, then
``os.replace``) updates both, so a crash never leaves bars and coverage disagreeing.

Dates from today on (New York time) are never recorded as covered: today's bar is not final until
the close, so it is fetched again on the next request.

This module is the only place that builds file paths for bars.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mltrainer.config import Settings, get_settings
from mltrainer.data.base import empty_bars
from mltrainer.data.validation import validate_bars
from mltrainer.errors import DataError

__all__ = ["BarStore", "Coverage", "new_york_today"]

log = logging.getLogger(__name__)

_COVERAGE_KEY = b"mltrainer.coverage"
_ONE_DAY = pd.Timedelta(days=1)

Range = tuple[pd.Timestamp, pd.Timestamp]


def new_york_today() -> pd.Timestamp:
    """Today's calendar date at the exchange (tz-naive)."""
    return pd.Timestamp.now(tz="America/New_York").tz_localize(None).normalize()


class Coverage:
    """A sorted set of disjoint, inclusive calendar-date ranges."""

    def __init__(self, ranges: list[Range] | None = None):
        self.ranges: list[Range] = []
        for start, end in ranges or []:
            self.add(start, end)

    def add(self, start: pd.Timestamp, end: pd.Timestamp) -> None:
        if end < start:
            return
        merged: list[Range] = []
        for a, b in sorted([*self.ranges, (start, end)]):
            if merged and a <= merged[-1][1] + _ONE_DAY:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.ranges = merged

    def missing(self, start: pd.Timestamp, end: pd.Timestamp) -> list[Range]:
        """The parts of ``[start, end]`` not yet covered."""
        gaps: list[Range] = []
        cursor = start
        for a, b in self.ranges:
            if b < cursor:
                continue
            if a > end:
                break
            if a > cursor:
                gaps.append((cursor, min(a - _ONE_DAY, end)))
            cursor = max(cursor, b + _ONE_DAY)
            if cursor > end:
                break
        if cursor <= end:
            gaps.append((cursor, end))
        return gaps

    def to_json(self) -> str:
        return json.dumps([[a.strftime("%Y-%m-%d"), b.strftime("%Y-%m-%d")] for a, b in self.ranges])

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Coverage:
        if not text:
            return cls()
        return cls([(pd.Timestamp(a), pd.Timestamp(b)) for a, b in json.loads(text)])


def _date_column(metadata: pq.FileMetaData) -> str:
    """The stored name of the bars' date index (pandas records it in the file's metadata)."""
    pandas_meta = json.loads((metadata.metadata or {}).get(b"pandas", b"{}"))
    names = [c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)]
    if len(names) != 1:
        raise ValueError("no date index column recorded")
    return names[0]


class BarStore:
    """Bars already fetched from network sources, with the calendar ranges they cover."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()

    # -- paths -----------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.settings.bars_dir

    def path(self, source: str, symbol: str) -> Path:
        # quote() keeps ^GSPC, I:SPX etc. reversible and free of path separators.
        return self.root / source / f"{urllib.parse.quote(symbol, safe='')}.parquet"

    def symbols(self, source: str) -> list[str]:
        folder = self.root / source
        if not folder.is_dir():
            return []
        return sorted(urllib.parse.unquote(p.name[: -len(".parquet")]) for p in folder.glob("*.parquet"))

    # -- read / write ----------------------------------------------------------------------------
    def read(self, source: str, symbol: str) -> tuple[pd.DataFrame, Coverage]:
        path = self.path(source, symbol)
        if not path.exists():
            return empty_bars(), Coverage()
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(
                f"The stored bars for {symbol} ({source}) are unreadable ({type(exc).__name__}); "
                f"delete {path} and fetch again."
            ) from None
        coverage = Coverage.from_json((table.schema.metadata or {}).get(_COVERAGE_KEY))
        bars = table.to_pandas()
        bars.index = pd.DatetimeIndex(bars.index, name="date")
        return bars.astype("float64"), coverage

    def extent(self, source: str, symbol: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None, int]:
        """``(first bar date, last bar date, rows)`` of the stored bars, ``(None, None, 0)`` without any.

        Read from the Parquet footer (row count and the date column's min/max statistics), so listing
        a store of long histories does not load their bars; a file written without statistics has
        just its date column read.
        """
        path = self.path(source, symbol)
        if not path.exists():
            return None, None, 0
        try:
            metadata = pq.read_metadata(path)
            rows = int(metadata.num_rows)
            if rows == 0:
                return None, None, 0
            column = _date_column(metadata)
            position = metadata.schema.names.index(column)
            stats = [metadata.row_group(k).column(position).statistics
                     for k in range(metadata.num_row_groups)]
            if all(st is not None and st.has_min_max for st in stats):
                first = min(pd.Timestamp(st.min) for st in stats)
                last = max(pd.Timestamp(st.max) for st in stats)
            else:
                dates = pd.DatetimeIndex(pq.read_table(path, columns=[column]).column(0).to_pandas())
                first, last = dates.min(), dates.max()
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(
                f"The stored bars for {symbol} ({source}) are unreadable ({type(exc).__name__}); "
                f"delete {path} and fetch again."
            ) from None
        return first, last, rows

    def write(self, source: str, symbol: str, bars: pd.DataFrame, coverage: Coverage) -> Path:
        """Validate and atomically replace the stored bars and coverage of ``symbol``."""
        bars = validate_bars(bars, symbol)  # invalid bars are never stored
        path = self.path(source, symbol)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(bars, preserve_index=True)
        metadata = dict(table.schema.metadata or {})
        metadata[_COVERAGE_KEY] = coverage.to_json().encode()
        table = table.replace_schema_metadata(metadata)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            pq.write_table(table, tmp_name)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        log.info("stored %d bars of %s (%s) in %s", len(bars), symbol, source, path)
        return path

    # -- the cache ---------------------------------------------------------------------------------
    def get(
        self,
        source: str,
        symbol: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        fetch: Callable[[str, pd.Timestamp, pd.Timestamp], pd.DataFrame],
    ) -> tuple[pd.DataFrame, int]:
        """Bars of ``symbol`` in ``[start, end]``, fetching only the calendar gaps not yet covered.

        Returns ``(bars, fetched_rows)``; ``fetched_rows`` counts bars that came over the network.
        """
        stored, coverage = self.read(source, symbol)
        gaps = coverage.missing(start, end)
        if not gaps:
            return stored.loc[start:end].copy(), 0
        pieces = []
        for gap_start, gap_end in gaps:
            log.info("fetching %s %s..%s from %s", symbol, gap_start.date(), gap_end.date(), source)
            piece = fetch(symbol, gap_start, gap_end)
            pieces.append(validate_bars(piece, symbol).loc[gap_start:gap_end])
        pieces = [p for p in pieces if len(p)]
        fetched = pd.concat(pieces) if pieces else empty_bars()
        fetched_rows = len(fetched)
        # Fresh bars win over stored ones for the same date (today's bar is re-fetched until final).
        kept = stored.loc[~stored.index.isin(fetched.index)]
        merged = pd.concat([kept, fetched]).sort_index() if len(kept) else fetched.sort_index()
        if not len(merged) and not len(stored):
            # Nothing known about this symbol: do not create a file for what may be a typo.
            return merged, 0
        final = new_york_today() - _ONE_DAY
        for gap_start, gap_end in gaps:
            coverage.add(gap_start, min(gap_end, final))
        self.write(source, symbol, merged, coverage)
        return merged.loc[start:end].copy(), fetched_rows
