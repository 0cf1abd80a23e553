"""WalkForward splitter boundaries and walk_forward's out-of-sample plumbing on real AAPL bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, TimeSeriesSplit

from mltrainer.backtest import WalkForward, WalkForwardResult, run_backtest, walk_forward
from mltrainer.errors import InsufficientDataError, InvalidParameterError


def folds_of(cv, n):
    return [(train.tolist(), test.tolist()) for train, test in cv.split(np.zeros(n))]


def rng(a, b):
    return list(range(a, b))


# -- exact boundaries on 12 rows (default test_size = 12 // (3 + 1) = 3, tests tile rows 3..11) ---------
def test_expanding_default_boundaries():
    assert folds_of(WalkForward(n_splits=3), 12) == [
        (rng(0, 3), rng(3, 6)),
        (rng(0, 6), rng(6, 9)),
        (rng(0, 9), rng(9, 12)),
    ]


def test_purge_drops_rows_before_each_test_window():
    assert folds_of(WalkForward(n_splits=3, purge=1), 12) == [
        (rng(0, 2), rng(3, 6)),
        (rng(0, 5), rng(6, 9)),
        (rng(0, 8), rng(9, 12)),
    ]


def test_rolling_keeps_the_first_train_length():
    assert folds_of(WalkForward(n_splits=3, purge=1, expanding=False), 12) == [
        (rng(0, 2), rng(3, 6)),
        (rng(3, 5), rng(6, 9)),
        (rng(6, 8), rng(9, 12)),
    ]


def test_train_size_and_test_size():
    # test_size 2 -> tests at 6..7, 8..9, 10..11; train_size 3 ends right before each test.
    assert folds_of(WalkForward(n_splits=3, train_size=3, test_size=2, expanding=False), 12) == [
        (rng(3, 6), rng(6, 8)),
        (rng(5, 8), rng(8, 10)),
        (rng(7, 10), rng(10, 12)),
    ]
    # Expanding: the same first window, then growing from its start.
    assert folds_of(WalkForward(n_splits=3, train_size=3, test_size=2), 12) == [
        (rng(3, 6), rng(6, 8)),
        (rng(3, 8), rng(8, 10)),
        (rng(3, 10), rng(10, 12)),
    ]


def test_embargo_drops_rows_after_earlier_test_windows():
    # Fold 3 trains on 0..8, which contains fold 1's test window 3..5; embargo=1 drops row 6 after it.
    # (Fold 2's window ends where fold 3's test starts, so its embargo falls outside training.)
    assert folds_of(WalkForward(n_splits=3, embargo=1), 12) == [
        (rng(0, 3), rng(3, 6)),
        (rng(0, 6), rng(6, 9)),
        ([0, 1, 2, 3, 4, 5, 7, 8], rng(9, 12)),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n_splits": 8, "purge": 5},
        {"n_splits": 4, "purge": 10, "embargo": 3, "expanding": False},
        {"n_splits": 6, "train_size": 500, "test_size": 250, "purge": 20},
        {"n_splits": 1, "test_size": 1000},
    ],
)
def test_every_fold_trains_strictly_before_its_purged_test_window(aapl, params):
    cv = WalkForward(**params)
    folds = list(cv.split(aapl))
    assert len(folds) == cv.get_n_splits() == params.get("n_splits", 5)
    purge = params.get("purge", 0)
    for train, test in folds:
        assert train.dtype.kind == "i" and test.dtype.kind == "i"
        assert train.max() + purge < test.min()
    tests = np.concatenate([test for _, test in folds])
    # Test windows tile the tail of the data exactly once.
    np.testing.assert_array_equal(tests, np.arange(len(aapl) - len(tests), len(aapl)))


def test_too_little_data_names_the_minimum_rows():
    with pytest.raises(InsufficientDataError, match="at least 501 rows, got 400"):
        list(WalkForward(n_splits=5, test_size=100).split(np.zeros(400)))
    cv = WalkForward(n_splits=5, purge=3)
    # n = 9: test_size 9 // 6 = 1, first train 9 - 5*1 - 3 = 1; n = 8 would leave 0 training rows.
    assert cv.min_rows() == 9
    assert len(list(cv.split(np.zeros(9)))) == 5
    with pytest.raises(InsufficientDataError, match="at least 9 rows"):
        list(cv.split(np.zeros(8)))


@pytest.mark.parametrize(
    "params",
    [{"n_splits": 0}, {"n_splits": 2.5}, {"test_size": 0}, {"train_size": -1}, {"purge": -1},
     {"embargo": True}, {"expanding": "yes"}],
)
def test_invalid_params(params):
    name = next(iter(params))
    with pytest.raises(InvalidParameterError, match=name):
        list(WalkForward(**params).split(np.zeros(100)))


def test_min_rows_is_the_true_minimum():
    for params in ({"n_splits": 3}, {"n_splits": 4, "purge": 2}, {"n_splits": 2, "train_size": 5}):
        cv = WalkForward(**params)
        m = cv.min_rows()
        list(cv.split(np.zeros(m)))
        with pytest.raises(InsufficientDataError):
            list(cv.split(np.zeros(m - 1)))


# -- walk_forward -------------------------------------------------------------------------------------------
def test_walk_forward_is_out_of_sample_and_backtested_once(aapl, train_end_recording_model):
    cv = WalkForward(n_splits=4, purge=5)
    model = train_end_recording_model
    progress_calls = []
    result = walk_forward(model, aapl, cv=cv, cost_bps=5.0, progress=lambda f, m: progress_calls.append(f))

    assert isinstance(result, WalkForwardResult) and result.in_sample is False
    assert result.model_type == "train_end_recording_test"
    folds = list(cv.split(aapl))
    oos_index = aapl.index[folds[0][1][0]:]
    assert result.backtest.equity.index.equals(oos_index)
    assert result.predictions.index.equals(oos_index)
    # Each test row was predicted by the model fitted on its own fold's training window only.
    for (train, test), fold in zip(folds, result.folds):
        assert (result.predictions.loc[aapl.index[test], "train_end"] == aapl.index[train[-1]]).all()
        assert fold["train_start"] == aapl.index[train[0]] and fold["train_end"] == aapl.index[train[-1]]
        assert fold["test_start"] == aapl.index[test[0]] and fold["test_end"] == aapl.index[test[-1]]
        assert fold["train_rows"] == len(train) and fold["test_rows"] == len(test)
    # Indicators were warm: predicting over history + test gives the full-history values.
    full = model.fit(aapl).predict(aapl)
    pd.testing.assert_frame_equal(
        result.predictions[["signal", "strength", "fast_sma"]],
        full.loc[oos_index, ["signal", "strength", "fast_sma"]],
    )
    # One backtest over the joined OOS signals, with the requested costs.
    once = run_backtest(aapl.loc[oos_index], full.loc[oos_index, "signal"], cost_bps=5.0)
    pd.testing.assert_series_equal(result.backtest.equity, once.equity)
    pd.testing.assert_frame_equal(result.backtest.trades, once.trades)
    assert progress_calls == sorted(progress_calls) and progress_calls[-1] == 1.0 and len(progress_calls) == 5


def test_fold_metrics_cover_that_folds_slice_of_the_oos_backtest(aapl, sma_model):
    result = walk_forward(sma_model, aapl, cv=WalkForward(n_splits=3))
    returns = result.backtest.returns
    for fold in result.folds:
        window = returns.loc[fold["test_start"]:fold["test_end"]]
        expected = float((1 + window).prod() - 1)
        assert fold["total_return"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # Folds chain into the whole OOS total return.
    total = np.prod([1 + f["total_return"] for f in result.folds]) - 1
    assert total == pytest.approx(result.backtest.final_equity - 1, rel=1e-9)
    assert result.fold_table.index.tolist() == [1, 2, 3]


def test_walk_forward_accepts_sklearn_time_series_split(aapl, sma_model):
    result = walk_forward(sma_model, aapl, cv=TimeSeriesSplit(n_splits=3, gap=5))
    assert len(result.folds) == 3


def test_walk_forward_rejects_splitters_that_train_on_the_future(aapl, sma_model):
    with pytest.raises(InvalidParameterError, match="before the test rows"):
        walk_forward(sma_model, aapl, cv=KFold(n_splits=3))


def test_walk_forward_needs_enough_history(aapl, sma_model):
    with pytest.raises(InsufficientDataError, match="at least"):
        walk_forward(sma_model, aapl.iloc[:100], cv=WalkForward(n_splits=5, test_size=50))


def test_walk_forward_rejects_a_cv_without_split(aapl, sma_model):
    with pytest.raises(InvalidParameterError, match="split"):
        walk_forward(sma_model, aapl, cv=5)


def test_too_many_splits_names_the_fold_count_not_the_lookback(aapl):
    from mltrainer.models import create_model

    # 3,270 AAPL bars in 201 parts: test windows of 3270 // 201 = 16 bars, so fold 1 trains on
    # 3270 - 200 * 16 = 70 bars, while mean_reversion needs 21 warm-up + 100 training rows = 121.
    model = create_model("mean_reversion")
    assert len(aapl) == 3270 and model.min_fit_bars == 121
    with pytest.raises(InsufficientDataError) as info:
        walk_forward(model, aapl, cv=WalkForward(n_splits=200))
    assert str(info.value) == (
        "fold 1 trains on 70 bars but mean_reversion needs at least 121: "
        "use at most 28 splits or a longer date range."
    )
    # 28 is the true bound: every split count up to 28 trains fold 1 on >= 121 bars, 29 does not
    # (3270 - 29 * (3270 // 30) = 109). Counts above it are not all bad (196 gives 134): "at most" must
    # hold for every smaller count, not just one.
    first_train = {k: len(next(WalkForward(n_splits=k).split(aapl))[0]) for k in range(1, 30)}
    assert min(first_train[k] for k in range(1, 29)) >= 121 and first_train[29] == 109


def test_a_fixed_train_size_too_small_for_the_model_says_so(aapl):
    from mltrainer.models import create_model

    with pytest.raises(InsufficientDataError) as info:
        walk_forward(create_model("mean_reversion"), aapl, cv=WalkForward(n_splits=3, train_size=100))
    assert str(info.value) == (
        "fold 1 trains on 100 bars but mean_reversion needs at least 121: "
        "use a train_size of at least 121 bars."
    )


def test_walk_forward_refuses_training_rows_with_gaps_from_an_embargo(aapl, sma_model):
    # Fold 3 of WalkForward(n_splits=3, embargo=5) on 3,270 rows trains on rows 0..2452 minus the 5 rows
    # right after fold 1's test window (1636..1640): fitting on that as if it were consecutive bars
    # would compute returns, indicators and labels straight across the hole.
    cv = WalkForward(n_splits=3, embargo=5)
    train = list(cv.split(aapl))[2][0]
    assert train[1635] == 1635 and train[1636] == 1641 and train[-1] == 2452
    with pytest.raises(InvalidParameterError) as info:
        walk_forward(sma_model, aapl, cv=cv)
    message = str(info.value)
    assert message.startswith("Fold 3 trains on rows with a gap")
    assert "embargo=0" in message
