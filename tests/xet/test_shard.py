"""The shard format: the upload shard hf_xet wrote, malformed ones, and the
shard this server answers dedupe queries with."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import pytest

from registry.errors import XetFormatError
from registry.xet import hashes, shard
from registry.xet.shard import FileInfo, Term, XorbInfo
from registry.xet.xorb import Chunk
from tests.xet.craft import raw_xorb, upload_shard
from tests.xet.recording_cas import Recording


def _read(body: bytes) -> tuple[int, list[FileInfo], list[XorbInfo]]:
    reader = io.BytesIO(body)
    footer = shard.read_header(reader)
    files, xorbs = list(shard.iter_files(reader)), list(shard.iter_xorbs(reader))
    shard.check_end(reader, footer)
    return footer, files, xorbs


def test_the_shard_lists_each_file_with_its_sha256(
    recorded: Recording, parsed: tuple[list[FileInfo], list[XorbInfo]]
) -> None:
    files, _ = parsed
    sha256 = {
        meta.xet_info.hash: hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for path, meta in recorded.files.items()
    }
    assert {hashes.to_hex(info.hash): hashes.to_hex(info.sha256 or b"") for info in files} == sha256
    assert all(len(info.range_hashes) == len(info.terms) >= 1 for info in files)


def test_the_xorb_info_matches_the_xorbs(
    parsed: tuple[list[FileInfo], list[XorbInfo]], scanned: dict[bytes, list[Chunk]]
) -> None:
    _, xorbs = parsed
    assert {info.hash for info in xorbs} == set(scanned)
    for info in xorbs:
        starts = [sum(c.size for c in scanned[info.hash][:i]) for i in range(len(info.chunks))]
        assert [(c.hash, c.start, c.size) for c in info.chunks] == [
            (c.hash, start, c.size) for c, start in zip(scanned[info.hash], starts, strict=True)
        ]
        assert info.size == sum(c.size for c in scanned[info.hash])


def test_a_written_shard_reads_back(parsed: tuple[list[FileInfo], list[XorbInfo]]) -> None:
    files, xorbs = parsed
    assert _read(upload_shard(files, xorbs)) == (0, files, xorbs)


def _file(terms: int = 1) -> FileInfo:
    term = Term(bytes(32), 10, 0, 1)
    return FileInfo(b"\x01" * 32, (term,) * terms, (b"\x02" * 32,) * terms, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00" * 48, "not a Xet shard"),
        (upload_shard([_file()])[:100], "ends inside"),
        (upload_shard([_file()], verification=False), "no verification"),
        (upload_shard([_file()]) + b"\x00", "bytes after"),
    ],
    ids=["tag", "truncated", "no-verification", "trailing"],
)
def test_a_malformed_shard_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(XetFormatError, match=message):
        _read(body)


def test_counts_are_bounded_before_anything_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shard, "MAX_TERMS", 2)
    with pytest.raises(XetFormatError, match="3 terms"):
        _read(upload_shard([_file(terms=3)]))


def test_the_dedupe_answer_keys_its_chunk_hashes(scanned: dict[bytes, list[Chunk]]) -> None:
    recorded = [(digest, [(c.hash, c.size) for c in chunks]) for digest, chunks in scanned.items()]
    made, _ = raw_xorb([b"m" * 70, b"n" * 80])
    offered = [*recorded, (made, [(hashes.chunk_hash(b"m" * 70), 70), (b"\x03" * 32, 80)])]
    key = b"\x07" * 32
    body = shard.dedupe_shard(offered, key=key, created=10, expires=20)
    reader = io.BytesIO(body)
    assert shard.read_header(reader) == shard.FOOTER_BYTES
    assert list(shard.iter_files(reader)) == []
    listed = list(shard.iter_xorbs(reader))
    assert [info.hash for info in listed] == [digest for digest, _ in offered]
    for info, (_, chunks) in zip(listed, offered, strict=True):
        assert [c.hash for c in info.chunks] == [hashes.keyed(key, h) for h, _ in chunks]
        assert [c.size for c in info.chunks] == [size for _, size in chunks]
    footer = struct.unpack("<9Q32sQQ48xQQQQ", body[-shard.FOOTER_BYTES :])
    version, _, _, _, _, xorbs_at, xorbs, chunks_at, count = footer[:9]
    assert (version, xorbs, footer[9:12]) == (1, len(offered), (key, 10, 20))
    assert count == sum(len(chunks) for _, chunks in offered)
    assert footer[-1] == len(body) - shard.FOOTER_BYTES == chunks_at + 16 * count
    for at, layout, rows in ((xorbs_at, "<QI", xorbs), (chunks_at, "<QII", count)):
        table = list(struct.iter_unpack(layout, body[at : at + struct.calcsize(layout) * rows]))
        assert table == sorted(table)
    # Each row of the chunk table points at its chunk's record in the xorb info.
    for truncated, record, index in struct.iter_unpack("<QII", body[chunks_at : footer[-1]]):
        entry = body[96 + 48 * (record + 1 + index) :][:8]
        assert int.from_bytes(entry, "little") == truncated
