"""Technical indicators as pure functions: Series in, Series out (float64, index kept).

Every function is strictly causal (the value at bar t uses data up to and including t only), documents
its warm-up (the number of leading NaNs on a NaN-free input) and rejects bad windows with
``InvalidParameterError``. Models build their features from these; nothing here fetches data.

    returns, log_returns, momentum          fractional / log changes over N bars
    sma, ema                                moving averages
    rolling_zscore                          distance from the rolling mean in population std units
    bollinger_bands, bollinger_percent_b    bands (DataFrame middle/upper/lower) and %b
    rsi, atr                                Wilder's RSI and ATR (Wilder smoothing)
    realized_volatility                     annualised std of log returns
    volume_ratio                            volume against the mean of the prior window
"""

from mltrainer.features._averages import bollinger_bands, bollinger_percent_b, ema, rolling_zscore, sma
from mltrainer.features._returns import log_returns, momentum, returns
from mltrainer.features._volatility import realized_volatility, volume_ratio
from mltrainer.features._wilder import atr, rsi

__all__ = [
    "returns",
    "log_returns",
    "sma",
    "ema",
    "rolling_zscore",
    "bollinger_bands",
    "bollinger_percent_b",
    "rsi",
    "atr",
    "realized_volatility",
    "volume_ratio",
    "momentum",
]
