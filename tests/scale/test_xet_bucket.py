"""Xet uploads behind a load balancer: the stock client's xorbs reach one
server, its shard and commit another, and the servers share the xorbs through
the bucket (`registry/xet/cas.py`)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, constants, snapshot_download

from registry.bucket import XORB_PREFIX, Bucket, xorb_key
from registry.errors import StoreError
from registry.resolver.store import Store
from registry.xet import hashes
from registry.xet.cas import XorbStore
from tests.scale.conftest import Cluster
from tests.scale.seaweed import Seaweed
from tests.web.live import LiveServer
from tests.xet.craft import raw_xorb
from tests.xet.recording_cas import record_upload, xet_cache

_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})


class _Balancer(BaseHTTPRequestHandler):
    """Sends xorb uploads to server A and every other request to server B,
    keeping the client's Host (so B hands out this proxy as the CAS URL)."""

    protocol_version = "HTTP/1.1"
    a: str
    b: str
    routed: list[tuple[str, str, str]]

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _forward(self) -> None:
        body = self._body()
        to_a = self.command == "POST" and self.path.startswith("/xet/v1/xorbs/")
        target, name = (self.a, "a") if to_a else (self.b, "b")
        self.routed.append((self.command, self.path.split("?")[0], name))
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP]
        with httpx.Client(timeout=60) as client:
            request = client.build_request(
                self.command, target + self.path, headers=headers, content=body
            )
            answer = client.send(request, stream=True)
            raw = b"".join(answer.iter_raw())
        self.send_response(answer.status_code)
        for key, value in answer.headers.multi_items():
            if key.lower() not in _HOP and key.lower() != "content-length":
                self.send_header(key, value)
        length = answer.headers.get("content-length", "0") if self.command == "HEAD" else len(raw)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def balancer(a: LiveServer, b: LiveServer) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """A load balancer in front of A and B: its URL, and (method, path, server)
    of each request it routed."""
    routed: list[tuple[str, str, str]] = []
    handler = type("Balancer", (_Balancer,), {"a": a.url, "b": b.url, "routed": routed})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routed
    finally:
        server.shutdown()
        server.server_close()


def _local_xorbs(server: LiveServer) -> set[str]:
    xorbs = XorbStore(server.app.state.services.resolver.store).xorbs
    return {path.name for path in xorbs.glob("*/*")}


def _bucket_xorbs(bucket: Bucket) -> set[str]:
    return {found.key.rsplit("/", 1)[-1] for found in bucket.objects(XORB_PREFIX)}


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }


def test_xorbs_sent_to_one_server_serve_a_shard_and_commit_on_the_other(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    with balancer(cluster.a, cluster.b) as (url, routed), xet_cache(tmp_path / "xet-cache"):
        api = HfApi(endpoint=url, token=cluster.a.token("alice"))
        api.create_repo("alice/balanced")
        api.upload_folder(repo_id="alice/balanced", folder_path=keras_hub_preset)

    xorbs = {path.rsplit("/", 1)[-1] for method, path, _ in routed if "/xet/v1/xorbs/" in path}
    assert xorbs, "the weights did not travel through Xet"
    assert {server for _, path, server in routed if "/xet/v1/xorbs/" in path} == {"a"}
    assert ("POST", "/xet/v1/shards", "b") in routed
    assert any(m == "POST" and "/commit/" in p and s == "b" for m, p, s in routed)
    # A received the xorbs and put them in the bucket; B fetched them from the
    # bucket to check and rebuild the shard's files.
    assert _bucket_xorbs(cluster.bucket) == xorbs
    assert {xorb_key(name) for name in xorbs} <= {o.key for o in cluster.bucket.objects("xet/")}
    assert _local_xorbs(cluster.a) == xorbs
    assert _local_xorbs(cluster.b) == xorbs

    expected = _files(keras_hub_preset)
    for server in (cluster.a, cluster.b):
        downloaded = snapshot_download(
            "alice/balanced", endpoint=server.url, cache_dir=tmp_path / f"hf-{server.url[-5:]}"
        )
        got = _files(Path(downloaded))
        assert {path: got.get(path) for path in expected} == expected


def test_a_xorb_is_in_the_bucket_before_the_server_says_it_is_stored(
    cluster: Cluster, tmp_path: Path
) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(uuid.uuid4().bytes * 20_000)
    recording = record_upload([weights], tmp_path / "cache")
    ((name, body),) = recording.xorbs.items()

    def cas(server: LiveServer) -> tuple[str, dict[str, str]]:
        answer = httpx.get(
            f"{server.url}/api/models/alice/files/xet-write-token/main",
            headers={"Authorization": f"Bearer {server.token('alice')}"},
        ).json()
        return answer["casUrl"], {"Authorization": f"Bearer {answer['accessToken']}"}

    (at_a, auth_a), (at_b, auth_b) = cas(cluster.a), cas(cluster.b)
    with cluster.s3.down():
        answer = httpx.post(f"{at_a}/v1/xorbs/default/{name}", content=body, headers=auth_a)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "blob_store_unavailable"
    assert not _local_xorbs(cluster.a)  # so the client's retry is not told it is stored
    answer = httpx.post(f"{at_a}/v1/xorbs/default/{name}", content=body, headers=auth_a)
    assert answer.json() == {"was_inserted": True}
    answer = httpx.post(f"{at_b}/v1/xorbs/default/{name}", content=body, headers=auth_b)
    assert answer.json() == {"was_inserted": False}  # B knows it from the bucket
    assert httpx.post(f"{at_b}/v1/shards", content=recording.shards[0], headers=auth_b).is_success
    store = cluster.b.app.state.services.resolver.store
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert store.blob_path(sha256).read_bytes() == weights.read_bytes()


@pytest.fixture()
def bucket(s3: Seaweed) -> Bucket:
    env = s3.server.env(f"t{uuid.uuid4().hex[:10]}")
    return Bucket(env["REGISTRY_BLOB_URL"], {k: v for k, v in env.items() if k.startswith("AWS_")})


def test_stores_share_checked_xorbs_and_gc_ages_them_by_upload(
    bucket: Bucket, tmp_path: Path
) -> None:
    one, two = Store(tmp_path / "one", bucket=bucket), Store(tmp_path / "two", bucket=bucket)
    first, second = XorbStore(one), XorbStore(two)
    digest, body = raw_xorb([b"a" * 100, b"b" * 200])
    staged = one.staging_dir("test") / "xorb"
    staged.write_bytes(body)
    assert first.add(staged, digest)
    name = hashes.to_hex(digest)
    assert bucket.head(xorb_key(name)) == len(body)

    assert second.has(digest) and not second.xorb_path(digest).exists()
    assert second.chunks(digest) == first.chunks(digest)  # fetched, checked, indexed
    with second.open(digest) as reader:
        assert reader.read() == body

    # An object altered in the bucket is refused, and nothing is kept of it.
    forged, _ = raw_xorb([b"c" * 100])
    fake = tmp_path / "fake"
    fake.write_bytes(body)
    bucket.put_file(xorb_key(hashes.to_hex(forged)), fake)
    with pytest.raises(StoreError, match="altered"):
        second.chunks(forged)
    assert not second.xorb_path(forged).exists()

    assert second.gc() == (0, 0)  # uploaded just now
    assert _bucket_xorbs(bucket) == {name, hashes.to_hex(forged)}
    removed, freed = second.gc(max_age_s=0)
    assert removed == 2 and freed == 3 * len(body)  # two objects, and two's copy
    assert not _bucket_xorbs(bucket) and not second.xorb_path(digest).exists()
