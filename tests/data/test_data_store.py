"""The local bar store: coverage arithmetic, no re-fetching, gap-only extension, atomic writes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mltrainer.config import get_settings
from mltrainer.data import BarStore, load_bars
from mltrainer.data.store import Coverage, new_york_today
from mltrainer.errors import DataValidationError, InsufficientDataError

D = pd.Timestamp


def test_coverage_missing_and_merge_by_hand():
    coverage = Coverage([(D("2010-06-01"), D("2010-06-30"))])
    assert coverage.missing(D("2010-06-05"), D("2010-06-20")) == []
    assert coverage.missing(D("2010-05-01"), D("2010-07-10")) == [
        (D("2010-05-01"), D("2010-05-31")),
        (D("2010-07-01"), D("2010-07-10")),
    ]
    coverage.add(D("2010-07-01"), D("2010-07-10"))  # adjacent: merges into one range
    coverage.add(D("2010-08-01"), D("2010-08-31"))
    assert coverage.ranges == [(D("2010-06-01"), D("2010-07-10")), (D("2010-08-01"), D("2010-08-31"))]
    assert coverage.missing(D("2010-07-05"), D("2010-08-03")) == [(D("2010-07-11"), D("2010-07-31"))]
    assert Coverage.from_json(coverage.to_json()).ranges == coverage.ranges


def test_repeated_request_makes_no_network_call(polygon):
    first = load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    hits = len(polygon.hits)
    again = load_bars("AAPL", "2010-06-07", "2010-06-25", source="polygon")
    assert len(polygon.hits) == hits
    assert first.attrs["provenance"]["fetched_rows"] == 22
    assert again.attrs["provenance"]["fetched_rows"] == 0
    pd.testing.assert_frame_equal(again, first.loc["2010-06-07":"2010-06-25"], check_freq=False)


def test_weekend_inside_a_covered_range_is_not_refetched(polygon):
    load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    hits = len(polygon.hits)
    # 2010-06-05/06 is a weekend: no bars, but the range was requested, so it is covered.
    with pytest.raises(InsufficientDataError, match="No AAPL bars between 2010-06-05 and 2010-06-06"):
        load_bars("AAPL", "2010-06-05", "2010-06-06", source="polygon")
    assert len(polygon.hits) == hits


def test_extending_the_range_fetches_only_the_missing_dates(polygon):
    load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    polygon.hits.clear()
    bars = load_bars("AAPL", "2010-05-01", "2010-07-15", source="polygon")
    assert polygon.paths() == [
        "/v2/aggs/ticker/AAPL/range/1/day/2010-05-01/2010-05-31",
        "/v2/aggs/ticker/AAPL/range/1/day/2010-07-01/2010-07-15",
    ]
    offline = load_bars("AAPL", "2010-05-01", "2010-07-15", source="offline")
    pd.testing.assert_frame_equal(bars, offline, check_freq=False)
    assert bars.attrs["provenance"]["fetched_rows"] == 20 + 10  # May 2010 + 1-15 July 2010
    assert BarStore().read("polygon", "AAPL")[1].ranges == [(D("2010-05-01"), D("2010-07-15"))]


def test_stored_file_and_no_temp_files_left(polygon):
    load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    load_bars("AAPL", "2010-07-01", "2010-07-31", source="polygon")
    folder = get_settings().bars_dir / "polygon"
    assert sorted(p.name for p in folder.iterdir()) == ["AAPL.parquet"]
    bars, coverage = BarStore().read("polygon", "AAPL")
    assert len(bars) == 22 + 21
    assert json.loads(coverage.to_json()) == [["2010-06-01", "2010-07-31"]]


def test_failed_write_leaves_previous_file_and_no_temp(polygon, monkeypatch):
    load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    path = BarStore().path("polygon", "AAPL")
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mltrainer.data.store.pq.write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        load_bars("AAPL", "2010-07-01", "2010-07-31", source="polygon")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["AAPL.parquet"]


def test_invalid_bars_are_reported_and_never_stored(polygon):
    real = load_bars("AAPL", "2010-06-01", "2010-06-30", source="offline")
    # A provider defect: high and low swapped on one day (so high < close there).
    broken = real.copy()
    day = "2010-06-30"
    broken.loc[day, ["high", "low"]] = [real.loc[day, "low"], real.loc[day, "high"]]
    polygon.bars["AAPL"] = broken
    with pytest.raises(DataValidationError) as info:
        load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    assert [day for day, _ in info.value.problems] == ["2010-06-30", "2010-06-30"]
    assert "2010-06-30" in str(info.value)
    assert BarStore().symbols("polygon") == []


def test_store_refuses_to_write_invalid_bars():
    bars = pd.DataFrame(
        {"open": [10.0], "high": [9.0], "low": [8.5], "close": [9.5], "volume": [100.0]},
        index=pd.DatetimeIndex(["2010-06-30"], name="date"),
    )
    store = BarStore()
    with pytest.raises(DataValidationError, match="2010-06-30 high 9 < max\\(open, close\\) 10"):
        store.write("polygon", "TEST", bars, Coverage())
    assert store.symbols("polygon") == []


def test_today_is_never_recorded_as_covered(polygon):
    today = new_york_today()
    bars = load_bars("AAPL", "2013-02-01", source="polygon")  # end defaults to today in New York
    assert bars.attrs["provenance"]["last_bar"] == "2013-03-01"
    assert polygon.paths() == [f"/v2/aggs/ticker/AAPL/range/1/day/2013-02-01/{today:%Y-%m-%d}"]
    assert BarStore().read("polygon", "AAPL")[1].ranges == [(D("2013-02-01"), today - pd.Timedelta(days=1))]
    polygon.hits.clear()
    load_bars("AAPL", "2013-02-01", source="polygon")
    # Only today is asked again: its bar is not final until the close.
    assert polygon.paths() == [f"/v2/aggs/ticker/AAPL/range/1/day/{today:%Y-%m-%d}/{today:%Y-%m-%d}"]


def test_symbols_listed_from_the_store(polygon):
    load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    from mltrainer.data import data_status, describe_symbols, list_symbols

    assert list_symbols("polygon") == ["AAPL"]
    assert describe_symbols("polygon") == [
        {"symbol": "AAPL", "source": "polygon", "first": "2010-06-01", "last": "2010-06-30", "rows": 22}
    ]
    status = data_status("polygon")
    assert status["label"] == "Polygon" and status["last_bar"] == "2010-06-30" and status["symbols"] == 1
    assert status["keys"] == {"POLYGON_API_KEY": True, "FRED_API_KEY": False}


def test_symbol_with_caret_round_trips_through_the_file_name():
    store = BarStore()
    assert store.path("polygon", "^GSPC").name == "%5EGSPC.parquet"
    assert store.path("polygon", "I:SPX").parent == store.root / "polygon"


def test_covered_range_is_served_without_a_key(polygon, monkeypatch):
    fetched = load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    monkeypatch.delenv("POLYGON_API_KEY")
    polygon.hits.clear()
    cached = load_bars("AAPL", "2010-06-01", "2010-06-30", source="polygon")
    pd.testing.assert_frame_equal(cached, fetched)
    assert polygon.hits == []


def test_extent_comes_from_the_parquet_footer_not_the_bars(monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mltrainer.data import describe_symbols
    from mltrainer.errors import DataError

    store = BarStore()
    aapl, gspc = load_bars("AAPL"), load_bars("^GSPC")
    store.write("polygon", "AAPL", aapl, Coverage([(D("2000-03-01"), D("2013-03-01"))]))
    store.write("polygon", "^GSPC", gspc, Coverage())
    assert store.extent("polygon", "AAPL") == (D("2000-03-01"), D("2013-03-01"), 3270)
    assert store.extent("polygon", "MSFT") == (None, None, 0)  # nothing stored

    def no_whole_reads(*args, **kwargs):
        raise AssertionError("describe_symbols read a whole bar file")

    with monkeypatch.context() as patched:
        patched.setattr(pq, "read_table", no_whole_reads)
        patched.setattr(BarStore, "read", no_whole_reads)
        assert describe_symbols("polygon") == [
            {"symbol": "AAPL", "source": "polygon", "first": "2000-03-01", "last": "2013-03-01", "rows": 3270},
            {"symbol": "^GSPC", "source": "polygon", "first": "1999-01-04", "last": "2018-12-31", "rows": 5031},
        ]

    # Several row groups: min/max over all of them. No statistics: only the date column is read.
    path = store.path("polygon", "^GSPC")
    table = pa.Table.from_pandas(gspc, preserve_index=True)
    pq.write_table(table, path, row_group_size=1000)
    assert pq.read_metadata(path).num_row_groups == 6
    assert store.extent("polygon", "^GSPC") == (D("1999-01-04"), D("2018-12-31"), 5031)
    pq.write_table(table, path, write_statistics=False)
    assert pq.read_metadata(path).row_group(0).column(0).statistics is None
    read_columns = []
    real_read_table = pq.read_table

    def read_table(source, columns=None, **kwargs):
        read_columns.append(columns)
        return real_read_table(source, columns=columns, **kwargs)

    monkeypatch.setattr(pq, "read_table", read_table)
    assert store.extent("polygon", "^GSPC") == (D("1999-01-04"), D("2018-12-31"), 5031)
    assert read_columns == [["date"]]

    path.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"The stored bars for \^GSPC \(polygon\) are unreadable"):
        store.extent("polygon", "^GSPC")
