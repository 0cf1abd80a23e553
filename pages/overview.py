"""Overview: what is trained, what ran lately, and whether compliance and the audit chain are sound."""

import pandas as pd
import streamlit as st

from mltrainer import services, ui
from mltrainer.errors import MLTrainerError

ui.through_router()  # deep links straight after server start

st.title("Overview")

try:
    summary = services.overview_summary()
except MLTrainerError as exc:
    st.error(str(exc))
    st.stop()

models, audit, compliance = summary["models"], summary["audit"], summary["compliance"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Trained models", models["count"], border=True)
c2.metric("Model types trained", len(models["by_type"]), border=True)
c3.metric("Audit records", audit["records"], border=True)
c4.metric("Audit chain", "intact" if audit["ok"] else f"broken at record {audit['first_bad_index']}",
          border=True, help="Every record's hash is recomputed and checked against the next one's prev_hash.")
if not audit["ok"]:
    st.error(f"The audit trail fails verification at record index {audit['first_bad_index']}: "
             "a record was edited, deleted, inserted or reordered. Investigate before trusting the log.")

st.subheader("Models")
if models["count"] == 0:
    st.info("No trained models yet. Open **Train**, pick a model type and a symbol (on the offline default, "
            "AAPL works without any key) and press *Train* — its out-of-sample results appear here.")
else:
    rows = [{"model": m["model_id"], "type": m["model_type"], "symbol": m["symbol"],
             "trained": m["created_at"], "OOS Sharpe": ui.format_metric("sharpe", m["metrics"].get("sharpe")),
             "OOS total return": ui.format_metric("total_return", m["metrics"].get("total_return"))}
            for m in models["recent"]]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="overview_models")
    st.caption(" · ".join(f"{t}: {n}" for t, n in sorted(models["by_type"].items())))

left, right = st.columns(2)
with left:
    st.subheader("Last trainings")
    if not summary["trainings"]:
        st.caption("None yet — train a model on the **Train** page.")
    for rec in summary["trainings"]:
        d = rec["details"]
        when = rec["timestamp"][:19].replace("T", " ")
        st.markdown(f"`{rec['target']}` · {when} UTC · by {rec['actor']} · "
                    f"OOS Sharpe {ui.format_metric('sharpe', d.get('oos_sharpe'))}")
with right:
    st.subheader("Last predictions")
    if not summary["predictions"]:
        st.caption("None yet — request signals on the **Predictions** or **Ensembles** page.")
    for rec in summary["predictions"]:
        d = rec["details"]
        when = rec["timestamp"][:19].replace("T", " ")
        if rec["action"] == "ensemble":
            n = len(d.get("model_ids", []))
            what = f"ensemble of {n} models → {rec['target']} ({d.get('weights_method')})"
        else:
            what = f"`{rec['target']}` → {', '.join(d.get('symbols') or [])}"
        st.markdown(f"{when} UTC · {what}")

st.subheader("Compliance")
if compliance is None:
    st.info("No compliance scan recorded yet. Open **Compliance** and scan the plugin folder or the package.")
else:
    sev = compliance.get("by_severity", {})
    when = compliance["timestamp"][:19].replace("T", " ")
    st.markdown(f"Latest scan of `{compliance['target']}` at {when} UTC: "
                f"{compliance.get('files_scanned', 0)} files, {compliance.get('violations', 0)} violations "
                f"({', '.join(f'{k} {v}' for k, v in sev.items() if v) or 'none'}), "
                f"{compliance.get('blocking', 0)} blocking at {compliance.get('fail_on', 'critical')}.")

st.subheader("Market data")
data = summary["data"]
st.caption(f"{data['label']} · {data['symbols']} symbols · last bar {data['last_bar']}")
try:
    st.dataframe(pd.DataFrame(services.describe_symbols()), hide_index=True, key="overview_symbols")
except MLTrainerError as exc:
    st.error(str(exc))
