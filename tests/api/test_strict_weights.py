"""Ensemble weights in the API are strict numbers (issue 5 review): a JSON boolean or a numeric
string is 422 with a field message, not silently 1.0/0.0."""

from __future__ import annotations

import pytest

from .conftest import AUTH


@pytest.mark.parametrize("weights", [[True, 1.0], {"a": False, "b": 1.0}, [1, "2"], [-0.5, 1.0]])
def test_ensemble_weights_must_be_real_non_negative_numbers(bare_client, weights):
    ids = ["a", "b"]
    response = bare_client.post("/api/models/predict/ensemble", headers=AUTH,
                                json={"model_ids": ids, "symbol": "AAPL", "weights": weights})
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert any(loc[:2] == ["body", "weights"] for loc in locs), locs


def test_integer_weights_are_still_accepted(client, models_home):
    ids = [models_home.ids["mean_reversion"], models_home.ids["momentum_breakout"]]
    response = client.post("/api/models/predict/ensemble", headers=AUTH,
                           json={"model_ids": ids, "symbol": "AAPL", "weights": [3, 1]})
    assert response.status_code == 200
    assert response.json()["weights"] == {ids[0]: 0.75, ids[1]: 0.25}
