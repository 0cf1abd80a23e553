"""Train page: the form trains on real offline AAPL and the cards show the registry's OOS figures."""

from __future__ import annotations

import datetime as dt

import pytest

from mltrainer import services
from mltrainer.ui import CARD_METRICS, format_metric, metric_label


def _fill(at, model_type="mean_reversion", start=dt.date(2008, 1, 1), end=dt.date(2012, 12, 31)):
    at.selectbox(key="train_model_type").select(model_type).run()
    at.selectbox(key="train_symbol").select("AAPL")
    at.date_input(key="train_start").set_value(start)
    at.date_input(key="train_end").set_value(end)
    at.number_input(key="train_splits").set_value(3)
    return at


def test_train_form_shows_registry_oos_metrics(page):
    at = _fill(page("train").run())
    at.number_input(key="train_param_mean_reversion_entry_z").set_value(1.5)
    at.number_input(key="train_cost_bps").set_value(10.0)
    at.button(key="train_submit").click().run()

    assert not at.exception
    assert [e.value for e in at.error] == []
    records = services.list_models()
    assert len(records) == 1
    record = records[0]
    assert record.model_type == "mean_reversion" and record.symbol == "AAPL"
    assert record.params["entry_z"] == 1.5 and record.cost_bps == 10.0 and record.n_splits == 3
    assert str(record.train_start) == "2008-01-02" and str(record.train_end) == "2012-12-31"
    assert at.success[0].value.startswith(f"Trained and registered **{record.model_id}**")

    cards = {m.label: m for m in at.metric}
    for name in CARD_METRICS:
        card = cards[metric_label(name)]
        assert card.value == format_metric(name, record.metrics[name])
        bench = record.buy_and_hold.get(name)
        if bench is not None:
            assert card.delta == f"buy & hold {format_metric(name, bench)}"
    # The formatting itself, spelled out: fractions as percent with 2 decimals, counts whole.
    assert cards["Total return"].value == f"{record.metrics['total_return'] * 100:.2f}%"
    assert cards["Number of trades"].value == str(int(record.metrics["n_trades"]))

    folds = at.dataframe[1].value
    assert list(folds["fold"]) == [1, 2, 3]
    assert list(folds["test bars"]) == [f["test_rows"] for f in record.folds]
    causal = "Causal: predictions on bars truncated at 10 cut points"
    assert any(s.value.startswith(causal) for s in at.success)
    assert at.get("progress")[0].value == 100
    assert "out of sample" in at.info[0].value


def test_train_invalid_date_range_shows_error_and_registers_nothing(page):
    at = _fill(page("train").run(), start=dt.date(2012, 12, 31), end=dt.date(2008, 1, 1))
    at.button(key="train_submit").click().run()

    assert not at.exception
    assert len(at.error) == 1
    assert "is after end" in at.error[0].value and "swap them" in at.error[0].value
    assert services.list_models() == []


def test_train_too_short_range_explains_the_fix(page):
    at = _fill(page("train").run(), model_type="momentum_breakout", start=dt.date(2012, 1, 3),
               end=dt.date(2012, 6, 29))
    at.button(key="train_submit").click().run()

    assert not at.exception
    assert len(at.error) == 1 and "needs at least" in at.error[0].value
    assert services.list_models() == []


def test_param_inputs_follow_the_model_type_with_its_defaults(page):
    at = page("train").run()
    for spec_type in services.model_types():
        at.selectbox(key="train_model_type").select(spec_type["model_type"]).run()
        for spec in spec_type["params"]:
            key = f"train_param_{spec_type['model_type']}_{spec['name']}"
            widget = at.checkbox(key=key) if spec["type"] == "bool" else (
                at.text_input(key=key) if spec["type"] == "str" else at.number_input(key=key))
            assert widget.value == spec["default"], key
            assert widget.help == spec["help"]


@pytest.mark.slow
def test_background_job_trains_and_shows_the_same_results(page):
    from mltrainer.jobs.local import shutdown_local_pool

    at = _fill(page("train").run())
    at.checkbox(key="train_background").check()
    at.button(key="train_submit").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    job_id = at.session_state["train_job_id"]
    assert job_id and services.job_status(job_id)["state"] in {"queued", "running", "succeeded"}
    try:
        shutdown_local_pool(wait=True)  # returns once the pool's job has finished: no polling or sleeping
    finally:
        shutdown_local_pool(wait=False)
    at.run()

    assert not at.exception and [e.value for e in at.error] == []
    status = services.job_status(job_id)
    assert status["state"] == "succeeded"
    assert at.session_state["train_last_model_id"] == status["model_id"]
    assert at.session_state["train_job_id"] is None
    record = services.get_model(status["model_id"])
    cards = {m.label: m.value for m in at.metric}
    assert cards["Sharpe ratio"] == format_metric("sharpe", record.metrics["sharpe"])


def test_untouched_parameters_keep_the_models_own_defaults(page):
    at = _fill(page("train").run(), model_type="gradient_boosting", start=dt.date(2009, 1, 1))
    at.button(key="train_submit").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    [record] = services.list_models()
    # The text box shows "" for an empty macro list; the model must still get its own default.
    assert record.params["macro_series"] == [] and record.params["n_estimators"] == 100


@pytest.mark.slow
def test_failed_background_job_shows_its_reason(page):
    from mltrainer.jobs.local import shutdown_local_pool

    at = _fill(page("train").run(), model_type="momentum_breakout", start=dt.date(2012, 1, 3),
               end=dt.date(2012, 6, 29))
    at.checkbox(key="train_background").check()
    at.button(key="train_submit").click().run()
    job_id = at.session_state["train_job_id"]
    try:
        shutdown_local_pool(wait=True)
    finally:
        shutdown_local_pool(wait=False)
    at.run()

    assert not at.exception
    assert services.job_status(job_id)["state"] == "failed"
    assert len(at.error) == 1
    assert at.error[0].value.startswith(f"Job {job_id} failed: ") and "needs at least" in at.error[0].value
    assert services.list_models() == []


def test_background_is_the_default_only_with_celery(page, monkeypatch):
    at = page("train").run()
    assert not at.exception
    assert services.jobs_backend() == "local"
    assert at.checkbox(key="train_background").value is False  # in-process training by default

    # Only the setting is read here: nothing is submitted, so no broker needs to be running.
    monkeypatch.setenv("MLTRAINER_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert services.jobs_backend() == "celery"
    at = page("train").run()
    assert not at.exception
    assert at.checkbox(key="train_background").value is True
