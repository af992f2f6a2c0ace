"""`Registry(url=...)`: the client against a live server, through its JSON API."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from registry import GPT2Backbone, Registry, blobio
from registry.errors import (
    AuthenticationError,
    ChecksumMismatchError,
    InvalidNameError,
    OfflineError,
    PermissionDeniedError,
    PresetNotFoundError,
    SourceError,
    StoreError,
    UploadTooLargeError,
    WeightsMismatchError,
)
from registry.preset.manifest import build_manifest
from tests.web.conftest import tar_of
from tests.web.live import LiveServer


@pytest.fixture()
def remote(live: LiveServer, tmp_path: Path) -> Registry:
    registry = Registry(live.url, cache_dir=tmp_path / "client", token=live.token("alice"))
    yield registry  # type: ignore[misc]
    registry.close()
    # Searches, uploads, loads and verifies went to the server and the store:
    # no catalog was opened (created, migrated, seeded) on the client's machine.
    assert not (tmp_path / "client" / "catalog.db").exists()


def test_search_and_info(remote: Registry) -> None:
    found = remote.search("tiny demo")
    assert [p.full_name for p in found.items] == ["keras/gpt2_tiny_demo"]
    detail = remote.info("gpt2_tiny_demo")
    assert detail.parameter_count == 78144 and detail.revisions[0].aliases == ("latest",)
    with pytest.raises(PresetNotFoundError):
        remote.info("keras/absent")


def test_upload_load_alias_delete(
    remote: Registry, keras_hub_preset: Path, keras_hub_inputs: dict, keras_hub_expected: np.ndarray
) -> None:
    uploaded = remote.upload(keras_hub_preset, "tiny", description="tiny", tags=["gpt2"])
    assert uploaded.preset == "alice/tiny" and uploaded.created
    assert uploaded.digest == build_manifest(keras_hub_preset).revision_id
    assert not remote.upload(keras_hub_preset, "alice/tiny").created
    backbone = remote.load("alice/tiny")
    np.testing.assert_allclose(
        np.asarray(backbone(keras_hub_inputs)), keras_hub_expected, atol=1e-5
    )
    # Downloaded into this machine's store and verified there.
    tree = remote.resolver.store.tree_path(uploaded.digest)
    assert sorted(p.name for p in tree.iterdir()) == sorted(
        p.name for p in keras_hub_preset.iterdir()
    )
    remote.alias("alice/tiny", "stable", uploaded.digest[:12])
    assert remote.info("alice/tiny").revisions[0].aliases == ("latest", "stable")
    remote.delete("alice/tiny")
    with pytest.raises(PresetNotFoundError):
        remote.info("alice/tiny")


def test_an_archive_uploads_as_its_directory(
    remote: Registry, keras_hub_preset: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "tiny.tar.gz"
    archive.write_bytes(tar_of(keras_hub_preset))
    uploaded = remote.upload(archive, "from-archive")
    assert uploaded.digest == build_manifest(keras_hub_preset).revision_id


def test_lock_and_verify_offline(remote: Registry, live: LiveServer, tmp_path: Path) -> None:
    lock = remote.lock(["gpt2_tiny_demo"], tmp_path / "presets.lock")
    assert remote.verify_lock(lock).ok
    offline = Registry(live.url, cache_dir=remote.settings.home, offline=True)
    assert offline.verify_lock(lock).ok  # pinned digests answer from the store alone
    # Locking resolved the name through the server, which recorded the answer:
    # offline, the name resolves to it (test_offline_names.py has the rest).
    assert isinstance(offline.load("gpt2_tiny_demo"), GPT2Backbone)
    with pytest.raises(OfflineError, match="never synced"):
        offline.load("gpt2_tiny_demo@stable")  # an alias never asked for
    assert isinstance(
        offline.load(f"gpt2_tiny_demo@{remote.info('gpt2_tiny_demo').revisions[0].digest}"),
        GPT2Backbone,
    )
    offline.close()


def test_a_corrupted_download_is_refused(remote: Registry, live: LiveServer) -> None:
    services = live.app.state.services
    digest = remote.info("gpt2_tiny_demo").revisions[0].digest
    manifest = services.resolver.store.load_manifest(digest)
    weights = next(f for f in manifest.files if f.path == "model.weights.h5")
    blob = services.resolver.store.tree_path(digest) / "model.weights.h5"
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    # Bit rot the server does not notice: its fast check trusts the stat it recorded.
    services.resolver.store._record_state(digest, manifest)
    with pytest.raises(ChecksumMismatchError) as raised:
        remote.load("gpt2_tiny_demo")
    assert raised.value.expected == weights.sha256
    assert not remote.resolver.store.tree_path(digest).exists()
    assert not remote.resolver.store.blob_path(weights.sha256).exists()


def test_a_full_local_disk_is_not_blamed_on_the_server(
    remote: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(writer: blobio.BlobWriter, view: memoryview) -> None:
        raise writer._failed(OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(blobio.BlobWriter, "_write", full)
    with pytest.raises(StoreError, match=r"No space left on device.*REGISTRY_HOME") as raised:
        remote.sync("gpt2_tiny_demo")
    assert not isinstance(raised.value, SourceError)
    store = remote.resolver.store
    assert not list(store.blobs.glob("*/*")) and not list(store.tmp.iterdir())


def test_auth_errors_are_clear(live: LiveServer, keras_hub_preset: Path, tmp_path: Path) -> None:
    anonymous = Registry(live.url, cache_dir=tmp_path / "a")
    with pytest.raises(AuthenticationError, match="write scope"):
        anonymous.upload(keras_hub_preset, "someone/tiny")
    reader = Registry(live.url, cache_dir=tmp_path / "b", token=live.token("bob", "read"))
    with pytest.raises(PermissionDeniedError, match="read scope"):
        reader.upload(keras_hub_preset, "tiny")
    bogus = Registry(live.url, cache_dir=tmp_path / "c", token="kpr_bogus")
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        bogus.search()
    for registry in (anonymous, reader, bogus):
        registry.close()


def test_a_refused_upload_names_the_problem(remote: Registry, keras_hub_preset: Path) -> None:
    (keras_hub_preset / "model.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises((WeightsMismatchError, ValueError), match="HDF5"):
        remote.upload(keras_hub_preset, "broken")
    with pytest.raises(PresetNotFoundError):
        remote.info("alice/broken")


def test_server_refusals_keep_their_kind(
    remote: Registry, live: LiveServer, keras_hub_preset: Path
) -> None:
    services = live.app.state.services
    limits = services.limits
    services.limits = type(limits)(max_file_bytes=10_000)
    with pytest.raises(UploadTooLargeError, match="10000-byte limit"):
        remote.upload(keras_hub_preset, "big")
    services.limits = limits
    with pytest.raises(InvalidNameError):
        remote.upload(keras_hub_preset, "tagged", tags=["Not a tag!"])
