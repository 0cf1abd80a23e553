"""Volatility regime: switch strategy by the volatility regime, with a GARCH(1,1) volatility forecast.

Regimes come from annualised realized volatility (``vol_window`` bars) against two thresholds learned
in fit, ``vol_thresholds_`` = the ``low_quantile`` / ``high_quantile`` quantiles of the training bars'
realized volatility. Switches are smoothed with past bars only: the volatility must cross a threshold
by the ``hysteresis`` fraction (above ``thr·(1+h)`` to move up, below ``thr·(1-h)`` to move down), and
a regime must have lasted ``min_regime_duration`` bars before it can change again.

``regime`` is ``"low"``, ``"medium"``, ``"high"`` (``"warmup"`` before realized volatility exists);
``regime_code`` is 0, 1, 2 (-1 in warm-up).

Strategy by regime, as a score compared with an entry threshold:

- low volatility, trend following: score = momentum z (N-bar log return / (σ_daily·√N));
- high volatility, mean reversion: score = -z-score of the close against its ``lookback_period`` mean,
  and the entry threshold is stricter: ``entry_z × high_vol_entry_multiplier``;
- medium: the average of the two scores.

Long when score >= threshold, short when score <= -threshold; a position exits when its score falls
to ``exit_score`` (toward zero), or after ``max_holding`` bars.

GARCH(1,1) with a constant mean is fitted in fit on the training bars' daily log returns (in percent,
the scale ``arch`` optimises best on); ``garch_params_`` holds ``mu``, ``omega``, ``alpha``, ``beta`` in
those units. ``vol_forecast`` at bar t runs the recursion with the fitted parameters forward over the
bars, ``σ²[t+1] = ω + α·ε[t]² + β·σ²[t]`` (ε = return - μ), so it uses returns up to t only, then
averages the closed-form k-step forecasts ``σ²[t+k] = ω + (α+β)·σ²[t+k-1]`` for k = 1..horizon; it is
reported as annualised volatility (fraction, √252 scaling) of the next ``forecast_horizon`` bars.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from mltrainer.errors import InvalidParameterError
from mltrainer.features import _kernels
from mltrainer.features._validation import check_positive_array
from mltrainer.models.base import ParamSpec, SignalModel, hold_positions

__all__ = ["VolatilityRegime", "REGIME_NAMES"]

log = logging.getLogger(__name__)

REGIME_NAMES = ("low", "medium", "high")
_WARMUP_NAME = "warmup"


class VolatilityRegime(SignalModel):
    model_type = "volatility_regime"
    label = "Volatility regime"
    description = (
        "Classifies low/medium/high volatility regimes (thresholds learned in training, smoothed switches) "
        "and trades trend following in low volatility, mean reversion in high volatility and a blend in "
        "between; includes a GARCH(1,1) volatility forecast."
    )
    param_specs = (
        ParamSpec(
            "vol_window", 20, "int", min=2, max=500,
            help="Bars of realized volatility that define the regime.",
        ),
        ParamSpec(
            "low_quantile", 0.33, "float", min=0.0, max=1.0, exclusive_min=True, exclusive_max=True,
            help="Training quantile of realized volatility below which the regime is low.",
        ),
        ParamSpec(
            "high_quantile", 0.67, "float", min=0.0, max=1.0, exclusive_min=True, exclusive_max=True,
            help="Training quantile of realized volatility above which the regime is high (must be above "
                 "low_quantile).",
        ),
        ParamSpec(
            "hysteresis", 0.1, "float", min=0.0, max=0.9,
            help="Fraction by which volatility must cross a threshold to switch regime.",
        ),
        ParamSpec(
            "min_regime_duration", 5, "int", min=1, max=500,
            help="Bars a regime must last before it can switch again.",
        ),
        ParamSpec(
            "lookback_period", 20, "int", min=2, max=500,
            help="Bars in the momentum and mean-reversion z-scores.",
        ),
        ParamSpec(
            "entry_z", 1.5, "float", min=0.0, max=10.0, exclusive_min=True,
            help="Score needed to enter (|score| ≥ entry_z).",
        ),
        ParamSpec(
            "high_vol_entry_multiplier", 1.5, "float", min=1.0, max=10.0,
            help="Multiplies entry_z in the high-volatility regime (stricter entries).",
        ),
        ParamSpec(
            "exit_score", 0.25, "float", min=-5.0, max=10.0,
            help="Exit when the position's score falls to this level (must be below entry_z).",
        ),
        ParamSpec(
            "max_holding", 20, "int", min=1, max=1000,
            help="Close a position after this many bars.",
        ),
        ParamSpec(
            "forecast_horizon", 5, "int", min=1, max=250,
            help="Bars ahead the vol_forecast column averages over.",
        ),
        ParamSpec(
            "allow_short", True, "bool",
            help="Also take short positions.",
        ),
    )
    analysis_columns = ("regime", "realized_vol", "vol_forecast", "regime_score")
    min_training_rows = 250

    def __init__(self, vol_window=20, low_quantile=0.33, high_quantile=0.67, hysteresis=0.1,
                 min_regime_duration=5, lookback_period=20, entry_z=1.5, high_vol_entry_multiplier=1.5,
                 exit_score=0.25, max_holding=20, forecast_horizon=5, allow_short=True):
        self.vol_window = vol_window
        self.low_quantile = low_quantile
        self.high_quantile = high_quantile
        self.hysteresis = hysteresis
        self.min_regime_duration = min_regime_duration
        self.lookback_period = lookback_period
        self.entry_z = entry_z
        self.high_vol_entry_multiplier = high_vol_entry_multiplier
        self.exit_score = exit_score
        self.max_holding = max_holding
        self.forecast_horizon = forecast_horizon
        self.allow_short = allow_short

    def _check_param_rules(self, params):
        if params["high_quantile"] <= params["low_quantile"]:
            raise InvalidParameterError(
                f"volatility_regime high_quantile ({params['high_quantile']:g}) must be above low_quantile "
                f"({params['low_quantile']:g})."
            )
        if params["exit_score"] >= params["entry_z"]:
            raise InvalidParameterError(
                f"volatility_regime exit_score ({params['exit_score']:g}) must be below entry_z "
                f"({params['entry_z']:g}); lower exit_score."
            )

    @property
    def warmup_bars(self) -> int:
        return int(max(self.vol_window, self.lookback_period) + self.lookback_period)

    @property
    def holding_horizon(self) -> int:
        return int(self.max_holding)

    # -- volatility ------------------------------------------------------------------------------
    @staticmethod
    def _pct_log_returns(close: pd.Series) -> np.ndarray:
        values = close.to_numpy()
        check_positive_array(values, close.index, "close")
        return 100.0 * _kernels.log_ratio(values, 1)

    def _fit_garch(self, close: pd.Series) -> None:
        from arch import arch_model

        r = self._pct_log_returns(close)
        r = r[np.isfinite(r)]
        result = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
            disp="off", show_warning=False
        )
        params = result.params
        self.garch_params_ = {
            "mu": float(params["mu"]),
            "omega": float(params["omega"]),
            "alpha": float(params["alpha[1]"]),
            "beta": float(params["beta[1]"]),
        }
        persistence = self.garch_params_["alpha"] + self.garch_params_["beta"]
        sample_var = float(np.var(r - self.garch_params_["mu"]))
        # The recursion starts from the long-run variance implied by the fitted parameters; a
        # non-stationary fit has none, so the training sample variance stands in.
        self.garch_initial_variance_ = (
            self.garch_params_["omega"] / (1.0 - persistence) if persistence < 1.0 else sample_var
        )

    def _next_variance(self, close: pd.Series) -> np.ndarray:
        """σ²[t+1 | t] (percent² units) for every bar t, from the fitted GARCH parameters."""
        p = self.garch_params_
        eps2 = (self._pct_log_returns(close) - p["mu"]) ** 2
        eps2 = np.where(np.isfinite(eps2), eps2, self.garch_initial_variance_)
        drive = p["omega"] + p["alpha"] * eps2
        if len(drive) == 0:
            return drive
        # y[t] = drive[t] + β·y[t-1], with y[-1] the initial variance: a linear recursive filter.
        zi = np.array([p["beta"] * self.garch_initial_variance_])
        out, _ = lfilter([1.0], [1.0, -p["beta"]], drive, zi=zi)
        return out

    def forecast_volatility(self, bars: pd.DataFrame, horizon: int = 5) -> pd.Series:
        """Annualised GARCH(1,1) volatility forecast (fraction, 0.2 = 20%/year) made at each bar's close
        for the next ``horizon`` bars: the square root of the mean forecast variance over bars t+1..t+h,
        times √252. Uses returns up to each bar only; the last value is today's forecast."""
        self._check_fitted()
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise InvalidParameterError(f"forecast horizon must be a whole number >= 1 bar; got {horizon!r}.")
        clean = self._check_bars(bars)
        annual = self._forecast(clean["close"], int(horizon))
        return pd.Series(annual, index=bars.index, name="vol_forecast")

    def _forecast(self, close: pd.Series, horizon: int) -> np.ndarray:
        p = self.garch_params_
        persistence = p["alpha"] + p["beta"]
        step = self._next_variance(close)
        total = np.zeros_like(step)
        for _ in range(int(horizon)):
            total += step
            step = p["omega"] + persistence * step
        return np.sqrt(total / int(horizon) * _kernels.PERIODS_PER_YEAR) / 100.0

    # -- regimes ---------------------------------------------------------------------------------
    def _fit(self, bars: pd.DataFrame) -> None:
        close = bars["close"]
        check_positive_array(close.to_numpy(), close.index, "close")
        rv = pd.Series(_kernels.realized_vol_values(close.to_numpy(), int(self.vol_window))).dropna()
        self.vol_thresholds_ = (float(rv.quantile(float(self.low_quantile))),
                                float(rv.quantile(float(self.high_quantile))))
        self._fit_garch(bars["close"])

    def _regimes(self, realized_vol: np.ndarray) -> np.ndarray:
        """Smoothed regime codes; each bar's code depends on that bar's and earlier volatility only.

        The first finite volatility sets the regime; afterwards a switch is possible once the regime has
        lasted ``min_regime_duration`` bars, at the first bar whose volatility crosses a threshold
        (with hysteresis) away from the current regime. Bars without a volatility keep the regime.
        The loop runs once per switch, jumping over the bars in between with NumPy.
        """
        low_thr, high_thr = self.vol_thresholds_
        h = float(self.hysteresis)
        min_dur = int(self.min_regime_duration)
        vol = np.asarray(realized_vol, dtype="float64")
        n = len(vol)
        codes = np.full(n, -1, dtype=np.int64)
        finite = np.isfinite(vol)
        if not finite.any():
            return codes
        up_high, up_low = high_thr * (1 + h), low_thr * (1 + h)
        down_low, down_high = low_thr * (1 - h), high_thr * (1 - h)
        with np.errstate(invalid="ignore"):
            above_up_high = finite & (vol > up_high)
            above_up_low = finite & (vol > up_low)
            below_down_low = finite & (vol < down_low)
            below_down_high = finite & (vol < down_high)
        # Bars at which each regime would be left (NaN compares False, so those bars never switch).
        leaves = (above_up_low, above_up_high | below_down_low, below_down_high)

        def moved_to(regime: int, t: int) -> int:
            if regime == 0:
                return 2 if above_up_high[t] else 1
            if regime == 2:
                return 0 if below_down_low[t] else 1
            return 2 if above_up_high[t] else 0

        start = int(np.argmax(finite))
        first = vol[start]
        regime = 0 if first < low_thr else (2 if first > high_thr else 1)
        while True:
            scan_from = start + min_dur
            candidates = leaves[regime][scan_from:]
            if scan_from >= n or not candidates.any():
                codes[start:] = regime
                return codes
            switch = scan_from + int(np.argmax(candidates))
            codes[start:switch] = regime
            regime = moved_to(regime, switch)
            start = switch

    def _predict(self, bars: pd.DataFrame) -> pd.DataFrame:
        close_series = bars["close"]
        close = close_series.to_numpy()
        check_positive_array(close, bars.index, "close")
        n = int(self.lookback_period)
        rv = _kernels.realized_vol_values(close, int(self.vol_window))
        sigma_n = _kernels.horizon_sigma(rv, n)
        trend = _kernels.log_ratio(close, n) / sigma_n
        reversion = -_kernels.zscore_values(close, _kernels.rolling_mean(close, n),
                                            _kernels.rolling_std(close, n, 0))
        codes = self._regimes(rv)
        score = np.select([codes == 0, codes == 1, codes == 2], [trend, 0.5 * (trend + reversion), reversion],
                          default=np.nan)
        threshold = np.where(codes == 2, float(self.entry_z) * float(self.high_vol_entry_multiplier),
                             float(self.entry_z))
        with np.errstate(invalid="ignore"):
            long_entry = score >= threshold
            short_entry = (score <= -threshold) & bool(self.allow_short)
            exit_long = ~(score > float(self.exit_score))  # NaN score exits
            exit_short = ~(score < -float(self.exit_score))
        entry = long_entry.astype(np.int64) - short_entry.astype(np.int64)
        position, _ = hold_positions(entry, exit_long, exit_short, int(self.max_holding))
        strength = np.clip(np.abs(np.nan_to_num(score)) / (2.0 * threshold), 0.0, 1.0)
        names = np.array((_WARMUP_NAME,) + REGIME_NAMES, dtype=object)
        return pd.DataFrame({
            "signal": position,
            "strength": strength,
            "regime": pd.array(names[codes + 1], dtype="str"),
            "regime_code": codes,
            "realized_vol": rv,
            "vol_forecast": self._forecast(close_series, int(self.forecast_horizon)),
            "regime_score": score,
        }, index=bars.index)
