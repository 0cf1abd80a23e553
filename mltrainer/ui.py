"""Streamlit helpers shared by the pages: the sidebar, number formatting, metric cards and
session-state set-up. Kept out of the pages so that every page stays a thin view."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from mltrainer import services
from mltrainer.errors import MLTrainerError

__all__ = [
    "CARD_METRICS",
    "data_caption",
    "data_status",
    "render_sidebar",
    "through_router",
    "plugin_statuses",
    "init_state",
    "format_metric",
    "metric_label",
    "metric_cards",
    "metrics_table",
    "cached_review",
    "render_review",
]

#: The OOS metrics shown as cards on the Train page, in order.
CARD_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "n_trades")


@st.cache_data(ttl="5m", show_spinner=False)
def data_status() -> dict:
    """``services.data_status()`` cached for 5 minutes: the sidebar and the pages read it on every run
    (it lists the store's symbols). ``data_status.clear()`` after fetching new bars."""
    return services.data_status()


@st.cache_resource(show_spinner="Scanning and loading plugin models…", max_entries=8)
def _plugin_statuses(folder_state: tuple) -> list[dict]:
    # ``folder_state`` is only the cache key: the folder is loaded again when it changes.
    return [{"file": Path(s.path).name, "loaded": s.loaded, "model types": ", ".join(s.model_types),
             "blocking violations": len(s.blocking_violations), "problem": s.error or ""}
            for s in services.load_plugins(actor="dashboard")]


def plugin_statuses() -> list[dict]:
    """The plugin folder's load statuses (scanned first; blocked files stay unloaded), loaded once per
    state of the folder: a plugin added, removed or edited (new name, size or mtime) shows on the next
    rerun. ``plugin_statuses.clear()`` forces a reload."""
    return _plugin_statuses(services.plugin_folder_state())


plugin_statuses.clear = _plugin_statuses.clear  # type: ignore[attr-defined]


def data_caption(status: Mapping[str, Any]) -> str:
    """"Offline data · stocks to 2013-03-01 · indices to 2018-12-31" when stocks and indices end on
    different days, "… · last bar <day>" when they agree, "… · no bars stored yet" when empty."""
    by_kind = dict(status.get("last_bar_by_kind") or {})
    if not status.get("last_bar") and not by_kind:
        return f"{status['label']} · no bars stored yet (fetch a ticker on the Data page)"
    if len(set(by_kind.values())) > 1:
        return " · ".join([status["label"], *(f"{kind} to {day}" for kind, day in by_kind.items())])
    last = status.get("last_bar") or next(iter(by_kind.values()))
    return f"{status['label']} · last bar {last}"


def render_sidebar() -> None:
    """Active data source with its last bar date, which API keys are set (never their values), and
    the plugin models loaded."""
    with st.sidebar:
        st.markdown("### mlTrainer")
        try:
            status = data_status()
        except MLTrainerError as exc:
            st.error(str(exc))
            return
        st.caption(data_caption(status))
        keys = status.get("keys", {})
        if status["source"] == "polygon" and not keys.get("POLYGON_API_KEY"):
            st.warning("MLTRAINER_DATA_SOURCE is polygon but POLYGON_API_KEY is not set: set the key, or "
                       "unset the source to use the offline data.")
        for name, present in keys.items():
            st.caption(f"{'✅' if present else '—'} {name} {'configured' if present else 'not set'}")
        try:
            plugins = plugin_statuses()
        except MLTrainerError as exc:
            st.error(str(exc))
            return
        if plugins:
            blocked = sum(not p["loaded"] for p in plugins)
            st.caption(f"Plugins: {len(plugins) - blocked} loaded"
                       + (f", {blocked} blocked" if blocked else ""))


def through_router() -> None:
    """Make sure this page runs inside ``app.py``'s navigation (sidebar, page config).

    Streamlit starts in its legacy ``pages/``-folder mode whenever that folder exists, and leaves it
    only when a script calls ``st.navigation``. A deep link (e.g. ``/data``) that is the server's very
    first request would run the page file alone; switching the mode off — exactly what
    ``st.navigation`` in ``app.py`` does — and rerunning sends it through the router instead.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


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
    per_row = 3  # wider cards: six in a row truncate values like "-16.84%"
    columns = [col for start in range(0, len(names), per_row)
               for col in st.columns(per_row)[: len(names[start:start + per_row])]]
    for column, name in zip(columns, names, strict=True):
        bench = None if benchmark is None else benchmark.get(name)
        with column:
            st.metric(
                metric_label(name), format_metric(name, metrics.get(name)),
                delta=None if bench is None else f"buy & hold {format_metric(name, bench)}",
                delta_color="off", delta_arrow="off", help=info.get(name, {}).get("help"), border=True,
            )


def metrics_table(columns: Mapping[str, Mapping[str, Any]]):
    """A metrics-by-column DataFrame of formatted values (rows in METRIC_INFO order)."""
    import pandas as pd

    names = list(_metric_info())
    data = {col: [format_metric(n, values.get(n)) for n in names] for col, values in columns.items()}
    return pd.DataFrame(data, index=[metric_label(n) for n in names])


@st.cache_data(ttl="5m", show_spinner="Replaying the out-of-sample backtest and checking for lookahead…")
def cached_review(model_id: str, created_at: str) -> services.ModelReview:
    """``services.model_review`` cached per model version (``created_at`` tells reused ids apart)."""
    return services.model_review(model_id)


def _fold_rows(folds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for f in folds:
        rows.append({
            "fold": f["fold"], "train": f"{str(f['train_start'])[:10]} → {str(f['train_end'])[:10]}",
            "test (out of sample)": f"{str(f['test_start'])[:10]} → {str(f['test_end'])[:10]}",
            "test bars": f["test_rows"],
            **{metric_label(n): format_metric(n, f.get(n))
               for n in ("total_return", "sharpe", "max_drawdown", "win_rate", "n_trades")},
        })
    return rows


def render_review(review: services.ModelReview, key_prefix: str) -> None:
    """The results block of a trained model: OOS cards beside buy and hold, equity, drawdown, folds,
    trades, price chart with entries/exits, calibration and the (labelled) lookahead check."""
    from mltrainer import charts

    record = review.record
    oos = review.oos_equity.index
    st.markdown(
        f"**{record.model_id}** · {record.model_type} on {record.symbol} · data {record.train_start} → "
        f"{record.train_end} ({record.data_rows:,} bars) · costs {record.cost_bps:g} bps · "
        f"{record.n_splits} walk-forward folds"
    )
    st.info(f"Every figure below is **out of sample**: the walk-forward test windows joined, "
            f"{oos[0].date()} → {oos[-1].date()} ({len(oos):,} bars), next-bar fills, costs included. "
            "Anything in-sample is labelled as such.")
    metric_cards(record.metrics, record.buy_and_hold)
    with st.expander("Parameters used"):
        st.json(record.params, expanded=True)
    with st.expander("All out-of-sample metrics vs buy and hold"):
        table = metrics_table({"strategy (OOS)": record.metrics,
                               "buy and hold (same bars)": record.buy_and_hold})
        st.dataframe(table, key=f"{key_prefix}_all_metrics", height="content")  # every row, not ten
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.equity_chart(review.oos_equity, review.buy_and_hold_equity),
                      key=f"{key_prefix}_equity", width="stretch")
    right.plotly_chart(charts.drawdown_chart(review.oos_equity), key=f"{key_prefix}_drawdown",
                       width="stretch")

    st.markdown("**Walk-forward folds** (each fold's metrics are on its test window only)")
    st.dataframe(_fold_rows(record.folds), hide_index=True, key=f"{key_prefix}_folds")

    oos_bars = review.bars.loc[oos[0]:]
    regimes = None if review.regimes is None else review.regimes.loc[oos[0]:]
    title = f"{record.symbol}: out-of-sample entries and exits"
    if regimes is not None:
        title += " · background: volatility regime from the final model (in-sample thresholds)"
    st.plotly_chart(charts.price_chart(oos_bars, trades=review.trades, regimes=regimes, title=title),
                    key=f"{key_prefix}_price", width="stretch")

    st.markdown(f"**Trades** ({len(review.trades)} out of sample; returns after costs)")
    trades = review.trades.copy()
    if len(trades):
        trades["side"] = trades["side"].map({1: "long", -1: "short"})
        trades["return"] = trades["return"].map(lambda v: f"{v:.2%}")
        for column in ("entry_date", "exit_date"):
            trades[column] = trades[column].dt.strftime("%Y-%m-%d")
    st.dataframe(trades, hide_index=True, key=f"{key_prefix}_trades")

    calib = record.calibration or {}
    if calib:
        base_rate = format_metric("win_rate", calib.get("base_rate"))
        st.caption(f"Confidence calibration (out of sample): base rate {base_rate}, "
                   f"Brier score {format_metric('sharpe', calib.get('brier_score'))}, "
                   f"{calib.get('n_samples', '—')} OOS signals.")
    st.markdown("**Lookahead check** — on the final model (fitted on all bars); a causality test, not a "
                "performance figure")
    if review.lookahead_dates is None:
        st.caption("Not run.")
    elif not review.lookahead_dates:
        st.success(f"Causal: predictions on bars truncated at {review.lookahead_cuts} cut points match the "
                   "full-history predictions on every earlier bar.")
    else:
        shown = ", ".join(str(d.date()) for d in review.lookahead_dates[:10])
        n = len(review.lookahead_dates)
        st.error(f"Lookahead detected: predictions changed on {n} bar(s) when later "
                 f"bars were removed (first: {shown}). Do not trust this model's results.")
