"""A shard: the files of an upload (file info) and the xorbs they were cut into
(xorb info), in 48-byte little-endian records; also what the dedupe API answers.

```
header        tag (32) | version 2 (u64) | footer size (u64; 0 on upload)
file info     per file: header (hash, flags, n) | n terms | n range hashes | sha256?
              ... then a bookend (32 bytes of 0xff, 16 of 0)
xorb info     per xorb: header (hash, flags, n, bytes) | n chunks (hash, start, size)
              ... then a bookend
[lookup tables and a 200-byte footer: dedupe answers only]
```

Records are read one at a time from a file, a file's or a xorb's at once, so a
shard is never held whole in memory; counts are bounded before anything is kept.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from registry.errors import XetFormatError
from registry.xet import hashes
from registry.xet.xorb import MAX_CHUNKS

TAG = b"HFRepoMetaData\x00\x55\x69\x67\x45\x6a\x7b\x81\x57\x83\xa5\xbd\xd9\x5c\xcd\xd1\x4a\xa9"
HEADER_VERSION = 2
FOOTER_VERSION = 1
FOOTER_BYTES = 200
MAX_SHARD_BYTES = 64 << 20  # the spec's limit
# 2**17 terms of one chunk each already describe an 8 GiB file of 64 KiB chunks.
MAX_TERMS = 1 << 17
WITH_VERIFICATION = 1 << 31
WITH_METADATA_EXT = 1 << 30

_RECORD = 48
_HEADER = struct.Struct("<32sQQ")
_FILE = struct.Struct("<32sII8x")  # file hash, flags, number of terms
_TERM = struct.Struct("<32sIIII")  # xorb hash, flags, bytes, first chunk, end chunk
_HASH_RECORD = struct.Struct("<32s16x")  # a range hash or a sha256
_XORB = struct.Struct("<32sIIII")  # xorb hash, flags, chunks, bytes, bytes on disk
_CHUNK = struct.Struct("<32sIIII")  # chunk hash, start (unpacked), size, flags, unused
_BOOKEND = hashes.BOOKEND + bytes(16)


class Term(NamedTuple):
    """Chunks [start, end) of a xorb: `size` bytes of a file."""

    xorb: bytes
    size: int
    start: int
    end: int


@dataclass(frozen=True)
class FileInfo:
    """One file of a shard: its Xet hash, its terms, their range hashes, its sha256
    (raw, in the byte order of a Xet hash: `hashes.to_hex` gives its usual hex)."""

    hash: bytes
    terms: tuple[Term, ...]
    range_hashes: tuple[bytes, ...]
    sha256: bytes | None

    @property
    def size(self) -> int:
        return sum(term.size for term in self.terms)


class XorbChunk(NamedTuple):
    hash: bytes
    start: int  # where the chunk starts in the xorb's uncompressed bytes
    size: int


@dataclass(frozen=True)
class XorbInfo:
    """One xorb of a shard's xorb info: its hash and chunks."""

    hash: bytes
    chunks: tuple[XorbChunk, ...]
    size: int  # the chunks' bytes, uncompressed


def _record(reader: BinaryIO, what: str) -> bytes:
    data = reader.read(_RECORD)
    if len(data) != _RECORD:
        raise XetFormatError(f"The shard ends inside {what}.")
    return data


def read_header(reader: BinaryIO) -> int:
    """Check the shard's header; the footer size it declares.

    Raises:
        XetFormatError: not a shard, or a version this server does not read.
    """
    tag, version, footer = _HEADER.unpack(_record(reader, "its header"))
    if tag != TAG or version != HEADER_VERSION or footer not in (0, FOOTER_BYTES):
        raise XetFormatError(
            "The body is not a Xet shard of header version 2 (wrong tag, version "
            f"{version} or footer size {footer})."
        )
    return int(footer)


def _term(record: bytes) -> Term:
    xorb, _, size, start, end = _TERM.unpack(record)
    return Term(xorb, size, start, end)


def _file(reader: BinaryIO, digest: bytes, flags: int, count: int) -> FileInfo:
    name = hashes.to_hex(digest)
    if count > MAX_TERMS:
        raise XetFormatError(f"File {name} of the shard has {count} terms; at most {MAX_TERMS}.")
    if not flags & WITH_VERIFICATION:
        raise XetFormatError(
            f"File {name} of the shard has no verification entries; uploads must carry them."
        )
    terms = tuple(_term(_record(reader, f"file {name}")) for _ in range(count))
    checks = tuple(_HASH_RECORD.unpack(_record(reader, f"file {name}"))[0] for _ in range(count))
    sha256 = None
    if flags & WITH_METADATA_EXT:
        sha256 = _HASH_RECORD.unpack(_record(reader, f"file {name}"))[0]
    return FileInfo(digest, terms, checks, sha256)


def iter_files(reader: BinaryIO) -> Iterator[FileInfo]:
    """The file info section, one file at a time, through its bookend."""
    while True:
        digest, flags, count = _FILE.unpack(_record(reader, "the file info section"))
        if digest == hashes.BOOKEND:
            return
        yield _file(reader, digest, flags, count)


def iter_xorbs(reader: BinaryIO) -> Iterator[XorbInfo]:
    """The xorb info section, one xorb at a time, through its bookend."""
    while True:
        digest, _, count, size, _ = _XORB.unpack(_record(reader, "the xorb info section"))
        if digest == hashes.BOOKEND:
            return
        if count > MAX_CHUNKS:
            raise XetFormatError(
                f"Xorb {hashes.to_hex(digest)} of the shard lists {count} chunks; "
                f"a xorb holds at most {MAX_CHUNKS}."
            )
        chunks = tuple(
            XorbChunk(*_CHUNK.unpack(_record(reader, "the xorb info section"))[:3])
            for _ in range(count)
        )
        yield XorbInfo(digest, chunks, size)


def check_end(reader: BinaryIO, footer: int) -> None:
    """Nothing but an optional footer (and its lookup tables) may follow."""
    if footer == 0 and reader.read(1):
        raise XetFormatError("The shard has bytes after its xorb info section.")


# === The dedupe answer ===


def _table(rows: list[tuple[int, ...]], layout: str) -> bytes:
    """A lookup table: rows sorted by their truncated hash (clients search it)."""
    return b"".join(struct.pack(layout, *row) for row in sorted(rows))


def _truncated(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "little")


def dedupe_shard(
    xorbs: Sequence[tuple[bytes, Sequence[tuple[bytes, int]]]],
    *,
    key: bytes,
    created: int,
    expires: int,
) -> bytes:
    """A shard offering xorbs' chunks, given as (xorb hash, [(chunk hash, size)]),
    for deduplication.

    Chunk hashes are keyed with `key` (the footer's HMAC key): a client can
    match chunks it holds, but learns nothing of the others' hashes, which it
    would need to reference them in a shard of its own.
    """
    body = [_HEADER.pack(TAG, HEADER_VERSION, FOOTER_BYTES), _BOOKEND]
    xorb_rows: list[tuple[int, ...]] = []
    chunk_rows: list[tuple[int, ...]] = []
    record, total = 0, 0  # a xorb's index: its header's position in 48-byte records
    for digest, chunks in xorbs:
        size = sum(length for _, length in chunks)
        body.append(_XORB.pack(digest, 0, len(chunks), size, 0))
        xorb_rows.append((_truncated(digest), record))
        start = 0
        for index, (chunk, length) in enumerate(chunks):
            keyed = hashes.keyed(key, chunk)
            body.append(_CHUNK.pack(keyed, start, length, 0, 0))
            chunk_rows.append((_truncated(keyed), record, index))
            start += length
        record += 1 + len(chunks)
        total += size
    body.append(_BOOKEND)
    xorbs_at = 2 * _RECORD  # after the header and the empty file info section
    lookups_at = _RECORD * len(body)  # every part so far is one 48-byte record
    chunks_at = lookups_at + 12 * len(xorb_rows)
    footer_at = chunks_at + 16 * len(chunk_rows)
    footer = struct.pack(
        "<9Q32sQQ48xQQQQ",
        FOOTER_VERSION, _RECORD, xorbs_at,
        lookups_at, 0, lookups_at, len(xorb_rows), chunks_at, len(chunk_rows),
        key, created, expires,
        0, total, total, footer_at,
    )  # fmt: skip
    tables = [_table(xorb_rows, "<QI"), _table(chunk_rows, "<QII")]
    return b"".join([*body, *tables, footer])
