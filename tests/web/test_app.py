"""The web application factory."""

from __future__ import annotations

from fastapi.testclient import TestClient

from registry import __version__
from web.app import create_app


def test_health() -> None:
    with TestClient(create_app()) as client:
        response = client.get("/health")
        client.app.state.services.index.wait()  # type: ignore[attr-defined]
        built = client.get("/health").json()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"] == __version__
    assert body["search_index"] in ("building", "ready")
    assert built["search_index"] == "ready"


def test_openapi_lists_health() -> None:
    with TestClient(create_app()) as client:
        assert "/health" in client.get("/openapi.json").json()["paths"]
