"""Ensembles page: sliders are normalised live; the result is the service's ensemble."""

from __future__ import annotations

from mltrainer import services


def _ids(models_home):
    # The page lists the registry newest first and preselects the first two.
    return models_home.reversion_id, models_home.regime_id


def test_weights_are_normalised_live(page, models_home):
    first, second = _ids(models_home)
    at = page("ensembles").run()
    assert at.multiselect(key="ens_models").value == [first, second]
    assert at.caption[0].value == f"Normalised weights: {first} 50% · {second} 50%"

    at.slider(key=f"ens_w_{first}").set_value(0.3).run()
    at.slider(key=f"ens_w_{second}").set_value(0.9).run()
    # 0.3 / 1.2 = 0.25 and 0.9 / 1.2 = 0.75
    table = at.dataframe[0].value
    assert list(table["model"]) == [first, second]
    assert list(table["normalised weight"]) == [0.25, 0.75]
    assert at.caption[0].value == f"Normalised weights: {first} 25% · {second} 75%"

    at.slider(key=f"ens_w_{first}").set_value(0.35).run()
    assert list(at.dataframe[0].value["normalised weight"]) == [round(0.35 / 1.25, 4), round(0.9 / 1.25, 4)]
    assert list(at.dataframe[0].value["normalised weight"]) == [0.28, 0.72]


def test_ensemble_signal_matches_the_service(page, models_home):
    first, second = _ids(models_home)
    at = page("ensembles").run()
    at.slider(key=f"ens_w_{first}").set_value(0.25).run()
    at.slider(key=f"ens_w_{second}").set_value(0.75).run()
    at.button(key="ens_submit").click().run()

    assert not at.exception and [e.value for e in at.error] == []
    expected = services.predict_ensemble([first, second], "AAPL", weights={first: 0.25, second: 0.75})
    cards = {m.label: m.value for m in at.metric}
    assert cards["Signal"] == expected.label
    assert cards["Score"] == f"{expected.score:+.3f}"
    assert cards["Agreement"] == f"{expected.agreement:.0%}"
    assert f"Weights used (given): {first} 25% · {second} 75%" in [c.value for c in at.caption]
    members = at.dataframe[-1].value
    assert list(members["model"]) == [first, second]
    assert list(members["weight used"]) == [0.25, 0.75]
    assert len(at.get("plotly_chart")) == 1


def test_oos_weights_are_shown_with_the_result(page, models_home):
    at = page("ensembles").run()
    at.radio(key="ens_mode").set_value("oos").run()
    at.button(key="ens_submit").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    used = next(c.value for c in at.caption if c.value.startswith("Weights used (oos):"))
    expected = services.predict_ensemble(list(_ids(models_home)), "AAPL", weights="oos")
    assert used == "Weights used (oos): " + " · ".join(f"{m} {w:.0%}" for m, w in expected.weights.items())


def test_all_zero_weights_show_an_error(page, models_home):
    first, second = _ids(models_home)
    at = page("ensembles").run()
    at.slider(key=f"ens_w_{first}").set_value(0.0).run()
    at.slider(key=f"ens_w_{second}").set_value(0.0).run()
    assert not at.exception
    assert len(at.error) == 1 and "positive" in at.error[0].value


def test_needs_two_models(page):
    at = page("ensembles").run()
    assert not at.exception and "at least two trained models" in at.info[0].value


def test_result_is_dropped_when_the_request_changes(page, models_home):
    first, second = _ids(models_home)
    at = page("ensembles").run()

    def shown_signal():
        return {m.label: m.value for m in at.metric}.get("Signal")

    at.button(key="ens_submit").click().run()
    expected = services.predict_ensemble([first, second], "AAPL", weights={first: 0.5, second: 0.5})
    assert shown_signal() == expected.label
    at.run()  # an unrelated rerun keeps it
    assert shown_signal() == expected.label

    at.slider(key=f"ens_w_{first}").set_value(0.3).run()
    assert shown_signal() is None and at.get("plotly_chart") == []
    assert any("Press **Compute ensemble signal**" in c.value for c in at.caption)

    at.button(key="ens_submit").click().run()
    assert at.subheader[0].value.startswith("AAPL ensemble signal")
    at.selectbox(key="ens_symbol").select("MSFT").run()
    assert shown_signal() is None

    at.button(key="ens_submit").click().run()
    assert at.subheader[0].value.startswith("MSFT ensemble signal")
    at.radio(key="ens_mode").set_value("equal").run()
    assert shown_signal() is None

    at.button(key="ens_submit").click().run()
    assert shown_signal() == services.predict_ensemble([first, second], "MSFT", weights=None).label
    at.multiselect(key="ens_models").set_value([second, first]).run()
    assert shown_signal() is None


def test_all_hold_members_explain_the_empty_contribution_chart(page, models_home):
    first, second = _ids(models_home)
    at = page("ensembles").run()
    # On the offline bars both AAPL-trained models say HOLD on AAPL's last bar, BUY/HOLD on ^GSPC.
    at.button(key="ens_submit").click().run()
    members = services.predict_ensemble([first, second], "AAPL").members
    assert [m.label for m in members] == ["HOLD", "HOLD"]
    assert len(at.get("plotly_chart")) == 1
    assert ("Every member says HOLD, so none contributes to the score: the contribution bars are all zero."
            in [c.value for c in at.caption])

    at.selectbox(key="ens_symbol").select("^GSPC").run()
    at.button(key="ens_submit").click().run()
    assert [m.label for m in services.predict_ensemble([first, second], "^GSPC").members] == ["BUY", "HOLD"]
    assert not any("none contributes" in c.value for c in at.caption)
