"""The web application factory."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
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


def test_the_first_requests_after_a_start_build_no_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recent FastAPI releases derive an included route's dependencies on the
    first request reaching it; the app has them all derived once it started."""
    with TestClient(create_app()) as client:
        derived: list[object] = []
        build = fastapi.routing.get_dependant

        def counted(*args: Any, **kwargs: Any) -> Any:
            derived.append(kwargs.get("call"))
            return build(*args, **kwargs)

        monkeypatch.setattr(fastapi.routing, "get_dependant", counted)
        for path in ("/", "/api/v1/presets", "/api/models/a/b", "/xet/v1/reconstructions/x"):
            assert client.get(path).status_code < 500
    assert derived == []
