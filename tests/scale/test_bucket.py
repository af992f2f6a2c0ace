"""Scale-out on object storage: two servers with their own homes, one PostgreSQL
catalog and one S3 bucket (a real SeaweedFS). What one server takes in, the
other serves; no server needs another's disk."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import numpy as np
import pytest
from huggingface_hub import HfApi, snapshot_download

from registry import Registry
from registry.bucket import blob_key
from registry.errors import ChecksumMismatchError, SourceError
from registry.preset.demo import demo_preset_dir
from registry.preset.manifest import build_manifest
from tests.conftest import tiny_inputs
from tests.scale.conftest import Cluster
from tests.web.conftest import tar_of
from tests.web.hub_writer import HUB_CLIENT_WARNINGS, writer_for
from tests.web.live import LiveServer

WEIGHTS = "model.weights.h5"


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and ".cache" not in p.parts and p.name != "manifest.json"
    }


def _upload(server_url: str, token: str, preset: Path, name: str) -> dict[str, object]:
    response = httpx.post(
        f"{server_url}/api/v1/presets/{name}/revisions",
        content=tar_of(preset),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-tar"},
        timeout=120,
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, object] = response.json()
    return body


def _demo_blobs() -> set[str]:
    return {f.sha256 for f in build_manifest(demo_preset_dir()).files}


def _local_blobs(server: LiveServer) -> set[str]:
    """The blobs in a server's own store, but the demo preset's."""
    store = server.app.state.services.resolver.store
    return {p.name for p in store.blobs.glob("*/*")} - _demo_blobs()


def _s3(cluster: Cluster):  # type: ignore[no-untyped-def]
    server = cluster.s3.server
    return boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1",
    )  # fmt: skip


def _keys(cluster: Cluster) -> dict[str, int]:
    """The bucket's blobs but the demo preset's (every server stores it at start)."""
    demo = {blob_key(sha256) for sha256 in _demo_blobs()}
    return {o.key: o.size for o in cluster.bucket.objects("blobs") if o.key not in demo}


def _own_keys(preset: Path) -> dict[str, int]:
    """The keys of a preset's blobs but those it shares with the demo preset (the
    fixture's tokenizer.json is byte for byte the demo's)."""
    demo = _demo_blobs()
    files = build_manifest(preset).files
    return {blob_key(f.sha256): f.size for f in files if f.sha256 not in demo}


def test_an_upload_through_one_server_loads_through_the_other(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path
) -> None:
    token = cluster.a.token("alice")
    _upload(cluster.a.url, token, keras_hub_preset, "alice/tiny")
    # Content-addressed keys, one object per distinct file, nothing else.
    assert _keys(cluster) == _own_keys(keras_hub_preset)
    # Server B never saw the upload: its own home holds no blob of it.
    assert not _local_blobs(cluster.b)

    with Registry(cluster.b.url, cache_dir=tmp_path / "client") as client:
        resolved = client.resolver.resolve("alice/tiny")
        assert resolved.digest == build_manifest(keras_hub_preset).revision_id
        assert _files(resolved.path) == _files(keras_hub_preset)
        model = client.load("alice/tiny")
        expected = Registry(cache_dir=tmp_path / "local").load(str(keras_hub_preset))
        inputs = tiny_inputs(length=5)
        np.testing.assert_allclose(
            np.asarray(model(inputs)), np.asarray(expected(inputs)), atol=1e-6
        )
    # Still B holds none: the client got the bytes from the bucket.
    assert not _local_blobs(cluster.b)


def test_downloads_redirect_to_short_lived_presigned_urls(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path
) -> None:
    _upload(cluster.a.url, cluster.a.token("alice"), keras_hub_preset, "alice/tiny")
    entry = next(f for f in build_manifest(keras_hub_preset).files if f.path == WEIGHTS)
    for path in (
        f"/api/v1/presets/alice/tiny/revisions/latest/files/{WEIGHTS}",
        f"/alice/tiny/resolve/main/{WEIGHTS}",
    ):
        head = httpx.head(cluster.b.url + path)
        assert head.status_code == 302
        assert head.headers["ETag"] == f'"{entry.sha256}"'
        location = head.headers["Location"]
        assert location.startswith(cluster.s3.server.endpoint)
        assert "X-Amz-Expires=300" in location
        body = httpx.get(location).content
        assert hashlib.sha256(body).hexdigest() == entry.sha256
        ranged = httpx.get(location, headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206 and ranged.content == body[10:20]
    assert httpx.head(cluster.b.url + f"/alice/tiny/resolve/main/{WEIGHTS}").headers[
        "X-Linked-Size"
    ] == str(entry.size)

    # The stock client follows the redirect (without its token) and checks the bytes.
    downloaded = snapshot_download(
        "alice/tiny",
        endpoint=cluster.b.url,
        cache_dir=tmp_path / "hf",
        token=cluster.b.token("bob"),
    )
    assert _files(Path(downloaded)) == _files(keras_hub_preset)


# What a user runs: stock keras-hub in a fresh process, HF_ENDPOINT at server B.
_KERAS_HUB_LOAD = """
import sys
import keras_hub
backbone = keras_hub.models.GPT2Backbone.from_preset(sys.argv[1])
print(backbone.count_params())
"""


def test_keras_hub_loads_from_the_other_server(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path
) -> None:
    pytest.importorskip("keras_hub")
    _upload(cluster.a.url, cluster.a.token("alice"), keras_hub_preset, "alice/tiny")
    env = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    env.update(HF_ENDPOINT=cluster.b.url, HF_HOME=str(tmp_path / "hf_home"))
    loaded = subprocess.run(
        [sys.executable, "-c", _KERAS_HUB_LOAD, "hf://alice/tiny"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    expected = Registry(cache_dir=tmp_path / "local").load(str(keras_hub_preset))
    assert int(loaded.stdout.split()[-1]) == expected.count_params()


@pytest.mark.proxy
def test_without_redirects_the_server_streams_the_object_and_its_ranges(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path
) -> None:
    _upload(cluster.a.url, cluster.a.token("alice"), keras_hub_preset, "alice/tiny")
    data = (keras_hub_preset / WEIGHTS).read_bytes()
    url = f"{cluster.b.url}/alice/tiny/resolve/main/{WEIGHTS}"
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Length"] == str(len(data))
    for asked, start, end in (("bytes=5-104", 5, 105), ("bytes=-7", len(data) - 7, len(data)),
                              (f"bytes={len(data) - 3}-", len(data) - 3, len(data))):  # fmt: skip
        part = httpx.get(url, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == data[start:end]
        assert part.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(data)}"
    assert httpx.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    with Registry(cluster.b.url, cache_dir=tmp_path / "client") as client:
        assert _files(client.resolver.resolve("alice/tiny").path) == _files(keras_hub_preset)


def test_catalog_state_is_one_across_servers(cluster: Cluster, keras_hub_preset: Path) -> None:
    token = cluster.a.token("alice")  # made through A, used on B
    # B renders a search before the upload; its cache must not keep it after.
    assert (
        httpx.get(f"{cluster.b.url}/api/v1/presets", params={"q": "zebrafish"}).json()["total"] == 0
    )
    uploaded = _upload(cluster.a.url, token, keras_hub_preset, "alice/zebrafish")
    # B rereads the catalog's generation at most every quarter second.
    deadline = time.monotonic() + 2
    while True:
        found = httpx.get(f"{cluster.b.url}/api/v1/presets", params={"q": "zebrafish"}).json()
        if found["items"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [p["name"] for p in found["items"]] == ["zebrafish"]
    alias = httpx.put(
        f"{cluster.b.url}/api/v1/presets/alice/zebrafish/aliases/stable",
        json={"revision": uploaded["revision"]["digest"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert alias.status_code == 200, alias.text
    at_a = httpx.get(f"{cluster.a.url}/api/v1/presets/alice/zebrafish/revisions/stable")
    assert at_a.json()["digest"] == uploaded["revision"]["digest"]
    deleted = httpx.delete(
        f"{cluster.b.url}/api/v1/presets/alice/zebrafish",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert deleted.status_code in (200, 204)
    assert httpx.get(f"{cluster.a.url}/api/v1/presets/alice/zebrafish").status_code == 404


def test_gc_removes_what_no_revision_names_and_stale_multipart_uploads(
    cluster: Cluster, keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = cluster.a.token("alice")
    _upload(cluster.a.url, token, keras_hub_preset, "alice/tiny")
    (keras_hub_preset / "extra.txt").write_text("kept by a second preset")
    _upload(cluster.a.url, token, keras_hub_preset, "alice/other")
    before = _keys(cluster)
    s3 = _s3(cluster)
    prefix = cluster.settings.blob_url.split("/", 3)[3]  # type: ignore[union-attr]
    started = s3.create_multipart_upload(Bucket="registry", Key=f"{prefix}/blobs/orphan")
    httpx.delete(
        f"{cluster.a.url}/api/v1/presets/alice/other", headers={"Authorization": f"Bearer {token}"}
    ).raise_for_status()
    for name, value in cluster.env().items():
        monkeypatch.setenv(name, value)
    with Registry() as operator:
        young = operator.gc(grace_s=3600)  # an upload may be about to name a young blob
        assert young.bucket_objects == 0 and young.bucket_uploads == 0
        report = operator.gc(grace_s=0)
    extra = hashlib.sha256(b"kept by a second preset").hexdigest()
    assert report.bucket_objects == 1 and report.bucket_bytes == len("kept by a second preset")
    assert _keys(cluster) == {k: v for k, v in before.items() if k != blob_key(extra)}
    assert report.bucket_uploads == 1
    uploads = s3.list_multipart_uploads(Bucket="registry", Prefix=prefix).get("Uploads", [])
    assert started["UploadId"] not in [u["UploadId"] for u in uploads]
    # What remains still loads.
    with Registry(cluster.b.url, cache_dir=cluster.settings.home / "c") as client:
        assert client.resolver.resolve("alice/tiny").manifest.files


def test_an_object_altered_or_deleted_behind_the_registry_is_named_and_refused(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _upload(cluster.a.url, cluster.a.token("alice"), keras_hub_preset, "alice/tiny")
    manifest = build_manifest(keras_hub_preset)
    entry = next(f for f in manifest.files if f.path == WEIGHTS)
    prefix = cluster.settings.blob_url.split("/", 3)[3]  # type: ignore[union-attr]
    data = bytearray((keras_hub_preset / WEIGHTS).read_bytes())
    data[-1] ^= 1
    s3 = _s3(cluster)
    s3.put_object(Bucket="registry", Key=f"{prefix}/{blob_key(entry.sha256)}", Body=bytes(data))
    for name, value in cluster.env().items():
        monkeypatch.setenv(name, value)
    with Registry() as operator:
        report = operator.verify(full=True)
    assert not report.ok
    [mismatch] = report.mismatches
    assert mismatch.path == WEIGHTS and mismatch.expected == entry.sha256
    assert mismatch.actual == hashlib.sha256(data).hexdigest()
    assert mismatch.preset.startswith("alice/tiny@") and "(bucket)" in mismatch.preset
    verified = subprocess.run(
        [sys.executable, "-m", "registry.cli", "verify", "--full"],
        capture_output=True, text=True, env={**os.environ, **cluster.env()}, check=False,
    )  # fmt: skip
    assert verified.returncode == 1 and "MISMATCH alice/tiny@" in verified.stderr
    assert WEIGHTS in verified.stderr
    monkeypatch.delenv("REGISTRY_BLOB_URL")
    with Registry(cluster.b.url, cache_dir=tmp_path / "client") as client:
        with pytest.raises(ChecksumMismatchError, match=WEIGHTS):
            client.resolver.resolve("alice/tiny")
        assert not list((tmp_path / "client").rglob(WEIGHTS))  # nothing published

    config = next(f for f in manifest.files if f.path == "config.json")
    s3.delete_object(Bucket="registry", Key=f"{prefix}/{blob_key(config.sha256)}")
    monkeypatch.setenv("REGISTRY_BLOB_URL", cluster.env()["REGISTRY_BLOB_URL"])
    with Registry() as operator:
        report = operator.verify(full=True)
    assert {(m.path, m.actual) for m in report.mismatches} == {
        (WEIGHTS, hashlib.sha256(data).hexdigest()),
        ("config.json", "missing"),
    }


def test_the_bucket_down_during_an_upload_records_nothing(
    cluster: Cluster, keras_hub_preset: Path
) -> None:
    token = cluster.a.token("alice")
    with cluster.s3.down():
        response = httpx.post(
            f"{cluster.a.url}/api/v1/presets/alice/tiny/revisions",
            content=tar_of(keras_hub_preset),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-tar"},
            timeout=120,
        )
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "blob_store_unavailable"
        assert "try again" in error["message"]
        assert httpx.get(f"{cluster.b.url}/api/v1/presets/alice/tiny").status_code == 404
    assert _keys(cluster) == {}
    _upload(cluster.a.url, token, keras_hub_preset, "alice/tiny")  # the retry succeeds
    assert _keys(cluster) == _own_keys(keras_hub_preset)


@pytest.mark.proxy
def test_the_bucket_down_during_a_download_is_a_clear_error_and_a_retry_succeeds(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path
) -> None:
    _upload(cluster.a.url, cluster.a.token("alice"), keras_hub_preset, "alice/tiny")
    with Registry(cluster.b.url, cache_dir=tmp_path / "client") as client:
        with cluster.s3.down():
            answer = httpx.get(f"{cluster.b.url}/alice/tiny/resolve/main/{WEIGHTS}")
            assert answer.status_code == 503
            assert "blob store" in answer.headers["X-Error-Message"]
            api = f"{cluster.b.url}/api/v1/presets/alice/tiny/revisions/latest/files/{WEIGHTS}"
            answer = httpx.get(api)
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "blob_store_unavailable"
            with pytest.raises(SourceError, match="blob store"):
                client.resolver.resolve("alice/tiny")
        assert _files(client.resolver.resolve("alice/tiny").path) == _files(keras_hub_preset)


@HUB_CLIENT_WARNINGS
def test_hub_commits_through_either_server_share_the_bucket(
    cluster: Cluster, keras_hub_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plain-LFS upload through A (its objects go to the bucket as they are
    # PUT); then a commit through B that keeps A's weights: B reads the old
    # revision's files from the bucket to validate the new one.
    writer = writer_for(cluster.a, monkeypatch, tmp_path)
    writer.api.create_repo("alice/hubbed")
    writer.api.upload_folder(repo_id="alice/hubbed", folder_path=keras_hub_preset)
    assert _local_blobs(cluster.b) == set()
    at_b = HfApi(endpoint=cluster.b.url, token=writer.token)
    at_b.upload_file(
        path_or_fileobj=b"# Hubbed\n\nCommitted through the other server.\n",
        path_in_repo="README.md",
        repo_id="alice/hubbed",
    )
    commits = at_b.list_repo_commits("alice/hubbed")
    assert len(commits) >= 2
    downloaded = Path(
        snapshot_download("alice/hubbed", endpoint=cluster.a.url, cache_dir=tmp_path / "hf")
    )
    expected = _files(keras_hub_preset) | {
        "README.md": b"# Hubbed\n\nCommitted through the other server.\n"
    }
    assert _files(downloaded) == expected
    old = snapshot_download(
        "alice/hubbed", revision=commits[-1].commit_id, endpoint=cluster.b.url,
        cache_dir=tmp_path / "hf-old",
    )  # fmt: skip
    assert _files(Path(old)) == _files(keras_hub_preset)


def _lfs_put(cluster: Cluster, token: str, data: bytes, sent: bytes) -> httpx.Response:
    batch = httpx.post(
        f"{cluster.a.url}/alice/lfs.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}],
            "hash_algo": "sha256",
        },
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.git-lfs+json"},
    )
    assert batch.status_code == 200, batch.text
    upload = batch.json()["objects"][0]["actions"]["upload"]
    # One PUT whatever the size: parts could reach different servers.
    assert "header" not in upload or "chunk_size" not in upload["header"]
    return httpx.put(upload["href"], content=sent, timeout=120)


def test_an_lfs_object_streams_into_the_bucket_and_only_if_its_bytes_match(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = cluster.a.token("alice")
    HfApi(endpoint=cluster.a.url, token=token).create_repo("alice/lfs")
    services = cluster.a.app.state.services
    monkeypatch.setattr(
        services, "settings", dataclasses.replace(services.settings, lfs_chunk_bytes=1 << 20)
    )
    data = os.urandom(40 << 20)  # three parts of the bucket's multipart upload
    wrong = bytearray(data)
    wrong[-1] ^= 1
    refused = _lfs_put(cluster, token, data, bytes(wrong))
    assert refused.status_code == 422, refused.text
    assert _keys(cluster) == {}
    prefix = cluster.settings.blob_url.split("/", 3)[3]  # type: ignore[union-attr]
    assert not _s3(cluster).list_multipart_uploads(Bucket="registry", Prefix=prefix).get("Uploads")
    taken = _lfs_put(cluster, token, data, data)
    assert taken.status_code == 200, taken.text
    sha256 = hashlib.sha256(data).hexdigest()
    assert _keys(cluster) == {blob_key(sha256): len(data)}
    # B knows it is stored (the batch there asks for nothing).
    again = httpx.post(
        f"{cluster.b.url}/alice/lfs.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": sha256, "size": len(data)}]},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.git-lfs+json"},
    )
    assert "actions" not in again.json()["objects"][0]
