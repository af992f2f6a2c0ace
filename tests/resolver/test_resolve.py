"""Resolving handles into verified revisions: fast and full checks, repair, offline."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.catalog.queries import EVERYONE, preset_detail
from registry.config import Settings
from registry.errors import (
    ChecksumMismatchError,
    OfflineError,
    PresetFormatError,
    PresetNotFoundError,
)
from registry.preset.demo import demo_preset_dir
from registry.preset.manifest import read_manifest
from registry.resolver import store as store_module
from registry.resolver.resolve import Resolver
from tests.resolver.processes import resolve_at_once


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture()
def resolver(home: Path) -> Iterator[Resolver]:
    resolver = Resolver(Settings.from_env({"REGISTRY_HOME": str(home)}))
    yield resolver
    resolver.catalog.close()


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.relative_to(directory).as_posix(): (
            p.read_bytes(),
            p.stat().st_mode,
            p.stat().st_mtime_ns,
        )
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_the_demo_resolves_to_its_recorded_revision(resolver: Resolver) -> None:
    resolved = resolver.resolve("gpt2_tiny_demo")
    assert resolved.digest == read_manifest(demo_preset_dir()).revision_id
    assert resolved.preset == "keras/gpt2_tiny_demo"
    assert sorted(p.name for p in resolved.path.iterdir()) == [
        "README.md",
        "assets",  # the tokenizer's vocabulary and merges
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "tokenizer.json",
    ]
    assert resolver.resolve("keras/gpt2_tiny_demo@latest").digest == resolved.digest
    assert resolver.resolve(f"gpt2_tiny_demo@{resolved.digest[:12]}").digest == resolved.digest


def test_the_fast_path_does_not_rehash(resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    resolver.resolve("gpt2_tiny_demo")
    hashed: list[Path] = []
    original = store_module.sha256_file
    monkeypatch.setattr(store_module, "sha256_file", lambda p: hashed.append(p) or original(p))
    resolver.resolve("gpt2_tiny_demo")
    assert hashed == []
    resolver.resolve("gpt2_tiny_demo", verify="full")
    assert len(hashed) == len(read_manifest(demo_preset_dir()).files)  # each file, once


def _flip_a_byte(path: Path, *, keep_mtime: bool) -> None:
    info = path.stat()
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_a_corrupted_file_is_named_quarantined_and_repaired(resolver: Resolver) -> None:
    resolved = resolver.resolve("gpt2_tiny_demo")
    weights = resolved.path / "model.weights.h5"
    expected = next(f.sha256 for f in resolved.manifest.files if f.path == "model.weights.h5")
    _flip_a_byte(weights, keep_mtime=False)
    with pytest.raises(ChecksumMismatchError) as raised:
        resolver.resolve("gpt2_tiny_demo")
    message = str(raised.value)
    assert "keras/gpt2_tiny_demo: model.weights.h5" in message
    assert expected in message and raised.value.expected == expected
    assert "registry sync --force keras/gpt2_tiny_demo" in message
    assert not resolver.store.blob_path(expected).exists()
    assert any(resolver.store.quarantine_dir.iterdir())
    assert not resolved.path.exists()  # never served again
    repaired = resolver.resolve("gpt2_tiny_demo", verify="full")
    assert repaired.digest == resolved.digest


def test_only_a_full_check_sees_a_change_that_kept_the_mtime(resolver: Resolver) -> None:
    resolved = resolver.resolve("gpt2_tiny_demo")
    _flip_a_byte(resolved.path / "config.json", keep_mtime=True)
    resolver.resolve("gpt2_tiny_demo")  # size, mtime and inode unchanged: trusted
    with pytest.raises(ChecksumMismatchError, match=r"config.json"):
        resolver.resolve("gpt2_tiny_demo", verify="full")


def test_local_folders_are_copied_never_modified(resolver: Resolver, tmp_path: Path) -> None:
    source = tmp_path / "my_preset"
    source.mkdir()
    (source / "config.json").write_text('{"class_name": "GPT2Backbone"}')
    (source / "model.safetensors").write_bytes(os.urandom(1000))
    before = _snapshot(source)
    resolved = resolver.resolve(str(source))
    assert _snapshot(source) == before
    assert resolved.preset.startswith("local/my_preset-")
    with resolver.catalog.transaction(write=False) as session:
        detail = preset_detail(session, resolved.preset, viewer=EVERYONE)
    assert detail is not None and detail.source == source.as_uri()
    assert detail.latest_revision == resolved.digest
    # The catalog name now resolves too, from the store.
    assert resolver.resolve(resolved.preset).path == resolved.path


def test_offline_names_the_preset_the_handle_and_the_command(home: Path) -> None:
    offline = Resolver(Settings.from_env({"REGISTRY_HOME": str(home), "REGISTRY_OFFLINE": "1"}))
    with pytest.raises(OfflineError) as raised:
        offline.resolve("gpt2_medium_en")
    message = str(raised.value)
    assert "keras/gpt2_medium_en" in message
    assert "kaggle://keras/gpt2/keras/gpt2_medium_en/3" in message
    assert "registry sync keras/gpt2_medium_en" in message
    # What the store holds still resolves offline.
    assert offline.resolve("gpt2_tiny_demo").preset == "keras/gpt2_tiny_demo"
    offline.catalog.close()


def test_unknown_references(resolver: Resolver) -> None:
    with pytest.raises(PresetNotFoundError, match=r"no alias or revision 'stable'"):
        resolver.resolve("gpt2_tiny_demo@stable")
    with pytest.raises(PresetNotFoundError, match="No preset keras/nothing"):
        resolver.resolve("nothing")


def test_eight_processes_resolving_at_once_agree(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "shared_preset"
    source.mkdir()
    (source / "config.json").write_text('{"class_name": "GPT2Backbone"}')
    for i in range(5):
        (source / f"model-{i + 1:05d}-of-00005.safetensors").write_bytes(os.urandom(200_000))
    results = resolve_at_once(home, str(source))
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    store = store_module.Store(home / "store")
    assert len(list(store.blobs.glob("*/*"))) == 6  # each blob stored once
    assert list(store.tmp.iterdir()) == []
    assert len(store.digests()) == 1
    resolver = Resolver(Settings.from_env({"REGISTRY_HOME": str(home)}))
    with resolver.catalog.transaction(write=False) as session:
        detail = preset_detail(session, results[0]["preset"], viewer=EVERYONE)
    resolver.catalog.close()
    assert detail is not None and len(detail.revisions) == 1


def test_a_folder_that_is_no_preset_stores_nothing(resolver: Resolver, tmp_path: Path) -> None:
    source = tmp_path / "not_a_preset"
    source.mkdir()
    (source / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError, match=r"config.json"):
        resolver.resolve(str(source))
    (source / "config.json").write_text('{"class_name": "Lambda", "module": "keras.layers"}')
    with pytest.raises(PresetFormatError, match="not an allowed architecture"):
        resolver.resolve(str(source))
    assert list(resolver.store.blobs.glob("*/*")) == []
