"""Models: the registry with out-of-sample metrics; compare models; details and signature status;
delete with confirmation."""

import pandas as pd
import streamlit as st

from mltrainer import charts, services, ui
from mltrainer.errors import MLTrainerError

ui.through_router()  # deep links straight after server start

TABLE_METRICS = ("total_return", "sharpe", "max_drawdown", "win_rate", "n_trades", "dsr")


def _init_state(model_ids: list[str]) -> None:
    ui.init_state({"models_compare": model_ids[:2], "models_detail": model_ids[0],
                   "models_pending_delete": None, "models_show_review": False, "models_message": None})
    if st.session_state["models_detail"] not in model_ids:  # it was just deleted
        st.session_state["models_detail"] = model_ids[0]
    st.session_state["models_compare"] = [m for m in st.session_state["models_compare"] if m in model_ids]


st.title("Model registry")
if st.session_state.get("models_message"):
    st.success(st.session_state.pop("models_message"))
try:
    records = services.list_models()
except MLTrainerError as exc:
    st.error(str(exc))
    st.stop()
if not records:
    st.info("The registry is empty: train a model on the **Train** page.")
    st.stop()
by_id = {r.model_id: r for r in records}
_init_state(list(by_id))

st.caption("All metrics are out of sample (walk-forward test windows, after costs).")
st.dataframe(pd.DataFrame([{
    "model": r.model_id, "type": r.model_type, "symbol": r.symbol,
    "data": f"{r.train_start} → {r.train_end}", "created (UTC)": str(r.created_at)[:19],
    **{ui.metric_label(n): ui.format_metric(n, r.metrics.get(n)) for n in TABLE_METRICS},
} for r in records]), hide_index=True, key="models_table")

st.subheader("Compare")
compare = st.multiselect("Models to compare (two or more)", list(by_id), key="models_compare")
if len(compare) >= 2:
    try:
        comparison = services.compare_models(compare)
    except MLTrainerError as exc:
        st.error(str(exc))
    else:
        # A static table shows every metric row (DSR included); a dataframe shows ten and hides the rest.
        st.table(ui.metrics_table({r.model_id: r.metrics for r in comparison["records"]}))
        st.plotly_chart(charts.equity_comparison_chart(comparison["curves"]), key="models_compare_chart",
                        width="stretch")
        st.caption("Each curve covers its own model's out-of-sample period; compare models trained on the "
                   "same range for a like-for-like view.")
else:
    st.caption("Pick at least two models to see their metrics side by side and their equity curves overlaid.")

st.subheader("Details")
model_id = st.selectbox("Model", list(by_id), key="models_detail")
record = by_id[model_id]
try:
    signature_ok = services.verify_model(model_id)
except MLTrainerError as exc:
    signature_ok = False
    st.error(str(exc))
c = st.columns([1, 2, 1, 1])  # the date range needs the room
c[0].metric("Signature", "verified" if signature_ok else "FAILED", border=True,
            help="HMAC-SHA256 of the artifact bytes against the registry's signature.")
c[1].metric("Data range", f"{record.train_start} → {record.train_end}", border=True)
c[2].metric("Bars", f"{record.data_rows:,}", border=True)
c[3].metric("Costs · folds", f"{record.cost_bps:g} bps · {record.n_splits}", border=True)
if not signature_ok:
    st.error("The artifact does not match its signature (missing or tampered). It will not be loaded or "
             "served; delete and retrain the model.")
st.markdown("Data fingerprint (SHA-256 of the training bars and of any macro series values used): "
            f"`{record.data_fingerprint}`  \n"
            f"Created {record.created_at} with mlTrainer {record.package_version} · status {record.status}")
with st.expander("Parameters"):
    st.json(record.params, expanded=True)
if st.toggle("Show the full out-of-sample review", key="models_show_review"):
    try:
        ui.render_review(ui.cached_review(model_id, str(record.created_at)), key_prefix="models")
    except MLTrainerError as exc:
        st.error(str(exc))

st.subheader("Delete")
if st.session_state["models_pending_delete"] != model_id:
    if st.button(f"Delete {model_id}…", key="models_delete"):
        st.session_state["models_pending_delete"] = model_id
        st.rerun()
else:
    st.warning(f"Delete **{model_id}** and its artifact? This cannot be undone (the audit trail keeps the "
               "record).")
    yes, no = st.columns(2)
    if yes.button("Yes, delete", type="primary", key="models_delete_confirm"):
        try:
            services.delete_model(model_id, actor="dashboard")
        except MLTrainerError as exc:
            st.error(str(exc))
        else:
            st.session_state["models_pending_delete"] = None
            st.session_state["models_message"] = f"Deleted {model_id}."
            ui.cached_review.clear()
            st.rerun()
    if no.button("Cancel", key="models_delete_cancel"):
        st.session_state["models_pending_delete"] = None
        st.rerun()
