"""Fixtures for the backtest tests: real offline bars, and a tiny causal model defined only here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator


def load_real_bars(symbol: str = "AAPL") -> pd.DataFrame:
    """Real offline bars from the data layer."""
    from mltrainer.data import load_bars

    return load_bars(symbol)


@pytest.fixture(scope="session")
def aapl() -> pd.DataFrame:
    return load_real_bars("AAPL")


class SmaCrossModel(BaseEstimator):
    """Causal test model: long when the fast SMA is above the slow one, short when below.

    ``fit`` learns nothing but the number of training rows, so walk-forward results depend only on
    which bars each fold predicts — which is what the tests pin down.
    """

    model_type = "sma_cross_test"

    def __init__(self, fast: int = 10, slow: int = 40, allow_short: bool = True):
        self.fast = fast
        self.slow = slow
        self.allow_short = allow_short

    @property
    def warmup_bars(self) -> int:
        return self.slow - 1

    def fit(self, bars, y=None):
        self.n_train_rows_ = len(bars)
        self.train_end_ = bars.index[-1]
        return self

    def predict(self, bars):
        close = bars["close"]
        fast = close.rolling(self.fast).mean()
        slow = close.rolling(self.slow).mean()
        signal = np.where(fast > slow, 1, np.where(fast < slow, -1 if self.allow_short else 0, 0))
        signal[slow.isna().to_numpy()] = 0
        spread = (fast / slow - 1).abs()
        return pd.DataFrame(
            {
                "signal": signal.astype(np.int64),
                "strength": spread.clip(upper=1.0).fillna(0.0),
                "fast_sma": fast,
            },
            index=bars.index,
        )


@pytest.fixture
def sma_model() -> SmaCrossModel:
    return SmaCrossModel()


class TrainEndRecordingModel(SmaCrossModel):
    """Adds the last training date to every prediction row, to see which fit produced it."""

    model_type = "train_end_recording_test"

    def predict(self, bars):
        out = super().predict(bars)
        out["train_end"] = self.train_end_
        return out


@pytest.fixture
def train_end_recording_model() -> TrainEndRecordingModel:
    return TrainEndRecordingModel(fast=5, slow=30)
