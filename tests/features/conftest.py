"""Fixtures for the indicator tests: real offline AAPL bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _bars_from_bokeh_sampledata() -> pd.DataFrame:
    """Adjusted AAPL bars read straight from bokeh_sampledata, used only until mltrainer.data lands.

    Same adjustment as the data layer's contract: OHLC scaled by adj_close/close, volume inversely.
    """
    from bokeh_sampledata.stocks import AAPL

    raw = pd.DataFrame(AAPL)
    raw.index = pd.DatetimeIndex(pd.to_datetime(raw["date"]), name="date")
    factor = raw["adj_close"] / raw["close"]
    bars = pd.DataFrame(
        {
            "open": raw["open"] * factor,
            "high": raw["high"] * factor,
            "low": raw["low"] * factor,
            "close": raw["adj_close"],
            "volume": raw["volume"] / factor,
        }
    ).astype(np.float64)
    return bars.sort_index()


@pytest.fixture(scope="session")
def aapl_bars(tmp_path_factory) -> pd.DataFrame:
    """AAPL daily bars 2000-2013 from the offline source (real prices, split-adjusted)."""
    try:
        from mltrainer.data import load_bars
    except ImportError:
        return _bars_from_bokeh_sampledata()
    # Session fixtures run before the per-test MLTRAINER_HOME fixture; never touch ~/.mltrainer.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLTRAINER_HOME", str(tmp_path_factory.mktemp("features-home")))
        mp.setenv("MLTRAINER_DATA_SOURCE", "offline")
        return load_bars("AAPL")
