"""ui helpers that turn service results into sidebar text (hand-written inputs)."""

from __future__ import annotations

from mltrainer import ui


def test_data_caption_shows_stocks_and_indices_when_they_differ():
    status = {"label": "Offline data", "last_bar": "2018-12-31",
              "last_bar_by_kind": {"stocks": "2013-03-01", "indices": "2018-12-31"}}
    assert ui.data_caption(status) == "Offline data · stocks to 2013-03-01 · indices to 2018-12-31"


def test_data_caption_one_day_when_they_agree_or_one_kind():
    assert ui.data_caption({"label": "Polygon", "last_bar": "2013-03-01",
                            "last_bar_by_kind": {"stocks": "2013-03-01"}}) == "Polygon · last bar 2013-03-01"
    assert ui.data_caption({"label": "Polygon", "last_bar": "2020-01-02",
                            "last_bar_by_kind": {"stocks": "2020-01-02", "indices": "2020-01-02"}}
                           ) == "Polygon · last bar 2020-01-02"


def test_data_caption_empty_store():
    assert ui.data_caption({"label": "Polygon", "last_bar": None, "last_bar_by_kind": {}}) == (
        "Polygon · no bars stored yet (fetch a ticker on the Data page)")
