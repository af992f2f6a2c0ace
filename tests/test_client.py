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


def test_verify_without_a_name_checks_every_stored_revision(
    registry: Registry, keras_hub_preset: Path
) -> None:
    for i in range(130):  # more than any page size
        (keras_hub_preset / "README.md").write_text(f"# revision {i}\n")
        registry.sync(str(keras_hub_preset))
    report = registry.verify(full=True)
    assert report.ok and report.checked == 130
    stored = registry.resolver.store
    digest = sorted(stored.digests())[77]
    readme = stored.tree_path(digest) / "README.md"
    readme.chmod(0o644)
    readme.write_text("# changed behind the registry's back\n")
    report = registry.verify(full=True)
    assert report.checked == 130 and [m.path for m in report.mismatches] == ["README.md"]


def test_a_store_tree_has_its_json_checked_once_before_it_loads(
    registry: Registry, keras_hub_preset: Path
) -> None:
    from registry.catalog.service import PresetSpec, move_alias, record_revision, upsert_preset

    store = registry.resolver.store
    synced = registry.sync(str(keras_hub_preset))  # checked on the way in
    assert store.json_checked(synced.digest)
    # A tree that came in unchecked (as from an old store): its JSON is checked
    # at its first load, which refuses it.
    (keras_hub_preset / "metadata.json").write_text("[" * 100 + "]" * 100)
    manifest = store.ingest_directory(keras_hub_preset)
    store.publish_tree(manifest)
    with registry.resolver.catalog.transaction() as session:
        preset = upsert_preset(session, PresetSpec("team", "unchecked", "GPT2Backbone"))
        revision = record_revision(session, preset, manifest)[0]
        session.flush()
        move_alias(session, preset, "latest", revision)
    assert not store.json_checked(manifest.revision_id)
    with pytest.raises(PresetFormatError, match=r"metadata\.json: is nested more than 32"):
        registry.load("team/unchecked")
    assert not store.json_checked(manifest.revision_id)
    registry.load(synced.preset)
    assert store.json_checked(synced.digest)
