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
every out-of-sample bar used; ``brier_score_reference`` is the same for a forecaster that only knows
the per-direction hit rates (no strength information). Both are measured on the data the calibration
was fitted on, which with at most a few bins per direction is close to an honest estimate.
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

__all__ = ["Calibration", "CalibrationBin", "fit_calibration", "MIN_PER_BIN", "MAX_BINS"]

MIN_PER_BIN = 30
MAX_BINS = 5


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


def _direction_bins(strength: np.ndarray, right: np.ndarray) -> tuple[list[CalibrationBin], np.ndarray]:
    """Bins for one direction and the fitted probability of each sample."""
    n = len(strength)
    if n == 0:
        return [], np.empty(0)
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
    return bins, fitted[index]


def fit_calibration(oos_predictions: pd.DataFrame, bars: pd.DataFrame, horizon: int) -> Calibration:
    """Fit the confidence map from out-of-sample ``signal``/``strength`` and the bars' closes.

    ``oos_predictions`` is indexed by dates of ``bars`` (walk-forward test rows). Rows whose ``h``-bar
    outcome is not known yet (the last ``h`` bars) or whose signal is missing are skipped.
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

    long_mask, short_mask, hold_mask = signal > 0, signal < 0, signal == 0
    right_dir = np.sign(fwd) == signal
    long_bins, p_long = _direction_bins(strength[long_mask], right_dir[long_mask])
    short_bins, p_short = _direction_bins(strength[short_mask], right_dir[short_mask])

    hold_threshold = float(np.median(np.abs(fwd)))
    hold_right = np.abs(fwd[hold_mask]) < hold_threshold
    n_hold, n_hold_right = int(hold_mask.sum()), int(hold_right.sum())
    hold_probability = (n_hold_right + 1.0) / (n_hold + 2.0)

    outcomes = np.concatenate([right_dir[long_mask], right_dir[short_mask], hold_right]).astype(float)
    forecasts = np.concatenate([p_long, p_short, np.full(n_hold, hold_probability)])

    def rate(mask_right: np.ndarray) -> float:
        return float(mask_right.mean()) if len(mask_right) else 0.5

    reference = np.concatenate([
        np.full(int(long_mask.sum()), rate(right_dir[long_mask])),
        np.full(int(short_mask.sum()), rate(right_dir[short_mask])),
        np.full(n_hold, rate(hold_right)),
    ])
    n_directional = int(long_mask.sum() + short_mask.sum())
    return Calibration(
        horizon_bars=int(horizon),
        n_samples=n_directional,
        base_rate=float(right_dir[~hold_mask].mean()) if n_directional else float("nan"),
        brier_score=float(np.mean((forecasts - outcomes) ** 2)),
        brier_score_reference=float(np.mean((reference - outcomes) ** 2)),
        long_bins=tuple(long_bins),
        short_bins=tuple(short_bins),
        n_hold_samples=n_hold,
        n_hold_right=n_hold_right,
        hold_probability=float(hold_probability),
        hold_threshold=hold_threshold,
    )
