"""Models page: registry table with OOS metrics, comparison, details and signature status, delete."""

from __future__ import annotations

from mltrainer import services
from mltrainer.backtest import METRIC_INFO
from mltrainer.registry import get_registry
from mltrainer.ui import format_metric, metric_label


def test_registry_table_and_comparison(page, models_home):
    at = page("models").run()
    assert not at.exception and [e.value for e in at.error] == []
    table = at.dataframe[0].value
    records = {r.model_id: r for r in services.list_models()}
    assert set(table["model"]) == {models_home.regime_id, models_home.reversion_id}
    for row in table.to_dict(orient="records"):
        record = records[row["model"]]
        assert row["Sharpe ratio"] == format_metric("sharpe", record.metrics["sharpe"])
        assert row["Total return"] == format_metric("total_return", record.metrics["total_return"])
        assert row["data"] == "2008-01-02 → 2012-12-31"

    comparison = at.table[0].value  # two models preselected
    assert set(comparison.columns) == set(records)
    # Every metric is a row on screen (a dataframe's default height hid those after the tenth, e.g. DSR).
    assert list(comparison.index) == [metric_label(n) for n in METRIC_INFO]
    assert len(comparison) == 15 and comparison.index[-1] == metric_label("dsr")
    for model_id, record in records.items():
        assert comparison.loc[metric_label("dsr"), model_id] == format_metric("dsr", record.metrics["dsr"])
    for model_id, record in records.items():
        assert comparison.loc["Sharpe ratio", model_id] == format_metric("sharpe", record.metrics["sharpe"])
    chart = at.get("plotly_chart")[0].proto
    assert models_home.regime_id in chart.spec and models_home.reversion_id in chart.spec


def test_details_show_signature_and_fingerprint(page, models_home):
    at = page("models").run()
    at.selectbox(key="models_detail").select(models_home.regime_id).run()
    record = services.get_model(models_home.regime_id)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Signature"] == "verified"
    assert cards["Data range"] == "2008-01-02 → 2012-12-31"
    assert cards["Bars"] == f"{record.data_rows:,}" == "1,259"
    assert any(record.data_fingerprint in m.value for m in at.markdown)


def test_tampered_artifact_shows_failed_signature_and_delete_needs_confirmation(page):
    result = services.train_model("mean_reversion", "AAPL", start="2010-01-01", end="2012-12-31", n_splits=3)
    path = get_registry().artifact_file(result.model_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    at = page("models").run()
    assert {m.label: m.value for m in at.metric}["Signature"] == "FAILED"
    assert any("does not match its signature" in e.value for e in at.error)

    at.button(key="models_delete").click().run()
    assert services.list_models() != []  # the first click only asks
    assert f"Delete **{result.model_id}**" in at.warning[0].value
    at.button(key="models_delete_cancel").click().run()
    assert len(services.list_models()) == 1

    at.button(key="models_delete").click().run()
    at.button(key="models_delete_confirm").click().run()
    assert not at.exception
    assert services.list_models() == []
    assert "The registry is empty" in at.info[0].value
    assert [r["action"] for r in services.audit_log(limit=1)] == ["model.delete"]
