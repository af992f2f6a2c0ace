"""Reading xorbs: the ones hf_xet packed, and damaged or hostile ones."""

from __future__ import annotations

import io
import os
from pathlib import Path

import lz4.frame
import pytest

from registry.errors import XetFormatError
from registry.xet import hashes, xorb
from registry.xet.shard import FileInfo, XorbInfo
from registry.xet.xorb import Chunk
from tests.xet.craft import chunk_record, raw_xorb
from tests.xet.recording_cas import Recording


def _schemes(body: bytes) -> set[int]:
    found, offset = set(), 0
    while offset < len(body):
        header = xorb.parse_header(body[offset : offset + 8], offset)
        found.add(header.scheme)
        offset += 8 + header.compressed
    return found


def _scan(body: bytes, digest: bytes) -> list[Chunk]:
    return xorb.scan(io.BytesIO(body), len(body), digest)


def test_scan_reads_every_compression_hf_xet_used(recorded: Recording) -> None:
    seen: set[int] = set()
    for name, body in recorded.xorbs.items():
        chunks = _scan(body, hashes.from_hex(name))
        assert chunks[0].offset == 0 and all(0 < c.size <= xorb.MAX_CHUNK_BYTES for c in chunks)
        seen |= _schemes(body)
    assert seen == {xorb.NONE, xorb.LZ4, xorb.BG4_LZ4}


def test_the_chunks_rebuild_each_file(
    recorded: Recording,
    samples: dict[str, Path],
    parsed: tuple[list[FileInfo], list[XorbInfo]],
    scanned: dict[bytes, list[Chunk]],
) -> None:
    files, _ = parsed
    bodies = {hashes.from_hex(name): body for name, body in recorded.xorbs.items()}
    rebuilt = {}
    for info in files:
        parts = []
        for term in info.terms:
            reader = io.BytesIO(bodies[term.xorb])
            parts += xorb.read_chunks(reader, scanned[term.xorb][term.start : term.end])
        rebuilt[info.hash] = b"".join(parts)
    for path, meta in recorded.files.items():
        assert rebuilt[hashes.from_hex(meta.xet_info.hash)] == Path(path).read_bytes()
    assert {Path(p).name for p in recorded.files} == set(samples)


def _lz4_chunk(recorded: Recording) -> tuple[bytes, bytes, int]:
    """A recorded xorb (hash, body) and the offset of an LZ4 chunk in it."""
    for name, body in recorded.xorbs.items():
        offset = 0
        while offset < len(body):
            header = xorb.parse_header(body[offset : offset + 8], offset)
            if header.scheme == xorb.LZ4:
                return hashes.from_hex(name), body, offset
            offset += 8 + header.compressed
    raise AssertionError("no LZ4 chunk recorded")


def test_a_damaged_chunk_is_refused(recorded: Recording) -> None:
    digest, body, offset = _lz4_chunk(recorded)
    damaged = bytearray(body)
    damaged[offset + 40] ^= 0xFF
    with pytest.raises(XetFormatError):
        _scan(bytes(damaged), digest)


def test_chunks_sent_under_another_hash_are_refused() -> None:
    digest, body = raw_xorb([b"a" * 100, b"b" * 50])
    assert [c.size for c in _scan(body, digest)] == [100, 50]
    with pytest.raises(XetFormatError, match="hash to"):
        _scan(body, bytes(32))


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (chunk_record(7, b"x", 1), "scheme 7"),
        (chunk_record(0, b"x" * 10, 200_000), "at most"),
        (chunk_record(0, b"x" * 10, 11), "decompress"),
        (chunk_record(1, b"not lz4 at all", 5), "decompress"),
        (chunk_record(1, lz4.frame.compress(bytes(100_000)), 1_000), "decompress"),
        (chunk_record(0, b"x" * 10, 10)[:12], "ends inside"),
        (b"\x00\x01", "ends inside"),
        (b"", "no chunk"),
    ],
    ids=["scheme", "too-large", "wrong-size", "bad-lz4", "lz4-bomb", "truncated", "tiny", "empty"],
)
def test_a_malformed_xorb_is_refused(record: bytes, message: str) -> None:
    with pytest.raises(XetFormatError, match=message):
        _scan(record, bytes(32))


def test_a_byte_grouped_chunk_is_regrouped() -> None:
    for size in range(12):
        data = os.urandom(size)
        grouped = b"".join(data[lane::4] for lane in range(4))
        record = chunk_record(xorb.BG4_LZ4, lz4.frame.compress(grouped), size)
        header = xorb.parse_header(record[:8], 0)
        assert xorb.decompress(header, record[8:], 0) == data


def test_an_old_clients_footer_is_stepped_over_but_must_be_whole() -> None:
    digest, body = raw_xorb([b"c" * 64])
    footer = xorb.FOOTER_IDENT + b"\x01" + bytes(40)
    assert len(_scan(body + footer + len(footer).to_bytes(4, "little"), digest)) == 1
    with pytest.raises(XetFormatError, match="footer"):
        _scan(body + footer + (len(footer) + 1).to_bytes(4, "little"), digest)


def test_too_many_chunks_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xorb, "MAX_CHUNKS", 2)
    digest, body = raw_xorb([b"a", b"b", b"c"])
    with pytest.raises(XetFormatError, match="more than 2 chunks"):
        _scan(body, digest)


def test_chunk_data_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xorb, "MAX_XORB_BYTES", 20)
    digest, body = raw_xorb([b"a" * 10, b"b" * 10])  # 20 bytes of data and their headers
    assert len(_scan(body, digest)) == 2
    digest, body = raw_xorb([b"a" * 10, b"b" * 11])
    with pytest.raises(XetFormatError, match="pass 20 bytes"):
        _scan(body, digest)


def test_a_chunk_damaged_on_disk_is_not_served() -> None:
    digest, body = raw_xorb([b"a" * 30, b"b" * 30])
    chunks = _scan(body, digest)
    damaged = body[:-1] + b"X"
    with pytest.raises(XetFormatError, match="damaged on disk"):
        list(xorb.read_chunks(io.BytesIO(damaged), chunks))
