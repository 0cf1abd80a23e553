"""Performance metrics of a backtest, and the same period's buy-and-hold figures for comparison.

Conventions (what the UI, API and CLI show):

* Returns are fractions per bar (0.01 = 1%); annualised figures use ``periods_per_year`` bars a year.
* ``sharpe`` / ``sortino`` / ``annual_volatility`` are annualised with ``sqrt(periods_per_year)``;
  ``risk_free`` is an *annual* rate, de-compounded to a per-bar rate ``(1 + rf) ** (1 / ppy) - 1``.
* ``max_drawdown`` is a negative fraction (-0.25 = the equity fell 25% below its running peak);
  the starting equity of 1.0 counts as a peak, so a loss on the first bar is a drawdown.
* A figure that has no meaningful value is NaN (``None`` in JSON), never ±inf and never an
  exception: no returns, zero volatility (Sharpe, PSR), no downside (Sortino), no drawdown (Calmar),
  no trades (trade statistics), no losing trade (profit factor).
* ``psr`` / ``dsr`` are probabilities (0-1) from Bailey & López de Prado: the Probabilistic Sharpe
  Ratio (2012, "The Sharpe Ratio Efficient Frontier") that the true Sharpe exceeds 0, and the
  Deflated Sharpe Ratio (2014, "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest
  Overfitting and Non-Normality") that it exceeds the best Sharpe expected from ``n_trials``
  skill-less trials. Both use the per-bar Sharpe ratio and the sample skewness and (non-excess)
  kurtosis of the returns.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mltrainer.errors import InvalidInputError, InvalidParameterError, SignalAlignmentError

__all__ = [
    "METRIC_INFO",
    "METRIC_KEYS",
    "BUY_AND_HOLD_KEYS",
    "compute_metrics",
    "buy_and_hold_metrics",
    "drawdown_series",
    "probabilistic_sharpe_ratio",
    "expected_max_sharpe",
    "deflated_sharpe_ratio",
]

log = logging.getLogger(__name__)

NAN = float("nan")

METRIC_INFO: dict[str, dict[str, Any]] = {
    "total_return": {
        "label": "Total return",
        "unit": "fraction",
        "higher_is_better": True,
        "help": "Growth of equity over the whole period: final equity / starting equity - 1.",
    },
    "cagr": {
        "label": "CAGR",
        "unit": "fraction",
        "higher_is_better": True,
        "help": "Compound annual growth rate: the constant yearly return that gives the total return.",
    },
    "annual_volatility": {
        "label": "Annual volatility",
        "unit": "fraction",
        "higher_is_better": False,
        "help": "Standard deviation of per-bar returns, annualised with sqrt(bars per year).",
    },
    "sharpe": {
        "label": "Sharpe ratio",
        "unit": "ratio",
        "higher_is_better": True,
        "help": "Mean excess return over its standard deviation, annualised. Above 1 is good out of sample.",
    },
    "sortino": {
        "label": "Sortino ratio",
        "unit": "ratio",
        "higher_is_better": True,
        "help": "Like Sharpe, but only losing bars count as risk (downside deviation), annualised.",
    },
    "max_drawdown": {
        "label": "Max drawdown",
        "unit": "fraction",
        "higher_is_better": True,
        "help": "Worst fall of equity below its running peak (negative: -0.25 means a 25% fall).",
    },
    "calmar": {
        "label": "Calmar ratio",
        "unit": "ratio",
        "higher_is_better": True,
        "help": "CAGR divided by the size of the max drawdown: yearly growth per unit of worst pain.",
    },
    "win_rate": {
        "label": "Win rate",
        "unit": "fraction",
        "higher_is_better": True,
        "help": "Share of trades that made money (per trade, after costs).",
    },
    "profit_factor": {
        "label": "Profit factor",
        "unit": "ratio",
        "higher_is_better": True,
        "help": "Sum of winning trade returns / sum of losing trade returns; above 1 makes money. "
        "Empty when there was no losing trade.",
    },
    "avg_trade_return": {
        "label": "Average trade return",
        "unit": "fraction",
        "higher_is_better": True,
        "help": "Mean return per trade, after costs.",
    },
    "exposure": {
        "label": "Exposure",
        "unit": "fraction",
        "higher_is_better": False,
        "help": "Share of bars with a position in the market (long or short). Lower means less time at risk.",
    },
    "turnover": {
        "label": "Annual turnover",
        "unit": "ratio",
        "higher_is_better": False,
        "help": "Position traded per year, in multiples of equity (a buy and a later sell count 2). "
        "Every unit pays the trading costs.",
    },
    "n_trades": {
        "label": "Number of trades",
        "unit": "count",
        "higher_is_better": True,
        "help": "Trades taken (the last may still be open, marked at the last close). More trades give "
        "the other statistics more evidence.",
    },
    "psr": {
        "label": "Probabilistic Sharpe ratio",
        "unit": "fraction",
        "higher_is_better": True,
        "help": "Probability that the true Sharpe ratio is above 0, given the track length, skewness "
        "and fat tails (Bailey & López de Prado 2012). 0.95 or more is significant.",
    },
    "dsr": {
        "label": "Deflated Sharpe ratio",
        "unit": "fraction",
        "higher_is_better": True,
        "help": "PSR against the best Sharpe that the number of strategy variants tried would reach by "
        "luck alone (Bailey & López de Prado 2014). Equals PSR for a single trial.",
    },
}

#: Keys of :func:`compute_metrics`, in display order.
METRIC_KEYS: tuple[str, ...] = tuple(METRIC_INFO)

#: Keys of :func:`buy_and_hold_metrics`, in display order.
BUY_AND_HOLD_KEYS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "psr",
)


# -- argument checks ---------------------------------------------------------------------------------
def _is_finite_number(value: object) -> bool:
    # bool is a Real, but `periods_per_year=True` is always a mistake.
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def _check_periods_per_year(value: object) -> float:
    if not _is_finite_number(value) or value <= 0:
        raise InvalidParameterError(
            "periods_per_year must be a number > 0 (252 for daily bars, 52 weekly, 12 monthly), "
            f"got {value!r}."
        )
    return float(value)


def _check_n_trials(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidParameterError(
            f"n_trials must be a whole number >= 1 (how many strategy variants were tried), got {value!r}."
        )
    return int(value)


def _check_returns(returns: object) -> pd.Series:
    if not isinstance(returns, pd.Series):
        raise InvalidInputError(
            f"returns must be a pandas Series of per-bar fractional returns, got {type(returns).__name__}."
        )
    if not pd.api.types.is_numeric_dtype(returns.dtype) or pd.api.types.is_bool_dtype(returns.dtype):
        raise InvalidInputError(f"returns must hold numbers, got dtype {returns.dtype}.")
    values = returns.astype(np.float64)
    bad = values[~np.isfinite(values.to_numpy())]
    if len(bad):
        raise InvalidInputError(
            f"returns contain {len(bad)} missing or infinite value(s), first at {bad.index[0]!s}; "
            "pass the per-bar returns of the backtest without gaps (0.0 for flat bars)."
        )
    if (values < -1.0).any():
        raise InvalidInputError(
            "returns below -1 (a loss of more than 100% of equity) are impossible; "
            "a ruined account has a return of -1 and then 0."
        )
    return values


# -- building blocks ---------------------------------------------------------------------------------
def drawdown_series(equity: pd.Series) -> pd.Series:
    """Fraction by which equity is below its running peak at each bar (0 at a new peak, else < 0).

    ``equity / equity.cummax() - 1``, indexed like ``equity``. The peak is taken over the values given,
    so pass the starting equity as the first value if a loss on the first bar should count.
    """
    if not isinstance(equity, pd.Series):
        raise InvalidInputError(f"equity must be a pandas Series, got {type(equity).__name__}.")
    equity = equity.astype(np.float64)
    return (equity / equity.cummax() - 1.0).rename("drawdown")


def probabilistic_sharpe_ratio(
    sharpe_per_period: float,
    n_observations: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
    benchmark_sharpe_per_period: float = 0.0,
) -> float:
    """Probability that the true Sharpe ratio exceeds a benchmark (Bailey & López de Prado 2012).

    ``PSR = Phi((SR - SR*) * sqrt(n - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR**2))`` with the
    *per-period* (not annualised) Sharpe ratios ``SR`` and ``SR*``, ``n`` returns and the returns'
    skewness and non-excess kurtosis (3 for a normal distribution). NaN when undefined.
    """
    sr, sr_star = float(sharpe_per_period), float(benchmark_sharpe_per_period)
    if n_observations < 2 or not all(math.isfinite(v) for v in (sr, sr_star, skewness, kurtosis)):
        return NAN
    variance_term = 1.0 - skewness * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if variance_term <= 0:
        return NAN
    z = (sr - sr_star) * math.sqrt(n_observations - 1) / math.sqrt(variance_term)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(n_trials: int, sharpe_std: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` skill-less trials (mean Sharpe 0) whose Sharpe
    ratios have standard deviation ``sharpe_std`` (Bailey & López de Prado 2014, eq. for SR_0):

    ``sharpe_std * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))``, ``g`` = Euler-Mascheroni.

    One trial has no selection to correct for: 0. The result is in the units of ``sharpe_std``.
    """
    n_trials = _check_n_trials(n_trials)
    if n_trials == 1:
        return 0.0
    g = np.euler_gamma
    z = (1 - g) * stats.norm.ppf(1 - 1 / n_trials) + g * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    return float(sharpe_std * z)


def deflated_sharpe_ratio(
    sharpe_per_period: float,
    n_observations: int,
    n_trials: int,
    trials_sharpe_std_per_period: float,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """Deflated Sharpe Ratio (Bailey & López de Prado 2014): the PSR against the expected maximum
    Sharpe ratio of ``n_trials`` skill-less trials (:func:`expected_max_sharpe`). All Sharpe
    figures per period. With one trial it equals the PSR against 0.
    """
    sr0 = expected_max_sharpe(n_trials, trials_sharpe_std_per_period)
    return probabilistic_sharpe_ratio(sharpe_per_period, n_observations, skewness, kurtosis, sr0)


def _moments(values: np.ndarray) -> tuple[float, float]:
    """Sample skewness and non-excess kurtosis (plain moment estimators, as in the PSR paper)."""
    if len(values) < 2 or np.ptp(values) == 0:
        return NAN, NAN
    return float(stats.skew(values, bias=True)), float(stats.kurtosis(values, fisher=False, bias=True))


def _annualised_growth(growth: float, n_periods: int, ppy: float) -> float:
    """``growth ** (ppy / n_periods) - 1``; NaN where a few bars extrapolate past float range
    (a 100x week compounded over a year is no meaningful CAGR)."""
    try:
        return growth ** (ppy / n_periods) - 1.0
    except OverflowError:
        return NAN


def _return_metrics(returns: np.ndarray, ppy: float, rf_per_period: float) -> dict[str, float]:
    """Everything that depends on the return series alone (the buy-and-hold subset, plus PSR inputs)."""
    n = len(returns)
    out = dict.fromkeys(BUY_AND_HOLD_KEYS, NAN)
    out.update(_sharpe_per_period=NAN, _skew=NAN, _kurt=NAN)
    if n == 0:
        return out
    equity = np.cumprod(1.0 + returns)
    growth = float(equity[-1])
    out["total_return"] = growth - 1.0
    out["cagr"] = -1.0 if growth <= 0 else _annualised_growth(growth, n, ppy)
    peak = np.maximum.accumulate(np.concatenate(([1.0], equity)))
    out["max_drawdown"] = float(np.min(np.concatenate(([1.0], equity)) / peak - 1.0))
    if out["max_drawdown"] < 0:
        out["calmar"] = out["cagr"] / abs(out["max_drawdown"])

    excess = returns - rf_per_period
    mean_excess = float(np.mean(excess))
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside > 0:
        out["sortino"] = mean_excess / downside * math.sqrt(ppy)
    if n >= 2:
        # Constant returns can leave a rounding-level std; they have no volatility at all.
        std = float(np.std(returns, ddof=1)) if np.ptp(returns) > 0 else 0.0
        out["annual_volatility"] = std * math.sqrt(ppy)
        if std > 0:
            sr = mean_excess / std
            skew, kurt = _moments(returns)
            out["sharpe"] = sr * math.sqrt(ppy)
            out["psr"] = probabilistic_sharpe_ratio(sr, n, skew, kurt)
            out.update(_sharpe_per_period=sr, _skew=skew, _kurt=kurt)
    return out


def _trade_metrics(trades: pd.DataFrame | None) -> dict[str, float]:
    out = {"win_rate": NAN, "profit_factor": NAN, "avg_trade_return": NAN, "n_trades": NAN}
    if trades is None:
        return out
    if not isinstance(trades, pd.DataFrame):
        raise InvalidInputError(
            f"trades must be a DataFrame with a 'return' column, got {type(trades).__name__}."
        )
    if "return" not in trades.columns:
        if len(trades) == 0:
            out["n_trades"] = 0
            return out
        raise InvalidInputError(
            "trades needs a 'return' column with each trade's fractional return (0.02 = +2%); "
            f"found columns {list(trades.columns)}."
        )
    trade_returns = pd.to_numeric(trades["return"], errors="coerce").astype(np.float64).dropna()
    trade_returns = trade_returns[np.isfinite(trade_returns)]
    out["n_trades"] = int(len(trade_returns))
    if len(trade_returns) == 0:
        return out
    gains = float(trade_returns[trade_returns > 0].sum())
    losses = float(-trade_returns[trade_returns < 0].sum())
    out["win_rate"] = float((trade_returns > 0).mean())
    out["avg_trade_return"] = float(trade_returns.mean())
    if losses > 0:
        out["profit_factor"] = gains / losses
    return out


def _position_metrics(positions: pd.Series | None, returns: pd.Series, ppy: float) -> dict[str, float]:
    out = {"exposure": NAN, "turnover": NAN}
    if positions is None:
        return out
    if not isinstance(positions, pd.Series):
        raise InvalidInputError(f"positions must be a pandas Series, got {type(positions).__name__}.")
    if not positions.index.equals(returns.index):
        raise SignalAlignmentError(
            f"positions ({len(positions)} rows) must be indexed exactly like returns ({len(returns)} rows): "
            "pass the position held during each return's bar."
        )
    values = pd.to_numeric(positions, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise InvalidInputError("positions contain missing values; use 0 for flat bars.")
    if len(values) == 0:
        return out
    out["exposure"] = float(np.mean(values != 0))
    # The book starts flat, so the first position is itself a trade.
    changes = np.abs(np.diff(values, prepend=0.0))
    out["turnover"] = float(np.mean(changes) * ppy)
    return out


# -- public ------------------------------------------------------------------------------------------
def compute_metrics(
    returns: pd.Series,
    positions: pd.Series | None = None,
    trades: pd.DataFrame | None = None,
    periods_per_year: float = 252,
    n_trials: int = 1,
    trials_sharpe_std: float | None = None,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """Metrics of a strategy's per-bar returns, positions and trades (keys: :data:`METRIC_KEYS`).

    Args:
        returns: per-bar fractional returns of the strategy (net of costs), one per bar, no NaN.
        positions: the position held during each bar (-1..+1 as a fraction of equity), indexed like
            ``returns``. Gives ``exposure`` (share of bars with a non-zero position) and ``turnover``
            (mean absolute position change per bar, the book starting flat, times
            ``periods_per_year``: the multiple of equity traded per year). NaN when omitted.
        trades: one row per trade with a ``return`` column (fractional, after costs). Gives
            ``win_rate`` (share with return > 0), ``profit_factor`` (sum of gains / sum of losses;
            NaN with no losing trade), ``avg_trade_return`` and ``n_trades`` (trades with a return).
            All NaN when omitted; ``n_trades`` is 0 and the others NaN for an empty frame.
        periods_per_year: bars per year, for annualising (252 daily).
        n_trials: how many strategy variants were tried to find this one, for ``dsr``.
        trials_sharpe_std: standard deviation across those trials of their *annualised* Sharpe ratios
            (the same units as ``sharpe``). When omitted with ``n_trials > 1`` the dispersion of
            skill-less trials of this length is used, ``1 / sqrt(n - 1)`` per bar, so ``dsr`` is the
            probability of beating the best of ``n_trials`` pure-luck Sharpe ratios.
        risk_free: annual risk-free rate as a fraction, for ``sharpe``/``sortino``/``psr``/``dsr``.

    Returns:
        A dict of float (``n_trades`` an int when trades are given); undefined figures are NaN.
    """
    values = _check_returns(returns)
    ppy = _check_periods_per_year(periods_per_year)
    n_trials = _check_n_trials(n_trials)
    if trials_sharpe_std is not None and (not _is_finite_number(trials_sharpe_std) or trials_sharpe_std < 0):
        raise InvalidParameterError(
            f"trials_sharpe_std must be a finite number >= 0 (the standard deviation of the tried "
            f"variants' annualised Sharpe ratios), got {trials_sharpe_std!r}."
        )
    if not _is_finite_number(risk_free) or risk_free <= -1:
        raise InvalidParameterError(f"risk_free must be an annual rate > -1 (0.02 = 2%), got {risk_free!r}.")
    rf_per_period = (1.0 + float(risk_free)) ** (1.0 / ppy) - 1.0

    base = _return_metrics(values.to_numpy(), ppy, rf_per_period)
    sr, skew, kurt = base.pop("_sharpe_per_period"), base.pop("_skew"), base.pop("_kurt")
    n = len(values)
    if n_trials == 1:
        dsr = base["psr"]
    else:
        std_per_period = (
            trials_sharpe_std / math.sqrt(ppy) if trials_sharpe_std is not None
            else (1.0 / math.sqrt(n - 1) if n >= 2 else NAN)
        )  # fmt: skip
        dsr = deflated_sharpe_ratio(sr, n, n_trials, std_per_period, skew, kurt) if math.isfinite(sr) else NAN

    out: dict[str, float] = {}
    out.update(base)
    out.update(_trade_metrics(trades))
    out.update(_position_metrics(positions, values, ppy))
    out["dsr"] = dsr
    return {key: out[key] for key in METRIC_KEYS}


def buy_and_hold_metrics(bars: pd.DataFrame, cost_bps: float = 0.0, periods_per_year: float = 252) -> dict:
    """The figures of simply holding the instrument over the same bars (keys: :data:`BUY_AND_HOLD_KEYS`).

    Bought at the first bar's close, held, and sold at the last bar's close: the close-to-close
    returns of bars 1..n-1. ``cost_bps`` is charged on the traded notional at the purchase and at
    the sale (equity times ``1 - cost_bps / 10_000`` on the first and on the last return's bar).
    """
    if not isinstance(bars, pd.DataFrame) or "close" not in bars.columns:
        raise InvalidInputError("bars must be a DataFrame of OHLCV bars with a 'close' column.")
    ppy = _check_periods_per_year(periods_per_year)
    if not _is_finite_number(cost_bps) or not 0 <= cost_bps < 10_000:
        raise InvalidParameterError(
            f"cost_bps must be a number of basis points >= 0 (5 = 0.05%), got {cost_bps!r}."
        )
    close = bars["close"].astype(np.float64).to_numpy()
    if len(close) and (not np.isfinite(close).all() or (close <= 0).any()):
        raise InvalidInputError("bars' close prices must be positive numbers without gaps.")
    growth = close[1:] / close[:-1]
    if len(growth):
        keep = 1.0 - float(cost_bps) / 10_000.0
        growth[0] *= keep
        growth[-1] *= keep
    metrics = _return_metrics(growth - 1.0, ppy, 0.0)
    return {key: metrics[key] for key in BUY_AND_HOLD_KEYS}
