"""Data and Overview pages on the real offline data; the router smoke test over every page."""

from __future__ import annotations

import json

import pytest

from mltrainer import services

PAGES = ("overview", "data", "train", "predictions", "ensembles", "models", "compliance")
TITLES = ("Overview", "Market data", "Train a model", "Live signals", "Ensembles", "Model registry",
          "Compliance")


def test_data_page_shows_real_bars_and_provenance(page):
    at = page("data").run()
    assert not at.exception
    assert at.selectbox(key="data_symbol").value == "AAPL"
    at.selectbox(key="data_symbol").select("^GSPC").run()
    cards = {m.label: m.value for m in at.metric}
    assert cards == {"Source": "offline", "First bar (all history)": "1999-01-04", "Last bar": "2018-12-31",
                     "Bars (all history)": "5,031"}
    chart = at.get("plotly_chart")[0].proto.spec
    assert '"SMA 50"' in chart and '"SMA 200"' in chart
    # Collapsed sections are built only when opened.
    assert [e.label for e in at.expander] == ["Provenance", "Latest bars", "Available symbols (7)"]
    assert not at.dataframe and not at.json
    at.session_state["data_latest_open"] = True
    at.session_state["data_provenance_open"] = True
    at.run()
    assert not at.exception
    # Three years back from ^GSPC's last bar (2018-12-31); the provenance describes that window.
    provenance = json.loads(at.json[0].value)
    window = services.load_bars("^GSPC", start="2015-12-31")
    assert provenance["first"] == "2015-12-31" == str(window.index[0].date())
    assert provenance["rows"] == len(window) and provenance["last_bar"] == "2018-12-31"
    latest = at.dataframe[0].value
    bars = services.load_bars("^GSPC")
    assert latest.index[0] == bars.index[-1]
    assert latest["close"].iloc[0] == bars["close"].iloc[-1]


def test_overview_empty_state_says_what_to_do(page):
    at = page("overview").run()
    assert not at.exception
    cards = {m.label: m.value for m in at.metric}
    assert cards["Trained models"] == "0" and cards["Audit chain"] == "intact"
    assert "Open **Train**" in at.info[0].value
    assert "No compliance scan recorded yet" in at.info[1].value


def test_overview_counts_and_recents(page, models_home):
    services.predict_bulk(models_home.regime_id, ["AAPL", "IBM"])
    at = page("overview").run()
    assert not at.exception
    cards = {m.label: m.value for m in at.metric}
    audit = services.verify_audit()
    assert cards["Trained models"] == "2" and cards["Model types trained"] == "2"
    assert cards["Audit records"] == str(audit["records"]) and cards["Audit chain"] == "intact"
    models = at.dataframe[0].value
    assert set(models["model"]) == {models_home.regime_id, models_home.reversion_id}
    texts = [m.value for m in at.markdown]
    assert any(f"`{models_home.regime_id}` → AAPL, IBM" in t for t in texts)
    assert sum(f"`{models_home.reversion_id}` ·" in t for t in texts) == 1


def test_sidebar_shows_source_last_bar_and_keys_never_values(router, monkeypatch):
    monkeypatch.setenv("FRED_API_KEY", "fred-secret-value-123")
    at = router.run()
    captions = [c.value for c in at.sidebar.caption]
    # The offline stocks end on 2013-03-01, the indices on 2018-12-31: one "last bar" would mislead.
    assert captions == ["Offline data · stocks to 2013-03-01 · indices to 2018-12-31",
                        "— POLYGON_API_KEY not set",
                        "✅ FRED_API_KEY configured"]
    assert not any("fred-secret-value-123" in str(e) for e in at.sidebar)


@pytest.mark.parametrize("with_models", [False, True], ids=["empty-home", "trained-home"])
def test_every_page_runs_through_the_router(router, request, with_models):
    if with_models:
        request.getfixturevalue("models_home")
    at = router.run()
    for name, title in zip(PAGES, TITLES, strict=True):
        at.switch_page(f"pages/{name}.py").run()
        assert not at.exception, name
        assert [e.value for e in at.error] == [], name
        assert at.title[0].value == title


def test_polygon_source_without_bars_or_key_explains_itself(router, monkeypatch):
    monkeypatch.setenv("MLTRAINER_DATA_SOURCE", "polygon")
    at = router.run()
    assert [c.value for c in at.sidebar.caption][0] == (
        "Polygon · no bars stored yet (fetch a ticker on the Data page)")
    assert "POLYGON_API_KEY is not set" in at.sidebar.warning[0].value
    for name in PAGES:
        at.switch_page(f"pages/{name}.py").run()
        assert not at.exception, name
        assert [e.value for e in at.error] == [], name
    at.switch_page("pages/data.py").run()
    assert "No symbols stored for this source yet" in at.info[0].value
