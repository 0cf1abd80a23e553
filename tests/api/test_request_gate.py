"""Request gate of the API (issue 5 review): a streamed (chunked) body is limited by the bytes that
arrive, and the bearer token is checked before any body is read."""

from __future__ import annotations

import pytest

from mltrainer.api import MAX_BODY_BYTES

from .conftest import AUTH


def _chunks(total: int, size: int = 64 * 1024):
    """A request body streamed in pieces: httpx sends it chunked, with no Content-Length."""
    prefix = b'{"model_id": "m", "symbol": "AAPL", "pad": "'
    yield prefix
    left = total - len(prefix) - 2
    while left > 0:
        n = min(size, left)
        yield b"x" * n
        left -= n
    yield b'"}'


def test_chunked_body_over_the_limit_is_413_not_parsed(bare_client):
    response = bare_client.post("/api/models/predict", content=_chunks(3_000_000),
                                headers=AUTH | {"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body too large; the limit is {MAX_BODY_BYTES} bytes.",
                               "error": "PayloadTooLarge"}


def test_chunked_body_under_the_limit_is_served(bare_client):
    body = b'{"model_id": "no_such_model", "symbol": "AAPL"}'
    response = bare_client.post("/api/models/predict", content=iter([body[:10], body[10:]]),
                                headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 404 and "no_such_model" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_unauthenticated_malformed_body_is_401_not_422(bare_client, headers):
    response = bare_client.post("/api/models/predict", content=b"{not json",
                                headers=headers | {"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "model_id" not in response.text  # nothing about the API's fields leaks before auth


def test_unauthenticated_chunked_oversized_body_is_401(bare_client):
    response = bare_client.post("/api/models/predict", content=_chunks(3_000_000),
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 401
