"""Lineage over HTTP: `base_model` from the API's fields, the page's form, a card
committed with the stock huggingface_hub; returned by the JSON API, the Hub's
`cardData`, a remote `Registry`; shown and browsable on the pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from huggingface_hub.errors import HfHubHTTPError

from registry import Registry
from tests.web.conftest import multipart_files, tar_of
from tests.web.hub_writer import HUB_CLIENT_WARNINGS, writer_for
from tests.web.live import LiveServer, token

BASE = "keras/gpt2_base_en"


def _headers(client: TestClient, owner: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client.app, owner)}"}  # type: ignore[arg-type]


def _by_api_query(client: TestClient, preset: Path, fields: dict[str, str]) -> tuple[int, str]:
    response = client.post(
        "/api/v1/presets/alice/tuned/revisions",
        content=tar_of(preset),
        params=fields,
        headers={**_headers(client), "Content-Type": "application/gzip"},
    )
    return response.status_code, response.text


def _by_api_form(client: TestClient, preset: Path, fields: dict[str, str]) -> tuple[int, str]:
    response = client.post(
        "/api/v1/presets/alice/tuned/revisions",
        data=fields,
        files=multipart_files(preset),
        headers=_headers(client),
    )
    return response.status_code, response.text


def _by_page_form(client: TestClient, preset: Path, fields: dict[str, str]) -> tuple[int, str]:
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    login = csrf.search(client.get("/login").text)
    assert login
    client.post("/login", data={"token": token(client.app, "alice"),  # type: ignore[arg-type]
                                "csrf_token": login.group(1)})  # fmt: skip
    form = client.get("/upload")
    assert 'name="base_model"' in form.text
    found = csrf.search(form.text)
    assert found
    response = client.post(
        "/upload",
        data={"csrf_token": found.group(1), "name": "tuned", **fields},
        files=multipart_files(preset),
        follow_redirects=False,
    )
    return response.status_code, response.text


WAYS: dict[str, Callable[[TestClient, Path, dict[str, str]], tuple[int, str]]] = {
    "api query": _by_api_query,
    "api form fields": _by_api_form,
    "page form": _by_page_form,
}


@pytest.mark.parametrize("way", WAYS)
def test_base_model_is_taken_every_way_over_http(
    client: TestClient, keras_hub_preset: Path, way: str
) -> None:
    status, text = WAYS[way](client, keras_hub_preset, {"base_model": "gpt2_base_en"})
    assert status in (201, 303), text
    assert client.get("/api/v1/presets/alice/tuned").json()["base_model"] == BASE


@pytest.mark.parametrize("way", WAYS)
def test_an_invalid_base_model_is_refused_every_way_and_nothing_is_stored(
    client: TestClient, keras_hub_preset: Path, home: Path, way: str
) -> None:
    blobs = sorted((home / "store" / "blobs" / "sha256").glob("*/*"))  # the demo's
    status, text = WAYS[way](client, keras_hub_preset, {"base_model": "not a/name"})
    assert status == 422, text
    expected = "base_model 'not a/name' is not a preset name: use namespace/name"
    assert expected in text or expected.replace("'", "&#39;") in text
    assert sorted((home / "store" / "blobs" / "sha256").glob("*/*")) == blobs
    assert client.get("/api/v1/presets/alice/tuned").status_code == 404


def test_a_card_names_the_base_and_the_field_wins(
    client: TestClient, keras_hub_preset: Path
) -> None:
    (keras_hub_preset / "README.md").write_text("---\nbase_model: [gpt2_medium_en]\n---\n# T\n")
    status, text = _by_api_form(client, keras_hub_preset, {})
    assert status == 201, text
    assert client.get("/api/v1/presets/alice/tuned").json()["base_model"] == "keras/gpt2_medium_en"
    status, text = _by_api_query(client, keras_hub_preset, {"base_model": BASE})
    assert status == 200, text  # the same files: the same revision, a new base
    assert client.get("/api/v1/presets/alice/tuned").json()["base_model"] == BASE


def _upload(client: TestClient, preset: Path, name: str, base: str, *, private: bool = False,
            owner: str = "alice") -> None:  # fmt: skip
    params = {"base_model": base, **({"private": "true"} if private else {})}
    response = client.post(
        f"/api/v1/presets/{owner}/{name}/revisions",
        content=tar_of(preset),
        params=params,
        headers={**_headers(client, owner), "Content-Type": "application/gzip"},
    )
    assert response.status_code == 201, response.text


def test_the_json_api_and_the_hub_routes_return_it(
    client: TestClient, keras_hub_preset: Path
) -> None:
    _upload(client, keras_hub_preset, "tuned", BASE)
    found = client.get("/api/v1/presets", params={"base_model": BASE, "sort": "name"}).json()
    assert [p["id"] for p in found["items"]] == ["keras/gpt2_base_en_cnn_dailymail", "alice/tuned"]
    assert client.get("/api/v1/presets", params={"base_model": "x" * 257}).status_code == 422
    hub = client.get("/api/models/alice/tuned").json()
    assert hub["cardData"] == {"base_model": BASE}
    assert client.get("/api/models/keras/gpt2_tiny_demo").json()["cardData"] == {
        "license": "Apache-2.0"
    }


def test_the_pages_show_the_base_and_the_fine_tunes(
    client: TestClient, keras_hub_preset: Path
) -> None:
    _upload(client, keras_hub_preset, "tuned", BASE)
    _upload(client, keras_hub_preset, "hidden", BASE, private=True)
    _upload(client, keras_hub_preset, "elsewhere", "Qwen/Qwen2.5-0.5B")
    page = client.get("/presets/alice/tuned").text
    assert f'Fine-tuned from <a href="/presets/{BASE}">{BASE}</a>' in page
    elsewhere = client.get("/presets/alice/elsewhere").text  # not in this catalog: no link
    assert "Fine-tuned from <code>Qwen/Qwen2.5-0.5B</code>" in elsewhere
    base = client.get(f"/presets/{BASE}").text
    assert "Fine-tuned from this" in base and "Fine-tuned from <" not in base
    listed = re.findall(r'<ul class="fine-tunes">(.*?)</ul>', base, re.S)[0]
    assert re.findall(r'href="/presets/([^"]+)"', listed) == [
        "keras/gpt2_base_en_cnn_dailymail", "alice/tuned"
    ]  # by name  # fmt: skip
    assert "alice/hidden" not in base  # private: not for anonymous visitors
    assert "Fine-tuned from this" not in client.get("/presets/alice/tuned").text
    catalog = client.get("/", params={"base_model": BASE}).text
    assert 'name="base_model" value="keras/gpt2_base_en"' in catalog
    assert "2 presets fine-tuned from keras/gpt2_base_en" in " ".join(catalog.split())
    assert "/presets/alice/tuned" in catalog and "/presets/alice/elsewhere" not in catalog


def test_the_card_page_hides_the_front_matter(client: TestClient, keras_hub_preset: Path) -> None:
    (keras_hub_preset / "README.md").write_text(f"---\nbase_model: {BASE}\n---\n# My summarizer\n")
    _upload(client, keras_hub_preset, "carded", BASE)
    page = client.get("/presets/alice/carded").text
    assert "<h1>My summarizer</h1>" in page and f"base_model: {BASE}" not in page


# === Live: a remote Registry, the stock huggingface_hub ===


def test_a_remote_registry_uploads_and_reads_it(
    live: LiveServer, tmp_path: Path, keras_hub_preset: Path
) -> None:
    with Registry(live.url, cache_dir=tmp_path / "client", token=live.token("alice")) as remote:
        uploaded = remote.upload(keras_hub_preset, "tuned", base_model="gpt2_base_en")
        assert remote.info(uploaded.preset).base_model == BASE
        assert remote.info("gpt2_base_en_cnn_dailymail").base_model == BASE
        found = remote.search(base_model=BASE, sort="name")
        assert [p.id for p in found.items] == ["keras/gpt2_base_en_cnn_dailymail", "alice/tuned"]


@HUB_CLIENT_WARNINGS
def test_a_hub_commit_with_a_card_sets_it(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keras_hub_preset: Path
) -> None:
    writer = writer_for(live, monkeypatch, tmp_path)
    writer.api.create_repo("alice/hubbed")
    (keras_hub_preset / "README.md").write_text(
        "---\nlibrary_name: keras-hub\nbase_model:\n- keras/gpt2_base_en\n---\n# Hubbed\n"
    )
    writer.api.upload_folder(repo_id="alice/hubbed", folder_path=keras_hub_preset)
    info = writer.api.model_info("alice/hubbed")
    assert info.card_data is not None and info.card_data.base_model == BASE
    # A card whose base_model is not a name is refused like any bad upload.
    heads = writer.counts("alice/hubbed")
    with pytest.raises(HfHubHTTPError, match=r"README\.md of alice/hubbed: base_model 'a b'"):
        writer.api.upload_file(
            path_or_fileobj=b"---\nbase_model: a b\n---\n# Hubbed\n",
            path_in_repo="README.md",
            repo_id="alice/hubbed",
        )
    assert writer.counts("alice/hubbed") == heads and writer.leftovers() == []
    # A card without the field keeps the base the preset has.
    writer.api.upload_file(
        path_or_fileobj=b"---\nlicense: mit\n---\n# Hubbed\n",
        path_in_repo="README.md",
        repo_id="alice/hubbed",
    )
    info = writer.api.model_info("alice/hubbed")
    assert info.card_data is not None and info.card_data.base_model == BASE
