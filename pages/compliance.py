"""Compliance: scan model code, review violations, manage overrides, upload plugins, and check the
hash-chained audit trail."""

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from mltrainer import services, ui
from mltrainer.errors import MLTrainerError

ui.through_router()  # deep links straight after server start

SEVERITIES = ("critical", "high", "medium", "low")


def _init_state(targets: list[str]) -> None:
    ui.init_state({
        "comp_target": targets[0], "comp_report": None, "comp_report_root": None,
        "comp_severity": list(SEVERITIES), "comp_rule": [], "comp_hide_overridden": False,
        "comp_fp": "", "comp_reason": "", "comp_author": "",
        "comp_expiry": dt.date.today() + dt.timedelta(days=30),
        "comp_revoke_author": "", "comp_audit_limit": 50, "comp_audit_action": "",
    })


st.title("Compliance")
targets = services.scan_targets()
_init_state(list(targets))

# -- scan ---------------------------------------------------------------------------------------------
st.subheader("Scan")
left, right = st.columns([3, 1])
target = left.radio("What to scan", list(targets), key="comp_target", horizontal=True)
root = Path(targets[target])
if right.button("Scan now", type="primary", key="comp_scan"):
    if not root.exists():
        st.info(f"Nothing installed at {root} yet: upload a plugin below, then scan it.")
    else:
        try:
            with st.spinner(f"Scanning {root}…"):
                st.session_state["comp_report"] = services.scan_code(root, actor="dashboard")
                st.session_state["comp_report_root"] = str(root)
        except MLTrainerError as exc:
            st.error(str(exc))

report = st.session_state["comp_report"]
if report is None:
    try:
        summary = services.overview_summary()["compliance"]
    except MLTrainerError as exc:
        st.error(str(exc))
        summary = None
    if summary is None:
        st.info("No scan recorded yet: choose what to scan and press **Scan now**.")
    else:
        when = summary["timestamp"][:19].replace("T", " ")
        st.caption(f"Latest recorded scan: `{summary['target']}` at {when} UTC — "
                   f"{summary.get('files_scanned', 0)} files, {summary.get('violations', 0)} violations, "
                   f"{summary.get('blocking', 0)} blocking. Scan again to review the violations.")
else:
    by_sev, by_rule = report.summary["by_severity"], report.summary["by_rule"]
    blocking = report.blocking()
    st.markdown(f"`{report.root}` · {report.files_scanned} files in {report.duration_s:.2f} s · "
                f"**{len(blocking)} blocking** (non-overridden at or above {report.fail_on})")
    cols = st.columns(len(SEVERITIES))
    for col, sev in zip(cols, SEVERITIES, strict=True):
        col.metric(sev.capitalize(), by_sev.get(sev, 0), border=True)
    if by_rule:
        st.dataframe(pd.DataFrame({"rule": list(by_rule), "violations": list(by_rule.values())}),
                     hide_index=True, key="comp_by_rule")
    if not report.violations:
        st.success("No violations.")
    else:
        f1, f2, f3 = st.columns([2, 3, 1])
        severities = f1.multiselect("Severity", SEVERITIES, key="comp_severity")
        rules = f2.multiselect("Rule", sorted(by_rule), key="comp_rule", placeholder="all rules")
        hide = f3.checkbox("Hide overridden", key="comp_hide_overridden")
        shown = [v for v in report.violations
                 if v.severity in severities and (not rules or v.rule in rules)
                 and not (hide and v.overridden)]
        st.dataframe(pd.DataFrame([{
            "severity": v.severity, "rule": v.rule, "file": v.path, "line": v.line, "message": v.message,
            "overridden": v.overridden, "fingerprint": v.fingerprint,
        } for v in shown]), hide_index=True, key="comp_violations")
        if shown:
            index = st.selectbox(
                "Violation", range(len(shown)), key="comp_violation",
                format_func=lambda i: f"{shown[i].severity} · {shown[i].rule} · "
                                      f"{shown[i].path}:{shown[i].line}")
            chosen = shown[index]
            first, text = services.violation_context(st.session_state["comp_report_root"], chosen,
                                                     others=report.violations)
            st.markdown(f"**{chosen.rule}** ({chosen.severity}) at `{chosen.path}:{chosen.line}` — "
                        f"{chosen.message}")
            st.code(text, language="python", line_numbers=True)
            st.caption(f"Lines from {first}; the violation is on line {chosen.line}. "
                       f"Fingerprint `{chosen.fingerprint}`"
                       + (f" · overridden: {chosen.override_reason}" if chosen.overridden else ""))
            if st.button("Use this fingerprint for an override", key="comp_use_fp"):
                st.session_state["comp_fp"] = chosen.fingerprint
                st.rerun()

# -- overrides ------------------------------------------------------------------------------------------
st.subheader("Overrides")
with st.form("comp_grant_form"):
    st.text_input("Violation fingerprint", key="comp_fp", help="From the violations table above.")
    st.text_input("Reason", key="comp_reason", placeholder="e.g. vendored code, fixed upstream in v2")
    a, b = st.columns(2)
    a.text_input("Author", key="comp_author", placeholder="your user name")
    b.date_input("Expires on", key="comp_expiry")
    if st.form_submit_button("Grant override", key="comp_grant"):
        try:
            state = st.session_state
            # The scan on screen names the fingerprint's rule and file, so the override records them.
            granted = services.grant_override(state["comp_fp"], state["comp_reason"], state["comp_author"],
                                              state["comp_expiry"], report=state["comp_report"])
        except MLTrainerError as exc:
            st.error(str(exc))
        else:
            st.success(f"Override {granted.id} granted until {granted.expires_at:%Y-%m-%d} (audited). "
                       "Scan again to see it applied.")
try:
    overrides = services.list_overrides()
except MLTrainerError as exc:
    st.error(str(exc))
    overrides = []
if not overrides:
    st.caption("No overrides granted.")
else:
    st.dataframe(pd.DataFrame([{
        "id": o.id, "fingerprint": o.fingerprint, "rule": o.rule or "", "file": o.path or "",
        "reason": o.reason, "author": o.author,
        "created (UTC)": f"{o.created_at:%Y-%m-%d %H:%M}", "expires (UTC)": f"{o.expires_at:%Y-%m-%d %H:%M}",
        "active": o.is_active(), "revoked by": o.revoked_by or "",
    } for o in overrides]), hide_index=True, key="comp_overrides")
    active = [o.id for o in overrides if o.is_active()]
    if active:
        r1, r2, r3 = st.columns([1, 2, 1])
        revoke_id = r1.selectbox("Override", active, key="comp_revoke_id")
        r2.text_input("Revoked by", key="comp_revoke_author", placeholder="your user name")
        if r3.button("Revoke", key="comp_revoke"):
            try:
                services.revoke_override(revoke_id, st.session_state["comp_revoke_author"])
            except MLTrainerError as exc:
                st.error(str(exc))
            else:
                st.rerun()

# -- plugins --------------------------------------------------------------------------------------------
st.subheader("Plugin models")
if services.plugins_available():
    try:
        statuses = ui.plugin_statuses()
    except MLTrainerError as exc:
        st.error(str(exc))
        statuses = []
    if statuses:
        st.dataframe(pd.DataFrame(statuses), hide_index=True, key="comp_plugins")
    else:
        st.caption("No plugin models installed. Upload a model file: it is scanned before anything is "
                   "written.")
    upload = st.file_uploader("Upload a model file (.py)", type=["py"], key="comp_plugin")
    if upload is not None and st.button("Scan and install", key="comp_install"):
        try:
            installed = services.install_plugin(upload.name, upload.getvalue(), actor="dashboard")
        except MLTrainerError as exc:
            st.error(str(exc))
        else:
            ui.plugin_statuses.clear()
            if installed.loaded:
                types = ", ".join(installed.model_types) or "none"
                st.success(f"Installed {upload.name}: model types {types} "
                           "are now on the Train page.")
            else:
                st.error(f"{upload.name} was written but not loaded: {installed.error}")
else:
    st.caption("Plugin upload arrives with the compliance plugin installer; until then, plugin files are "
               "not loaded.")

# -- audit trail ----------------------------------------------------------------------------------------
st.subheader("Audit trail")
try:
    verdict = services.verify_audit()
except MLTrainerError as exc:
    st.error(str(exc))
else:
    if verdict["ok"]:
        st.success(f"Chain verified: {verdict['records']} records, every hash matches.")
    else:
        st.error(f"Chain broken at record index {verdict['first_bad_index']} of {verdict['records']}: "
                 "a record was "
                 "edited, deleted, inserted or reordered.")
a, b = st.columns([1, 3])
limit = a.number_input("Newest records", min_value=1, max_value=5000, step=10, key="comp_audit_limit")
action = b.text_input("Action filter", key="comp_audit_action", placeholder="e.g. model.train or override.*")
try:
    log = services.audit_log(limit=int(limit), action=action.strip() or None)
except MLTrainerError as exc:
    st.error(str(exc))
    log = []
if log:
    st.dataframe(pd.DataFrame([{
        "seq": r["seq"], "time (UTC)": r["timestamp"][:19].replace("T", " "), "actor": r["actor"],
        "action": r["action"],
        "target": r["target"], "details": str(r["details"]), "hash": r["hash"][:16],
    } for r in log]), hide_index=True, key="comp_audit")
else:
    st.caption("No audit records" + (f" for {action!r}." if action else " yet."))
