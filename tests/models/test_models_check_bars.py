"""Bar validation in predict: the NumPy checks refuse what the pandas checks refused, and clean bars
come through as float64 without the source's attrs (provenance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mltrainer.errors import InvalidInputError


@pytest.fixture(scope="module")
def model(fitted_models):
    return fitted_models[("mean_reversion", "AAPL")][0]


def test_unsorted_duplicate_and_nat_dates_are_refused(model, aapl):
    bars = aapl.iloc[-50:]
    swapped = bars.iloc[[*range(10), 11, 10, *range(12, 50)]]
    duplicated = pd.concat([bars.iloc[:20], bars.iloc[19:20], bars.iloc[20:]])
    with_nat = bars.set_axis(pd.DatetimeIndex([pd.NaT, *bars.index[1:]], name="date"))
    for bad in (swapped, duplicated, with_nat):
        with pytest.raises(InvalidInputError, match="ascending, unique dates"):
            model.predict(bad)


def test_clean_bars_are_float64_without_attrs(model, aapl):
    bars = aapl.iloc[-30:].copy()
    bars["volume"] = bars["volume"].round().astype("int64")
    bars.attrs["provenance"] = {"source": "offline"}
    clean = model._check_bars(bars)
    assert list(clean.columns) == ["open", "high", "low", "close", "volume"]
    assert (clean.dtypes == np.float64).all()
    assert clean.attrs == {}
    assert clean.index.equals(bars.index)
    np.testing.assert_array_equal(clean["volume"].to_numpy(), bars["volume"].to_numpy(dtype="float64"))
    assert bars.attrs == {"provenance": {"source": "offline"}}  # the caller's frame is untouched


def test_single_bar_and_empty_bars_pass_the_date_check(model, aapl):
    assert len(model.predict(aapl.iloc[-1:])) == 1
    assert len(model.predict(aapl.iloc[:0])) == 0
