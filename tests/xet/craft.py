"""Xorbs and shards written by the tests, to send the server what a real
client never would (a tampered hash, a missing verification entry)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from registry.xet import hashes, shard
from registry.xet.shard import FileInfo, XorbInfo

_BOOKEND = hashes.BOOKEND + bytes(16)


def chunk_record(scheme: int, payload: bytes, size: int) -> bytes:
    """A chunk as a xorb holds it: header, then `payload` (already compressed)."""
    return (
        bytes([0])
        + len(payload).to_bytes(3, "little")
        + bytes([scheme])
        + size.to_bytes(3, "little")
        + payload
    )


def raw_xorb(pieces: Sequence[bytes]) -> tuple[bytes, bytes]:
    """(hash, body) of a xorb of uncompressed chunks."""
    body = b"".join(chunk_record(0, piece, len(piece)) for piece in pieces)
    digest = hashes.xorb_hash([(hashes.chunk_hash(piece), len(piece)) for piece in pieces])
    return digest, body


def upload_shard(
    files: Sequence[FileInfo], xorbs: Sequence[XorbInfo] = (), *, verification: bool = True
) -> bytes:
    """An upload shard (no footer) listing `files` and `xorbs`."""
    out = [struct.pack("<32sQQ", shard.TAG, shard.HEADER_VERSION, 0)]
    for info in files:
        flags = (shard.WITH_VERIFICATION if verification else 0) | (
            shard.WITH_METADATA_EXT if info.sha256 is not None else 0
        )
        out.append(struct.pack("<32sII8x", info.hash, flags, len(info.terms)))
        out += [struct.pack("<32sIIII", t.xorb, 0, t.size, t.start, t.end) for t in info.terms]
        if verification:
            out += [struct.pack("<32s16x", check) for check in info.range_hashes]
        if info.sha256 is not None:
            out.append(struct.pack("<32s16x", info.sha256))
    out.append(_BOOKEND)
    for xorb in xorbs:
        out.append(struct.pack("<32sIIII", xorb.hash, 0, len(xorb.chunks), xorb.size, 0))
        out += [struct.pack("<32sIIII", c.hash, c.start, c.size, 0, 0) for c in xorb.chunks]
    out.append(_BOOKEND)
    return b"".join(out)
