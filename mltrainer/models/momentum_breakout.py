"""Momentum breakout: trade strong N-bar moves confirmed by volume, in a sane volatility band, with
the trend.

Momentum z-score: the N-bar log return divided by its expected spread, ``σ_daily · √N``, where
``σ_daily`` is the realized volatility over ``vol_window`` bars de-annualised. A breakout is
``|z| >= breakout_threshold``. Entries also need

- volume confirmation: the volume ratio (volume / its ``volume_window``-bar mean) at or above
  ``volume_ratio_q_``, the ``volume_quantile`` of the training bars' ratios;
- a volatility filter: realized volatility inside ``[vol_low_, vol_high_]``, the
  ``vol_filter_quantile`` / ``1 - vol_filter_quantile`` quantiles of the training bars;
- a trend filter: long only above the ``trend_period`` moving average, short only below.

Bars without volume (e.g. an index from a provider that reports none) cannot confirm anything: when
fewer than half the training bars have a volume ratio, ``volume_available_`` is False and the
volume confirmation is skipped rather than blocking every entry.

A position is held until the momentum z fades below ``exit_threshold`` (toward zero), the close
crosses the ATR stop fixed at entry (``atr_stop_multiple`` × ATR), or ``max_holding`` bars pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mltrainer.errors import InvalidParameterError
from mltrainer.features import _kernels
from mltrainer.features._validation import check_positive_array
from mltrainer.models.base import ParamSpec, SignalModel, hold_positions

__all__ = ["MomentumBreakout"]


class MomentumBreakout(SignalModel):
    model_type = "momentum_breakout"
    label = "Momentum breakout"
    description = (
        "Trades N-bar momentum breakouts (z-score vs a threshold) confirmed by volume, filtered by "
        "volatility and the long-term trend; exits when momentum fades, on an ATR stop or after a "
        "maximum holding period."
    )
    param_specs = (
        ParamSpec(
            "lookback_period", 20, "int", min=2, max=500,
            help="Bars over which momentum (the N-bar return) is measured.",
        ),
        ParamSpec(
            "breakout_threshold", 2.0, "float", min=0.0, max=10.0, exclusive_min=True,
            help="Momentum z-score needed to enter (|z| ≥ threshold).",
        ),
        ParamSpec(
            "exit_threshold", 0.5, "float", min=-5.0, max=10.0,
            help="Exit when the momentum z-score fades below this level (must be below "
                 "breakout_threshold).",
        ),
        ParamSpec(
            "vol_window", 20, "int", min=2, max=500,
            help="Bars of realized volatility used to scale momentum and filter entries.",
        ),
        ParamSpec(
            "volume_window", 20, "int", min=2, max=500,
            help="Bars in the average volume the volume ratio compares against.",
        ),
        ParamSpec(
            "volume_quantile", 0.5, "float", min=0.0, max=1.0, exclusive_max=True,
            help="Quantile of the training volume ratios an entry's volume ratio must reach (0 disables).",
        ),
        ParamSpec(
            "vol_filter_quantile", 0.05, "float", min=0.0, max=0.5, exclusive_max=True,
            help="Skip entries when realized volatility is below this training quantile or above 1 minus "
                 "it.",
        ),
        ParamSpec(
            "trend_period", 100, "int", min=2, max=1000,
            help="Long moving average: long only above it, short only below.",
        ),
        ParamSpec(
            "atr_period", 14, "int", min=2, max=500,
            help="Bars in the average true range used by the stop.",
        ),
        ParamSpec(
            "atr_stop_multiple", 2.0, "float", min=0.0, max=50.0, exclusive_min=True,
            help="Stop distance from the entry close in ATRs.",
        ),
        ParamSpec(
            "max_holding", 20, "int", min=1, max=1000,
            help="Close a position after this many bars.",
        ),
        ParamSpec(
            "allow_short", True, "bool",
            help="Also take short breakouts (downside momentum).",
        ),
    )
    analysis_columns = ("momentum_z", "breakout_level", "volume_ratio", "realized_vol", "atr")

    def __init__(self, lookback_period=20, breakout_threshold=2.0, exit_threshold=0.5, vol_window=20,
                 volume_window=20, volume_quantile=0.5, vol_filter_quantile=0.05, trend_period=100,
                 atr_period=14, atr_stop_multiple=2.0, max_holding=20, allow_short=True):
        self.lookback_period = lookback_period
        self.breakout_threshold = breakout_threshold
        self.exit_threshold = exit_threshold
        self.vol_window = vol_window
        self.volume_window = volume_window
        self.volume_quantile = volume_quantile
        self.vol_filter_quantile = vol_filter_quantile
        self.trend_period = trend_period
        self.atr_period = atr_period
        self.atr_stop_multiple = atr_stop_multiple
        self.max_holding = max_holding
        self.allow_short = allow_short

    def _check_param_rules(self, params):
        if params["exit_threshold"] >= params["breakout_threshold"]:
            raise InvalidParameterError(
                f"momentum_breakout exit_threshold ({params['exit_threshold']:g}) must be below "
                f"breakout_threshold ({params['breakout_threshold']:g}); lower exit_threshold."
            )

    @property
    def warmup_bars(self) -> int:
        return int(max(self.lookback_period + self.vol_window, self.trend_period, self.atr_period + 1,
                       self.volume_window))

    @property
    def holding_horizon(self) -> int:
        return int(self.max_holding)

    def _indicators(self, bars: pd.DataFrame) -> dict[str, np.ndarray]:
        """Indicator arrays (NumPy, aligned with ``bars``)."""
        close = bars["close"].to_numpy()
        check_positive_array(close, bars.index, "close")
        n = int(self.lookback_period)
        realized_vol = _kernels.realized_vol_values(close, int(self.vol_window))
        sigma_n = _kernels.horizon_sigma(realized_vol, n)
        momentum_z = _kernels.log_ratio(close, n) / sigma_n
        # Close the NEXT bar needs for z to reach the threshold: its N-bar base is close[t+1-N], already
        # known at t; the volatility estimate is held at today's.
        breakout_level = _kernels.shift(close, n - 1) * np.exp(float(self.breakout_threshold) * sigma_n)
        true_range = _kernels.true_range_values(bars["high"].to_numpy(), bars["low"].to_numpy(), close)
        return {
            "momentum_z": momentum_z,
            "breakout_level": breakout_level,
            "volume_ratio": _kernels.volume_ratio_values(bars["volume"].to_numpy(), int(self.volume_window)),
            "realized_vol": realized_vol,
            "atr": _kernels.wilder_average(true_range, int(self.atr_period)),
            "trend_ma": _kernels.rolling_mean(close, int(self.trend_period)),
        }

    def _fit(self, bars: pd.DataFrame) -> None:
        ind = pd.DataFrame(self._indicators(bars), index=bars.index).iloc[self.warmup_bars:]
        vr = ind["volume_ratio"].replace([np.inf, -np.inf], np.nan).dropna()
        rv = ind["realized_vol"].dropna()
        self.volume_available_ = bool(len(vr) >= 0.5 * len(ind))
        q = float(self.vol_filter_quantile)
        # A quantile of 0 switches the volume confirmation off.
        self.volume_ratio_q_ = (
            float(vr.quantile(float(self.volume_quantile)))
            if self.volume_quantile > 0 and self.volume_available_ else 0.0
        )
        self.vol_low_ = float(rv.quantile(q))
        self.vol_high_ = float(rv.quantile(1.0 - q))

    def _predict(self, bars: pd.DataFrame) -> pd.DataFrame:
        ind = self._indicators(bars)
        close = bars["close"].to_numpy()
        z = ind["momentum_z"]
        rv = ind["realized_vol"]
        thr = float(self.breakout_threshold)
        with np.errstate(invalid="ignore"):
            volume_ok = (ind["volume_ratio"] >= self.volume_ratio_q_) if self.volume_available_ else True
            ok = volume_ok & (rv >= self.vol_low_) & (rv <= self.vol_high_)
            above = close > ind["trend_ma"]
            below = close < ind["trend_ma"]
            long_entry = ok & above & (z >= thr)
            short_entry = ok & below & (z <= -thr) & bool(self.allow_short)
            exit_long = ~(z >= float(self.exit_threshold))  # NaN z counts as faded
            exit_short = ~(z <= -float(self.exit_threshold))
        entry = long_entry.astype(np.int64) - short_entry.astype(np.int64)
        position, _ = hold_positions(
            entry, exit_long, exit_short, int(self.max_holding),
            close=close, stop_distance=float(self.atr_stop_multiple) * ind["atr"],
        )
        strength = np.clip(np.abs(np.nan_to_num(z)) / (2.0 * thr), 0.0, 1.0)
        columns = {"signal": position, "strength": strength}
        columns.update((col, ind[col]) for col in self.analysis_columns)
        return pd.DataFrame(columns, index=bars.index)
