"""The LFS batch API and its transfers: what the stock client sends (multipart
forced by a small part size), and what it must never get away with."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.signing import signer_for
from tests.web.hub_writer import HUB_CLIENT_WARNINGS, Writer, files_of, writer_for
from tests.web.live import LiveServer

pytestmark = HUB_CLIENT_WARNINGS
DATA = b"some weights " * 5000


@pytest.fixture()
def writer(live: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Writer:
    writer = writer_for(live, monkeypatch, tmp_path)
    writer.api.create_repo("alice/tiny")
    return writer


def _batch(writer: Writer, *objects: tuple[str, int], token: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{writer.live.url}/alice/tiny.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": oid, "size": size} for oid, size in objects],
            "hash_algo": "sha256",
            "ref": {"name": "main"},
        },
        headers={
            "Authorization": f"Bearer {token or writer.token}",
            "Accept": "application/vnd.git-lfs+json",
        },
    )


def _upload_action(writer: Writer, data: bytes) -> dict[str, Any]:
    answer = _batch(writer, (hashlib.sha256(data).hexdigest(), len(data)))
    assert answer.status_code == 200, answer.text
    action: dict[str, Any] = answer.json()["objects"][0]["actions"]["upload"]
    return action


def _small_parts(writer: Writer, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    services = writer.live.app.state.services
    monkeypatch.setattr(
        services, "settings", dataclasses.replace(services.settings, lfs_chunk_bytes=size)
    )


def test_multipart_uploads(
    writer: Writer, keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _small_parts(writer, monkeypatch, 64 << 10)
    weights = (keras_hub_preset / "model.weights.h5").read_bytes()  # 202,480 bytes: 4 parts
    action = _upload_action(writer, weights)
    assert action["header"]["chunk_size"] == str(64 << 10)
    assert sorted(k for k in action["header"] if k.isdigit()) == ["1", "2", "3", "4"]
    assert action["href"].startswith(writer.live.url + "/api/lfs/complete/")
    info = writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    assert hashlib.sha256(weights).hexdigest() in writer.blobs()
    assert writer.leftovers() == []
    local = writer.api.snapshot_download("alice/tiny", revision=info.oid, cache_dir=tmp_path / "c")
    assert files_of(Path(local)) == files_of(keras_hub_preset)


def test_a_part_or_a_whole_that_is_not_what_was_sent_is_refused(
    writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_parts(writer, monkeypatch, 32 << 10)
    action = _upload_action(writer, DATA)  # 65,000 bytes: 2 parts
    header = action["header"]
    etags = []
    for number, piece in ((1, DATA[: 32 << 10]), (2, DATA[32 << 10 :])):
        put = httpx.put(header[str(number)], content=piece)
        assert put.status_code == 200 and put.headers["ETag"]
        etags.append(put.headers["ETag"])
    wrong = httpx.post(
        action["href"],
        json={
            "oid": "x",
            "parts": [{"partNumber": 1, "etag": etags[1]}, {"partNumber": 2, "etag": etags[1]}],
        },
    )
    assert wrong.status_code == 422 and "part 1" in wrong.json()["error"]
    # The parts went with the refusal: the client starts over.
    assert writer.leftovers() == [] and hashlib.sha256(DATA).hexdigest() not in writer.blobs()
    too_long = httpx.put(header["1"], content=DATA[: (32 << 10) + 1])
    assert too_long.status_code == 422 and writer.leftovers() == []


def test_bytes_that_are_not_the_announced_object_are_refused(writer: Writer) -> None:
    href = _upload_action(writer, DATA)["href"]
    before = writer.blobs()
    for body in (DATA[:-1] + b"?", DATA[:-1], DATA + b"?"):
        put = httpx.put(href, content=body)
        assert put.status_code == 422, put.text
        assert hashlib.sha256(DATA).hexdigest() in put.json()["error"]
        assert put.headers["X-Error-Message"]
    assert writer.blobs() == before and writer.leftovers() == []
    assert httpx.put(href, content=DATA).status_code == 200
    assert hashlib.sha256(DATA).hexdigest() in writer.blobs()


def test_an_object_stored_already_gets_no_actions(writer: Writer) -> None:
    assert httpx.put(_upload_action(writer, DATA)["href"], content=DATA).status_code == 200
    oid = hashlib.sha256(DATA).hexdigest()
    stored = _batch(writer, (oid, len(DATA))).json()["objects"][0]
    assert stored == {"oid": oid, "size": len(DATA), "authenticated": True}
    verify = httpx.post(
        f"{writer.live.url}/alice/tiny.git/info/lfs/objects/verify",
        json={"oid": oid, "size": len(DATA)},
        headers={"Authorization": f"Bearer {writer.token}"},
    )
    assert verify.status_code == 200


def test_forged_or_expired_upload_urls_are_refused(writer: Writer) -> None:
    href = _upload_action(writer, DATA)["href"]
    forged = href[:-2] + ("AA" if not href.endswith("AA") else "BB")
    refused = httpx.put(forged, content=DATA)
    assert refused.status_code == 403 and "forged, altered or expired" in refused.json()["error"]
    claims = {"repo": "alice/tiny", "oid": hashlib.sha256(DATA).hexdigest(), "size": len(DATA)}
    signer = signer_for(writer.live.app.state.services.settings)
    expired = signer.sign("lfs-objects", claims, ttl=-1).token
    assert (
        httpx.put(f"{writer.live.url}/api/lfs/objects/{expired}", content=DATA).status_code == 403
    )
    # A part's URL is no object's URL (each is signed for its purpose).
    assert httpx.put(href.replace("/objects/", "/parts/"), content=DATA).status_code == 403
    assert writer.leftovers() == []


def test_the_batch_api_needs_the_owners_write_token(writer: Writer) -> None:
    oid = (hashlib.sha256(DATA).hexdigest(), len(DATA))
    anonymous = httpx.post(f"{writer.live.url}/alice/tiny.git/info/lfs/objects/batch", json={})
    assert anonymous.status_code == 401 and anonymous.headers["X-Error-Code"] == "RepoNotFound"
    assert _batch(writer, oid, token=writer.live.token("bob")).status_code == 403
    assert _batch(writer, oid, token=writer.live.token("alice", "read")).status_code == 403
    bad = _batch(writer, ("f" * 63, 1), (oid[0], -1)).json()["objects"]
    assert [o["error"]["code"] for o in bad] == [422, 422]


def test_preupload_modes_and_what_the_branch_holds(writer: Writer, keras_hub_preset: Path) -> None:
    writer.api.upload_folder(repo_id="alice/tiny", folder_path=keras_hub_preset)
    config = (keras_hub_preset / "config.json").read_bytes()
    weights = (keras_hub_preset / "model.weights.h5").read_bytes()
    files = [
        ("config.json", config),
        ("model.weights.h5", weights),
        ("pytorch_model.bin", b"\x80\x04pickle"),
        ("notes.txt", b"new"),
    ]
    answer = httpx.post(
        f"{writer.live.url}/api/models/alice/tiny/preupload/main",
        json={
            "files": [
                {"path": p, "sample": base64.b64encode(d[:512]).decode(), "size": len(d)}
                for p, d in files
            ]
        },
        headers={"Authorization": f"Bearer {writer.token}"},
    ).json()["files"]
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(config) + config).hexdigest()
    assert answer == [
        {"path": "config.json", "uploadMode": "regular", "shouldIgnore": False, "oid": git_sha1},
        {
            "path": "model.weights.h5",
            "uploadMode": "lfs",
            "shouldIgnore": False,
            "oid": hashlib.sha256(weights).hexdigest(),
        },
        {"path": "pytorch_model.bin", "uploadMode": "lfs", "shouldIgnore": True, "oid": None},
        {"path": "notes.txt", "uploadMode": "regular", "shouldIgnore": False, "oid": None},
    ]
