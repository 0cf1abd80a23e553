"""Model-specific explanation of the latest signal (the ``analysis`` dict of a ``Prediction``).

Every model names its analysis columns (``analysis_columns`` on the model or in the predict frame's
``attrs``); the last row of those is always reported. On top of that:

- ``mean_reversion``: ``zscore``, ``rsi``, ``reversion_probability`` and ``exit_level`` (the price at
  which the position would be closed because price is back at the mean band);
- ``volatility_regime``: ``regime``, ``realized_vol`` and ``vol_forecast`` (GARCH(1,1));
- ``momentum_breakout``: ``momentum_z`` and ``breakout_level``;
- ``gradient_boosting``: ``top_contributions`` — the five features with the largest absolute
  contribution to the latest prediction, with their values.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from mltrainer._util import takes_keyword, to_jsonable

__all__ = ["explain_latest", "TOP_CONTRIBUTIONS", "KEY_FIELDS", "CONTRIBUTION_WINDOW_BARS",
           "CONTRIBUTION_PREFIX"]

log = logging.getLogger(__name__)

#: How many feature contributions a gradient-boosting prediction reports.
TOP_CONTRIBUTIONS = 5

#: Fewest trailing bars used to explain the latest gradient-boosting prediction (at least 5x the
#: model's warm-up is used). LightGBM's ``pred_contrib`` costs ~0.4 ms per row, yet only the last row
#: is reported. The features are rolling windows (exact once the window is covered) plus Wilder-smoothed
#: RSI/ATR, whose start-up influence decays like (13/14)^n (~2e-8 after 240 bars); contributions are
#: piecewise constant between tree split thresholds, so they equal the full-history values unless a
#: feature sits within that distance of a threshold. A test checks equality on real bars.
CONTRIBUTION_WINDOW_BARS = 300

#: Columns of a ``predict_explained`` frame holding a feature's contribution (``contribution:rsi``).
CONTRIBUTION_PREFIX = "contribution:"

#: The fields each model type is expected to explain; reported as ``None`` if a model lacks one.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "mean_reversion": ("zscore", "rsi", "reversion_probability", "exit_level"),
    "volatility_regime": ("regime", "realized_vol", "vol_forecast"),
    "momentum_breakout": ("momentum_z", "breakout_level"),
    "gradient_boosting": (),
}

# Alternative column spellings a model may use for the same quantity.
_ALIASES = {
    "zscore": ("zscore", "z_score", "z"),
    "momentum_z": ("momentum_z", "momentum_zscore", "momentum_z_score"),
}


def _scalar(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    return to_jsonable(value)


def _last_row(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, Any]:
    present = set(frame.columns.tolist())  # a plain set: lookups in an Arrow-backed Index cost more
    return {c: _scalar(frame[c].iat[-1]) for c in columns if c in present}


def _top_contributions(model: Any, bars: pd.DataFrame, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Top features by |contribution| (log-odds units) to the latest prediction, with the feature's value
    where the predict frame carries it."""
    labels = frame.columns.tolist()
    given = [i for i, c in enumerate(labels) if isinstance(c, str) and c.startswith(CONTRIBUTION_PREFIX)]
    if given:  # from predict_explained: the full history's features, computed once with the prediction
        names = [labels[i][len(CONTRIBUTION_PREFIX):] for i in given]
        return _ranked(names, frame.iloc[-1:, given].to_numpy(dtype="float64")[0], frame)
    window = max(CONTRIBUTION_WINDOW_BARS, 5 * int(getattr(model, "warmup_bars", 0) or 0))
    if takes_keyword(type(model), "feature_contributions", "last_n"):
        # Features still come from the whole window; only the reported row is explained (~1 ms
        # instead of ~70 ms for 300 rows of pred_contrib).
        contributions = model.feature_contributions(bars.iloc[-window:], last_n=1)
    else:
        contributions = model.feature_contributions(bars.iloc[-window:])
    latest = contributions.iloc[-1] if isinstance(contributions, pd.DataFrame) else pd.Series(contributions)
    values = pd.to_numeric(latest, errors="coerce").to_numpy(dtype="float64")
    return _ranked([str(c) for c in latest.index], values, frame)


def _ranked(names: list[str], values: np.ndarray, frame: pd.DataFrame) -> list[dict[str, Any]]:
    # NumPy rather than a pandas sort (a third of the explanation's cost): the largest |contribution|
    # first, ties in column order, NaN and the bias term left out.
    keep = np.flatnonzero(~np.isnan(values) & np.array([n.lower() not in {"bias", "expected_value"}
                                                        for n in names], dtype=bool))
    order = keep[np.argsort(-np.abs(values[keep]), kind="stable")][:TOP_CONTRIBUTIONS]
    rows = []
    for i in order:
        name = names[i]
        row: dict[str, Any] = {"feature": name, "contribution": float(values[i])}
        if name in frame.columns:
            row["value"] = _scalar(frame[name].iloc[-1])
        rows.append(row)
    return rows


def explain_latest(model: Any, model_type: str, bars: pd.DataFrame, frame: pd.DataFrame) -> dict[str, Any]:
    """The ``analysis`` dict for the last row of ``frame`` (the model's ``predict(bars)`` output)."""
    columns = tuple(frame.attrs.get("analysis_columns") or getattr(model, "analysis_columns", None)
                    or [c for c in frame.columns if c not in ("signal", "strength")])
    analysis = _last_row(frame, columns)
    for key in KEY_FIELDS.get(model_type, ()):
        if key in analysis:
            continue
        for alias in _ALIASES.get(key, (key,)):
            if alias in frame.columns:
                analysis[key] = _scalar(frame[alias].iloc[-1])
                break
        else:
            analysis[key] = None
    if model_type == "gradient_boosting" and callable(getattr(model, "feature_contributions", None)):
        analysis["top_contributions"] = _top_contributions(model, bars, frame)
        analysis["contribution_units"] = "log-odds of P(up)"
    horizon = frame.attrs.get("holding_horizon", getattr(model, "holding_horizon", None))
    if horizon is not None:
        analysis.setdefault("holding_horizon_bars", int(horizon))
    return analysis
