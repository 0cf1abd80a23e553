"""Signal confidence, calibrated out of sample.

A model's *confidence* in a signal is the probability, estimated from its own walk-forward history,
that a signal of this direction and strength pointed the right way over the model's holding horizon
``h`` (in bars). It is fitted at training time from the out-of-sample predictions only and stored
with the model together with its Brier score — never a constant, never in-sample.

Definitions (``r_h(t) = close[t+h] / close[t] - 1``):

* LONG (+1) / SHORT (-1): right when ``sign(r_h(t)) == signal(t)``. Estimated per direction in up to
  :data:`MAX_BINS` strength bins (quantiles of the observed strengths, at least :data:`MIN_PER_BIN`
  signals each), as Laplace-smoothed frequencies ``(right + 1) / (n + 2)`` — so few observations stay
  near 0.5 rather than claiming certainty — then made non-decreasing in strength with isotonic
  regression (weighted by bin size): a stronger signal is never reported as less reliable than a
  weaker one; where the data disagree the bins are pooled.
* HOLD (0): right when the market then moved less than it typically does, ``|r_h(t)| < hold_threshold``
  with ``hold_threshold`` the median ``|r_h|`` over all out-of-sample bars (so an uninformed HOLD is
  right half of the time). Laplace-smoothed frequency, no strength dependence.

``brier_score`` is the mean squared difference between these probabilities and the 0/1 outcomes over
every out-of-sample bar used, *cross-fitted*: the bars are cut into :data:`CV_BLOCKS` time blocks and
each block is scored by a calibration fitted on the other blocks (purging bars whose outcome window
touches the block), so the score never grades the calibration on the data it was fitted on.
``brier_score_reference`` is the same for a forecaster that only knows the per-direction hit rates
(no strength information; ``brier_skill`` compares the two) and ``brier_score_in_sample`` the score of
the stored calibration on its own data. With too few bars for the blocks, all are in-sample
(``brier_method`` says which).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from mltrainer._util import to_jsonable
from mltrainer.errors import InsufficientDataError, InvalidInputError

__all__ = ["Calibration", "CalibrationBin", "fit_calibration", "MIN_PER_BIN", "MAX_BINS", "CV_BLOCKS"]

MIN_PER_BIN = 30
MAX_BINS = 5
CV_BLOCKS = 5


@dataclass(frozen=True)
class CalibrationBin:
    """Signals of one direction with strength in ``[strength_min, strength_max]``."""

    strength_min: float
    strength_max: float
    n_signals: int
    n_right: int
    probability: float  # smoothed, monotone P(right)


@dataclass(frozen=True)
class Calibration:
    """P(signal right | direction, strength) from walk-forward history. See the module docstring."""

    horizon_bars: int
    n_samples: int  # LONG/SHORT bars used
    base_rate: float  # raw fraction of those that were right
    brier_score: float
    brier_score_reference: float
    long_bins: tuple[CalibrationBin, ...]
    short_bins: tuple[CalibrationBin, ...]
    n_hold_samples: int
    n_hold_right: int
    hold_probability: float
    hold_threshold: float  # fraction: |h-bar return| below this makes a HOLD right
    method: str = "binned-laplace-isotonic"
    brier_method: str = "in-sample"  # "blocked-cv-K" when brier_score* are cross-fitted
    brier_score_in_sample: float | None = None

    def confidence(self, signal: int, strength: float) -> float:
        """Probability in [0, 1] that ``signal`` (−1, 0, 1) with ``strength`` points the right way."""
        try:
            direction = int(signal)
        except (TypeError, ValueError):
            raise InvalidInputError(f"signal must be -1, 0 or 1; got {signal!r}.") from None
        if direction != signal or direction not in (-1, 0, 1):
            raise InvalidInputError(f"signal must be -1, 0 or 1; got {signal!r}.")
        if direction == 0:
            return float(self.hold_probability)
        try:
            value = float(strength)
        except (TypeError, ValueError):
            raise InvalidInputError(f"strength must be a number; got {strength!r}.") from None
        if math.isnan(value):
            raise InvalidInputError("strength is NaN; a confidence needs the signal's strength.")
        bins = self.long_bins if direction == 1 else self.short_bins
        if not bins:
            return 0.5  # never observed out of sample: no evidence either way
        for b in bins:
            if value <= b.strength_max:
                return float(b.probability)
        return float(bins[-1].probability)

    @property
    def brier_skill(self) -> float | None:
        """``1 - brier_score / brier_score_reference``: > 0 when strength adds information."""
        if not self.brier_score_reference:
            return None
        return 1.0 - self.brier_score / self.brier_score_reference

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (lists, ``None`` for NaN): equal to what the registry stores and returns."""
        return to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        try:
            values = dict(data)
            for key in ("long_bins", "short_bins"):
                values[key] = tuple(CalibrationBin(**b) for b in values.get(key) or ())
            known = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in values.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"Stored calibration is malformed ({exc}); retrain the model.") from None


def _direction_bins(strength: np.ndarray, right: np.ndarray) -> list[CalibrationBin]:
    """Strength bins of one direction with smoothed, monotone probabilities."""
    n = len(strength)
    if n == 0:
        return []
    n_bins = int(min(MAX_BINS, max(1, n // MIN_PER_BIN)))
    interior = np.unique(np.quantile(strength, np.linspace(0, 1, n_bins + 1)[1:-1]))
    index = np.searchsorted(interior, strength, side="left")  # bin k holds values <= interior[k]
    used = np.unique(index)
    index = np.searchsorted(used, index)  # renumber without empty bins
    counts = np.bincount(index, minlength=len(used)).astype(float)
    rights = np.bincount(index, weights=right.astype(float), minlength=len(used))
    smoothed = (rights + 1.0) / (counts + 2.0)
    if len(used) > 1:
        iso = IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0)
        fitted = iso.fit_transform(np.arange(len(used), dtype=float), smoothed, sample_weight=counts)
    else:
        fitted = smoothed
    bins = [
        CalibrationBin(
            strength_min=float(strength[index == k].min()),
            strength_max=float(strength[index == k].max()),
            n_signals=int(counts[k]),
            n_right=int(rights[k]),
            probability=float(fitted[k]),
        )
        for k in range(len(used))
    ]
    return bins


def fit_calibration(oos_predictions: pd.DataFrame, bars: pd.DataFrame, horizon: int,
                    n_blocks: int = CV_BLOCKS) -> Calibration:
    """Fit the confidence map from out-of-sample ``signal``/``strength`` and the bars' closes.

    ``oos_predictions`` is indexed by dates of ``bars`` (walk-forward test rows). Rows whose ``h``-bar
    outcome is not known yet (the last ``h`` bars) or whose signal is missing are skipped. The Brier
    scores are cross-fitted over ``n_blocks`` time blocks (see :func:`_cross_fitted_brier`).
    """
    if not isinstance(horizon, (int, np.integer)) or isinstance(horizon, bool) or horizon < 1:
        raise InvalidInputError(f"horizon must be a whole number of bars >= 1; got {horizon!r}.")
    missing = [c for c in ("signal", "strength") if c not in getattr(oos_predictions, "columns", ())]
    if missing:
        raise InvalidInputError(f"oos_predictions lack column(s) {', '.join(missing)}.")
    if "close" not in getattr(bars, "columns", ()):
        raise InvalidInputError("bars need a 'close' column to judge signals.")
    close = bars["close"].astype("float64")
    forward = (close.shift(-int(horizon)) / close - 1.0).reindex(oos_predictions.index)
    frame = pd.DataFrame({
        "signal": pd.to_numeric(oos_predictions["signal"], errors="coerce"),
        "strength": pd.to_numeric(oos_predictions["strength"], errors="coerce").fillna(0.0).abs(),
        "forward": forward,
    }).dropna(subset=["signal", "forward"])
    if frame.empty:
        raise InsufficientDataError(
            f"No out-of-sample signal has a known {horizon}-bar outcome; use a longer date range."
        )
    signal = np.sign(frame["signal"].to_numpy(dtype=float))
    strength = frame["strength"].to_numpy(dtype=float)
    fwd = frame["forward"].to_numpy(dtype=float)
    fitted = _fit_arrays(signal, strength, fwd, int(horizon))
    cross = _cross_fitted_brier(signal, strength, fwd, int(horizon), int(n_blocks))
    if cross is None:
        return fitted
    brier, reference = cross
    return dataclasses.replace(fitted, brier_score=brier, brier_score_reference=reference,
                               brier_method=f"blocked-cv-{int(n_blocks)}")


def _fit_arrays(signal: np.ndarray, strength: np.ndarray, fwd: np.ndarray, horizon: int) -> Calibration:
    """The calibration of these rows; its Brier scores are in-sample."""
    long_mask, short_mask, hold_mask = signal > 0, signal < 0, signal == 0
    right_dir = np.sign(fwd) == signal
    long_bins = _direction_bins(strength[long_mask], right_dir[long_mask])
    short_bins = _direction_bins(strength[short_mask], right_dir[short_mask])

    hold_threshold = float(np.median(np.abs(fwd)))
    hold_right = np.abs(fwd[hold_mask]) < hold_threshold
    n_hold, n_hold_right = int(hold_mask.sum()), int(hold_right.sum())
    n_directional = int(long_mask.sum() + short_mask.sum())
    calibration = Calibration(
        horizon_bars=horizon,
        n_samples=n_directional,
        base_rate=float(right_dir[~hold_mask].mean()) if n_directional else float("nan"),
        brier_score=float("nan"),
        brier_score_reference=float("nan"),
        long_bins=tuple(long_bins),
        short_bins=tuple(short_bins),
        n_hold_samples=n_hold,
        n_hold_right=n_hold_right,
        hold_probability=float((n_hold_right + 1.0) / (n_hold + 2.0)),
        hold_threshold=hold_threshold,
    )
    forecast, outcome, reference = _forecasts(calibration, signal, strength, fwd)
    in_sample = float(np.mean((forecast - outcome) ** 2))
    return dataclasses.replace(
        calibration, brier_score=in_sample, brier_score_in_sample=in_sample,
        brier_score_reference=float(np.mean((reference - outcome) ** 2)),
    )


def _forecasts(cal: Calibration, signal: np.ndarray, strength: np.ndarray,
               fwd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the calibrated probability, the 0/1 outcome, and the no-strength reference probability."""

    def raw_rate(right: int, n: int) -> float:
        return right / n if n else 0.5

    long_rate = raw_rate(sum(b.n_right for b in cal.long_bins), sum(b.n_signals for b in cal.long_bins))
    short_rate = raw_rate(sum(b.n_right for b in cal.short_bins), sum(b.n_signals for b in cal.short_bins))
    hold_rate = raw_rate(cal.n_hold_right, cal.n_hold_samples)
    forecast = np.full(len(signal), float(cal.hold_probability))
    for direction, bins in ((1, cal.long_bins), (-1, cal.short_bins)):
        rows = signal == direction
        forecast[rows] = _bin_probabilities(bins, strength[rows])
    outcome = np.where(signal == 0, np.abs(fwd) < cal.hold_threshold, np.sign(fwd) == signal).astype(float)
    reference = np.select([signal > 0, signal < 0], [long_rate, short_rate], default=hold_rate)
    return forecast, outcome, reference


def _bin_probabilities(bins: tuple[CalibrationBin, ...], strength: np.ndarray) -> np.ndarray:
    """:meth:`Calibration.confidence` of one direction for many strengths: the first bin whose
    ``strength_max`` reaches the strength (the last bin beyond them all); 0.5 with no bins."""
    if not bins:
        return np.full(len(strength), 0.5)
    probability = np.array([float(b.probability) for b in bins])
    # The first k with strength <= max[k] is the first k where the running maximum reaches it, and a
    # running maximum is sorted, so searchsorted finds it (also for bins not in strength order).
    reach = np.maximum.accumulate(np.array([float(b.strength_max) for b in bins]))
    index = np.searchsorted(reach, strength, side="left")
    return probability[np.minimum(index, len(bins) - 1)]


def _cross_fitted_brier(signal: np.ndarray, strength: np.ndarray, fwd: np.ndarray, horizon: int,
                        n_blocks: int) -> tuple[float, float] | None:
    """Brier scores of forecasts for each time block from a calibration fitted on the other blocks.

    Training rows whose ``h``-bar outcome window touches the test block are purged, so no price move is
    both learned from and scored. ``None`` when the rows are too few to leave a training set per block.
    """
    n = len(signal)
    if n_blocks < 2 or n < 2 * n_blocks:
        return None
    positions = np.arange(n)
    squared, squared_reference = np.empty(n), np.empty(n)
    for block in np.array_split(positions, n_blocks):
        first, last = int(block[0]), int(block[-1])
        train = (positions < first - horizon) | (positions > last + horizon)
        if not train.any():
            return None
        cal = _fit_arrays(signal[train], strength[train], fwd[train], horizon)
        forecast, outcome, reference = _forecasts(cal, signal[block], strength[block], fwd[block])
        squared[block] = (forecast - outcome) ** 2
        squared_reference[block] = (reference - outcome) ** 2
    return float(squared.mean()), float(squared_reference.mean())
