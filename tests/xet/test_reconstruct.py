"""Registering shards into a store: the files come back byte for byte as blobs,
and a shard that lies about anything is refused with nothing left behind."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from registry.errors import UploadTooLargeError, XetFormatError
from registry.resolver.store import Store
from registry.xet import hashes
from registry.xet.cas import XorbStore
from registry.xet.reconstruct import RebuiltFile, register_shard
from registry.xet.shard import FileInfo, XorbInfo
from tests.xet.craft import upload_shard
from tests.xet.recording_cas import Recording

Parsed = tuple[list[FileInfo], list[XorbInfo]]
LIMITS = {"max_file_bytes": 1 << 30, "max_total_bytes": 1 << 31}


@pytest.fixture()
def store(tmp_path: Path, recorded: Recording) -> Store:
    """A store holding every recorded xorb."""
    store = Store(tmp_path / "store")
    cas = XorbStore(store)
    for name, body in recorded.xorbs.items():
        staging = store.staging_dir("test")
        (staging / "xorb").write_bytes(body)
        assert cas.add(staging / "xorb", hashes.from_hex(name))
        shutil.rmtree(staging)
    return store


def _register(store: Store, body: bytes, **limits: int) -> tuple[RebuiltFile, ...]:
    path = store.root.parent / "shard"
    path.write_bytes(body)
    return register_shard(store, path, **{**LIMITS, **limits})


def _nothing_stored(store: Store) -> bool:
    return not any(store.blobs.rglob("*")) and not any(store.tmp.iterdir())


def test_every_file_becomes_a_blob(store: Store, recorded: Recording) -> None:
    files = _register(store, recorded.shards[0])
    for path in recorded.files:
        data = Path(path).read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        assert store.blob_path(sha256).read_bytes() == data
        assert RebuiltFile(recorded.files[path].xet_info.hash, sha256, len(data)) in files
    assert not any(store.tmp.iterdir())


def test_registered_files_are_offered_for_dedupe(store: Store, parsed: Parsed) -> None:
    files, xorbs = parsed
    cas = XorbStore(store)
    first = cas.chunks(files[0].terms[0].xorb)[files[0].terms[0].start].hash
    assert cas.dedupe_answer(first) is None
    _register(store, upload_shard(files, xorbs))
    assert cas.dedupe_answer(first) is not None
    assert cas.dedupe_answer(b"\x05" * 32) is None


def _with(info: FileInfo, **changes: object) -> FileInfo:
    return dataclasses.replace(info, **changes)  # type: ignore[arg-type]


def _lying(parsed: Parsed, case: str) -> bytes:
    files, xorbs = parsed
    first, term = files[0], files[0].terms[0]
    lies = {
        "range-hash": [_with(first, range_hashes=(b"\x00" * 32,) * len(first.terms))],
        "file-hash": [_with(first, hash=b"\x00" * 32)],
        "sha256": [_with(first, sha256=b"\x00" * 32)],
        "range": [_with(first, terms=(term._replace(end=term.end + 10_000),))],
        "size": [_with(first, terms=(term._replace(size=term.size + 1), *first.terms[1:]))],
    }
    return upload_shard([*files[1:], *lies[case]], xorbs)


@pytest.mark.parametrize("case", ["range-hash", "file-hash", "sha256", "range", "size"])
def test_a_lying_shard_is_refused_and_leaves_nothing(
    store: Store, parsed: Parsed, case: str
) -> None:
    with pytest.raises(XetFormatError):
        _register(store, _lying(parsed, case))
    assert _nothing_stored(store)


def test_a_shard_naming_a_missing_xorb_is_refused(store: Store, parsed: Parsed) -> None:
    files, xorbs = parsed
    missing = [_with(files[0], terms=(files[0].terms[0]._replace(xorb=b"\x09" * 32),))]
    with pytest.raises(XetFormatError, match="never uploaded"):
        _register(store, upload_shard(missing, xorbs))
    gone = XorbInfo(b"\x09" * 32, (), 0)
    with pytest.raises(XetFormatError, match="never uploaded"):
        _register(store, upload_shard(files, [*xorbs, gone]))
    assert _nothing_stored(store)


def test_repeating_a_range_cannot_rebuild_past_the_limits(store: Store, parsed: Parsed) -> None:
    files, xorbs = parsed
    first = files[0]
    repeated = _with(first, terms=first.terms * 50, range_hashes=first.range_hashes * 50)
    with pytest.raises(UploadTooLargeError, match="at most"):
        _register(store, upload_shard([repeated], xorbs), max_file_bytes=first.size * 10)
    with pytest.raises(UploadTooLargeError, match="at most"):
        _register(store, upload_shard(files, xorbs), max_total_bytes=first.size)
    assert _nothing_stored(store)


def test_a_xorb_info_that_differs_from_the_xorb_is_refused(store: Store, parsed: Parsed) -> None:
    files, xorbs = parsed
    fake = dataclasses.replace(xorbs[0], chunks=xorbs[0].chunks[:-1])
    with pytest.raises(XetFormatError, match="other chunks"):
        _register(store, upload_shard(files, [fake]))
