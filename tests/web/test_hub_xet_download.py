"""Downloads through Xet's read path: the stock client with hf_xet (what
`pip install huggingface_hub` installs) fetching segments of stored blobs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub import snapshot_download as hub_snapshot_download
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.xet import segments
from registry.xet.xorb import HEADER_BYTES, parse_header
from tests.web.conftest import upload_tar
from tests.web.live import LiveServer, live_server, settings_at
from web.api import xet_offer, xet_read

# Small chunks and segments, so the tiny presets' files cross many of each.
SMALL = segments.Layout(chunk_bytes=4096, segment_chunks=5)


class Paths:
    """An ASGI wrapper that records the paths the server is asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.seen.append(scope["path"])
            await app(scope, receive, send)

        return recorded

    def count(self, part: str) -> int:
        return sum(part in path for path in self.seen)


@pytest.fixture()
def paths() -> Paths:
    return Paths()


@pytest.fixture()
def xet_hub(
    home: Path, keras_hub_preset: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[LiveServer]:  # fmt: skip
    """A live server offering Xet for every file, holding alice/tiny (public)
    and alice/secret (private)."""
    monkeypatch.setattr(xet_offer, "XET_MIN_BYTES", 1)
    monkeypatch.setattr(xet_read, "LAYOUT", SMALL)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
    with live_server(settings_at(home), wrap=paths.wrap) as live:
        alice = {"Authorization": f"Bearer {live.token('alice')}"}
        for name, private in (("tiny", False), ("secret", True)):
            response = upload_tar(live.url, alice, f"alice/{name}", keras_hub_preset,
                                  private=private)  # fmt: skip
            assert response.status_code == 201, response.text
        monkeypatch.setenv("HF_ENDPOINT", live.url)
        yield live


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_stock_client_downloads_through_xet(
    xet_hub: LiveServer, keras_hub_preset: Path, paths: Paths, tmp_path: Path
) -> None:
    weights = keras_hub_preset / "model.weights.h5"
    url = hf_hub_url("alice/tiny", "model.weights.h5", endpoint=xet_hub.url)
    metadata = get_hf_file_metadata(url)
    assert metadata.xet_file_data is not None
    assert metadata.xet_file_data.file_hash == _sha256(weights)

    local = hub_snapshot_download("alice/tiny", endpoint=xet_hub.url, cache_dir=tmp_path / "c")
    for path in keras_hub_preset.rglob("*"):
        if path.is_file():
            got = Path(local) / path.relative_to(keras_hub_preset)
            assert got.read_bytes() == path.read_bytes(), path.name
    # Every file came through Xet: reconstructions and segments, no plain GET of a file.
    files = sum(1 for p in keras_hub_preset.rglob("*") if p.is_file())
    assert paths.count("/xet/v1/reconstructions/") == files
    assert paths.count("/xet/v1/segments/") >= SMALL.segment_count(weights.stat().st_size)


def test_with_xet_disabled_the_client_gets_the_plain_file(
    xet_hub: LiveServer, keras_hub_preset: Path, paths: Paths, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_XET", True)
    path = hf_hub_download(
        "alice/tiny", "model.weights.h5", endpoint=xet_hub.url, cache_dir=tmp_path / "c"
    )
    assert Path(path).read_bytes() == (keras_hub_preset / "model.weights.h5").read_bytes()
    assert paths.count("/xet/") == 0


def _read_token(live: LiveServer, repo: str, rev: str, token: str | None = None) -> str:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    url = f"{live.url}/api/models/{repo}/xet-read-token/{rev}"
    answer = httpx.get(url, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Xet-Access-Token"]


def _commit(live: LiveServer, repo: str, token: str | None = None) -> str:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return str(httpx.get(f"{live.url}/api/models/{repo}", headers=headers).json()["sha"])


def _reconstruct(live: LiveServer, token: str, sha256: str, byte_range: str | None) -> bytes:
    """What a Xet client makes of the reconstruction: each term's chunks,
    fetched from its URL with its range, headers stripped, from the offset in
    the first chunk on."""
    headers = {"Authorization": f"Bearer {token}"}
    if byte_range is not None:
        headers["Range"] = byte_range
    answer = httpx.get(f"{live.url}/xet/v1/reconstructions/{sha256}", headers=headers)
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    data = bytearray()
    for term in plan["terms"]:
        (fetch,) = plan["fetch_info"][term["hash"]]
        assert fetch["range"] == term["range"]
        span = fetch["url_range"]
        got = httpx.get(fetch["url"], headers={"Range": f"bytes={span['start']}-{span['end']}"})
        assert got.status_code == 206
        body, at, unpacked = got.content, 0, bytearray()
        while at < len(body):
            header = parse_header(body, at)
            assert header.scheme == 0
            unpacked += body[at + HEADER_BYTES : at + HEADER_BYTES + header.compressed]
            at += HEADER_BYTES + header.compressed
        assert len(unpacked) == term["unpacked_length"]
        data += unpacked
    return bytes(data[plan["offset_into_first_range"] :])


@pytest.mark.parametrize(
    "byte_range",
    [
        None,
        "bytes=0-0",
        "bytes=4095-4096",
        "bytes=20479-20480",
        "bytes=5000-70000",
        "bytes=100000-",
        "bytes=-1",
        "bytes=-30000",
    ],
)
def test_a_reconstruction_gives_the_bytes_asked_for(
    xet_hub: LiveServer, keras_hub_preset: Path, byte_range: str | None
) -> None:
    content = (keras_hub_preset / "model.weights.h5").read_bytes()
    sha256 = hashlib.sha256(content).hexdigest()
    token = _read_token(xet_hub, "alice/tiny", _commit(xet_hub, "alice/tiny"))
    got = _reconstruct(xet_hub, token, sha256, byte_range)
    if byte_range is None:
        assert got == content
    else:
        first, _, last = byte_range.removeprefix("bytes=").partition("-")
        if not first:
            expected = content[-int(last) :]
        else:
            expected = content[int(first) : int(last) + 1 if last else None]
        # Terms are whole chunks: the client cuts the last one to the range it asked.
        assert got[: len(expected)] == expected
        assert len(got) - len(expected) < SMALL.chunk_bytes


def test_a_read_token_reads_its_own_revision_only(
    xet_hub: LiveServer, keras_hub_preset: Path, hf_preset: Path
) -> None:
    alice = xet_hub.token("alice")
    headers = {"Authorization": f"Bearer {alice}"}
    other = upload_tar(xet_hub.url, headers, "alice/other", hf_preset, private=True)
    assert other.status_code == 201
    private_sha = _sha256(hf_preset / "model.safetensors")
    token = _read_token(xet_hub, "alice/tiny", _commit(xet_hub, "alice/tiny"))
    # A file of another revision, even one its holder could read, is not this token's.
    asked = httpx.get(
        f"{xet_hub.url}/xet/v1/reconstructions/{private_sha}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert asked.status_code == 404
    # No token, a write token, an API token: 401.
    sha256 = _sha256(keras_hub_preset / "model.weights.h5")
    for bearer in (None, alice, _write_token(xet_hub, alice)):
        auth = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
        asked = httpx.get(f"{xet_hub.url}/xet/v1/reconstructions/{sha256}", headers=auth)
        assert asked.status_code == 401, bearer


def _write_token(live: LiveServer, api_token: str) -> str:
    url = f"{live.url}/api/models/alice/tiny/xet-write-token/main"
    answer = httpx.get(url, headers={"Authorization": f"Bearer {api_token}"})
    assert answer.status_code == 200
    return str(answer.json()["accessToken"])


def test_a_private_repository_gives_read_tokens_to_its_readers_only(xet_hub: LiveServer) -> None:
    url = f"{xet_hub.url}/api/models/alice/secret/xet-read-token/main"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 404
    assert anonymous.headers["X-Error-Code"] == "RepoNotFound"
    bob = httpx.get(url, headers={"Authorization": f"Bearer {xet_hub.token('bob', 'read')}"})
    assert bob.status_code == 404
    alice = xet_hub.token("alice", "read")
    assert _read_token(xet_hub, "alice/secret", "main", alice)


def test_a_private_repository_downloads_through_xet_with_a_token(
    xet_hub: LiveServer, keras_hub_preset: Path, paths: Paths, tmp_path: Path
) -> None:
    token = xet_hub.token("alice", "read")
    path = hf_hub_download(
        "alice/secret", "model.weights.h5", endpoint=xet_hub.url, token=token,
        cache_dir=tmp_path / "c",
    )  # fmt: skip
    assert Path(path).read_bytes() == (keras_hub_preset / "model.weights.h5").read_bytes()
    assert paths.count("/xet/v1/segments/") > 0


def test_segment_urls_are_signed_and_checked(xet_hub: LiveServer, keras_hub_preset: Path) -> None:
    sha256 = _sha256(keras_hub_preset / "model.weights.h5")
    token = _read_token(xet_hub, "alice/tiny", _commit(xet_hub, "alice/tiny"))
    plan = httpx.get(
        f"{xet_hub.url}/xet/v1/reconstructions/{sha256}",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    url = plan["fetch_info"][plan["terms"][0]["hash"]][0]["url"]
    assert httpx.get(url).status_code == 200
    forged = url.replace(sha256, _sha256(keras_hub_preset / "config.json"))
    assert httpx.get(forged).status_code == 403  # a URL names one file
    assert httpx.get(url[:-3] + "abc").status_code == 403
    past_the_end = url.replace(f"/{sha256}/0?", f"/{sha256}/999?")
    assert httpx.get(past_the_end).status_code == 404


def test_files_below_the_threshold_are_not_offered(
    xet_hub: LiveServer, keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xet_offer, "XET_MIN_BYTES", 10_000)
    small = httpx.head(f"{xet_hub.url}/alice/tiny/resolve/main/config.json")
    large = httpx.head(f"{xet_hub.url}/alice/tiny/resolve/main/model.weights.h5")
    assert "X-Xet-Hash" not in small.headers
    assert large.headers["X-Xet-Hash"] == _sha256(keras_hub_preset / "model.weights.h5")
    commit = large.headers["X-Repo-Commit"]
    assert f"/api/models/alice/tiny/xet-read-token/{commit}>" in large.headers["Link"]


def test_the_server_can_turn_xet_downloads_off(
    home: Path, keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xet_offer, "XET_MIN_BYTES", 1)
    settings = dataclasses.replace(settings_at(home), xet_downloads=False)
    with live_server(settings) as live:
        alice = {"Authorization": f"Bearer {live.token('alice')}"}
        upload_tar(live.url, alice, "alice/tiny", keras_hub_preset).raise_for_status()
        head = httpx.head(f"{live.url}/alice/tiny/resolve/main/model.weights.h5")
        assert head.status_code == 200
        assert "X-Xet-Hash" not in head.headers


def test_layouts_cut_every_size_into_the_bytes_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = segments.Layout(chunk_bytes=7, segment_chunks=3)
    monkeypatch.setattr(segments, "BATCH_BYTES", 14)  # two chunks a batch
    for size in (1, 6, 7, 8, 20, 21, 22, 63, 64):
        blob = tmp_path / f"b{size}"
        content = bytes(range(size))
        blob.write_bytes(content)
        sha256 = hashlib.sha256(content).hexdigest()
        plan = layout.reconstruction(sha256, size, 0, size, str)
        assert sum(t["unpacked_length"] for t in plan["terms"]) == size
        assert len(plan["terms"]) == layout.segment_count(size)
        rebuilt = bytearray()
        fd = os.open(blob, os.O_RDONLY)
        try:
            for index in range(layout.segment_count(size)):
                length = layout.segment_length(size, index)
                source = segments.file_source(fd)
                whole = b"".join(bytes(b) for b in layout.read(source, size, index, 0, length))
                assert len(whole) == length
                span = plan["fetch_info"][plan["terms"][index]["hash"]][0]["url_range"]
                assert span == {"start": 0, "end": length - 1}
                at = 0
                while at < len(whole):
                    header = parse_header(whole, at)
                    rebuilt += whole[at + HEADER_BYTES : at + HEADER_BYTES + header.compressed]
                    at += HEADER_BYTES + header.compressed
                # any slice of a segment is the same slice of its whole
                part = layout.read(source, size, index, 3, length - 2)
                assert b"".join(bytes(b) for b in part) == whole[3 : length - 2]
        finally:
            os.close(fd)
        assert bytes(rebuilt) == content, size
        assert json.dumps(plan)  # JSON as served
