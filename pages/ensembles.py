"""Ensembles: blend several models' signals for one symbol with live-normalised weights (or weights
derived from their out-of-sample returns) and see how each member voted."""

import pandas as pd
import streamlit as st

from mltrainer import charts, services, ui
from mltrainer.errors import MLTrainerError

ui.through_router()  # deep links straight after server start

MODES = {"manual": "Weights from the sliders", "oos": "From out-of-sample returns", "equal": "Equal weights"}


def _init_state(model_ids: list[str], symbols: list[str]) -> None:
    default_symbol = "AAPL" if "AAPL" in symbols else (symbols[0] if symbols else None)
    ui.init_state({"ens_models": model_ids[:2], "ens_symbol": default_symbol,
                   "ens_mode": "manual", "ens_result": None, "ens_result_request": None})
    for m in model_ids:
        ui.init_state({f"ens_w_{m}": 1.0})


st.title("Ensembles")
try:
    records = services.list_models()
    symbols = services.list_symbols()
except MLTrainerError as exc:
    st.error(str(exc))
    st.stop()
if len(records) < 2:
    st.info("An ensemble needs at least two trained models: train another one on the **Train** page.")
    st.stop()
model_ids = [r.model_id for r in records]
_init_state(model_ids, symbols)

left, right = st.columns([3, 1])
chosen = left.multiselect("Models", model_ids, key="ens_models")
symbol = right.selectbox("Symbol", symbols, key="ens_symbol", accept_new_options=True)
mode = st.radio("Weights", list(MODES), format_func=MODES.get, key="ens_mode", horizontal=True)

weights = None
if chosen and mode == "manual":
    raw = {}
    columns = st.columns(min(4, len(chosen)))
    for i, m in enumerate(chosen):
        raw[m] = columns[i % len(columns)].slider(m, 0.0, 1.0, step=0.05, key=f"ens_w_{m}")
    try:
        weights = services.normalise_weights(raw)
    except MLTrainerError as exc:
        st.error(str(exc))
    else:
        table = {"model": list(weights), "normalised weight": [round(w, 4) for w in weights.values()]}
        st.dataframe(pd.DataFrame(table), hide_index=True, key="ens_weights_table")
        st.caption("Normalised weights: " + " · ".join(f"{m} {w:.0%}" for m, w in weights.items()))
elif mode == "oos":
    st.caption("Weights are derived from each member's out-of-sample return history and shown with the "
               "result.")

# What the result on screen answers: a result computed for other models, symbol or weights would
# contradict the widgets above, so it is dropped as soon as any of them changes.
current_request = (tuple(chosen), symbol, mode, tuple(weights.items()) if weights else None)
if st.session_state["ens_result_request"] != current_request:
    st.session_state["ens_result"] = None
if st.button("Compute ensemble signal", type="primary", key="ens_submit", disabled=len(chosen) < 2):
    request = weights if mode == "manual" else ("oos" if mode == "oos" else None)
    try:
        if mode == "manual" and request is None:
            raise MLTrainerError("Fix the weights above first.")
        st.session_state["ens_result"] = services.predict_ensemble(chosen, symbol, weights=request)
        st.session_state["ens_result_request"] = current_request
    except MLTrainerError as exc:
        st.session_state["ens_result"] = None
        st.error(str(exc))
if len(chosen) < 2:
    st.info("Pick at least two models.")

result = st.session_state["ens_result"]
if result is None and len(chosen) >= 2:
    st.caption("Press **Compute ensemble signal** to blend the chosen models' signals for "
               f"{symbol} with these weights.")
if result is not None:
    st.subheader(f"{result.symbol} ensemble signal as of {result.as_of}")
    c = st.columns(5)
    c[0].metric("Signal", result.label, border=True)
    c[1].metric("Score", f"{result.score:+.3f}", border=True,
                help=f"Σ weight × signal × strength; BUY ≥ {result.thresholds['buy']}, "
                     f"SELL ≤ {result.thresholds['sell']}.")
    c[2].metric("Strength", f"{result.strength:.2f}", border=True)
    c[3].metric("Confidence", f"{result.confidence:.0%}", border=True,
                help="Weight-averaged out-of-sample confidence of the members that agree with the ensemble.")
    c[4].metric("Agreement", f"{result.agreement:.0%}", border=True,
                help="Total weight of members that agree.")
    st.caption(f"Weights used ({result.weights_method}): "
               + " · ".join(f"{m} {w:.0%}" for m, w in result.weights.items()))
    if result.failed_members:
        st.warning(f"Failed members (left out, weights re-normalised): {', '.join(result.failed_members)}")
    if result.note:
        st.caption(result.note)
    st.plotly_chart(charts.member_breakdown_chart(result), key="ens_chart", width="stretch")
    if all(m.error or not m.signal or not m.strength for m in result.members):
        # Otherwise an empty chart reads like a rendering fault.
        why = ("Every member says HOLD" if all(m.label == "HOLD" for m in result.members)
               else "Every member says HOLD, has zero strength or failed")
        st.caption(f"{why}, so none contributes to the score: the contribution bars are all zero.")
    st.dataframe(pd.DataFrame([{
        "model": m.model_id, "signal": m.label or "failed", "strength": m.strength,
        "confidence": m.confidence, "weight used": round(m.weight, 4),
        "weight requested": round(m.requested_weight, 4), "error": m.error or "",
    } for m in result.members]), hide_index=True, key="ens_members")
