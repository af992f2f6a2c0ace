"""The stock huggingface_hub client (and keras-hub) downloading from this server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub import snapshot_download as hub_snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from registry import GPT2Backbone
from registry.config import Settings
from registry.preset.manifest import build_manifest
from registry.resolver.resolve import Resolver
from tests.conftest import tiny_inputs
from tests.web.conftest import tar_of
from tests.web.live import LiveServer


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }


@pytest.fixture()
def hub(
    live: LiveServer, keras_hub_preset: Path, hf_preset: Path, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[LiveServer]:  # fmt: skip
    """The live server holding alice/tiny-keras, alice/tiny-hf and a private preset."""
    alice = {"Authorization": f"Bearer {live.token('alice')}"}
    for name, directory, private in (
        ("tiny-keras", keras_hub_preset, False),
        ("tiny-hf", hf_preset, False),
        ("secret", keras_hub_preset, True),
    ):
        response = httpx.post(
            f"{live.url}/api/v1/presets/alice/{name}/revisions",
            content=tar_of(directory),
            params={"private": private},
            headers={**alice, "Content-Type": "application/gzip"},
        )
        assert response.status_code == 201, response.text
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_ENDPOINT", live.url)
    yield live


def test_snapshot_download(hub: LiveServer, keras_hub_preset: Path, tmp_path: Path) -> None:
    path = hub_snapshot_download("alice/tiny-keras", endpoint=hub.url, cache_dir=tmp_path / "c")
    assert _files(Path(path)) == _files(keras_hub_preset)
    local = hub_snapshot_download(
        "alice/tiny-keras", endpoint=hub.url, local_dir=tmp_path / "local"
    )
    assert _files(Path(local)) == _files(keras_hub_preset)


def test_model_info_lists_files_with_their_sha256(hub: LiveServer, hf_preset: Path) -> None:
    info = HfApi(endpoint=hub.url).model_info("alice/tiny-hf")
    expected = build_manifest(hf_preset)
    assert info.sha == expected.revision_id[:40]
    siblings = {s.rfilename: s for s in info.siblings or []}
    for entry in expected.files:
        lfs = siblings[entry.path].lfs
        assert siblings[entry.path].size == entry.size
        assert lfs is not None and lfs.sha256 == entry.sha256
    assert HfApi(endpoint=hub.url).model_info("alice/tiny-hf", revision=info.sha).sha == info.sha


def test_hf_hub_download_and_metadata(hub: LiveServer, hf_preset: Path, tmp_path: Path) -> None:
    path = hf_hub_download(
        "alice/tiny-hf", "model.safetensors", endpoint=hub.url, cache_dir=tmp_path / "c"
    )
    data = (hf_preset / "model.safetensors").read_bytes()
    assert Path(path).read_bytes() == data
    url = hf_hub_url("alice/tiny-hf", "model.safetensors", endpoint=hub.url)
    metadata = get_hf_file_metadata(url)
    assert metadata.etag == hashlib.sha256(data).hexdigest()
    assert metadata.size == len(data)
    assert metadata.commit_hash == build_manifest(hf_preset).revision_id[:40]


def test_hub_errors(hub: LiveServer, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/absent", "config.json", endpoint=hub.url, cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            "alice/tiny-hf", "config.json", revision="nope", endpoint=hub.url, cache_dir=cache
        )
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("alice/tiny-hf", "absent.json", endpoint=hub.url, cache_dir=cache)
    with pytest.raises(RepositoryNotFoundError):  # private, and no token
        hf_hub_download("alice/secret", "config.json", endpoint=hub.url, cache_dir=cache)


def test_private_presets_download_with_hf_token(hub: LiveServer, tmp_path: Path) -> None:
    path = hf_hub_download(
        "alice/secret",
        "config.json",
        endpoint=hub.url,
        cache_dir=tmp_path / "c",
        token=hub.token("alice", "read"),
    )
    assert Path(path).is_file()


def test_our_from_preset_through_the_server(
    hub: LiveServer, tmp_path: Path, hf_preset: Path
) -> None:
    # The resolver's hf:// source, against this project's own server.
    resolver = Resolver(Settings.from_env({"REGISTRY_HOME": str(tmp_path / "client")}))
    resolved = resolver.resolve("hf://alice/tiny-hf")
    assert _files(resolved.path) == _files(hf_preset)
    backbone = GPT2Backbone.from_preset("hf://alice/tiny-hf")
    reference = GPT2Backbone.from_preset(hf_preset)
    inputs = tiny_inputs(length=6)
    np.testing.assert_allclose(
        np.asarray(backbone(inputs)), np.asarray(reference(inputs)), atol=1e-6
    )
    resolver.catalog.close()


def test_keras_hub_from_preset_through_the_server(
    hub: LiveServer, keras_hub_preset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras_hub = pytest.importorskip("keras_hub")
    from huggingface_hub import constants

    # keras-hub leaves the endpoint to huggingface_hub, which reads HF_ENDPOINT
    # when it is imported (before this test set it): as if it had been set first.
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        hub.url + "/{repo_id}/resolve/{revision}/{filename}",
    )
    theirs = keras_hub.models.GPT2Backbone.from_preset("hf://alice/tiny-keras")
    ours = GPT2Backbone.from_preset(keras_hub_preset)
    inputs = tiny_inputs(length=5)
    np.testing.assert_allclose(np.asarray(theirs(inputs)), np.asarray(ours(inputs)), atol=1e-6)
