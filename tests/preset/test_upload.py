"""Receiving uploads: archives and loose files into a staging area, under limits."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from registry.errors import PresetFormatError, UnsafePresetError
from registry.preset.manifest import build_manifest
from registry.preset.upload import Staging
from registry.preset.validate import Limits


def _tar(path: Path, members: dict[str, bytes], *, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return path


def _preset_members(directory: Path, prefix: str = "") -> dict[str, bytes]:
    return {
        prefix + p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("prefix", ["", "my_preset/", "./"])
def test_tar_gz_unpacks_hashed_with_its_top_directory_stripped(
    keras_hub_preset: Path, tmp_path: Path, prefix: str
) -> None:
    archive = _tar(tmp_path / "p.tar.gz", _preset_members(keras_hub_preset, prefix))
    staging = Staging(tmp_path / "staging", Limits())
    staging.unpack(archive)
    expected = {e.path: e for e in build_manifest(keras_hub_preset).files}
    assert staging.entries == expected
    assert build_manifest(staging.directory).files == tuple(sorted(expected.values()))


def test_zip_unpacks(keras_hub_preset: Path, tmp_path: Path) -> None:
    archive = tmp_path / "p.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in _preset_members(keras_hub_preset).items():
            bundle.writestr(name, data)
    staging = Staging(tmp_path / "staging", Limits())
    staging.unpack(archive)
    assert set(staging.entries) == set(_preset_members(keras_hub_preset))


@pytest.mark.parametrize("name", ["../evil.json", "/etc/evil.json", "a/../../evil.json"])
def test_escaping_members_are_refused(tmp_path: Path, name: str) -> None:
    archive = _tar(tmp_path / "p.tar", {name: b"{}"}, mode="w")
    with pytest.raises(UnsafePresetError, match=r"absolute|leaves the preset"):
        Staging(tmp_path / "staging", Limits()).unpack(archive)
    assert not (tmp_path / "evil.json").exists()


def test_symlink_members_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "p.tar"
    with tarfile.open(archive, "w") as bundle:
        info = tarfile.TarInfo("config.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        bundle.addfile(info)
    with pytest.raises(UnsafePresetError, match="link"):
        Staging(tmp_path / "staging", Limits()).unpack(archive)


def test_compression_bomb_stops_at_the_ratio(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("README.md", b"\0" * (64 << 20))
    staging = Staging(tmp_path / "staging", Limits(max_ratio=10))
    with pytest.raises(UnsafePresetError, match="expands past 10 times"):
        staging.unpack(archive)


def test_file_size_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "staging", Limits(max_file_bytes=10))
    with pytest.raises(UnsafePresetError, match="10-byte limit"), staging.open("a.json") as file:
        file.write(b"12345")
        file.write(b"678901")


def test_file_count_limit(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "staging", Limits(max_files=2))
    for name in ("a.json", "b.json"):
        with staging.open(name) as file:
            file.write(b"{}")
    with pytest.raises(UnsafePresetError, match="at most 2 files"):
        staging.open("c.json")


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"not an archive at all" * 40)
    with pytest.raises(PresetFormatError, match=r"is not a \.tar"):
        Staging(tmp_path / "staging", Limits()).unpack(tmp_path / "x.tar")
