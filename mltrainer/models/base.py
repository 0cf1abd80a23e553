"""The base class every trading model shares, its parameter specs and the forward position machine.

A model is a scikit-learn estimator over bars:

- ``__init__`` only stores its keyword parameters (so ``get_params``/``clone`` work);
- ``fit(bars)`` validates parameters and bars, learns state (attributes ending in ``_``) from the
  given bars only, and returns ``self``;
- ``predict(bars)`` returns a DataFrame indexed exactly like ``bars`` with ``signal`` (int64 in
  {-1, 0, 1}: the position to hold after that bar's close; 0 during warm-up), ``strength`` (0–1) and
  the model's analysis columns. The value at bar t depends only on bars up to t.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from mltrainer.data.validation import BAR_COLUMNS
from mltrainer.errors import (
    InsufficientDataError,
    InvalidInputError,
    InvalidParameterError,
    NotFittedError,
)

__all__ = ["ParamSpec", "SignalModel", "BAR_COLUMNS", "hold_positions", "EXIT_NONE", "EXIT_SIGNAL",
           "EXIT_STOP", "EXIT_MAX_HOLDING"]

log = logging.getLogger(__name__)


EXIT_NONE = 0
EXIT_SIGNAL = 1
EXIT_STOP = 2
EXIT_MAX_HOLDING = 3


@dataclass(frozen=True)
class ParamSpec:
    """One model parameter as the dashboard form, the API and the CLI see it.

    ``min``/``max`` are inclusive unless ``exclusive_min``/``exclusive_max`` is set (e.g. a threshold
    that must be strictly positive has ``min=0.0, exclusive_min=True``).
    """

    name: str
    default: Any
    type: str  # "int" | "float" | "bool" | "str" | "choice"
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False

    def describe(self) -> dict[str, Any]:
        default = self.default
        if isinstance(default, tuple):
            default = ",".join(default)
        return {
            "name": self.name,
            "default": default,
            "type": self.type,
            "help": self.help,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices is not None else None,
            "exclusive_min": self.exclusive_min,
            "exclusive_max": self.exclusive_max,
        }

    def bounds_text(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.exclusive_min else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"{'<' if self.exclusive_max else '<='} {self.max:g}")
        return " and ".join(parts)

    def validate(self, value: Any, model_type: str) -> Any:
        """Check one value against the spec; returns it (ints/floats normalised)."""
        where = f"{model_type} parameter {self.name}"
        if self.type == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidParameterError(f"{where} must be true or false, got {value!r}.")
            return bool(value)
        if self.type == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                if isinstance(value, (float, np.floating)) and float(value).is_integer():
                    value = int(value)
                else:
                    raise InvalidParameterError(f"{where} must be a whole number, got {value!r}.")
            value = int(value)
        elif self.type == "float":
            numeric = isinstance(value, (int, float, np.integer, np.floating))
            if isinstance(value, (bool, np.bool_)) or not numeric:
                raise InvalidParameterError(f"{where} must be a number, got {value!r}.")
            value = float(value)
            if not math.isfinite(value):
                raise InvalidParameterError(f"{where} must be a finite number, got {value!r}.")
        elif self.type == "choice":
            if value not in (self.choices or ()):
                raise InvalidParameterError(
                    f"{where} must be one of {', '.join(self.choices or ())}; got {value!r}."
                )
            return value
        else:
            return value
        low_bad = self.min is not None and (value <= self.min if self.exclusive_min else value < self.min)
        high_bad = self.max is not None and (value >= self.max if self.exclusive_max else value > self.max)
        if low_bad or high_bad:
            raise InvalidParameterError(f"{where} must be {self.bounds_text()}; got {value!r}.")
        return value


class SignalModel(BaseEstimator):
    """Base of the trading models. Subclasses set the class attributes and implement the hooks.

    Subclass hooks: ``_check_param_rules(params)`` for cross-parameter rules, ``min_training_rows``,
    ``_fit(bars)`` to learn state, ``_predict(bars) -> DataFrame`` with ``signal``/``strength`` and the
    analysis columns (before warm-up masking), plus the ``warmup_bars``/``holding_horizon`` properties.
    """

    model_type: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    param_specs: ClassVar[tuple[ParamSpec, ...]] = ()
    analysis_columns: ClassVar[tuple[str, ...]] = ()
    # Rows with usable features needed to learn thresholds, beyond the warm-up.
    min_training_rows: ClassVar[int] = 100

    # -- parameters ------------------------------------------------------------------------------
    @classmethod
    def param_spec(cls, name: str) -> ParamSpec:
        for spec in cls.param_specs:
            if spec.name == name:
                return spec
        raise InvalidParameterError(
            f"Unknown parameter {name!r} for model type {cls.model_type!r}; valid parameters: "
            f"{', '.join(s.name for s in cls.param_specs)}."
        )

    def _checked_params(self) -> dict[str, Any]:
        params = {
            spec.name: spec.validate(getattr(self, spec.name), self.model_type) for spec in self.param_specs
        }
        self._check_param_rules(params)
        return params

    def _check_param_rules(self, params: dict[str, Any]) -> None:
        """Cross-parameter rules (e.g. exit below entry). Raise InvalidParameterError naming the fix."""

    # -- bars ------------------------------------------------------------------------------------
    def _check_bars(self, bars: Any, *, min_rows: int = 0) -> pd.DataFrame:
        if not isinstance(bars, pd.DataFrame):
            raise InvalidInputError(
                f"bars must be a pandas DataFrame with columns {', '.join(BAR_COLUMNS)}; "
                f"got {type(bars).__name__}."
            )
        missing = [c for c in BAR_COLUMNS if c not in bars.columns]
        if missing:
            raise InvalidInputError(
                f"bars are missing column(s) {', '.join(missing)}; provide {', '.join(BAR_COLUMNS)} "
                "(e.g. from mltrainer.data.load_bars)."
            )
        index = bars.index
        if not isinstance(index, pd.DatetimeIndex):
            raise InvalidInputError("bars must be indexed by a DatetimeIndex of trading dates.")
        if index.tz is not None:
            raise InvalidInputError("bars must have a tz-naive date index; convert once at the data source.")
        # Strictly increasing int64 stamps mean ascending and unique in one NumPy pass (pandas'
        # is_unique builds a hash table). NaT is the smallest int64, so it can only sit first.
        stamps = index.asi8
        if len(stamps) and (stamps[0] == np.iinfo(np.int64).min or not (stamps[1:] > stamps[:-1]).all()):
            raise InvalidInputError(
                "bars must have ascending, unique dates; sort and drop duplicate dates first."
            )
        if len(bars) < min_rows:
            raise InsufficientDataError(
                f"{self.model_type} needs at least {min_rows} bars to fit with these parameters "
                f"({self.warmup_bars} warm-up bars, then training rows); got {len(bars)}. "
                "Use a longer date range or shorter lookback windows."
            )
        # Column by column without copying float64 data, into a fresh frame: the source's ``attrs``
        # (provenance) would otherwise be deep-copied by every derived Series in the indicators.
        if tuple(bars.columns) == BAR_COLUMNS and (bars.dtypes == np.float64).all():
            # The usual case (bars from the store): a view of the whole float64 block, no per-column
            # Series and no copy.
            block = bars.to_numpy(dtype=np.float64, copy=False)
            return pd.DataFrame(block, index=index, columns=list(BAR_COLUMNS), copy=False)
        columns = {}
        for name in BAR_COLUMNS:
            column = bars[name]
            columns[name] = (column.to_numpy() if column.dtype == np.float64
                             else column.astype("float64").to_numpy())
        return pd.DataFrame(columns, index=index, copy=False)

    # -- public API ------------------------------------------------------------------------------
    @property
    def warmup_bars(self) -> int:
        """Leading bars whose signal is forced to 0 because the indicators are not yet defined."""
        raise NotImplementedError

    @property
    def holding_horizon(self) -> int:
        """Bars over which a signal is judged right or wrong."""
        raise NotImplementedError

    @property
    def min_fit_bars(self) -> int:
        return self.warmup_bars + self.min_training_rows

    def fit(self, bars: pd.DataFrame, y: Any = None) -> SignalModel:
        """Validate parameters and bars, learn state from ``bars`` only, return ``self``."""
        self._checked_params()
        clean = self._check_bars(bars, min_rows=self.min_fit_bars)
        self._fit(clean)
        self.n_training_bars_ = len(clean)
        self.training_start_ = clean.index[0]
        self.training_end_ = clean.index[-1]
        log.debug("fitted %s on %d bars (%s..%s)", self.model_type, len(clean), clean.index[0],
                  clean.index[-1])
        return self

    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, attributes=["n_training_bars_"])
        except _SklearnNotFittedError:
            raise NotFittedError(
                f"This {self.model_type} model is not fitted yet: call fit(bars) before predict."
            ) from None

    def predict(self, bars: pd.DataFrame, last_n: int | None = None) -> pd.DataFrame:
        """Signals for every bar: DataFrame indexed like ``bars`` (see the module docstring).

        ``last_n`` returns only the last ``last_n`` rows, equal to ``predict(bars).iloc[-last_n:]``
        (a test checks every model type): the indicators still run over all of ``bars``, but a model
        may skip work for the other rows (serving asks for the latest row only).
        """
        self._check_fitted()
        last_n = check_last_n(last_n)
        clean = self._check_bars(bars)
        out = self._predict(clean) if last_n is None else self._predict_last(clean, min(last_n, len(clean)))
        return self._finish(out, bars)

    def _finish(self, out: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
        """The contract every prediction keeps, on the last ``len(out)`` rows of ``bars``: flat with zero
        strength in the warm-up, strength in [0, 1] and zero when flat, indexed like ``bars``."""
        offset = len(bars) - len(out)  # rows of ``bars`` before the first returned row
        warm = min(max(min(self.warmup_bars, len(bars)) - offset, 0), len(out))
        signal = out["signal"].to_numpy(dtype="int64", copy=True)
        strength = np.nan_to_num(out["strength"].to_numpy(dtype="float64", copy=True), nan=0.0)
        signal[:warm] = 0
        strength[signal == 0] = 0.0
        out["signal"] = signal
        out["strength"] = np.clip(strength, 0.0, 1.0)
        out.index = bars.index[offset:]
        return out

    def macro_inputs(self, bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The macro series values the fitted model's features take at each of ``bars``' dates, by
        series id (a DataFrame indexed like ``bars``). Training records them in the data fingerprint,
        so reproducing detects changed macro data. Models that use bars only return ``{}``."""
        return {}

    # -- hooks -----------------------------------------------------------------------------------
    def _fit(self, bars: pd.DataFrame) -> None:
        raise NotImplementedError

    def _predict(self, bars: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def _predict_last(self, bars: pd.DataFrame, n: int) -> pd.DataFrame:
        """The last ``n`` rows of ``_predict(bars)``; override when they are cheaper to compute alone
        (a rule's position depends on the whole path, so the default computes every row)."""
        return self._predict(bars).iloc[len(bars) - n:]


def check_last_n(last_n: Any) -> int | None:
    if last_n is None:
        return None
    if isinstance(last_n, bool) or not isinstance(last_n, (int, np.integer)) or last_n < 1:
        raise InvalidParameterError(
            f"last_n must be a whole number of bars >= 1 (or None for every bar); got {last_n!r}."
        )
    return int(last_n)


def hold_positions(
    entry: np.ndarray,
    exit_long: np.ndarray,
    exit_short: np.ndarray,
    max_holding: int,
    close: np.ndarray | None = None,
    stop_distance: np.ndarray | None = None,
    stop_long: np.ndarray | None = None,
    stop_short: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the entry/exit state machine forward in time; returns ``(position, exit_reason)``.

    ``entry[t]`` in {-1, 0, 1} opens a position when flat. An open position is closed at bar t when
    the model's exit condition holds (``exit_long``/``exit_short``), when a stop is hit, or when it has
    been held ``max_holding`` bars; it is flat on that bar and cannot re-open until the next bar, so a
    run of non-zero positions is never longer than ``max_holding``. Two stop styles:

    - price stop: ``close`` and ``stop_distance`` — the level is fixed at entry at
      ``close[entry] ∓ stop_distance[entry]`` and is hit when a later close crosses it (closes, not
      intraday lows, because the signal is acted on at the next bar anyway);
    - condition stop: boolean ``stop_long``/``stop_short`` arrays evaluated at each bar.

    Only values at bars <= t are read when deciding bar t, which is what keeps the signal causal. A
    plain loop over NumPy arrays (as Python lists), since the state depends on the previous bar; it
    visits only the bars where a position is open and jumps over flat stretches to the next entry.
    """
    n = len(entry)
    position = np.zeros(n, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int64)
    entry_arr = np.asarray(entry, dtype=np.int64)
    entry_l = entry_arr.tolist()
    # Flat stretches are skipped in one step: next_entry[t] is the first bar >= t with an entry.
    bar_if_entry = np.where(entry_arr != 0, np.arange(n), n)
    next_entry = np.minimum.accumulate(bar_if_entry[::-1])[::-1].tolist()
    ex_long = np.asarray(exit_long, dtype=bool).tolist()
    ex_short = np.asarray(exit_short, dtype=bool).tolist()
    closes = np.asarray(close, dtype=float).tolist() if close is not None else None
    dist = np.asarray(stop_distance, dtype=float).tolist() if stop_distance is not None else None
    st_long = np.asarray(stop_long, dtype=bool).tolist() if stop_long is not None else None
    st_short = np.asarray(stop_short, dtype=bool).tolist() if stop_short is not None else None
    t = 0
    while t < n:
        t = next_entry[t]
        if t >= n:
            break
        pos = entry_l[t]
        level = math.nan
        if closes is not None:
            d = dist[t] if dist is not None else math.nan
            # No usable stop distance at entry: do not open (the stop is part of the trade plan).
            if not math.isfinite(d):
                t += 1
                continue
            level = closes[t] - pos * d
        opened = t
        held = 0
        why = EXIT_NONE
        while True:
            t += 1
            if t >= n:
                break
            held += 1
            if closes is not None and ((pos > 0 and closes[t] <= level) or (pos < 0 and closes[t] >= level)):
                why = EXIT_STOP
            elif st_long is not None and ((pos > 0 and st_long[t]) or (pos < 0 and st_short[t])):
                why = EXIT_STOP
            elif (pos > 0 and ex_long[t]) or (pos < 0 and ex_short[t]):
                why = EXIT_SIGNAL
            elif held >= max_holding:
                why = EXIT_MAX_HOLDING
            if why != EXIT_NONE:
                break
        # Held from the entry bar up to (not including) the exit bar; flat on the exit bar, and the
        # next entry is looked for from the bar after it.
        position[opened:t] = pos
        if t < n:
            reason[t] = why
        t += 1
    return position, reason
