"""Gradient boosting: a LightGBM classifier of the sign of the forward return.

Features (all from :mod:`mltrainer.features`, so causal): returns over 1, 5, 10 and 20 bars, RSI,
the close's z-score and Bollinger %b over ``lookback_period``, realized volatility, the volume ratio,
``momentum_period``-bar momentum, ATR as a fraction of the close and the distance from the
``trend_period`` moving average; plus optional macro series.

Label: 1 when the return over the next ``horizon`` bars is positive, else 0. The last ``horizon``
training bars have no known label and are dropped in fit, as are the warm-up bars.

Signal: long when the predicted probability of an up move ``p_up > probability_threshold``, short when
``p_up < 1 - probability_threshold`` (if ``allow_short``), else flat. Strength is the margin
``|2·p_up - 1|``.

Macro series (``macro_series``, FRED ids loaded through :func:`mltrainer.data.load_series`) are
aligned so a value is used only after it could have been known. FRED dates a value by the START of
its period (the June 2010 CPI is dated 2010-06-01 but published mid-July), so a value becomes usable
at ``date + one period + macro_lag_days`` for monthly or longer periods, and on the next day for
daily/weekly series (a close-of-day value is known after that day). Each series gives two features:
its level and its change over one period.

Where the macro values come from is settled once, in ``fit``: ``macro_source_`` is FRED when
``FRED_API_KEY`` is set at fit time, else the offline series, and ``predict`` keeps using it — a
model trained on offline values must not be served FRED values (or the reverse) just because the
serving machine has a different key. A FRED-trained model served without a key fails with the data
layer's clear error rather than silently switching sources.

FRED values are the series as FRED shows them today (revised, non-vintage data), not the first
releases an investor saw at the time; revisions of CPI, GDP and the like make macro features look
somewhat better in a backtest than they could have been live. The publication lag above handles
*when* a value was known, not *which* value.

Fit refuses a macro series that has values for less than half of the training bars (e.g. the
offline VIXCLS starts in 2014): LightGBM would otherwise train on a feature that is mostly missing
without saying so.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mltrainer.errors import InsufficientDataError, InvalidParameterError
from mltrainer.features import _kernels
from mltrainer.features._validation import check_positive_array
from mltrainer.models.base import ParamSpec, SignalModel, check_last_n

__all__ = ["GradientBoosting"]

log = logging.getLogger(__name__)

_RETURN_LAGS = (1, 5, 10, 20)
#: Share of the training bars a macro series must have a value for.
MIN_MACRO_COVERAGE = 0.5


def _parse_series_ids(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise InvalidParameterError(
            f"gradient_boosting macro_series must be a list of FRED series ids (or 'ID1,ID2'); got {value!r}."
        )
    ids = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidParameterError(f"gradient_boosting macro_series ids must be text; got {item!r}.")
        if item.strip():
            ids.append(item.strip())
    return tuple(dict.fromkeys(ids))


def _period_offset(index: pd.DatetimeIndex) -> pd.DateOffset | None:
    """One observation period of a macro series (None for daily/weekly data)."""
    if len(index) < 3:
        return pd.DateOffset(months=1)
    spacing_days = float(np.median(np.diff(index.to_numpy()).astype("timedelta64[D]").astype(float)))
    if spacing_days <= 8:
        return None
    if spacing_days <= 40:
        return pd.DateOffset(months=1)
    if spacing_days <= 100:
        return pd.DateOffset(months=3)
    return pd.DateOffset(years=1)


def align_macro(series: pd.Series, dates: pd.DatetimeIndex, lag_days: int) -> pd.DataFrame:
    """Level and one-period change of a macro series as known at each of ``dates`` (see module doc)."""
    series = series.dropna().sort_index()
    series = series[~series.index.duplicated(keep="last")]
    change = series.diff()
    offset = _period_offset(series.index)
    if offset is None:
        known_from = series.index + pd.Timedelta(days=1)
    else:
        known_from = series.index + offset + pd.Timedelta(days=int(lag_days))
    frame = pd.DataFrame({"level": series.to_numpy(), "change": change.to_numpy()},
                         index=pd.DatetimeIndex(known_from, name="known_from"))
    frame = frame[~frame.index.duplicated(keep="last")]
    # Last value whose known_from date is on or before the bar date.
    aligned = frame.reindex(frame.index.union(dates)).ffill().reindex(dates)
    return aligned


#: Threads for the booster's predictions. LightGBM's default starts an OpenMP team per call, which
#: dominates small calls: one row took ~2.4 ms instead of ~0.02 ms, and 3,000 rows ~15 ms instead of
#: ~9 ms on 2 cores. Each row's prediction is the same either way (trees are summed per row).
_PREDICT_THREADS = 1

class GradientBoosting(SignalModel):
    model_type = "gradient_boosting"
    label = "Gradient boosting (LightGBM)"
    description = (
        "A LightGBM classifier of the sign of the forward return over `horizon` bars, on technical "
        "features (returns, RSI, z-score, %b, volatility, volume) and optional FRED macro series; "
        "trades when the predicted probability clears a threshold."
    )
    param_specs = (
        ParamSpec(
            "horizon", 5, "int", min=1, max=250,
            help="Bars ahead whose return sign is predicted (the label horizon).",
        ),
        ParamSpec(
            "probability_threshold", 0.55, "float", min=0.5, max=1.0, exclusive_min=True, exclusive_max=True,
            help="Go long when P(up) is above this, short when below 1 minus it.",
        ),
        ParamSpec(
            "allow_short", True, "bool",
            help="Also take short positions when P(up) is low.",
        ),
        ParamSpec(
            "lookback_period", 20, "int", min=2, max=500,
            help="Window of the z-score, %b, volatility and volume-ratio features.",
        ),
        ParamSpec(
            "momentum_period", 60, "int", min=2, max=1000,
            help="Bars in the momentum feature.",
        ),
        ParamSpec(
            "trend_period", 50, "int", min=2, max=1000,
            help="Moving average for the distance-from-trend feature.",
        ),
        ParamSpec(
            "n_estimators", 100, "int", min=1, max=2000,
            help="Boosting rounds (trees).",
        ),
        ParamSpec(
            "learning_rate", 0.05, "float", min=0.0, max=1.0, exclusive_min=True,
            help="Shrinkage per tree.",
        ),
        ParamSpec(
            "num_leaves", 15, "int", min=2, max=256,
            help="Leaves per tree (model complexity).",
        ),
        ParamSpec(
            "min_child_samples", 50, "int", min=1, max=10000,
            help="Minimum training bars per leaf (guards against overfitting).",
        ),
        ParamSpec(
            "macro_series", (), "str",
            help="Comma-separated FRED series ids used as extra features, e.g. CPILFESL,BAA; empty for "
                 "none. Values are used only after their publication.",
        ),
        ParamSpec(
            "macro_lag_days", 30, "int", min=0, max=365,
            help="Days after a monthly/quarterly period ends before its value is treated as known.",
        ),
        ParamSpec(
            "random_state", 0, "int", min=0, max=2**31 - 1,
            help="Seed of LightGBM's randomness (training is deterministic).",
        ),
    )
    analysis_columns = ("probability_up", "rsi", "zscore", "realized_vol")

    def __init__(self, horizon=5, probability_threshold=0.55, allow_short=True, lookback_period=20,
                 momentum_period=60, trend_period=50, n_estimators=100, learning_rate=0.05, num_leaves=15,
                 min_child_samples=50, macro_series=(), macro_lag_days=30, random_state=0):
        self.horizon = horizon
        self.probability_threshold = probability_threshold
        self.allow_short = allow_short
        self.lookback_period = lookback_period
        self.momentum_period = momentum_period
        self.trend_period = trend_period
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.macro_series = macro_series
        self.macro_lag_days = macro_lag_days
        self.random_state = random_state

    def _check_param_rules(self, params):
        _parse_series_ids(self.macro_series)

    @property
    def warmup_bars(self) -> int:
        return int(max(*_RETURN_LAGS, self.lookback_period + 1, self.momentum_period, self.trend_period, 15))

    @property
    def holding_horizon(self) -> int:
        return int(self.horizon)

    @property
    def min_fit_bars(self) -> int:
        return self.warmup_bars + int(self.horizon) + self.min_training_rows

    def _features(self, bars: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self._feature_arrays(bars), index=bars.index)

    def _feature_arrays(self, bars: pd.DataFrame) -> dict[str, np.ndarray]:
        """The feature columns as float64 arrays aligned with ``bars`` (±inf already NaN)."""
        # Columns of the checked bars' single float64 block, without building a Series for each.
        block = bars.to_numpy(dtype="float64", copy=False)
        column = {name: block[:, i] for i, name in enumerate(bars.columns)}
        close = column["close"]
        check_positive_array(close, bars.index, "close")
        window = int(self.lookback_period)
        middle = _kernels.rolling_mean(close, window)
        std = _kernels.rolling_std(close, window, 0)
        cols: dict[str, np.ndarray] = {f"return_{k}": _kernels.pct_change(close, k) for k in _RETURN_LAGS}
        cols["rsi"] = _kernels.rsi_values(close, 14)
        cols["zscore"] = _kernels.zscore_values(close, middle, std)
        cols["percent_b"] = _kernels.percent_b_values(close, middle, std, 2.0)
        cols["realized_vol"] = _kernels.realized_vol_values(close, window)
        cols["volume_ratio"] = _kernels.volume_ratio_values(column["volume"], window)
        cols["momentum"] = _kernels.pct_change(close, int(self.momentum_period))
        true_range = _kernels.true_range_values(column["high"], column["low"], close)
        cols["atr_fraction"] = _kernels.wilder_average(true_range, 14) / close
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["trend_distance"] = close / _kernels.rolling_mean(close, int(self.trend_period)) - 1.0
        for series_id, aligned in self._aligned_macro(bars.index).items():
            cols[f"macro_{series_id}"] = aligned["level"].to_numpy(dtype="float64")
            cols[f"macro_{series_id}_change"] = aligned["change"].to_numpy(dtype="float64")
        for name, values in cols.items():
            infinite = np.isinf(values)
            if infinite.any():
                cols[name] = np.where(infinite, np.nan, values)
        return cols

    def _aligned_macro(self, dates: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
        return {series_id: align_macro(self._macro(series_id), dates, int(self.macro_lag_days))
                for series_id in _parse_series_ids(self.macro_series)}

    def macro_inputs(self, bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Each macro series' ``level`` and ``change`` as the model saw them at each bar (from the source
        fixed at fit time); ``{}`` without ``macro_series``."""
        self._check_fitted()
        return self._aligned_macro(self._check_bars(bars).index)

    def _macro(self, series_id: str) -> pd.Series:
        from mltrainer.data import load_series

        # Models pickled before macro_source_ existed keep the old resolution (None).
        return load_series(series_id, source=getattr(self, "macro_source_", None))

    def _check_macro_coverage(self, X_train: pd.DataFrame, series_ids: tuple[str, ...]) -> None:
        if len(X_train) == 0:
            return
        first, last = X_train.index[0].date(), X_train.index[-1].date()
        for series_id in series_ids:
            coverage = float(X_train[f"macro_{series_id}"].notna().mean())
            if coverage >= MIN_MACRO_COVERAGE:
                continue
            values = self._macro(series_id).dropna()
            covered = (f"covers {values.index[0].date()} to {values.index[-1].date()}" if len(values)
                       else "has no values")
            raise InsufficientDataError(
                f"gradient_boosting macro series {series_id} has values for {coverage:.1%} of the training "
                f"bars ({first} to {last}); the {self.macro_source_} {series_id} {covered}. "
                "Drop it from macro_series or change the date range."
            )

    def _fit(self, bars: pd.DataFrame) -> None:
        from lightgbm import LGBMClassifier

        from mltrainer.data import resolve_series_source

        horizon = int(self.horizon)
        series_ids = _parse_series_ids(self.macro_series)
        self.macro_source_ = resolve_series_source(None) if series_ids else None
        X = self._features(bars)
        close = bars["close"].to_numpy()
        forward = np.full(len(close), np.nan)
        forward[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
        keep = np.arange(len(X)) >= self.warmup_bars
        keep &= np.isfinite(forward)
        X_train = X.loc[keep]
        self._check_macro_coverage(X_train, series_ids)
        y_train = (forward[keep] > 0).astype(np.int64)
        if len(np.unique(y_train)) < 2:
            raise InvalidParameterError(
                "gradient_boosting needs both up and down moves in the training labels; "
                "use a longer date range."
            )
        self.classifier_ = LGBMClassifier(
            n_estimators=int(self.n_estimators), learning_rate=float(self.learning_rate),
            num_leaves=int(self.num_leaves), min_child_samples=int(self.min_child_samples),
            subsample=1.0, colsample_bytree=1.0, n_jobs=1, random_state=int(self.random_state),
            deterministic=True, force_row_wise=True, verbose=-1,
        )
        self.classifier_.fit(X_train, y_train)
        self.feature_names_ = tuple(X.columns)
        self.n_training_rows_ = int(len(X_train))
        self.training_up_fraction_ = float(y_train.mean())

    def _matrix(self, bars: pd.DataFrame) -> pd.DataFrame:
        X = self._features(bars)
        return X.loc[:, list(self.feature_names_)]

    def _predict(self, bars: pd.DataFrame) -> pd.DataFrame:
        return self._rows(self._feature_arrays(bars), bars.index, 0)

    def _predict_last(self, bars: pd.DataFrame, n: int) -> pd.DataFrame:
        # Each row's P(up) depends on that row's features only (no position state), so the booster
        # runs on the returned rows alone: ~0.1 ms for the latest bar instead of ~10 ms for 3,000.
        return self._rows(self._feature_arrays(bars), bars.index, len(bars) - n)

    def predict_explained(self, bars: pd.DataFrame, last_n: int | None = 1) -> pd.DataFrame:
        """``predict(bars, last_n=last_n)`` with each returned row's feature contributions beside it, in
        columns ``contribution:<feature>`` and ``contribution:bias`` (log-odds units, NaN in the
        warm-up): equal to ``feature_contributions(bars, last_n=last_n)``, from the same single feature
        computation over all of ``bars`` (serving explains every prediction it makes)."""
        self._check_fitted()
        last_n = check_last_n(last_n)
        clean = self._check_bars(bars)
        first = 0 if last_n is None else max(len(clean) - last_n, 0)
        cols = self._feature_arrays(clean)
        contrib = self._contributions(cols, len(clean), first)
        names = (f"contribution:{name}" for name in (*self.feature_names_, "bias"))
        extra = dict(zip(names, contrib.T, strict=True))
        return self._finish(self._rows(cols, clean.index, first, extra), bars)

    def _feature_matrix(self, cols: dict[str, np.ndarray], first: int) -> np.ndarray:
        """Rows ``first:`` of the features as a float64 matrix in training column order."""
        return np.column_stack([cols[name][first:] for name in self.feature_names_])

    def _rows(self, cols: dict[str, np.ndarray], bars_index: pd.Index, first: int,
              extra: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """``_predict`` for rows ``first:`` from the features of all the bars (``extra`` columns after)."""
        index = bars_index[first:]
        if len(index):
            # The booster on a plain float64 matrix in training column order: the same trees and the
            # same P(up) as predict_proba(X)[:, 1] on a DataFrame, without its per-call conversion.
            matrix = self._feature_matrix(cols, first)
            p_up = np.asarray(self.classifier_.booster_.predict(matrix, num_threads=_PREDICT_THREADS),
                              dtype="float64")
        else:
            p_up = np.zeros(0)
        threshold = float(self.probability_threshold)
        signal = (p_up > threshold).astype(np.int64)
        if self.allow_short:
            signal -= (p_up < 1.0 - threshold).astype(np.int64)
        strength = np.abs(2.0 * p_up - 1.0)
        warm = min(max(min(self.warmup_bars, len(bars_index)) - first, 0), len(index))
        p_up[:warm] = np.nan
        # One constructor call: adding columns one by one cost more than the booster on the last row.
        return pd.DataFrame({"signal": signal, "strength": strength, "probability_up": p_up,
                             **{col: cols[col][first:] for col in ("rsi", "zscore", "realized_vol")},
                             **(extra or {})}, index=index)

    def feature_contributions(self, bars: pd.DataFrame, last_n: int | None = None) -> pd.DataFrame:
        """Per-bar SHAP-style contributions (LightGBM ``pred_contrib``, log-odds units) of every feature,
        plus ``bias``; rows sum to the log-odds of P(up). Warm-up rows are NaN.

        ``last_n`` explains only the last ``last_n`` bars (the frame is indexed by those dates): the
        features still come from all of ``bars`` (they need the history), but pred_contrib, the
        expensive part, runs on those rows only. The values equal the same rows of the full call.
        """
        self._check_fitted()
        last_n = check_last_n(last_n)
        clean = self._check_bars(bars)
        first = 0 if last_n is None else max(len(clean) - last_n, 0)
        index = bars.index[first:]
        columns = [*self.feature_names_, "bias"]
        if len(index) == 0:
            return pd.DataFrame(columns=columns, index=index, dtype="float64")
        return pd.DataFrame(self._contributions(self._feature_arrays(clean), len(clean), first), index=index,
                            columns=columns)

    def _contributions(self, cols: dict[str, np.ndarray], n_bars: int, first: int) -> np.ndarray:
        """pred_contrib for rows ``first:`` (NaN in the warm-up), from the features of all the bars."""
        if first >= n_bars:
            return np.zeros((0, len(self.feature_names_) + 1))
        # The booster on the float64 matrix, as in _predict: the same values as
        # predict_proba(X, pred_contrib=True) on a DataFrame, without the DataFrame round trip.
        matrix = self._feature_matrix(cols, first)
        contrib = np.asarray(self.classifier_.booster_.predict(matrix, pred_contrib=True,
                                                               num_threads=_PREDICT_THREADS), dtype="float64")
        contrib[:max(min(self.warmup_bars, n_bars) - first, 0)] = np.nan  # on the array: cheaper than iloc
        return contrib
