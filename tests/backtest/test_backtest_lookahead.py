"""check_lookahead: silent on a causal model, catches models that read later bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from mltrainer.backtest import check_lookahead
from mltrainer.errors import InsufficientDataError, InvalidParameterError


class NextBarPeekingModel(BaseEstimator):
    """Deliberately leaky: trades the sign of tomorrow's return via shift(-1)."""

    def fit(self, bars, y=None):
        self.fitted_ = True
        return self

    def predict(self, bars):
        next_return = bars["close"].shift(-1) / bars["close"] - 1
        signal = np.sign(next_return.fillna(0.0)).astype(np.int64)
        return pd.DataFrame({"signal": signal, "strength": next_return.abs().fillna(0.0),
                             "next_return": next_return}, index=bars.index)


class FullSampleZScoreModel(BaseEstimator):
    """Subtly leaky: standardises with the mean and std of the whole sample it is shown."""

    warmup_bars = 0

    def fit(self, bars, y=None):
        self.fitted_ = True
        return self

    def predict(self, bars):
        z = (bars["close"] - bars["close"].mean()) / bars["close"].std()
        signal = np.where(z > 0, 1, -1)
        return pd.DataFrame({"signal": signal, "strength": z.abs().clip(upper=1)}, index=bars.index)


class LabelledRegimeModel(BaseEstimator):
    """Causal, with a categorical column whose category set depends on the sample, and a string column."""

    warmup_bars = 20

    def fit(self, bars, y=None):
        self.fitted_ = True
        return self

    def predict(self, bars):
        above = bars["close"] > bars["close"].rolling(20).mean()
        # A calendar label: bars truncated before 2001 have only the category "2000".
        label = np.where(bars.index.year < 2001, "2000", "later")
        return pd.DataFrame(
            {"signal": np.where(above, 1, 0), "regime": pd.Categorical(label),
             "note": pd.array(np.where(above, "trend", None), dtype="string")},
            index=bars.index,
        )


def test_non_numeric_columns_compare_by_value(aapl):
    bars = aapl.iloc[:400]
    model = LabelledRegimeModel().fit(bars)
    assert list(model.predict(bars.iloc[:100])["regime"].cat.categories) == ["2000"]
    assert list(model.predict(bars)["regime"].cat.categories) == ["2000", "later"]
    assert check_lookahead(model, bars, n_cuts=20) == []


def test_causal_model_passes(aapl, sma_model):
    sma_model.fit(aapl)
    assert check_lookahead(sma_model, aapl, n_cuts=10) == []


def test_catches_a_shift_minus_one_model_at_every_cut(aapl):
    model = NextBarPeekingModel().fit(aapl)
    found = check_lookahead(model, aapl, n_cuts=10)
    # The full prediction has no NaN from row 0 (only the last row's next_return is NaN), so cuts are
    # evenly spaced over rows 0..n-2; at each cut the truncated last row cannot see its next bar.
    cuts = np.linspace(0, len(aapl) - 2, 10).round().astype(int)
    assert found == list(aapl.index[cuts])


def test_catches_full_sample_normalisation(aapl):
    model = FullSampleZScoreModel().fit(aapl)
    found = check_lookahead(model, aapl.iloc[:500], n_cuts=5)
    # Changing the sample changes the mean, so (almost) every row before each cut differs.
    assert len(found) > 300


def test_cuts_start_after_the_warm_up(aapl, sma_model):
    bars = aapl.iloc[:60]
    sma_model.fit(bars)  # slow SMA of 40 -> warmup_bars 39; cuts span rows 39..58
    assert check_lookahead(sma_model, bars, n_cuts=25) == []
    with pytest.raises(InsufficientDataError, match="warm-up of 39 bars"):
        check_lookahead(sma_model, aapl.iloc[:40], n_cuts=3)


def test_invalid_n_cuts(aapl, sma_model):
    with pytest.raises(InvalidParameterError, match="n_cuts"):
        check_lookahead(sma_model.fit(aapl), aapl, n_cuts=0)
