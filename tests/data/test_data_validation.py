"""validate_bars on tiny hand-written bars: every rule, with the offending dates reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mltrainer.data import validate_bars
from mltrainer.errors import DataValidationError


def _bars(rows: list[tuple], dates: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"])
    frame.index = pd.DatetimeIndex(dates, name="date")
    return frame


GOOD = [(10.0, 11.0, 9.5, 10.5, 1000), (10.5, 10.8, 10.1, 10.2, 0)]


def test_valid_bars_come_back_as_float64():
    bars = validate_bars(_bars(GOOD, ["2010-06-29", "2010-06-30"]), "TEST")
    assert (bars.dtypes == "float64").all()
    assert bars["volume"].tolist() == [1000.0, 0.0]
    assert bars.index.name == "date"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ((10.0, 10.4, 9.5, 10.5, 1000), "high 10.4 < max(open, close) 10.5"),
        ((10.0, 11.0, 10.1, 10.5, 1000), "low 10.1 > min(open, close) 10"),
        ((10.0, 11.0, 9.5, np.nan, 1000), "missing or infinite price"),
        ((10.0, 11.0, 9.5, 10.5, -5), "negative volume -5"),
        ((10.0, 11.0, 9.5, 10.5, np.nan), "missing volume"),
        ((0.0, 11.0, 0.0, 10.5, 1000), "non-positive price"),
    ],
)
def test_each_rule_names_the_date(row, reason):
    frame = _bars([GOOD[0], row], ["2010-06-29", "2010-06-30"])
    with pytest.raises(DataValidationError) as info:
        validate_bars(frame, "TEST")
    assert info.value.problems == [("2010-06-30", reason)]
    assert f"2010-06-30 {reason}" in str(info.value)
    assert str(info.value).startswith("TEST: 1 bar problem(s)")


def test_duplicate_and_out_of_order_dates():
    frame = _bars(GOOD * 2, ["2010-06-29", "2010-06-30", "2010-06-30", "2010-06-28"])
    with pytest.raises(DataValidationError) as info:
        validate_bars(frame, "TEST")
    assert info.value.problems == [
        ("2010-06-28", "out of order (comes after 2010-06-30)"),
        ("2010-06-30", "duplicate date"),
    ]


def test_message_lists_the_first_few_and_counts_the_rest():
    days = [f"2010-06-{d:02d}" for d in range(1, 9)]
    frame = _bars([(10.0, 9.0, 8.0, 9.5, 1.0)] * 8, days)
    with pytest.raises(DataValidationError) as info:
        validate_bars(frame, "TEST")
    assert len(info.value.problems) == 8
    message = str(info.value)
    assert "2010-06-05" in message and "2010-06-06" not in message
    assert "and 3 more" in message


def test_structural_problems():
    frame = _bars(GOOD, ["2010-06-29", "2010-06-30"])
    with pytest.raises(DataValidationError, match="lack column\\(s\\) volume"):
        validate_bars(frame.drop(columns="volume"), "TEST")
    with pytest.raises(DataValidationError, match="tz-naive"):
        validate_bars(frame.tz_localize("UTC"), "TEST")
    with pytest.raises(DataValidationError, match="indexed by date"):
        validate_bars(frame.reset_index(drop=True), "TEST")


def test_nothing_is_dropped_or_repaired():
    frame = _bars(GOOD, ["2010-06-29", "2010-06-30"])
    before = frame.copy()
    validate_bars(frame, "TEST")
    pd.testing.assert_frame_equal(frame, before)
