"""Predictions (live signals): one model, one or many symbols; a signal table, a chart of the model's
signals on the latest bars, and a CSV download."""

import pandas as pd
import streamlit as st

from mltrainer import charts, services, ui
from mltrainer.errors import MLTrainerError

ui.through_router()  # deep links straight after server start

CHART_BARS = 250


@st.cache_data(ttl="5m", show_spinner="Computing signals…")
def _predict(model_id: str, symbols: tuple[str, ...]) -> dict:
    return services.predict_bulk(model_id, list(symbols)).to_dict()


@st.cache_data(ttl="5m", show_spinner="Loading the signal history…")
def _history(model_id: str, symbol: str) -> services.SignalHistory:
    return services.signal_history(model_id, symbol, n_bars=CHART_BARS)


def _init_state(model_ids: list[str], symbols_of: dict[str, str]) -> None:
    first = model_ids[0] if model_ids else None
    ui.init_state({"pred_model": first, "pred_symbols": [symbols_of[first]] if first else [],
                   "pred_chart_symbol": None})


def _table(result: dict) -> pd.DataFrame:
    rows = [{
        "symbol": p["symbol"], "signal": p["label"], "strength": round(p["strength"], 3),
        "confidence": f"{p['confidence']:.0%}", "as of": p["as_of"],
        "latest price": round(p["latest_price"], 2),
        "1-day change": "—" if p["price_change_1d"] is None else f"{p['price_change_1d']:.2%}",
        "cached": p["cached"],
    } for p in result["predictions"]]
    return pd.DataFrame(rows, columns=["symbol", "signal", "strength", "confidence", "as of", "latest price",
                                       "1-day change", "cached"])


st.title("Live signals")
try:
    records = services.list_models()
    symbols = services.list_symbols()
    live = ui.data_status()["source"] == "polygon"
except MLTrainerError as exc:
    st.error(str(exc))
    st.stop()
if not records:
    st.info("No trained models yet: train one on the **Train** page, then come back for its signals.")
    st.stop()
symbols_of = {r.model_id: r.symbol for r in records}
_init_state(list(symbols_of), symbols_of)

left, right = st.columns([2, 3])
model_id = left.selectbox("Model", list(symbols_of), key="pred_model",
                          format_func=lambda m: f"{m} (trained on {symbols_of[m]})")
picked = right.multiselect("Symbols", sorted(set(symbols) | {symbols_of[model_id]}), key="pred_symbols",
                           accept_new_options=True, help="One or many; each is predicted independently.")
# The calibration comes from the training symbol's walk-forward test windows only; on any other
# symbol it is carried over, never measured, and the caption must not let it pass for that symbol's.
trained_on = symbols_of[model_id]
others = services.carried_over_symbols(trained_on, picked)
st.caption(f"Confidence calibrated out of sample on {trained_on}: the probability that a signal of this "
           f"strength pointed the right way over the model's holding horizon, measured on {trained_on}'s "
           "walk-forward test windows at training time"
           + (f"; for {', '.join(others)} it is carried over, not measured" if others else "")
           + ". Cached for 5 minutes." + (" Live source: refreshed every 5 minutes." if live else ""))


@st.fragment(run_every="5m" if live else None)
def signals_section() -> None:
    # Read the choices from session state: a timed rerun runs only this function.
    model_id, chosen = st.session_state["pred_model"], st.session_state["pred_symbols"]
    if not chosen:
        st.info("Pick at least one symbol.")
        return
    try:
        result = _predict(model_id, tuple(chosen))
    except MLTrainerError as exc:
        st.error(str(exc))
        return
    table = _table(result)
    st.dataframe(table, hide_index=True, key="pred_table")
    for sym, message in result["errors"].items():
        st.warning(f"{sym}: {message}")
    if len(table):
        st.download_button("Download CSV", table.to_csv(index=False).encode(),
                           file_name=f"signals_{model_id}.csv", mime="text/csv", key="pred_csv")
        ok = list(table["symbol"])
        if st.session_state.get("pred_chart_symbol") not in ok:
            st.session_state["pred_chart_symbol"] = ok[0]
        sym = st.selectbox("Chart", ok, key="pred_chart_symbol")
        try:
            history = _history(model_id, sym)
        except MLTrainerError as exc:
            st.error(str(exc))
            return
        frame = history.frame
        st.plotly_chart(charts.price_chart(
            history.bars, signals=frame["signal"], regimes=frame["regime"] if "regime" in frame else None,
            fitted_until=history.fitted_until,
            title=f"{sym}: {model_id} signals on the last {len(history.bars)} bars",
        ), key="pred_chart", width="stretch")
        if history.fitted_until is not None:
            all_in_sample = history.fitted_until >= history.bars.index[-1]
            later = ("every signal on this chart is in-sample" if all_in_sample
                     else "only signals after the dashed line are out of sample")
            cut = history.fitted_until.date()
            st.caption(f"The model was fitted on {sym} bars up to {cut}: signals up to "
                       f"that line are in-sample; {later}.")
        if "vol_forecast" in frame:
            st.plotly_chart(charts.vol_forecast_chart(frame), key="pred_vol", width="stretch")
        # Built only when opened: a first visit sends the chart without the JSON viewer's code.
        with st.expander(f"Model analysis for {sym}", key="pred_analysis_open", on_change="rerun") as box:
            if box.open:
                st.json(next(p["analysis"] for p in result["predictions"] if p["symbol"] == sym),
                        expanded=True)


signals_section()
