"""Xet uploads behind a load balancer: the stock client's xorbs reach one
server, its shard and commit another, and the servers share the xorbs through
the bucket (`registry/xet/cas.py`)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import httpx
import pytest
from huggingface_hub import HfApi, constants, snapshot_download

from registry.bucket import PENDING_TAILS, PUTS_IN_FLIGHT, XORB_PREFIX, Bucket, blob_key, xorb_key
from registry.errors import StoreError, XetFormatError
from registry.resolver.store import Store
from registry.xet import hashes, reconstruct, shard
from registry.xet.cas import XorbStore
from tests.scale.conftest import Cluster
from tests.scale.seaweed import Seaweed
from tests.web.live import LiveServer
from tests.xet.conftest import write_samples
from tests.xet.craft import raw_xorb, upload_shard
from tests.xet.recording_cas import Recording, record_upload, xet_cache

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


def _multipart_uploads(s3: Seaweed, bucket: Bucket) -> list[str]:
    server = s3.server
    client = boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1",
    )  # fmt: skip
    prefix = bucket.url.split("/", 3)[3]
    listed = client.list_multipart_uploads(Bucket="registry", Prefix=prefix)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


@pytest.fixture()
def sharded(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Store, Recording, list[str]]:
    """A store on the bucket holding hf_xet's xorbs of the sample files, every
    file large enough to stream into the bucket as rebuilt; the blobs put from
    disk (`Bucket.put_file`) from then on."""
    monkeypatch.setattr(reconstruct, "PART_BYTES", 1)
    recording = record_upload(list(write_samples(tmp_path / "samples").values()), tmp_path / "c")
    store = Store(tmp_path / "store", bucket=bucket)
    cas = XorbStore(store)
    for name, body in recording.xorbs.items():
        staged = store.staging_dir("test") / "xorb"
        staged.write_bytes(body)
        assert cas.add(staged, hashes.from_hex(name))
    pushed: list[str] = []
    put_file = Bucket.put_file

    def noted(self: Bucket, key: str, path: Path) -> bool:
        uploaded = put_file(self, key, path)  # False when the object exists
        if uploaded and key.startswith("blobs/"):
            pushed.append(key)
        return uploaded

    monkeypatch.setattr(Bucket, "put_file", noted)
    return store, recording, pushed


def test_a_shards_files_stream_into_the_bucket_as_they_are_rebuilt(
    sharded: tuple[Store, Recording, list[str]], bucket: Bucket, tmp_path: Path
) -> None:
    store, recording, pushed = sharded
    (tmp_path / "shard").write_bytes(recording.shards[0])
    files = reconstruct.register_shard(
        store, tmp_path / "shard", max_file_bytes=1 << 30, max_total_bytes=1 << 31
    )
    assert len(files) == 4 <= PENDING_TAILS
    for file in files:
        assert bucket.head(blob_key(file.sha256)) == file.size
        assert store.blob_path(file.sha256).stat().st_size == file.size
    assert pushed == []  # every blob went up while rebuilt, none from disk after


def test_a_refused_shard_leaves_no_object_and_no_multipart_upload(
    sharded: tuple[Store, Recording, list[str]], bucket: Bucket, s3: Seaweed, tmp_path: Path
) -> None:
    store, recording, _ = sharded
    with open(tmp_path / "parsed", "wb") as out:
        out.write(recording.shards[0])
    with open(tmp_path / "parsed", "rb") as reader:
        shard.read_header(reader)
        files = list(shard.iter_files(reader))
        xorbs = list(shard.iter_xorbs(reader))
    # The last file lies about its sha256: the others were rebuilt and streamed first.
    lying = dataclasses.replace(files[-1], sha256=b"\x00" * 32)
    (tmp_path / "shard").write_bytes(upload_shard([*files[:-1], lying], xorbs))
    with pytest.raises(XetFormatError, match="rebuilds to sha256"):
        reconstruct.register_shard(
            store, tmp_path / "shard", max_file_bytes=1 << 30, max_total_bytes=1 << 31
        )
    assert not list(bucket.objects("blobs"))
    assert _multipart_uploads(s3, bucket) == []
    assert not any(store.blobs.rglob("*"))


def test_a_process_puts_one_file_at_a_time(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hf_xet sends many xorbs at once; each put holds its parts in memory.
    import obstore

    running, most = 0, 0
    lock = threading.Lock()
    put = obstore.put

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)
            return put(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(obstore, "put", counted)
    files = []
    for number in range(6):
        files.append(tmp_path / f"f{number}")
        files[-1].write_bytes(os.urandom(1000))
    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(lambda p: bucket.put_file(f"test/{p.name}", p), files))
    assert done == [True] * 6
    assert most == PUTS_IN_FLIGHT == 1
