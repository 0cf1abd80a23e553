"""Train: a form with the model, data range, parameters and costs; progress while training; the
out-of-sample results of the registered model."""

import datetime as dt

import streamlit as st

from mltrainer import services, ui
from mltrainer.errors import InvalidInputError, MLTrainerError

ui.through_router()  # deep links straight after server start

MIN_DATE, MAX_DATE = dt.date(1980, 1, 1), dt.date(2100, 12, 31)


@st.cache_data(ttl="5m", show_spinner=False)
def _symbols() -> list[str]:
    return services.list_symbols()


def _init_state(types: list[dict], symbols: list[str], backend: str | None) -> None:
    ui.init_state({
        "train_model_type": types[0]["model_type"] if types else None,
        "train_symbol": "AAPL" if "AAPL" in symbols else (symbols[0] if symbols else None),
        "train_start": None, "train_end": None, "train_cost_bps": 5.0, "train_splits": 5,
        # With Celery workers configured the queue is where training belongs; otherwise in-process.
        "train_background": backend == "celery", "train_last_model_id": None, "train_job_id": None, "train_job_error": None,
    })


def _param_widget(model_type: str, spec: dict):
    """One input per model parameter, default and help text from the model's own spec."""
    key = f"train_param_{model_type}_{spec['name']}"
    label, default, help_ = spec["name"], spec["default"], spec.get("help")
    if spec.get("choices"):
        choices = list(spec["choices"])
        return st.selectbox(label, choices, index=choices.index(default) if default in choices else 0,
                            key=key, help=help_)
    if spec["type"] == "bool":
        return st.checkbox(label, value=bool(default), key=key, help=help_)
    if spec["type"] == "int":
        return int(st.number_input(label, value=int(default), step=1, key=key, help=help_,
                                   min_value=None if spec.get("min") is None else int(spec["min"]),
                                   max_value=None if spec.get("max") is None else int(spec["max"])))
    if spec["type"] == "float":
        # Bounds are checked by the model (exclusive ones too) so its message explains the fix.
        return float(st.number_input(label, value=float(default), key=key, help=help_, format="%.4g"))
    return st.text_input(label, value="" if default is None else str(default), key=key, help=help_)


@st.fragment(run_every="1s")
def _poll_job() -> None:
    job_id = st.session_state.get("train_job_id")
    if not job_id:
        return
    try:
        job = services.job_status(job_id)
    except MLTrainerError as exc:
        st.error(str(exc))
        return
    st.progress(float(job.get("progress") or 0.0),
                text=f"job {job_id}: {job['state']} — {job.get('message') or ''}")
    if job["state"] == "succeeded":
        st.session_state["train_job_id"] = None
        st.session_state["train_last_model_id"] = job.get("model_id")
        st.rerun()
    elif job["state"] == "failed":
        st.session_state["train_job_id"] = None
        reason = job.get("message") or job.get("error") or "no message"
        st.session_state["train_job_error"] = f"Job {job_id} failed: {reason}"
        st.rerun()


st.title("Train a model")
try:
    types = services.model_types()  # not cached: an installed plugin adds a type at once
    symbols = _symbols()
    backend = services.jobs_backend()
except MLTrainerError as exc:
    st.error(str(exc))
    st.stop()
_init_state(types, symbols, backend)
by_type = {t["model_type"]: t for t in types}

# Outside the form so that the parameter inputs follow the chosen type at once.
model_type = st.selectbox("Model type", list(by_type), key="train_model_type",
                          format_func=lambda t: by_type[t]["label"])
st.caption(by_type[model_type]["description"])
jobs = backend is not None

with st.form("train_form"):
    c1, c2, c3 = st.columns(3)
    symbol = c1.selectbox("Symbol", symbols, key="train_symbol", accept_new_options=True,
                          help="Offline symbols work without keys; with Polygon type any ticker.")
    start = c2.date_input("Start (empty = first bar)", key="train_start", min_value=MIN_DATE,
                          max_value=MAX_DATE)
    end = c3.date_input("End (empty = last bar)", key="train_end", min_value=MIN_DATE, max_value=MAX_DATE)
    c4, c5 = st.columns(2)
    cost_bps = c4.number_input("Costs per fill (bps of notional)", min_value=0.0, max_value=500.0, step=0.5,
                               key="train_cost_bps", help="Commission + spread, charged on every fill.")
    splits = c5.number_input("Walk-forward folds", min_value=2, max_value=20, step=1, key="train_splits",
                             help="Each fold trains on the past and is tested on the next window; only test "
                                  "windows count in the results.")
    st.markdown("**Parameters** (defaults from the model)")
    params = {}
    spec_columns = st.columns(3)
    for i, spec in enumerate(by_type[model_type]["params"]):
        with spec_columns[i % 3]:
            params[spec["name"]] = _param_widget(model_type, spec)
    background = False
    if jobs:
        where = "Celery workers" if backend == "celery" else "a process pool in this server"
        background = st.checkbox("Run in background (job queue)", key="train_background",
                                 help=f"Submit a job to {where} and follow its progress; the page stays "
                                      "usable.")
    submitted = st.form_submit_button("Train", type="primary", key="train_submit")

if submitted:
    st.session_state["train_job_error"] = None
    try:
        # Only what the analyst changed: defaults stay the model's own (e.g. an empty macro list).
        request = {"params": services.changed_params(model_type, params), "start": start, "end": end,
                   "cost_bps": float(cost_bps), "n_splits": int(splits)}
        if not symbol:
            raise InvalidInputError("Pick a symbol, or type a ticker the data source offers.")
        if background:
            st.session_state["train_job_id"] = services.submit_training_job(
                model_type, symbol, actor="dashboard", **request)
        else:
            bar = st.progress(0.0, text="starting")
            result = services.train_model(
                model_type, symbol, actor="dashboard",
                progress=lambda f, msg: bar.progress(min(1.0, f), text=msg), **request)
            st.session_state["train_last_model_id"] = result.model_id
            st.success(f"Trained and registered **{result.model_id}** in {result.timings['total_s']:.1f} s.")
    except MLTrainerError as exc:
        st.error(str(exc))

if jobs and st.session_state["train_job_id"]:
    _poll_job()
if st.session_state["train_job_error"]:
    st.error(st.session_state["train_job_error"])

model_id = st.session_state["train_last_model_id"]
if model_id:
    st.header("Out-of-sample results")
    try:
        record = services.get_model(model_id)
        ui.render_review(ui.cached_review(model_id, str(record.created_at)), key_prefix="train")
    except MLTrainerError as exc:
        st.error(str(exc))
else:
    st.info("Fill in the form and press **Train**. Results — out-of-sample metrics beside buy and hold, "
            "equity, drawdown, folds, trades and a lookahead check — appear here.")
