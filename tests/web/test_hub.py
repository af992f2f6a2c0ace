"""The stock huggingface_hub client (and keras-hub) downloading from this server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keras
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
from tests.web.conftest import upload_tar
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
        response = upload_tar(live.url, alice, f"alice/{name}", directory, private=private)
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


# What a user runs: stock keras-hub in a fresh process, HF_ENDPOINT set before
# huggingface_hub is imported (it reads the variable once, at import).
_KERAS_HUB_LOAD = """
import sys
import keras
import keras_hub
import numpy as np
backbone = keras_hub.models.GPT2Backbone.from_preset(sys.argv[1])
with np.load(sys.argv[2]) as inputs:
    outputs = backbone({name: inputs[name] for name in inputs.files})
np.save(sys.argv[3], keras.ops.convert_to_numpy(outputs))
"""


def test_keras_hub_from_preset_through_the_server(
    hub: LiveServer, keras_hub_preset: Path, tmp_path: Path
) -> None:
    pytest.importorskip("keras_hub")
    inputs = tiny_inputs(length=5)
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(tmp_path / "keras_hub_hf_home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        KERAS_BACKEND=keras.backend.backend(),
    )
    outputs = tmp_path / "theirs.npy"
    loaded = subprocess.run(
        [sys.executable, "-c", _KERAS_HUB_LOAD, "hf://alice/tiny-keras",
         str(tmp_path / "inputs.npz"), str(outputs)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    ours = GPT2Backbone.from_preset(keras_hub_preset)
    # Two processes: float32 sums may be ordered differently (thread counts
    # under load), which moves the last bit of values near 1 (seen: 1.2e-6).
    np.testing.assert_allclose(np.load(outputs), np.asarray(ours(inputs)), atol=1e-5, rtol=1e-6)
