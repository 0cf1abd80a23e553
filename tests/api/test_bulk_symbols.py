"""A bulk request survives any symbol string (issue 5 review): an empty or over-long ticker is reported
in ``errors`` instead of failing the whole batch with 422."""

from __future__ import annotations

from .conftest import AUTH


def test_bulk_survives_empty_and_overlong_symbols(client, models_home):
    model_id = models_home.ids["mean_reversion"]
    long_symbol = "A" * 33
    response = client.post("/api/models/predict/bulk", headers=AUTH,
                           json={"model_id": model_id, "symbols": ["AAPL", "", long_symbol, "MSFT"]})
    assert response.status_code == 200
    body = response.json()
    assert [p["symbol"] for p in body["predictions"]] == ["AAPL", "MSFT"]
    assert set(body["errors"]) == {"", long_symbol}
    assert all("Invalid symbol" in message for message in body["errors"].values())


def test_bulk_symbol_strings_are_still_bounded(bare_client):
    response = bare_client.post("/api/models/predict/bulk", headers=AUTH,
                                json={"model_id": "m", "symbols": ["A" * 201]})
    assert response.status_code == 422
