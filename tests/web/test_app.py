"""The web application factory."""

from __future__ import annotations

from fastapi.testclient import TestClient

from registry import __version__
from web.app import create_app


def test_health() -> None:
    with TestClient(create_app()) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_openapi_lists_health() -> None:
    with TestClient(create_app()) as client:
        assert "/health" in client.get("/openapi.json").json()["paths"]
