"""A xorb: up to 64 MiB of chunks, each an 8-byte header and its compressed bytes.

```
header: version (0) | compressed size (u24 LE) | scheme | uncompressed size (u24 LE)
scheme: 0 none, 1 LZ4 frame, 2 ByteGrouping4 then LZ4 frame
```

hf_xet 1.8 sends the chunks alone; older clients append xet-core's footer
(`XETBLOB`, chunk hashes and offsets, then its length as a u32). A footer is
stepped over, never trusted: `scan` decompresses every chunk, hashes it and
checks the xorb's hash itself. Chunks are read one at a time (at most 256 KiB
compressed, 128 KiB out), so memory stays flat whatever the xorb's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

import lz4.frame

from registry.errors import XetFormatError
from registry.xet import hashes

# The spec's limit on a xorb; hf_xet applies it to the chunks' data and adds
# their 8-byte headers, so a full xorb of incompressible chunks is a little larger.
MAX_XORB_BYTES = 64 << 20
MAX_FOOTER_BYTES = 1 << 20  # an old client's footer: ~36 bytes a chunk
MAX_CHUNKS = 8 << 10  # xet-core's MAX_XORB_CHUNKS
MAX_CHUNK_BYTES = 128 << 10  # a chunk, uncompressed
MAX_COMPRESSED_BYTES = 2 * MAX_CHUNK_BYTES  # what xet-core's reader accepts
HEADER_BYTES = 8
FOOTER_IDENT = b"XETBLOB"
NONE, LZ4, BG4_LZ4 = 0, 1, 2


class ChunkHeader(NamedTuple):
    scheme: int
    compressed: int  # bytes after the header
    size: int  # bytes once decompressed


@dataclass(frozen=True)
class Chunk:
    """A chunk of a stored xorb: its hash, where its header starts, its size."""

    hash: bytes
    offset: int
    size: int


def parse_header(raw: bytes, offset: int) -> ChunkHeader:
    """The chunk header at `offset` of a xorb.

    Raises:
        XetFormatError: an unknown version or scheme, or sizes past the limits.
    """
    if len(raw) < HEADER_BYTES:
        raise XetFormatError(f"The xorb ends inside the chunk header at byte {offset}.")
    version, scheme = raw[0], raw[4]
    compressed = int.from_bytes(raw[1:4], "little")
    size = int.from_bytes(raw[5:8], "little")
    if version != 0 or scheme not in (NONE, LZ4, BG4_LZ4):
        raise XetFormatError(
            f"The chunk at byte {offset} of the xorb has version {version} and compression "
            f"scheme {scheme}; this server reads version 0 with schemes 0, 1 and 2."
        )
    if size > MAX_CHUNK_BYTES or compressed > MAX_COMPRESSED_BYTES:
        raise XetFormatError(
            f"The chunk at byte {offset} of the xorb declares {size} bytes ({compressed} "
            f"compressed); a chunk holds at most {MAX_CHUNK_BYTES}."
        )
    return ChunkHeader(scheme, compressed, size)


def _lz4(data: bytes, size: int) -> bytes | None:
    """One LZ4 frame that must decompress to exactly `size` bytes (None otherwise):
    reading stops there, so a small frame cannot expand without bound."""
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out: bytes = decompressor.decompress(data, max_length=size)
        if not decompressor.eof and len(out) == size:
            out += decompressor.decompress(b"", max_length=1)
    except RuntimeError:  # lz4's report of a malformed frame
        return None
    complete = decompressor.eof and not decompressor.unused_data
    return out if complete and len(out) == size else None


def _regroup(grouped: bytes) -> bytes:
    """Undo ByteGrouping4: byte i of every 4-byte group was stored in lane i."""
    split, rest = divmod(len(grouped), 4)
    out = bytearray(len(grouped))
    start = 0
    for lane in range(4):
        count = split + (1 if lane < rest else 0)
        out[lane::4] = grouped[start : start + count]
        start += count
    return bytes(out)


def decompress(header: ChunkHeader, data: bytes, offset: int) -> bytes:
    """A chunk's bytes.

    Raises:
        XetFormatError: the data does not decompress to the header's size.
    """
    if header.scheme == NONE:
        out: bytes | None = data if len(data) == header.size else None
    else:
        out = _lz4(data, header.size)
        if out is not None and header.scheme == BG4_LZ4:
            out = _regroup(out)
    if out is None:
        raise XetFormatError(
            f"The chunk at byte {offset} of the xorb does not decompress to the "
            f"{header.size} bytes its header declares."
        )
    return out


def _read_exactly(reader: BinaryIO, count: int, offset: int) -> bytes:
    data = reader.read(count)
    if len(data) != count:
        raise XetFormatError(f"The xorb ends inside the chunk at byte {offset}.")
    return data


def _check_footer(reader: BinaryIO, offset: int, length: int) -> None:
    """An old client's footer must run exactly to the end, its length last."""
    remaining = length - offset
    reader.seek(length - 4)
    declared = int.from_bytes(reader.read(4), "little")
    if remaining > MAX_FOOTER_BYTES or declared + 4 != remaining:
        raise XetFormatError(
            f"The xorb's footer at byte {offset} is malformed: it declares {declared} "
            f"bytes and {remaining - 4} follow."
        )


def scan(reader: BinaryIO, length: int, expected: bytes) -> list[Chunk]:
    """Read a whole xorb, decompress and hash every chunk; its chunks in order.

    Raises:
        XetFormatError: a malformed chunk, too many chunks, or chunks that hash
            to another xorb than `expected`.
    """
    chunks: list[Chunk] = []
    offset = 0
    while offset < length:
        raw = _read_exactly(reader, HEADER_BYTES, offset)
        if raw.startswith(FOOTER_IDENT) and chunks:
            _check_footer(reader, offset, length)
            break
        if len(chunks) == MAX_CHUNKS:
            raise XetFormatError(f"The xorb holds more than {MAX_CHUNKS} chunks.")
        header = parse_header(raw, offset)
        headers = (len(chunks) + 1) * HEADER_BYTES
        if offset + HEADER_BYTES + header.compressed > MAX_XORB_BYTES + headers:
            raise XetFormatError(f"The xorb's chunks pass {MAX_XORB_BYTES} bytes.")
        data = decompress(header, _read_exactly(reader, header.compressed, offset), offset)
        chunks.append(Chunk(hashes.chunk_hash(data), offset, header.size))
        offset += HEADER_BYTES + header.compressed
    if not chunks:
        raise XetFormatError("The xorb holds no chunk.")
    actual = hashes.xorb_hash([(chunk.hash, chunk.size) for chunk in chunks])
    if actual != expected:
        raise XetFormatError(
            f"The xorb's chunks hash to {hashes.to_hex(actual)}, not to "
            f"{hashes.to_hex(expected)} (the hash it was sent under)."
        )
    return chunks


def read_chunks(reader: BinaryIO, chunks: Sequence[Chunk]) -> Iterator[bytes]:
    """The bytes of consecutive stored chunks, each checked against its hash.

    Raises:
        XetFormatError: a chunk on disk no longer matches its recorded hash.
    """
    if chunks:
        reader.seek(chunks[0].offset)
    for chunk in chunks:
        header = parse_header(_read_exactly(reader, HEADER_BYTES, chunk.offset), chunk.offset)
        data = _read_exactly(reader, header.compressed, chunk.offset)
        data = decompress(header, data, chunk.offset)
        if len(data) != chunk.size or hashes.chunk_hash(data) != chunk.hash:
            raise XetFormatError(
                f"The stored chunk at byte {chunk.offset} no longer matches its hash; "
                "the xorb was damaged on disk. Upload the file again."
            )
        yield data
