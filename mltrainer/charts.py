"""Plotly figures for the dashboard. Every function returns a ``go.Figure`` and never displays it.

    price_chart(bars, overlays, trades, signals, regimes, fitted_until)   candlestick + volume
    equity_chart(equity, benchmark_equity)                                strategy vs buy and hold
    drawdown_chart(equity)                                                fall below the running peak
    equity_comparison_chart(curves)                                       several models overlaid
    member_breakdown_chart(ensemble)                                      each member's signed vote
    vol_forecast_chart(frame)                                             realized vs GARCH forecast

Inputs are the result objects of the backtest/serving packages (or their pieces); nothing here
loads data or computes a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mltrainer.errors import InvalidInputError

__all__ = [
    "REGIME_COLOURS",
    "SIGNAL_COLOURS",
    "price_chart",
    "equity_chart",
    "drawdown_chart",
    "equity_comparison_chart",
    "member_breakdown_chart",
    "vol_forecast_chart",
    "signal_changes",
]

SIGNAL_COLOURS = {"BUY": "#1a7f37", "HOLD": "#6e7781", "SELL": "#cf222e"}
REGIME_COLOURS = {"low": "#2da44e", "medium": "#d4a72c", "high": "#cf222e"}
# Legend below the plot: above it, it collides with the title.
_LAYOUT = {"template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
           "legend": {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0}}
# The price chart's margins are fixed wide enough for its tick labels and axis titles instead of
# the template's automargin: automargin makes Plotly.js draw the figure, measure the labels and draw
# it again, which doubles the first paint of a ~750-bar candlestick (~120 -> ~55 ms in Chromium).
_PRICE_MARGIN = {"l": 70, "r": 10, "t": 50, "b": 40}


def _check_bars(bars: pd.DataFrame) -> None:
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in getattr(bars, "columns", [])]
    if missing or not isinstance(bars.index, pd.DatetimeIndex):
        raise InvalidInputError(
            "price_chart needs OHLCV bars indexed by date (mltrainer.data.load_bars); "
            f"missing columns: {', '.join(missing) or 'none'}."
        )


def signal_changes(signals: pd.Series) -> pd.DataFrame:
    """Bars where the target position changes: ``date, signal, label`` (the markers a chart shows).

    The first bar counts as a change only when it is not flat, so a model that starts flat shows no
    marker until it acts.
    """
    s = pd.Series(signals).dropna().astype("int64")
    previous = s.shift(1, fill_value=0)
    changed = s[s != previous]
    labels = changed.map({1: "BUY", 0: "HOLD", -1: "SELL"})
    return pd.DataFrame({"signal": changed, "label": labels}, index=changed.index)


def _regime_runs(regimes: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    """Contiguous runs of the same regime as ``(first date, last date, regime)``."""
    s = pd.Series(regimes).dropna().astype(str)
    if s.empty:
        return []
    run_id = (s != s.shift()).cumsum()
    runs = []
    for _, run in s.groupby(run_id, sort=False):
        runs.append((run.index[0], run.index[-1], str(run.iloc[0])))
    return runs


def price_chart(bars: pd.DataFrame, *, overlays: Mapping[str, pd.Series] | None = None,
                trades: pd.DataFrame | None = None, signals: pd.Series | None = None,
                regimes: pd.Series | None = None, fitted_until: Any = None, title: str = "") -> go.Figure:
    """Candlestick with volume below; optional indicator lines, trade entries/exits, signal-change
    markers, regime background bands and a line where the model's training data ends.

    ``trades`` is a backtest trades table (``entry_date, exit_date, side, entry_price, exit_price``);
    ``signals`` a -1/0/+1 series indexed like (a subset of) ``bars``; ``regimes`` a series of
    ``low/medium/high`` labels. Signals before ``fitted_until`` come from a model fitted on those
    bars — the line labels them in-sample.
    """
    _check_bars(bars)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.03)
    fig.add_trace(go.Candlestick(x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"],
                                 close=bars["close"], name="price", showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(x=bars.index, y=bars["volume"], name="volume", marker_color="#8c959f",
                         showlegend=False), row=2, col=1)
    for name, series in (overlays or {}).items():
        fig.add_trace(go.Scatter(x=series.index, y=series.values, mode="lines", name=str(name),
                                 line={"width": 1.2}), row=1, col=1)
    if trades is not None and len(trades):
        _add_trades(fig, trades)
    if signals is not None:
        changes = signal_changes(signals)
        changes = changes[changes.index.isin(bars.index)]
        for label, symbol in (("BUY", "triangle-up"), ("SELL", "triangle-down"), ("HOLD", "circle-open")):
            picked = changes[changes["label"] == label]
            if picked.empty:
                continue
            y = bars.loc[picked.index, "low" if label == "BUY" else "high" if label == "SELL" else "close"]
            fig.add_trace(go.Scatter(x=picked.index, y=y.values, mode="markers", name=f"{label} signal",
                                     marker={"symbol": symbol, "size": 11, "color": SIGNAL_COLOURS[label],
                                             "line": {"width": 1, "color": SIGNAL_COLOURS[label]}}),
                          row=1, col=1)
    if regimes is not None:
        # One layout shape per run, added in a single update: add_vrect per run is slow on long histories.
        bands = [{"type": "rect", "xref": "x", "yref": "y domain", "x0": first, "x1": last, "y0": 0, "y1": 1,
                  "fillcolor": REGIME_COLOURS[regime], "opacity": 0.12, "line": {"width": 0},
                  "layer": "below"}
                 for first, last, regime in _regime_runs(regimes) if regime in REGIME_COLOURS]
        fig.update_layout(shapes=list(fig.layout.shapes) + bands)
        for regime, colour in REGIME_COLOURS.items():  # legend entries for the bands
            marker = {"symbol": "square", "size": 12, "color": colour, "opacity": 0.4}
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{regime} volatility",
                                     marker=marker), row=1, col=1)
    if fitted_until is not None:
        cut = pd.Timestamp(fitted_until)
        if bars.index[0] <= cut <= bars.index[-1]:
            fig.add_vline(x=cut, line_dash="dash", line_color="#57606a", row=1, col=1)
            fig.add_annotation(x=cut, y=1.0, yref="paper", xanchor="right", showarrow=False,
                               text="← in-sample (model fitted on these bars) | after →",
                               font={"size": 11, "color": "#57606a"})
    fig.update_layout(title=title, xaxis_rangeslider_visible=False, height=560,
                      **{**_LAYOUT, "margin": _PRICE_MARGIN})
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="volume", row=2, col=1)
    return fig


def _add_trades(fig: go.Figure, trades: pd.DataFrame) -> None:
    long_ = trades[trades["side"] > 0]
    short = trades[trades["side"] < 0]
    for frame, name, symbol, colour in ((long_, "long entry", "triangle-up", SIGNAL_COLOURS["BUY"]),
                                        (short, "short entry", "triangle-down", SIGNAL_COLOURS["SELL"])):
        if len(frame):
            fig.add_trace(go.Scatter(
                x=frame["entry_date"], y=frame["entry_price"], mode="markers", name=name,
                marker={"symbol": symbol, "size": 11, "color": colour},
                customdata=frame[["return"]].to_numpy(),
                hovertemplate="%{x|%Y-%m-%d} entry %{y:.2f}<br>trade return %{customdata[0]:.2%}"
                              "<extra></extra>",
            ), row=1, col=1)
    closed = trades[~trades["open_at_end"].astype(bool)] if "open_at_end" in trades else trades
    if len(closed):
        fig.add_trace(go.Scatter(
            x=closed["exit_date"], y=closed["exit_price"], mode="markers", name="exit",
            marker={"symbol": "x", "size": 9, "color": "#24292f"},
            hovertemplate="%{x|%Y-%m-%d} exit %{y:.2f}<extra></extra>",
        ), row=1, col=1)


def equity_chart(equity: pd.Series, benchmark_equity: pd.Series | None = None,
                 title: str = "Out-of-sample equity vs buy and hold") -> go.Figure:
    """Growth of 1.0 in the strategy and, when given, in buy and hold over the same bars."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=equity.index, y=equity.values, mode="lines", name="strategy (out of sample)",
                             line={"color": "#1f6feb", "width": 2}))
    if benchmark_equity is not None:
        fig.add_trace(go.Scatter(x=benchmark_equity.index, y=benchmark_equity.values, mode="lines",
                                 name="buy and hold", line={"color": "#8c959f", "width": 1.5, "dash": "dot"}))
    # Log scale: equal percentage moves look equal, so a strategy is not dwarfed by a 50x buy and hold.
    fig.update_layout(title=title, yaxis_title="growth of 1.0 (log scale)", yaxis_type="log", height=380,
                      **_LAYOUT)
    return fig


def drawdown_chart(equity: pd.Series, title: str = "Out-of-sample drawdown") -> go.Figure:
    """Fall of equity below its running peak, as a filled area (fractions shown as %)."""
    from mltrainer.backtest import drawdown_series

    dd = drawdown_series(equity)
    fig = go.Figure(go.Scatter(x=dd.index, y=dd.values, mode="lines", fill="tozeroy", name="drawdown",
                               line={"color": "#cf222e", "width": 1}))
    fig.update_layout(title=title, height=260, yaxis_tickformat=".0%", yaxis_title="below peak",
                      **_LAYOUT)
    return fig


def equity_comparison_chart(curves: Mapping[str, pd.Series],
                            title: str = "Out-of-sample equity curves") -> go.Figure:
    """One line per model (growth of 1.0 over each model's own out-of-sample period)."""
    fig = go.Figure()
    for name, curve in curves.items():
        fig.add_trace(go.Scatter(x=curve.index, y=curve.values, mode="lines", name=str(name)))
    fig.update_layout(title=title, yaxis_title="growth of 1.0 (log scale)", yaxis_type="log", height=400,
                      **_LAYOUT)
    return fig


def member_breakdown_chart(ensemble: Any,
                           title: str = "Member contributions to the ensemble score") -> go.Figure:
    """Each member's weight × signal × strength (its share of the score), coloured by its label;
    failed members appear with a zero bar and their error in the hover text."""
    names, values, colours, hover = [], [], [], []
    for m in ensemble.members:
        names.append(m.model_id)
        if m.error:
            values.append(0.0)
            colours.append("#d0d7de")
            hover.append(f"failed: {m.error}")
            continue
        values.append(float(m.weight) * int(m.signal) * float(m.strength))
        colours.append(SIGNAL_COLOURS.get(m.label or "HOLD", "#6e7781"))
        hover.append(f"{m.label} · weight {m.weight:.2f} · strength {m.strength:.2f} · "
                     f"confidence {m.confidence:.0%}")
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=colours, hovertext=hover,
                           hoverinfo="text+x", name="contribution"))
    for level, name in ((ensemble.thresholds.get("buy"), "BUY threshold"),
                        (ensemble.thresholds.get("sell"), "SELL threshold")):
        if level is not None:
            fig.add_vline(x=float(level), line_dash="dot", line_color="#57606a",
                          annotation_text=name, annotation_position="top")
    fig.update_layout(title=title, xaxis_title="weight × signal × strength", height=120 + 40 * len(names),
                      **_LAYOUT)
    return fig


def vol_forecast_chart(frame: pd.DataFrame,
                       title: str = "Realized volatility and GARCH forecast") -> go.Figure:
    """Annualised realized volatility with the model's GARCH(1,1) forecast (both fractions)."""
    fig = go.Figure()
    for column, name, style in (("realized_vol", "realized volatility", {"color": "#1f6feb"}),
                                ("vol_forecast", "GARCH forecast", {"color": "#bf3989", "dash": "dot"})):
        if column in frame:
            fig.add_trace(go.Scatter(x=frame.index, y=frame[column].values, mode="lines", name=name,
                                     line=style))
    fig.update_layout(title=title, yaxis_tickformat=".0%", yaxis_title="annualised", height=300, **_LAYOUT)
    return fig
