"""The `Registry` facade in embedded mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from registry import GPT2Backbone, Registry
from registry.errors import PresetFormatError, PresetNotFoundError, RegistryError
from registry.lockfile import read


@pytest.fixture()
def registry(tmp_path: Path) -> Registry:
    return Registry(cache_dir=tmp_path / "home")


def test_load_returns_a_verified_backbone_and_counts_it(registry: Registry) -> None:
    backbone = registry.load("gpt2_tiny_demo", verify="full")
    assert isinstance(backbone, GPT2Backbone)
    bf16 = registry.load("keras/gpt2_tiny_demo", revision="latest", dtype="bfloat16")
    assert bf16.dtype_policy.name == "bfloat16"
    assert registry.info("gpt2_tiny_demo").downloads == 2
    token_ids = np.arange(6, dtype="int32")[None]
    assert np.asarray(
        backbone({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)})
    ).shape == (1, 6, 48)


def test_search_and_info(registry: Registry) -> None:
    page = registry.search("webtext", sort="parameters")
    assert [p.name for p in page.items][:2] == ["gpt2_extra_large_en", "gpt2_large_en"]
    assert "Registry(home=" in repr(registry)
    with pytest.raises(PresetNotFoundError, match="registry search"):
        registry.info("absent")


def test_lock_round_trip(registry: Registry, tmp_path: Path) -> None:
    path = registry.lock(["gpt2_tiny_demo"], tmp_path / "presets.lock")
    (locked,) = read(path)
    assert locked.name == "keras/gpt2_tiny_demo"
    assert locked.revision == registry.info("gpt2_tiny_demo").latest_revision
    assert registry.verify_lock(path, full=True).ok
    assert registry.verify().ok and registry.verify().checked == 1
    edited = path.read_text().replace("size = ", "size = 1", 1)
    path.write_text(edited)
    with pytest.raises(PresetFormatError, match="not the digest of the files"):
        registry.verify_lock(path)


def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    registry = Registry("http://127.0.0.1:9", cache_dir=tmp_path)
    with pytest.raises(RegistryError, match=r"Cannot reach the registry server http://127.0.0.1:9"):
        registry.search("gpt2")
    registry.close()


def test_upload_records_an_immutable_revision(registry: Registry, keras_hub_preset: Path) -> None:
    first = registry.upload(
        keras_hub_preset, "team/tiny", description="A tiny GPT-2.", tags=["gpt2"], private=True
    )
    again = registry.upload(keras_hub_preset, "team/tiny")  # same files: same revision
    assert again.digest == first.digest
    detail = registry.info("team/tiny")
    assert detail.source_kind == "upload" and detail.parameter_count == 28256
    assert [r.digest for r in detail.revisions] == [first.digest]
    assert isinstance(registry.load("team/tiny"), GPT2Backbone)
    registry.alias("team/tiny", "stable", first.digest[:10])
    assert "stable" in registry.info("team/tiny").revisions[0].aliases


def test_a_broken_preset_is_refused_before_anything_is_stored(
    registry: Registry, keras_hub_preset: Path
) -> None:
    weights = keras_hub_preset / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(PresetFormatError, match="cannot be read as HDF5"):
        registry.upload(keras_hub_preset, "team/broken")
    assert list(registry.resolver.store.blobs.glob("*/*")) == []
    with pytest.raises(PresetNotFoundError):
        registry.info("team/broken")
