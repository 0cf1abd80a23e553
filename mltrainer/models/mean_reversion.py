"""Mean reversion: fade stretched prices back toward their moving average.

The z-score is the close's distance from its ``lookback_period`` moving average in (population)
standard deviations of the same window — the Bollinger middle and width — so ``zscore``,
``percent_b`` and ``exit_level`` describe the same bands. A long entry needs all of

- ``-stop_z < zscore <= -entry_z`` (a bar already stretched to the stop is not entered: the stop
  would close that trade on the next bar, paying costs for nothing);
- Bollinger confirmation: ``percent_b <= 0`` (close at or below the lower ``bb_num_std`` band);
- a volume spike: volume ratio >= ``volume_spike`` (skipped when the training bars have no volume:
  ``volume_available_`` is False when fewer than half of them have a volume ratio);
- RSI oversold: ``rsi <= rsi_oversold``;

and a short the mirror image (``rsi >= rsi_overbought``). A position exits when price is back near
the mean (``|z| <= exit_z``), on the stop (the stretch grows to ``stop_z``), or after ``max_holding``
bars.

``reversion_probability`` is learned in fit: for every training bar it checks
whether z came back inside ``exit_z`` within ``max_holding`` bars, and stores the Laplace-smoothed
frequency per ``|z|`` bucket in ``reversion_table_`` (bars whose horizon runs past the training end
are left out, since their outcome is unknown).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mltrainer.errors import InvalidParameterError
from mltrainer.features import _kernels
from mltrainer.models.base import ParamSpec, SignalModel, hold_positions

__all__ = ["MeanReversion"]

# |z| bucket edges for the reversion table; the last bucket is open-ended.
_Z_EDGES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, np.inf)


class MeanReversion(SignalModel):
    model_type = "mean_reversion"
    label = "Mean reversion"
    description = (
        "Fades stretched prices: enters when the z-score is beyond entry_z with Bollinger, volume-spike "
        "and RSI confirmation; exits back near the mean, on a z-score stop or after a maximum holding period."
    )
    param_specs = (
        ParamSpec(
            "lookback_period", 20, "int", min=2, max=500,
            help="Bars in the moving average and standard deviation of the z-score.",
        ),
        ParamSpec(
            "entry_z", 2.0, "float", min=0.0, max=10.0, exclusive_min=True,
            help="Enter when the close is at least this many standard deviations from the mean.",
        ),
        ParamSpec(
            "exit_z", 0.5, "float", min=0.0, max=10.0,
            help="Exit once |z| is back at or below this (must be below entry_z).",
        ),
        ParamSpec(
            "stop_z", 3.5, "float", min=0.0, max=20.0, exclusive_min=True,
            help="Stop out when |z| stretches to this (must be above entry_z).",
        ),
        ParamSpec(
            "bb_num_std", 2.0, "float", min=0.0, max=10.0, exclusive_min=True,
            help="Bollinger band width in standard deviations for the confirmation.",
        ),
        ParamSpec(
            "volume_window", 20, "int", min=1, max=500,
            help="Bars in the average volume the volume ratio compares against.",
        ),
        ParamSpec(
            "volume_spike", 1.0, "float", min=0.0, max=20.0,
            help="Minimum volume ratio (volume / prior average) to enter; 0 disables.",
        ),
        ParamSpec(
            "rsi_period", 14, "int", min=2, max=500,
            help="Bars in Wilder's RSI.",
        ),
        ParamSpec(
            "rsi_oversold", 35.0, "float", min=0.0, max=100.0, exclusive_min=True, exclusive_max=True,
            help="Long entries need RSI at or below this level.",
        ),
        ParamSpec(
            "rsi_overbought", 65.0, "float", min=0.0, max=100.0, exclusive_min=True, exclusive_max=True,
            help="Short entries need RSI at or above this level.",
        ),
        ParamSpec(
            "max_holding", 10, "int", min=1, max=1000,
            help="Close a position after this many bars; also the horizon of reversion_probability.",
        ),
        ParamSpec(
            "allow_short", True, "bool",
            help="Also fade upside stretches with short positions.",
        ),
    )
    analysis_columns = ("zscore", "rsi", "reversion_probability", "exit_level", "percent_b")

    def __init__(self, lookback_period=20, entry_z=2.0, exit_z=0.5, stop_z=3.5, bb_num_std=2.0,
                 volume_window=20, volume_spike=1.0, rsi_period=14, rsi_oversold=35.0, rsi_overbought=65.0,
                 max_holding=10, allow_short=True):
        self.lookback_period = lookback_period
        self.entry_z = entry_z
        self.exit_z = exit_z
        self.stop_z = stop_z
        self.bb_num_std = bb_num_std
        self.volume_window = volume_window
        self.volume_spike = volume_spike
        self.rsi_period = rsi_period
        self.rsi_oversold = rsi_oversold
        self.rsi_overbought = rsi_overbought
        self.max_holding = max_holding
        self.allow_short = allow_short

    def _check_param_rules(self, params):
        if params["exit_z"] >= params["entry_z"]:
            raise InvalidParameterError(
                f"mean_reversion exit_z ({params['exit_z']:g}) must be below entry_z "
                f"({params['entry_z']:g}); "
                "lower exit_z or raise entry_z."
            )
        if params["stop_z"] <= params["entry_z"]:
            raise InvalidParameterError(
                f"mean_reversion stop_z ({params['stop_z']:g}) must be above entry_z "
                f"({params['entry_z']:g}); "
                "raise stop_z."
            )
        if params["rsi_oversold"] >= params["rsi_overbought"]:
            raise InvalidParameterError(
                f"mean_reversion rsi_oversold ({params['rsi_oversold']:g}) must be below rsi_overbought "
                f"({params['rsi_overbought']:g})."
            )

    @property
    def warmup_bars(self) -> int:
        return int(max(self.lookback_period, self.volume_window + 1, self.rsi_period + 1))

    @property
    def holding_horizon(self) -> int:
        return int(self.max_holding)

    def _indicators(self, bars: pd.DataFrame) -> dict[str, np.ndarray]:
        """Indicator arrays (NumPy, aligned with ``bars``): one rolling mean/deviation pass serves the
        z-score, the exit level and %b."""
        close = bars["close"].to_numpy()
        window = int(self.lookback_period)
        middle = _kernels.rolling_mean(close, window)
        std_pop = _kernels.rolling_std(close, window, 0)
        # The unit band's width, (middle + 1·σ) - middle, not σ itself: that is what the z-score and
        # exit level have always been computed from, and it can differ from σ in the last bit.
        upper, _ = _kernels.band_values(middle, std_pop, 1.0)
        std = upper - middle
        std[~(std > 0)] = np.nan
        zscore = (close - middle) / std
        # The exit level is on the side the price stands: below the mean a long exits at mean - exit_z·σ.
        side = np.sign(zscore)
        side[side == 0.0] = 1.0
        return {
            "zscore": zscore,
            "rsi": _kernels.rsi_values(close, int(self.rsi_period)),
            "exit_level": middle + side * float(self.exit_z) * std,
            "percent_b": _kernels.percent_b_values(close, middle, std_pop, float(self.bb_num_std)),
            "volume_ratio": _kernels.volume_ratio_values(bars["volume"].to_numpy(), int(self.volume_window)),
        }

    def _fit(self, bars: pd.DataFrame) -> None:
        ind = self._indicators(bars)
        live = ind["volume_ratio"][self.warmup_bars:]
        self.volume_available_ = bool(np.isfinite(live).mean() >= 0.5) if len(live) else False
        z = ind["zscore"]
        horizon = int(self.max_holding)
        exit_z = float(self.exit_z)
        n = len(z)
        # reached[t]: some bar in t+1..t+horizon is back within exit_z on the side price came from.
        below = np.full(n, False)
        above = np.full(n, False)
        with np.errstate(invalid="ignore"):
            back_from_below = z >= -exit_z
            back_from_above = z <= exit_z
        for k in range(1, horizon + 1):
            below[: n - k] |= back_from_below[k:]
            above[: n - k] |= back_from_above[k:]
        known = np.arange(n) < n - horizon
        absz = np.abs(z)
        reached = np.where(z < 0, below, above)
        rows = []
        for lo, hi in zip(_Z_EDGES[:-1], _Z_EDGES[1:]):
            mask = known & (absz >= lo) & (absz < hi)
            entries = int(mask.sum())
            hits = int(reached[mask].sum())
            rows.append({"abs_z_from": lo, "abs_z_to": hi, "entries": entries, "reverted": hits,
                         "probability": (hits + 1.0) / (entries + 2.0)})
        self.reversion_table_ = pd.DataFrame(rows)

    def _reversion_probability(self, zscore: np.ndarray) -> np.ndarray:
        table = self.reversion_table_
        absz = np.abs(zscore)
        idx = np.searchsorted(table["abs_z_from"].to_numpy(), absz, side="right") - 1
        probs = table["probability"].to_numpy()
        out = np.where(idx >= 0, probs[np.clip(idx, 0, len(probs) - 1)], np.nan)
        out[np.isnan(absz)] = np.nan
        return out

    def _predict(self, bars: pd.DataFrame) -> pd.DataFrame:
        ind = self._indicators(bars)
        z = ind["zscore"]
        rsi = ind["rsi"]
        pb = ind["percent_b"]
        vr = ind["volume_ratio"]
        entry_z = float(self.entry_z)
        with np.errstate(invalid="ignore"):
            volume_ok = vr >= float(self.volume_spike) if self.volume_available_ else np.ones(len(z), bool)
            long_entry = (z <= -entry_z) & (pb <= 0.0) & volume_ok & (rsi <= float(self.rsi_oversold))
            short_entry = ((z >= entry_z) & (pb >= 1.0) & volume_ok & (rsi >= float(self.rsi_overbought))
                           & bool(self.allow_short))
            exit_long = z >= -float(self.exit_z)
            exit_short = z <= float(self.exit_z)
            stop_long = z <= -float(self.stop_z)
            stop_short = z >= float(self.stop_z)
            long_entry &= ~stop_long
            short_entry &= ~stop_short
        entry = long_entry.astype(np.int64) - short_entry.astype(np.int64)
        position, _ = hold_positions(entry, exit_long, exit_short, int(self.max_holding),
                                     stop_long=stop_long, stop_short=stop_short)
        probability = self._reversion_probability(z)
        return pd.DataFrame({
            "signal": position, "strength": probability, "zscore": z, "rsi": rsi,
            "reversion_probability": probability, "exit_level": ind["exit_level"], "percent_b": pb,
        }, index=bars.index)
