"""One upload path: the embedded client, the JSON API (query or form fields), the
page's form and a remote client read the same fields the same way, and refuse
the same things, in the same order, with the same message."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry import Registry
from registry.errors import InvalidNameError
from tests.web.conftest import multipart_files, tar_of
from tests.web.live import LiveServer, token

TAR = {"Content-Type": "application/gzip"}
TAGS = ["GPT2", "Fine-Tuned, gpt2"]  # mixed case, comma-separated, a duplicate
STORED = ["fine-tuned", "gpt2"]
ALLOWED = "use letters, digits, '.', '_' and '-' (lowercased)"


def _login(client: TestClient) -> str:
    """Sign in as alice; return the upload form's CSRF token."""
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    page = client.get("/login")
    found = csrf.search(page.text)
    assert found
    client.post("/login", data={"token": token(client.app, "alice"),  # type: ignore[arg-type]
                                "csrf_token": found.group(1)})  # fmt: skip
    form = csrf.search(client.get("/upload").text)
    assert form
    return form.group(1)


def _by_api_query(client: TestClient, preset: Path, tags: list[str]) -> tuple[int, str]:
    alice = {"Authorization": f"Bearer {token(client.app, 'alice')}"}  # type: ignore[arg-type]
    response = client.post(
        "/api/v1/presets/alice/tagged/revisions",
        content=tar_of(preset),
        params={"tags": tags},
        headers={**alice, **TAR},
    )
    return response.status_code, response.text


def _by_api_form(client: TestClient, preset: Path, tags: list[str]) -> tuple[int, str]:
    alice = {"Authorization": f"Bearer {token(client.app, 'alice')}"}  # type: ignore[arg-type]
    response = client.post(
        "/api/v1/presets/alice/tagged/revisions",
        data={"tags": ",".join(tags)},
        files=multipart_files(preset),
        headers=alice,
    )
    return response.status_code, response.text


def _by_page_form(client: TestClient, preset: Path, tags: list[str]) -> tuple[int, str]:
    csrf = _login(client)
    response = client.post(
        "/upload",
        data={"csrf_token": csrf, "name": "tagged", "tags": ",".join(tags)},
        files=multipart_files(preset),
        follow_redirects=False,
    )
    return response.status_code, response.text


WAYS: dict[str, Callable[[TestClient, Path, list[str]], tuple[int, str]]] = {
    "api query": _by_api_query,
    "api form fields": _by_api_form,
    "page form": _by_page_form,
}


@pytest.mark.parametrize("way", WAYS)
def test_tags_are_lowercased_every_way_over_http(
    client: TestClient, keras_hub_preset: Path, way: str
) -> None:
    status, text = WAYS[way](client, keras_hub_preset, TAGS)
    assert status in (201, 303), text
    assert client.get("/api/v1/presets/alice/tagged").json()["tags"] == STORED


@pytest.mark.parametrize("way", WAYS)
def test_a_bad_tag_says_what_is_allowed_every_way_over_http(
    client: TestClient, keras_hub_preset: Path, home: Path, way: str
) -> None:
    blobs = sorted((home / "store" / "blobs" / "sha256").glob("*/*"))  # the demo's
    status, text = WAYS[way](client, keras_hub_preset, ["my tag!"])
    assert status == 422
    assert "tag &#39;my tag!&#39;" in text or "tag 'my tag!'" in text
    assert ALLOWED.replace("'", "&#39;") in text or ALLOWED in text
    assert sorted((home / "store" / "blobs" / "sha256").glob("*/*")) == blobs  # none stored


def test_the_embedded_client_reads_tags_the_same_way(
    tmp_path: Path, keras_hub_preset: Path
) -> None:
    with Registry(cache_dir=tmp_path / "home") as registry:
        uploaded = registry.upload(keras_hub_preset, "team/tagged", tags=TAGS)
        assert list(registry.info(uploaded.preset).tags) == STORED
        with pytest.raises(InvalidNameError, match=re.escape(ALLOWED)):
            registry.upload(keras_hub_preset, "team/other", tags=["my tag!"])
        assert registry.search(namespace="team").total == 1


def test_a_remote_client_refuses_a_bad_tag_before_sending(
    live: LiveServer, tmp_path: Path, keras_hub_preset: Path
) -> None:
    with Registry(live.url, cache_dir=tmp_path / "client", token=live.token("alice")) as remote:
        with pytest.raises(InvalidNameError, match=re.escape(ALLOWED)):
            remote.upload(keras_hub_preset, "tagged", tags=["my tag!"])
        uploaded = remote.upload(keras_hub_preset, "tagged", tags=TAGS)
        assert list(remote.info(uploaded.preset).tags) == STORED
    # Neither the upload nor the reads opened a catalog on the client's machine.
    assert not (tmp_path / "client" / "catalog.db").exists()


@pytest.mark.parametrize(
    ("fields", "status", "expected"),
    [
        ({"csrf_token": "forged", "name": "fine"}, 403, "CSRF"),
        ({"name": "a..b"}, 422, "preset &#39;a..b&#39; is not a valid name"),
        ({"name": "fine", "alias": "bad alias"}, 422, "alias &#39;bad alias&#39;"),
    ],
)
def test_the_page_form_checks_its_target_before_reading_files(
    client: TestClient, keras_hub_preset: Path, home: Path, fields: dict, status: int,
    expected: str,
) -> None:  # fmt: skip
    csrf = _login(client)
    services = client.app.state.services  # type: ignore[attr-defined]
    services.limits = type(services.limits)(max_file_bytes=10)  # any file is too large
    response = client.post(
        "/upload", data={"csrf_token": csrf, **fields}, files=multipart_files(keras_hub_preset)
    )
    assert response.status_code == status and expected in response.text, response.text
    assert list((home / "store" / "tmp").iterdir()) == []


def test_the_api_checks_its_fields_before_reading_files(
    client: TestClient, keras_hub_preset: Path
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    services.limits = type(services.limits)(max_file_bytes=10)
    alice = {"Authorization": f"Bearer {token(client.app, 'alice')}"}  # type: ignore[arg-type]
    response = client.post(
        "/api/v1/presets/alice/x/revisions",
        data={"alias": "bad alias"},
        files=multipart_files(keras_hub_preset),
        headers=alice,
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_name"


def test_form_fields_after_the_files_are_refused_clearly(
    client: TestClient, keras_hub_preset: Path
) -> None:
    alice = {"Authorization": f"Bearer {token(client.app, 'alice')}"}  # type: ignore[arg-type]
    boundary = "b0undary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{p.name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + p.read_bytes()
        + b"\r\n"
        for p in sorted(keras_hub_preset.iterdir())
        if p.is_file()
    ]
    late = f'--{boundary}\r\nContent-Disposition: form-data; name="tags"\r\n\r\ngpt2\r\n'
    body = b"".join(parts) + late.encode() + f"--{boundary}--\r\n".encode()
    response = client.post(
        "/api/v1/presets/alice/late/revisions",
        content=body,
        headers={**alice, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert "send the form's fields before its files" in response.json()["error"]["message"]


def test_an_unchecked_private_box_leaves_visibility_unchanged(
    client: TestClient, keras_hub_preset: Path
) -> None:
    alice = {"Authorization": f"Bearer {token(client.app, 'alice')}"}  # type: ignore[arg-type]
    first = client.post(
        "/api/v1/presets/alice/tagged/revisions",
        content=tar_of(keras_hub_preset),
        params={"private": True},
        headers={**alice, **TAR},
    )
    assert first.status_code == 201, first.text
    (keras_hub_preset / "README.md").write_text("# second revision\n")
    status, text = _by_page_form(client, keras_hub_preset, ["gpt2"])
    assert status == 303, text
    detail = client.get("/api/v1/presets/alice/tagged", headers=alice).json()
    assert detail["private"] and len(detail["revisions"]) == 2
