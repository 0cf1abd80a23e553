"""Streamlit helpers shared by the pages: the sidebar, number formatting, metric cards and
session-state set-up. Kept out of the pages so that every page stays a thin view."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import streamlit as st

from mltrainer import services
from mltrainer.errors import MLTrainerError

__all__ = [
    "CARD_METRICS",
    "render_sidebar",
    "init_state",
    "format_metric",
    "metric_label",
    "metric_cards",
    "metrics_table",
]

#: The OOS metrics shown as cards on the Train page, in order.
CARD_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "n_trades")


@st.cache_data(ttl="5m", show_spinner=False)
def _data_status() -> dict:
    return services.data_status()


def render_sidebar() -> None:
    """Active data source with its last bar date, and which API keys are set (never their values)."""
    with st.sidebar:
        st.markdown("### mlTrainer")
        try:
            status = _data_status()
        except MLTrainerError as exc:
            st.error(str(exc))
            return
        st.caption(f"{status['label']} · last bar {status['last_bar']}")
        for name, present in status.get("keys", {}).items():
            st.caption(f"{'✅' if present else '—'} {name} {'configured' if present else 'not set'}")


def init_state(defaults: Mapping[str, Any]) -> None:
    """Give every session-state key of a page its default once (each page calls this first)."""
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = value


def _metric_info() -> dict[str, dict[str, Any]]:
    from mltrainer.backtest import METRIC_INFO

    return METRIC_INFO


def metric_label(name: str) -> str:
    return _metric_info().get(name, {}).get("label", name.replace("_", " "))


def format_metric(name: str, value: Any) -> str:
    """A metric as an analyst reads it: fractions as %, ratios with 2 decimals, counts whole; '—' when
    missing or not finite (e.g. a profit factor without a losing trade)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    unit = _metric_info().get(name, {}).get("unit", "ratio")
    if unit == "fraction":
        return f"{float(value):.2%}"
    if unit == "count":
        return f"{int(value):,}"
    return f"{float(value):.2f}"


def metric_cards(metrics: Mapping[str, Any], benchmark: Mapping[str, Any] | None,
                 names: tuple[str, ...] = CARD_METRICS) -> None:
    """One ``st.metric`` per OOS metric, with buy and hold over the same bars as the delta caption.

    The delta is the buy-and-hold value itself (not a difference), so the card reads
    "strategy value / buy & hold value" without arithmetic on ratios that do not subtract.
    """
    info = _metric_info()
    columns = st.columns(len(names))
    for column, name in zip(columns, names, strict=True):
        bench = None if benchmark is None else benchmark.get(name)
        with column:
            st.metric(
                metric_label(name), format_metric(name, metrics.get(name)),
                delta=None if bench is None else f"buy & hold {format_metric(name, bench)}",
                delta_color="off", help=info.get(name, {}).get("help"), border=True,
            )


def metrics_table(columns: Mapping[str, Mapping[str, Any]]):
    """A metrics-by-column DataFrame of formatted values (rows in METRIC_INFO order)."""
    import pandas as pd

    names = list(_metric_info())
    data = {col: [format_metric(n, values.get(n)) for n in names] for col, values in columns.items()}
    return pd.DataFrame(data, index=[metric_label(n) for n in names])
