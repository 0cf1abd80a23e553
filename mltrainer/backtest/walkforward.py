"""Walk-forward validation: a time-ordered splitter and the out-of-sample backtest built on it.

Every figure :func:`walk_forward` returns is out of sample: each test window is predicted by a model
fitted only on bars before it, and the joined test-window signals are backtested once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from mltrainer.backtest.engine import BacktestResult, run_backtest
from mltrainer.backtest.metrics import compute_metrics
from mltrainer.errors import (
    InsufficientDataError,
    InvalidInputError,
    InvalidParameterError,
    MLTrainerError,
)

__all__ = ["WalkForward", "walk_forward", "WalkForwardResult"]

log = logging.getLogger(__name__)


class WalkForward:
    """Time-series cross-validation splitter: each test window follows its training window.

    Folds (with ``n`` rows, ``k = n_splits``):

    * Test windows are ``test_size`` consecutive rows (default ``n // (k + 1)``) tiling the *tail* of
      the data: fold ``i`` tests rows ``[n - (k - i) * test_size, n - (k - i - 1) * test_size)``.
    * ``purge`` rows just before each test window are dropped from its training set, so labels that
      look ``purge`` bars ahead cannot overlap the test window: ``max(train) + purge < min(test)``.
    * ``expanding=True``: every training set starts where the first one starts and grows to
      ``test_start - purge``. ``expanding=False`` (rolling): the training set is the last
      ``train_size`` rows before ``test_start - purge``.
    * ``train_size``: length of the first (expanding) or every (rolling) training set. Default: all
      rows before the first test window minus the purge (so rolling keeps that length throughout).
    * ``embargo``: in expanding/rolling walk-forward, later training sets contain earlier test
      windows; ``embargo`` drops the ``embargo`` rows right after each earlier test window from them
      (as in purged cross-validation, for outcomes that are serially correlated with what follows).
      It never touches the current fold's own test window. The resulting training sets have holes,
      so :func:`walk_forward` refuses them (see there); the option is kept for splitter use with
      estimators that treat rows as independent samples.

    Too few rows raise :class:`~mltrainer.errors.InsufficientDataError` naming the minimum.
    """

    def __init__(
        self,
        n_splits: int = 5,
        train_size: int | None = None,
        test_size: int | None = None,
        purge: int = 0,
        embargo: int = 0,
        expanding: bool = True,
    ):
        self.n_splits = n_splits
        self.train_size = train_size
        self.test_size = test_size
        self.purge = purge
        self.embargo = embargo
        self.expanding = expanding

    def __repr__(self) -> str:
        return (
            f"WalkForward(n_splits={self.n_splits}, train_size={self.train_size}, "
            f"test_size={self.test_size}, purge={self.purge}, embargo={self.embargo}, "
            f"expanding={self.expanding})"
        )

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds (``n_splits``)."""
        self._validate_params()
        return int(self.n_splits)

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` integer arrays, oldest fold first."""
        folds = self._boundaries(_n_rows(X))
        for i, (train_start, train_end, test_start, test_end) in enumerate(folds):
            train = np.arange(train_start, train_end)
            for _, _, _, earlier_test_end in folds[:i]:
                train = train[(train < earlier_test_end) | (train >= earlier_test_end + int(self.embargo))]
            if len(train) == 0:
                raise InsufficientDataError(
                    f"Fold {i + 1} of {self!r} has no training rows left after the embargo: lower embargo "
                    "or use a longer history."
                )
            yield train, np.arange(test_start, test_end)

    def min_rows(self) -> int:
        """The fewest rows for which every fold has at least one training and one test row."""
        self._validate_params()
        k, purge = int(self.n_splits), int(self.purge)
        min_train = int(self.train_size) if self.train_size is not None else 1
        if self.test_size is not None:
            return k * int(self.test_size) + purge + min_train
        # Default test_size = n // (k + 1); the first train is n - k * test_size - purge. That is not
        # monotone in n, so search upward from the obvious lower bound.
        n = max(k + 1, k + purge + min_train)
        while n // (k + 1) < 1 or n - k * (n // (k + 1)) - purge < min_train:
            n += 1
        return n

    # -- internals ------------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        def whole(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
                raise InvalidParameterError(
                    f"WalkForward {name} must be a whole number >= {minimum}"
                    f"{' or None' if allow_none else ''}, got {value!r}."
                )

        whole("n_splits", self.n_splits, 1)
        whole("train_size", self.train_size, 1, allow_none=True)
        whole("test_size", self.test_size, 1, allow_none=True)
        whole("purge", self.purge, 0)
        whole("embargo", self.embargo, 0)
        if not isinstance(self.expanding, (bool, np.bool_)):
            raise InvalidParameterError(
                f"WalkForward expanding must be True or False, got {self.expanding!r}."
            )

    def _test_size(self, n: int) -> int:
        return int(self.test_size) if self.test_size is not None else n // (int(self.n_splits) + 1)

    def _boundaries(self, n: int) -> list[tuple[int, int, int, int]]:
        """``(train_start, train_end, test_start, test_end)`` per fold, ends exclusive."""
        self._validate_params()
        needed = self.min_rows()
        if n < needed:
            raise InsufficientDataError(
                f"{self!r} needs at least {needed} rows, got {n}: load a longer history or use fewer/"
                "smaller folds (n_splits, test_size, train_size, purge)."
            )
        k, purge, test_size = int(self.n_splits), int(self.purge), self._test_size(n)
        first_test = n - k * test_size
        first_train_end = first_test - purge
        if self.train_size is None:
            first_train_start = 0
        else:
            first_train_start = first_train_end - int(self.train_size)
        folds = []
        for i in range(k):
            test_start = first_test + i * test_size
            train_end = test_start - purge
            train_start = first_train_start if self.expanding else first_train_start + i * test_size
            folds.append((train_start, train_end, test_start, test_start + test_size))
        return folds


def _n_rows(X) -> int:
    try:
        return len(X)
    except TypeError:
        raise InvalidInputError("WalkForward.split needs a sized X (bars DataFrame or array).") from None


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-sample result of a walk-forward run. Nothing in it is in-sample.

    Attributes:
        backtest: one :class:`BacktestResult` over the joined test windows only (the first test bar is
            the starting mark; positions carry across fold boundaries as they would live).
        folds: one dict per fold: ``fold`` (1-based), ``train_start``/``train_end``/``test_start``/
            ``test_end`` (dates, inclusive), ``train_rows``, ``test_rows``, then that fold's slice of
            the OOS backtest through ``compute_metrics`` (total return, Sharpe, max drawdown, trades…;
            trades are attributed to the fold in which they were entered).
        predictions: the model's ``predict`` output (all columns) on the test bars of every fold,
            concatenated; each row comes from the model fitted on that fold's training window.
        model_type: the model's ``model_type`` (class name if it has none).
        cv: ``repr`` of the splitter used.
    """

    backtest: BacktestResult
    folds: list[dict[str, Any]]
    predictions: pd.DataFrame
    model_type: str
    cv: str
    in_sample: bool = False

    @property
    def fold_table(self) -> pd.DataFrame:
        """``folds`` as a DataFrame indexed by fold number."""
        return pd.DataFrame(self.folds).set_index("fold")

    @property
    def metrics(self) -> dict[str, Any]:
        """The out-of-sample backtest's metrics."""
        return self.backtest.metrics


def walk_forward(
    model,
    bars: pd.DataFrame,
    cv=None,
    cost_bps: float = 5.0,
    slippage_bps: float = 0.0,
    fill: str = "next_open",
    n_trials: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> WalkForwardResult:
    """Fit a fresh clone of ``model`` per fold, predict each test window, backtest the joined OOS signals.

    For every ``(train, test)`` fold of ``cv`` (default :class:`WalkForward()`):
    ``clone(model).fit(bars.iloc[train])``, then ``predict(bars.iloc[:test_end + 1])`` (the history
    before the window keeps indicators warm; only bars up to the window's end are shown to the model)
    and keep the test rows. The signals of all test windows are joined and backtested once with
    :func:`run_backtest` (``cost_bps``, ``slippage_bps``, ``fill``, ``n_trials``).

    ``cv`` may be any scikit-learn style splitter whose test windows are contiguous and follow one
    another (e.g. ``TimeSeriesSplit``); training rows must all precede their test window.

    Each training window must be consecutive rows: models compute returns, rolling indicators and
    forward-return labels over adjacent bars, so a hole (e.g. from ``WalkForward(embargo > 0)``)
    would be bridged as if the bars on either side were neighbours. Such folds raise
    ``InvalidParameterError`` rather than being fitted on their last consecutive segment, which would
    silently train on a fraction of the history. (An embargo guards k-fold CV, where training rows
    follow a test window; here every training row already precedes its test window.)

    Before anything is fitted, each fold's training length is checked against the model's
    ``min_fit_bars`` (when it has one), so too many folds are reported as such.
    ``progress(fraction, message)`` is called after each fold and at the end.
    """
    cv = WalkForward() if cv is None else cv
    if not hasattr(cv, "split"):
        raise InvalidParameterError(
            f"cv must be a splitter with a split() method such as WalkForward(n_splits=5); got {cv!r}."
        )
    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise InvalidInputError(
            "bars must be a DataFrame of OHLCV bars indexed by date (mltrainer.data.load_bars)."
        )
    folds_idx = [(np.asarray(train), np.asarray(test)) for train, test in cv.split(bars)]
    _check_folds(folds_idx)
    model_type = str(getattr(model, "model_type", "") or type(model).__name__)
    _check_fold_lengths(model, model_type, cv, folds_idx, len(bars))
    n_folds = len(folds_idx)

    pieces: list[pd.DataFrame] = []
    for i, (train, test) in enumerate(folds_idx):
        fitted = clone(model).fit(bars.iloc[train])
        window = bars.iloc[: int(test[-1]) + 1]
        predicted = _as_frame(fitted.predict(window), window.index, model_type)
        pieces.append(predicted.iloc[test])
        log.info(
            "walk-forward %s fold %d/%d: train %s..%s (%d rows), test %s..%s (%d rows)", model_type, i + 1,
            n_folds, bars.index[train[0]].date(), bars.index[train[-1]].date(), len(train),
            bars.index[test[0]].date(), bars.index[test[-1]].date(), len(test),
        )
        if progress is not None:
            progress((i + 1) / (n_folds + 1), f"fold {i + 1}/{n_folds} fitted and predicted")

    predictions = pd.concat(pieces)
    oos_bars = bars.loc[predictions.index]
    backtest = run_backtest(
        oos_bars, predictions["signal"], cost_bps=cost_bps, slippage_bps=slippage_bps, fill=fill,
        n_trials=n_trials,
    )
    folds = [
        _fold_summary(i, train, test, bars, backtest, n_trials) for i, (train, test) in enumerate(folds_idx)
    ]
    if progress is not None:
        progress(1.0, f"out-of-sample backtest of {len(oos_bars)} bars done")
    return WalkForwardResult(
        backtest=backtest, folds=folds, predictions=predictions, model_type=model_type, cv=repr(cv)
    )


def _check_folds(folds: list[tuple[np.ndarray, np.ndarray]]) -> None:
    if not folds:
        raise InvalidParameterError("cv produced no folds: use e.g. WalkForward(n_splits=5).")
    previous_end = -1
    for i, (train, test) in enumerate(folds):
        if len(train) == 0 or len(test) == 0:
            raise InsufficientDataError(
                f"Fold {i + 1} has an empty training or test window: use fewer folds."
            )
        if train.max() >= test.min():
            raise InvalidParameterError(
                f"Fold {i + 1} trains on rows at or after its test window; walk-forward needs every training "
                "row before the test rows (use WalkForward or TimeSeriesSplit, not KFold)."
            )
        if np.any(np.diff(train) != 1):
            raise InvalidParameterError(
                f"Fold {i + 1} trains on rows with a gap: models read consecutive bars (returns, indicators, "
                "labels), so the gap would be bridged as if the bars were adjacent. Use embargo=0 (purge "
                "already keeps training labels out of each test window) or a splitter whose training "
                "windows are consecutive rows."
            )
        contiguous = np.all(np.diff(test) == 1) and (previous_end < 0 or test[0] == previous_end + 1)
        if not contiguous:
            # The joined windows are backtested as one account, so a gap would be traded as one bar.
            raise InvalidParameterError(
                f"Fold {i + 1}'s test window does not start right after the previous one (or has holes): "
                "walk-forward test windows must tile one contiguous out-of-sample span, as WalkForward's do."
            )
        previous_end = int(test[-1])


def _min_fit_bars(model) -> int | None:
    """The model's ``min_fit_bars``, or None when it has none (or its parameters are invalid — fit
    then raises the proper parameter error)."""
    try:
        value = getattr(model, "min_fit_bars", None)
        return None if value is None else int(value)
    except (TypeError, ValueError, MLTrainerError):
        return None


def _first_fold_train_rows(cv: WalkForward, n_splits: int, n: int) -> int:
    """Training rows of fold 1 if ``cv`` had ``n_splits`` folds over ``n`` rows (0 if too few rows)."""
    candidate = WalkForward(n_splits=n_splits, train_size=cv.train_size, test_size=cv.test_size,
                            purge=cv.purge, embargo=cv.embargo, expanding=cv.expanding)
    try:
        train_start, train_end, _, _ = candidate._boundaries(n)[0]
    except InsufficientDataError:
        return 0
    return train_end - train_start


def _check_fold_lengths(model, model_type: str, cv, folds: list[tuple[np.ndarray, np.ndarray]],
                        n: int) -> None:
    """Refuse before fitting when a fold trains on fewer bars than the model needs, naming the fix."""
    needed = _min_fit_bars(model)
    if needed is None:
        return
    for i, (train, _) in enumerate(folds):
        if len(train) >= needed:
            continue
        head = f"fold {i + 1} trains on {len(train)} bars but {model_type} needs at least {needed}: "
        if not isinstance(cv, WalkForward):
            raise InsufficientDataError(head + "use fewer splits or a longer date range.")
        if cv.train_size is not None and int(cv.train_size) < needed:
            raise InsufficientDataError(head + f"use a train_size of at least {needed} bars.")
        # With the default test_size, fold 1's length is not monotone in the split count (3,270 bars:
        # 28 splits give >= 121 bars, 29 give 109, 196 give 134 again), so K is the largest count for
        # which every count up to it works.
        most = 0
        for k in range(1, int(cv.n_splits)):
            if _first_fold_train_rows(cv, k, n) < needed:
                break
            most = k
        if most:
            raise InsufficientDataError(
                head + f"use at most {most} split{'s' if most > 1 else ''} or a longer date range."
            )
        raise InsufficientDataError(head + "use a longer date range.")


def _as_frame(predicted, index: pd.DatetimeIndex, model_type: str) -> pd.DataFrame:
    if isinstance(predicted, pd.Series):
        predicted = predicted.to_frame("signal")
    if not isinstance(predicted, pd.DataFrame) or "signal" not in predicted.columns:
        raise InvalidInputError(
            f"{model_type}.predict must return a DataFrame with a 'signal' column; "
            f"got {type(predicted).__name__}."
        )
    if not predicted.index.equals(index):
        raise InvalidInputError(
            f"{model_type}.predict must return rows indexed exactly like the bars it was given."
        )
    return predicted


def _fold_summary(i, train, test, bars, backtest: BacktestResult, n_trials: int) -> dict[str, Any]:
    test_dates = bars.index[test]
    start, end = test_dates[0], test_dates[-1]
    returns = backtest.returns.loc[start:end]
    positions = backtest.positions.loc[start:end]
    trades = backtest.trades
    trades = trades[(trades["entry_date"] >= start) & (trades["entry_date"] <= end)].reset_index(drop=True)
    if i == 0:
        # The OOS backtest's first bar is its starting mark, not a period with a return.
        returns, positions = returns.iloc[1:], positions.iloc[1:]
    summary: dict[str, Any] = {
        "fold": i + 1,
        "train_start": bars.index[train[0]],
        "train_end": bars.index[train[-1]],
        "test_start": start,
        "test_end": end,
        "train_rows": int(len(train)),
        "test_rows": int(len(test)),
    }
    summary.update(compute_metrics(returns, positions, trades, n_trials=n_trials))
    return summary
