"""The JSON API: search, presets, revisions, files, uploads, aliases, deletes, auth."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import h5py
import pytest
from fastapi.testclient import TestClient

from registry import blobio
from registry.architectures import allowlist
from registry.preset.manifest import build_manifest
from tests.web.conftest import multipart_files, tar_of
from tests.web.live import token

TAR = {"Content-Type": "application/gzip"}


def _leftovers(home: Path) -> list[Path]:
    return [p for p in (home / "store" / "tmp").iterdir()]


def _blobs(home: Path) -> set[str]:
    return {p.name for p in (home / "store" / "blobs" / "sha256").glob("*/*")}


def _error(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


def test_search_lists_the_builtins_and_the_demo(client: TestClient) -> None:
    gpt2 = {"sort": "name", "architecture": "GPT2Backbone"}
    body = client.get("/api/v1/presets", params=gpt2).json()
    names = [p["id"] for p in body["items"]]
    assert "keras/gpt2_tiny_demo" in names and "keras/gpt2_medium_en" in names
    assert body["total"] == len(names) and body["total_is_exact"]
    every = client.get("/api/v1/presets", params={"per_page": 100}).json()
    assert every["total"] == len(allowlist.builtin_presets()) + 1
    assert {p["architecture"] for p in every["items"]} >= set(allowlist.specs())
    synced = client.get("/api/v1/presets", params={"synced": True}).json()["items"]
    assert [p["id"] for p in synced] == ["keras/gpt2_tiny_demo"]
    paged = client.get("/api/v1/presets", params={**gpt2, "per_page": 2, "page": 2})
    assert [p["id"] for p in paged.json()["items"]] == names[2:4]
    big = client.get("/api/v1/presets", params={**gpt2, "min_parameters": 700_000_000}).json()
    assert {p["id"] for p in big["items"]} == {"keras/gpt2_large_en", "keras/gpt2_extra_large_en"}


@pytest.mark.parametrize(
    "params",
    [{"per_page": 0}, {"per_page": 101}, {"page": 0}, {"sort": "size"}, {"min_parameters": -1}],
)
def test_bad_search_parameters_are_422(client: TestClient, params: dict) -> None:
    response = client.get("/api/v1/presets", params=params)
    assert response.status_code == 422
    assert _error(response)["code"] == "invalid_request"


def test_a_preset_its_revisions_and_files(client: TestClient) -> None:
    detail = client.get("/api/v1/presets/keras/gpt2_tiny_demo").json()
    assert detail["parameter_count"] == 78144 and detail["aliases"]["latest"]
    digest = detail["latest_revision"]
    revision = client.get(f"/api/v1/presets/keras/gpt2_tiny_demo/revisions/{digest[:10]}")
    assert revision.json()["digest"] == digest
    files = {f["path"]: f for f in revision.json()["files"]}
    url = f"/api/v1/presets/keras/gpt2_tiny_demo/revisions/{digest}/files/model.weights.h5"
    whole = client.get(url)
    assert hashlib.sha256(whole.content).hexdigest() == files["model.weights.h5"]["sha256"]
    assert whole.headers["etag"] == f'"{files["model.weights.h5"]["sha256"]}"'
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    head = client.head(url)
    assert int(head.headers["content-length"]) == files["model.weights.h5"]["size"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/presets/keras/nope",
        "/api/v1/presets/keras/gpt2_tiny_demo/revisions/deadbeefdeadbeef",
        "/api/v1/presets/keras/gpt2_tiny_demo/revisions/latest/files/absent.json",
        "/api/v1/presets/keras/gpt2_base_en/revisions/latest",
    ],
)
def test_missing_things_are_404_with_an_error_body(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_upload_files_and_archives(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path, home: Path
) -> None:
    assert client.get("/api/v1/presets", params={"namespace": "alice"}).json()["total"] == 0
    response = client.post(
        "/api/v1/presets/alice/tiny/revisions",
        files=multipart_files(keras_hub_preset, prefix="tiny/"),
        data={"description": "A tiny GPT-2", "tags": "gpt2, tiny"},
        headers=alice,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    expected = build_manifest(keras_hub_preset)
    assert body["revision"]["digest"] == expected.revision_id
    assert body["created"] and body["parameter_count"] == 28256 and body["alias"] == "latest"
    detail = client.get("/api/v1/presets/alice/tiny").json()
    assert detail["description"] == "A tiny GPT-2" and detail["tags"] == ["gpt2", "tiny"]
    found = client.get("/api/v1/presets", params={"namespace": "alice"}).json()  # not stale
    assert [p["id"] for p in found["items"]] == ["alice/tiny"]
    assert detail["owner"] == "alice" and detail["source_kind"] == "upload"
    # The same files as an archive: the same revision, nothing stored twice.
    blobs = _blobs(home)
    again = client.post(
        "/api/v1/presets/alice/tiny/revisions",
        content=tar_of(keras_hub_preset, prefix="./"),
        headers={**alice, **TAR},
    )
    assert again.status_code == 200 and not again.json()["created"]
    assert _blobs(home) == blobs
    assert _leftovers(home) == []


def test_a_new_revision_moves_latest_only_when_committed(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path
) -> None:
    first = client.post(
        "/api/v1/presets/alice/tiny/revisions",
        content=tar_of(keras_hub_preset),
        headers={**alice, **TAR},
    ).json()["revision"]["digest"]
    (keras_hub_preset / "README.md").write_text("# tiny\n\nVersion two.\n")
    second = client.post(
        "/api/v1/presets/alice/tiny/revisions",
        content=tar_of(keras_hub_preset),
        params={"message": "add a card"},
        headers={**alice, **TAR},
    ).json()["revision"]
    assert second["digest"] != first and second["message"] == "add a card"
    detail = client.get("/api/v1/presets/alice/tiny").json()
    assert detail["aliases"] == {"latest": second["digest"]}
    assert [r["digest"] for r in detail["revisions"]] == [second["digest"], first]
    moved = client.put(
        "/api/v1/presets/alice/tiny/aliases/stable", json={"revision": first[:12]}, headers=alice
    )
    assert moved.json()["revision"] == first
    assert client.get("/api/v1/presets/alice/tiny").json()["aliases"]["stable"] == first


def test_a_refused_upload_leaves_nothing(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path, home: Path
) -> None:
    with h5py.File(keras_hub_preset / "model.weights.h5", "a") as file:
        del file["layers/position_embedding/vars/0"]
        file.create_dataset("layers/position_embedding/vars/0", shape=(65, 32), dtype="float32")
    blobs = _blobs(home)
    response = client.post(
        "/api/v1/presets/alice/bad/revisions",
        content=tar_of(keras_hub_preset),
        headers={**alice, **TAR},
    )
    assert response.status_code == 422
    assert _error(response)["code"] == "weights_mismatch"
    assert "(65, 32)" in _error(response)["message"]
    assert _blobs(home) == blobs and _leftovers(home) == []
    assert client.get("/api/v1/presets/alice/bad").status_code == 404


def test_a_full_server_disk_is_a_507_and_leaves_nothing(
    client: TestClient,
    alice: dict[str, str],
    keras_hub_preset: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(writer: blobio.BlobWriter, view: memoryview) -> None:
        raise writer._failed(OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(blobio.BlobWriter, "_write", full)
    blobs = _blobs(home)
    for body, headers in (
        (tar_of(keras_hub_preset), {**alice, **TAR}),
        (None, alice),
    ):
        response = client.post(
            "/api/v1/presets/alice/full/revisions",
            content=body,
            files=None if body else multipart_files(keras_hub_preset),
            headers=headers,
        )
        assert response.status_code == 507
        assert _error(response)["code"] == "storage_error"
        assert "No space left on device" in _error(response)["message"]
    assert _blobs(home) == blobs and _leftovers(home) == []
    assert client.get("/api/v1/presets/alice/full").status_code == 404


def test_writes_need_a_write_token_and_ownership(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path
) -> None:
    body = tar_of(keras_hub_preset)
    url = "/api/v1/presets/alice/tiny/revisions"
    anonymous = client.post(url, content=body, headers=TAR)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    reader = {"Authorization": f"Bearer {token(client.app, 'alice', 'read')}"}  # type: ignore[arg-type]
    assert client.post(url, content=body, headers={**reader, **TAR}).status_code == 403
    bogus = {"Authorization": "Bearer kpr_not-a-token"}
    assert _error(client.post(url, content=body, headers={**bogus, **TAR}))["code"] == (
        "unauthorized"
    )
    # alice may not create presets in bob's namespace, nor touch keras/ presets.
    assert client.post("/api/v1/presets/bob/x/revisions", content=body,
                       headers={**alice, **TAR}).status_code == 403  # fmt: skip
    assert client.delete("/api/v1/presets/keras/gpt2_tiny_demo", headers=alice).status_code == 403
    assert client.post(url, content=body, headers={**alice, **TAR}).status_code == 201
    bob = {"Authorization": f"Bearer {token(client.app, 'bob')}"}  # type: ignore[arg-type]
    assert client.post(url, content=body, headers={**bob, **TAR}).status_code == 403
    assert client.delete("/api/v1/presets/alice/tiny", headers=bob).status_code == 403
    assert client.delete("/api/v1/presets/alice/tiny", headers=alice).status_code == 204
    assert client.get("/api/v1/presets/alice/tiny").status_code == 404


def test_private_presets_are_visible_only_to_their_owner(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path
) -> None:
    client.post(
        "/api/v1/presets/alice/secret/revisions",
        content=tar_of(keras_hub_preset),
        params={"private": True},
        headers={**alice, **TAR},
    )
    assert client.get("/api/v1/presets/alice/secret").status_code == 404
    assert client.get("/api/v1/presets/alice/secret", headers=alice).json()["private"]
    ids = [p["id"] for p in client.get("/api/v1/presets", params={"q": "secret"}).json()["items"]]
    assert ids == []
    mine = client.get("/api/v1/presets", params={"q": "secret"}, headers=alice).json()
    assert [p["id"] for p in mine["items"]] == ["alice/secret"]
    assert client.get("/api/models/alice/secret").status_code == 404
    assert client.get("/api/models/alice/secret", headers=alice).status_code == 200


# A literal ".." is removed by the client's URL normalisation and a "%2F" is
# decoded before routing, so neither reaches the route: "%2E%2E" arrives as the
# name "..". Slashes are refused by the validator itself (test_attacks.py).
@pytest.mark.parametrize("name", ["%2E%2E", "%2e%2e", "a..b", "x" * 200])
def test_bad_preset_names_are_refused_before_the_body(
    client: TestClient, alice: dict[str, str], name: str
) -> None:
    response = client.post(
        f"/api/v1/presets/alice/{name}/revisions", content=b"x", headers={**alice, **TAR}
    )
    assert response.status_code == 422, response.text
    assert _error(response)["code"] == "invalid_name"


def test_limits_are_enforced_while_streaming(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path, home: Path
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    services.limits = type(services.limits)(max_file_bytes=10_000)
    response = client.post(
        "/api/v1/presets/alice/big/revisions",
        files=multipart_files(keras_hub_preset),
        headers=alice,
    )
    assert response.status_code == 413
    assert "10000-byte limit" in _error(response)["message"]
    assert _leftovers(home) == []


def test_unsupported_bodies(client: TestClient, alice: dict[str, str]) -> None:
    url = "/api/v1/presets/alice/x/revisions"
    text = client.post(url, content=b"hello", headers={**alice, "Content-Type": "text/plain"})
    assert text.status_code == 400 and "multipart/form-data" in _error(text)["message"]
    junk = client.post(url, content=b"\x1f\x8b junk", headers={**alice, **TAR})
    assert junk.status_code == 422
    empty = client.post(url, files=[], data={"a": "b"}, headers=alice)
    assert empty.status_code in (400, 422)


def test_a_server_on_its_own_disk_asks_uploads_for_no_sha256(client: TestClient) -> None:
    # A server on a bucket asks for them (tests/scale/test_upload_stream.py).
    assert client.get("/api/v1/upload-options").json() == {"announce_sha256_from": None}


def test_whoami(client: TestClient, alice: dict[str, str]) -> None:
    assert client.get("/api/v1/whoami").json() == {"owner": None, "scope": None,
                                                  "token_name": None}  # fmt: skip
    assert client.get("/api/v1/whoami", headers=alice).json()["owner"] == "alice"


def test_openapi_documents_the_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/v1/presets", "/api/v1/presets/{namespace}/{name}/revisions", "/health"):
        assert path in schema["paths"]
    assert "ErrorBody" in json.dumps(schema)


def test_a_bad_tag_is_refused_before_anything_is_stored(
    client: TestClient, alice: dict[str, str], keras_hub_preset: Path, home: Path
) -> None:
    blobs = _blobs(home)
    response = client.post(
        "/api/v1/presets/alice/tagged/revisions",
        content=tar_of(keras_hub_preset),
        params={"tags": ["Not a tag!"]},
        headers={**alice, **TAR},
    )
    assert response.status_code == 422 and _error(response)["code"] == "invalid_name"
    assert _blobs(home) == blobs and _leftovers(home) == []
