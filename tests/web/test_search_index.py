"""The server's in-memory search index: searches answered without the database
once it is built, changes shown at once, and the settings that turn it and the
response cache off."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import web.services
from registry.catalog.queries import ANONYMOUS, search_presets
from registry.config import Settings
from tests.web.conftest import multipart_files
from tests.web.live import settings_at
from web.app import create_app
from web.services import Services


def _services(client: TestClient) -> Services:
    found: Services = client.app.state.services  # type: ignore[attr-defined]
    return found


def _no_database(*args: object, **kwargs: object) -> None:
    raise AssertionError("the search asked the database")


def test_searches_are_answered_from_memory_once_built(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _services(client)
    assert svc.index is not None
    svc.index.wait()
    assert client.get("/health").json()["search_index"] == "ready"
    with svc.resolver.catalog.transaction(write=False) as session:
        expected = search_presets(session, "gpt2 base", sort="parameters", viewer=ANONYMOUS)
    monkeypatch.setattr(web.services, "search_presets", _no_database)
    answered = client.get("/api/v1/presets", params={"q": "gpt2 base", "sort": "parameters"})
    assert answered.status_code == 200
    assert answered.json() == expected.model_dump(mode="json")
    assert expected.total > 0
    page = client.get("/", params={"q": "bert", "sort": "name"})  # the catalog page too
    assert page.status_code == 200 and "bert" in page.text.lower()


def test_a_change_shows_at_once_and_the_index_catches_up(
    client: TestClient,
    alice: dict[str, str],
    keras_hub_preset: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = _services(client)
    assert svc.index is not None
    svc.index.wait()
    search = {"q": "tiny", "namespace": "alice"}
    assert client.get("/api/v1/presets", params=search).json()["items"] == []
    built = svc.index.builds
    uploaded = client.post(
        "/api/v1/presets/alice/tiny/revisions",
        files=multipart_files(keras_hub_preset, prefix="tiny/"),
        data={"description": "A tiny GPT-2"},
        headers=alice,
    )
    assert uploaded.status_code == 201, uploaded.text
    # The index is behind the catalog now: the database answers, with the upload.
    found = client.get("/api/v1/presets", params={**search, "sort": "name"}).json()
    assert [p["id"] for p in found["items"]] == ["alice/tiny"]
    svc.index.wait()
    assert svc.index.builds > built
    monkeypatch.setattr(web.services, "search_presets", _no_database)
    again = client.get("/api/v1/presets", params={**search, "sort": "updated"}).json()
    assert [p["id"] for p in again["items"]] == ["alice/tiny"]
    assert again["items"][0]["latest_revision"] == uploaded.json()["revision"]["digest"]


def test_index_and_response_cache_can_be_turned_off(home: Path) -> None:
    settings = Settings.from_env({"REGISTRY_HOME": str(home), "REGISTRY_SEARCH_INDEX": "0",
                                  "REGISTRY_RESPONSE_CACHE": "0"})  # fmt: skip
    assert not settings.search_index and not settings.response_cache
    defaults = Settings.from_env({"REGISTRY_HOME": str(home)})
    assert defaults.search_index and defaults.response_cache
    off = dataclasses.replace(settings_at(home), search_index=False, response_cache=False)
    with TestClient(create_app(off)) as client:
        svc = _services(client)
        assert svc.index is None
        assert client.get("/health").json()["search_index"] == "off"
        first = client.get("/api/v1/presets", params={"q": "gpt2"})
        assert first.status_code == 200 and first.json()["total"] > 0
        assert client.get("/api/v1/presets", params={"q": "gpt2"}).json() == first.json()
        assert svc.cache._entries == {}  # nothing stored
