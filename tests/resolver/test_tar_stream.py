"""Uploading a directory sends it as a tar built while it is sent, with its size
known in advance: the bytes must be a tar that Python's tarfile reads back."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from registry.errors import RegistryError
from registry.preset.upload import SHA256_PAX
from registry.resolver.remote import TarStream


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "config.json": b'{"class_name": "GPT2Backbone"}',
        "empty.txt": b"",
        "exactly_one_block.bin": os.urandom(512),
        "model.weights.h5": os.urandom(3 * 1024 * 1024 + 7),
        "assets/tokenizer/vocabulary.json": b"{}",
        "a" * 120 + "/" + "long_name_ü_" * 12 + ".txt": b"a long, non-ASCII path",
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "link").symlink_to(root / "config.json")  # links are not sent
    return files


def test_the_stream_is_the_tar_it_announces(tmp_path: Path) -> None:
    files = _tree(tmp_path / "preset")
    stream = TarStream(tmp_path / "preset")
    data = b"".join(stream.chunks())
    assert len(data) == stream.size and stream.size % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
        assert sorted(m.name for m in members) == sorted(files)
        for member in members:
            assert member.isreg()
            extracted = archive.extractfile(member)
            assert extracted is not None and extracted.read() == files[member.name]


@pytest.mark.parametrize("announce_from", [None, 1024 * 1024])
def test_large_files_name_their_sha256_only_when_asked(
    tmp_path: Path, announce_from: int | None
) -> None:
    files = _tree(tmp_path / "preset")
    stream = TarStream(tmp_path / "preset", announce_from=announce_from)
    data = b"".join(stream.chunks())
    assert len(data) == stream.size
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        announced = {m.name: m.pax_headers.get(SHA256_PAX) for m in archive.getmembers()}
    large = hashlib.sha256(files["model.weights.h5"]).hexdigest()
    expected = {name: None for name in files}
    if announce_from is not None:
        expected["model.weights.h5"] = large
    assert announced == expected


def test_a_file_that_changes_while_sent_stops_the_upload(tmp_path: Path) -> None:
    _tree(tmp_path / "preset")
    stream = TarStream(tmp_path / "preset")
    (tmp_path / "preset" / "model.weights.h5").write_bytes(b"shorter now")
    with pytest.raises(RegistryError, match="changed while it was being uploaded"):
        b"".join(stream.chunks())
