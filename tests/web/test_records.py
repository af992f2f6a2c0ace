"""The JSON API's shapes and error codes are defined once (`registry.records`,
`registry.errors.ERROR_CODES`): the server sends the catalog's records as they
are, its OpenAPI schema documents them, and the client reads them back whole."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from registry import errors
from registry.catalog.queries import EVERYONE, preset_detail, search_presets
from registry.records import PresetDetail, PresetSummary, RevisionInfo, SearchPage


def test_the_api_sends_the_catalogs_records_whole(client: TestClient) -> None:
    catalog = client.app.state.services.resolver.catalog  # type: ignore[attr-defined]
    with catalog.transaction(write=False) as session:
        detail = preset_detail(session, "keras/gpt2_tiny_demo", viewer=EVERYONE)
        page = search_presets(session, "gpt2", per_page=5)
    sent = client.get("/api/v1/presets/keras/gpt2_tiny_demo").json()
    assert PresetDetail.model_validate(sent) == detail
    assert sent["id"] == "keras/gpt2_tiny_demo" and sent["aliases"] == detail.aliases  # type: ignore[union-attr]
    listed = client.get("/api/v1/presets", params={"q": "gpt2", "per_page": 5}).json()
    assert SearchPage.model_validate(listed) == page and listed["pages"] == page.pages
    revision = client.get(
        f"/api/v1/presets/keras/gpt2_tiny_demo/revisions/{detail.latest_revision}"  # type: ignore[union-attr]
    ).json()
    assert RevisionInfo.model_validate(revision) == detail.revisions[0]  # type: ignore[union-attr]


@pytest.mark.parametrize("record", [PresetSummary, PresetDetail, SearchPage, RevisionInfo])
def test_openapi_documents_every_field_of_the_records(client: TestClient, record: type) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    documented = {
        name: schema for name, schema in schemas.items() if name.startswith(record.__name__)
    }
    fields = set(record.model_fields) | set(record.model_computed_fields)
    assert documented and all(set(s["properties"]) == fields for s in documented.values())


@pytest.mark.parametrize(("kind", "status", "code"), errors.ERROR_CODES)
def test_every_error_code_comes_back_as_its_class(
    kind: type[errors.RegistryError], status: int, code: str
) -> None:
    again = errors.error_from(code, "the server's message")
    assert str(again) == "the server's message"
    if status >= 500:  # the server's own trouble: it could not deliver
        assert type(again) is errors.SourceError
    else:
        assert errors.status_of(again) == (status, code)
        assert isinstance(again, kind) or errors.status_of(kind.from_message("")) == (status, code)


def test_an_unknown_code_is_a_source_error() -> None:
    assert type(errors.error_from("teapot", "short and stout")) is errors.SourceError
