"""Uploads to a server on a bucket stream their large files into it while they
arrive (`registry.bucket.BlobTee`): to the blob's own key when the sender
announced its sha256 (the CLI's tar does), else to a temporary key copied into
place once the upload is validated. Either way the store then finds the blob in
the bucket and does not push it again; a refused upload leaves nothing."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from registry import Registry
from registry.bucket import UPLOAD_PREFIX, Bucket, blob_key
from registry.preset.upload import SHA256_PAX, TEE_BYTES
from tests.scale.conftest import Cluster
from tests.scale.test_bucket import _files, _keys, _s3
from tests.web.conftest import multipart_files

BIG = "assets/big.txt"


@dataclass
class Traffic:
    """What the servers (in this process) asked of the bucket."""

    pushed: list[str] = field(default_factory=list)  # keys put from a file on disk
    copied: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture()
def traffic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traffic]:
    seen = Traffic()
    put_file, copy = Bucket.put_file, Bucket.copy

    def counted_put(self: Bucket, key: str, path: Path) -> bool:
        uploaded = put_file(self, key, path)
        if uploaded:
            seen.pushed.append(key)
        return uploaded

    def counted_copy(self: Bucket, source: str, target: str) -> None:
        seen.copied.append((source, target))
        copy(self, source, target)

    monkeypatch.setattr(Bucket, "put_file", counted_put)
    monkeypatch.setattr(Bucket, "copy", counted_copy)
    yield seen


@pytest.fixture()
def big_preset(keras_hub_preset: Path) -> Path:
    """The tiny preset with a text file of three bucket parts and a bit."""
    (keras_hub_preset / "assets").mkdir(exist_ok=True)
    (keras_hub_preset / BIG).write_text(os.urandom((3 * TEE_BYTES + 12345) // 2).hex())
    return keras_hub_preset


def _prefix(cluster: Cluster) -> str:
    return cluster.settings.blob_url.split("/", 3)[3]  # type: ignore[union-attr]


def _leftovers(cluster: Cluster) -> tuple[list[str], list[str]]:
    """Temporary objects, and multipart uploads in flight, under the registry's prefix."""
    temporary = [o.key for o in cluster.bucket.objects(UPLOAD_PREFIX)]
    listed = _s3(cluster).list_multipart_uploads(Bucket="registry", Prefix=_prefix(cluster))
    return temporary, [u["Key"] for u in listed.get("Uploads", [])]


def _object(cluster: Cluster, sha256: str) -> bytes:
    return b"".join(bytes(piece) for piece in cluster.bucket.read(blob_key(sha256)))


def _loads_through_b(cluster: Cluster, preset: Path, name: str, cache: Path) -> None:
    with Registry(cluster.b.url, cache_dir=cache) as client:
        assert _files(client.resolver.resolve(name).path) == _files(preset)


def test_registry_upload_streams_a_large_file_to_its_key_without_a_copy_or_a_push(
    cluster: Cluster, big_preset: Path, traffic: Traffic, tmp_path: Path
) -> None:
    with Registry(cluster.a.url, token=cluster.a.token("alice"), cache_dir=tmp_path / "up") as up:
        up.upload(big_preset, "alice/big")
    sha256 = hashlib.sha256((big_preset / BIG).read_bytes()).hexdigest()
    assert _object(cluster, sha256) == (big_preset / BIG).read_bytes()
    assert blob_key(sha256) not in traffic.pushed  # not a second time, from disk
    assert traffic.copied == []  # its sha256 was announced: straight to its key
    assert traffic.pushed  # the small files were pushed after validation
    assert _leftovers(cluster) == ([], [])
    _loads_through_b(cluster, big_preset, "alice/big", tmp_path / "b")


def test_a_form_upload_streams_a_large_file_to_a_temporary_key_then_copies_it(
    cluster: Cluster, big_preset: Path, traffic: Traffic, tmp_path: Path
) -> None:
    response = httpx.post(
        f"{cluster.a.url}/api/v1/presets/alice/form/revisions",
        files=multipart_files(big_preset),
        headers={"Authorization": f"Bearer {cluster.a.token('alice')}"},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    sha256 = hashlib.sha256((big_preset / BIG).read_bytes()).hexdigest()
    [(source, target)] = traffic.copied
    assert source.startswith(f"{UPLOAD_PREFIX}/") and target == blob_key(sha256)
    assert blob_key(sha256) not in traffic.pushed
    assert _object(cluster, sha256) == (big_preset / BIG).read_bytes()
    assert _leftovers(cluster) == ([], [])  # the temporary object is gone
    _loads_through_b(cluster, big_preset, "alice/form", tmp_path / "b")

    # The same bytes again: the tee finds the blob, copies nothing, and deletes its object.
    again = httpx.post(
        f"{cluster.a.url}/api/v1/presets/alice/form2/revisions",
        files=multipart_files(big_preset),
        headers={"Authorization": f"Bearer {cluster.a.token('alice')}"},
        timeout=120,
    )
    assert again.status_code == 201, again.text
    assert len(traffic.copied) == 1 and _leftovers(cluster) == ([], [])


def _tar(preset: Path, announce: dict[str, str], tail: tarfile.TarInfo | None = None) -> bytes:
    """An uncompressed tar of `preset`, the sha256 `announce` names in its PAX
    headers, `tail` (a member with no data) last."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as bundle:
        for path in sorted(preset.rglob("*")):
            if path.is_file():
                name = path.relative_to(preset).as_posix()
                info = bundle.gettarinfo(str(path), arcname=name)
                if name in announce:
                    info.pax_headers = {SHA256_PAX: announce[name]}
                with open(path, "rb") as reader:
                    bundle.addfile(info, reader)
        if tail is not None:
            bundle.addfile(tail)
    return buffer.getvalue()


def _post_tar(cluster: Cluster, body: bytes, name: str) -> httpx.Response:
    return httpx.post(
        f"{cluster.a.url}/api/v1/presets/{name}/revisions",
        content=body,
        headers={
            "Authorization": f"Bearer {cluster.a.token('alice')}",
            "Content-Type": "application/x-tar",
        },
        timeout=120,
    )


def _nothing_recorded(cluster: Cluster, name: str) -> None:
    assert _keys(cluster) == {}
    assert _leftovers(cluster) == ([], [])
    assert httpx.get(f"{cluster.b.url}/api/v1/presets/{name}").status_code == 404


def test_refused_uploads_leave_nothing_in_the_bucket(
    cluster: Cluster, big_preset: Path, traffic: Traffic
) -> None:
    real = hashlib.sha256((big_preset / BIG).read_bytes()).hexdigest()
    # A wrong sha256 announced: refused when the file ends, its upload aborted.
    wrong = _post_tar(cluster, _tar(big_preset, {BIG: "0" * 64}), "alice/wrong")
    assert wrong.status_code == 422, wrong.text
    assert "0" * 64 in wrong.json()["error"]["message"]
    _nothing_recorded(cluster, "alice/wrong")
    # A valid file, then a link: refused while unpacking, the body still coming.
    link = tarfile.TarInfo("evil.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    linked = _post_tar(cluster, _tar(big_preset, {BIG: real}, tail=link), "alice/link")
    assert linked.status_code == 422, linked.text
    _nothing_recorded(cluster, "alice/link")
    # Every file received, the preset invalid (no config.json): refused at validation.
    (big_preset / "config.json").unlink()
    for body in (_tar(big_preset, {BIG: real}), _tar(big_preset, {})):
        invalid = _post_tar(cluster, body, "alice/invalid")
        assert invalid.status_code == 422, invalid.text
        _nothing_recorded(cluster, "alice/invalid")
    form = httpx.post(
        f"{cluster.a.url}/api/v1/presets/alice/invalid/revisions",
        files=multipart_files(big_preset),
        headers={"Authorization": f"Bearer {cluster.a.token('alice')}"},
        timeout=120,
    )
    assert form.status_code == 422, form.text
    _nothing_recorded(cluster, "alice/invalid")
    assert traffic.pushed == []


def test_gc_removes_temporary_objects_older_than_the_grace_period(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"{UPLOAD_PREFIX}/0123456789abcdef"
    _s3(cluster).put_object(Bucket="registry", Key=f"{_prefix(cluster)}/{key}", Body=b"left")
    for name, value in cluster.env().items():
        monkeypatch.setenv(name, value)
    with Registry() as operator:
        young = operator.gc(grace_s=3600)  # an upload in flight may be about to copy it
        assert young.bucket_uploads == 0
        assert [o.key for o in cluster.bucket.objects(UPLOAD_PREFIX)] == [key]
        report = operator.gc(grace_s=0)
    assert report.bucket_uploads == 1
    assert list(cluster.bucket.objects(UPLOAD_PREFIX)) == []
