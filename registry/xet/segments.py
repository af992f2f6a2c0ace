"""Stored blobs seen through Xet's read path: each blob is a row of virtual xorbs.

A Xet download (hf_xet, which `pip install huggingface_hub` brings) asks the
CAS for a file's reconstruction (which chunk ranges of which xorbs make it up,
and a URL for each range), then fetches those ranges in parallel and writes
them into the file at their offsets. The store keeps whole blobs, not xorbs, so
the server presents each blob as consecutive *segments* (its `Layout`): a
segment is `segment_chunks` chunks of `chunk_bytes` of the blob (the last chunk of the
blob shorter), each stored uncompressed behind its 8-byte chunk header. A
segment's bytes are never written: they are read from the blob into a buffer
with the headers between them, one batch at a time.

Names: a file's id is its sha256 (64 hex digits, the form Xet hashes take);
a segment's id is a hash of the blob's sha256, its index and the layout, so one
id always names the same bytes (hf_xet keys its chunk cache by it). These ids
are names, not Xet's content hashes: hf_xet does not hash what it downloads,
and the sha256 the client is told (`X-Linked-Etag`) stays the check.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from registry.xet.xorb import HEADER_BYTES, MAX_CHUNK_BYTES, NONE

# Read and sent at once: each batch costs a server a thread hop and a send (a
# mirror serving a download under way spent 12% more CPU with 1 MiB batches).
BATCH_BYTES = 2 << 20

# Fills the buffers with the blob's bytes from an offset on; the count it filled:
# `file_source` of a stored blob, or a mirror's download under way
# (`registry.resolver.fill.FillReader.fill_all`).
Source = Callable[[list[memoryview], int], int]


def file_source(fd: int) -> Source:
    """Reads from a file descriptor."""
    return lambda targets, offset: os.preadv(fd, targets, offset)


def _header(length: int) -> bytes:
    raw = length.to_bytes(3, "little")
    return bytes([0]) + raw + bytes([NONE]) + raw


@dataclass(frozen=True)
class Layout:
    """How blobs are cut: chunks of `chunk_bytes`, `segment_chunks` to a segment."""

    chunk_bytes: int = MAX_CHUNK_BYTES  # the largest chunk hf_xet takes: fewest headers
    segment_chunks: int = 128  # 16 MiB of the file: one ranged GET each

    def __post_init__(self) -> None:
        if not 0 < self.chunk_bytes <= MAX_CHUNK_BYTES or self.segment_chunks < 1:
            raise ValueError(f"chunks of 1 to {MAX_CHUNK_BYTES} bytes, 1 or more a segment")

    @property
    def segment_bytes(self) -> int:
        return self.chunk_bytes * self.segment_chunks

    @property
    def stride(self) -> int:
        """A full chunk's length in a segment (its header and bytes)."""
        return HEADER_BYTES + self.chunk_bytes

    def segment_count(self, size: int) -> int:
        return max(1, -(-size // self.segment_bytes))

    def segment_id(self, sha256: str, index: int) -> str:
        """The xorb id of segment `index` of the blob `sha256`."""
        layout = f"registry-xet-segment/v1/{self.chunk_bytes}/{self.segment_chunks}/"
        name = layout.encode() + bytes.fromhex(sha256) + index.to_bytes(8, "little")
        return hashlib.sha256(name).hexdigest()

    def _chunks(self, size: int, index: int) -> tuple[int, int]:
        """(number of chunks, size of the last one) of segment `index`."""
        data = min(self.segment_bytes, size - index * self.segment_bytes)
        chunks = max(1, -(-data // self.chunk_bytes))
        return chunks, data - (chunks - 1) * self.chunk_bytes

    def segment_length(self, size: int, index: int) -> int:
        """The byte length of segment `index` as served (headers included)."""
        chunks, last = self._chunks(size, index)
        return (chunks - 1) * self.stride + HEADER_BYTES + last

    def reconstruction(
        self, sha256: str, size: int, start: int, end: int, url_for: Callable[[int], str]
    ) -> dict[str, Any]:
        """The V1 reconstruction of bytes [start, end) of the blob: one term per
        segment the range crosses, each with the URL `url_for(index)` and the
        byte range of its chunks."""
        terms: list[dict[str, Any]] = []
        fetch_info: dict[str, list[dict[str, Any]]] = {}
        if start >= end:
            return {"offset_into_first_range": 0, "terms": terms, "fetch_info": fetch_info}
        first = start // self.segment_bytes
        last = max(first, (end - 1) // self.segment_bytes)
        for index in range(first, last + 1):
            base = index * self.segment_bytes
            chunks, last_size = self._chunks(size, index)
            c0 = (start - base) // self.chunk_bytes if index == first else 0
            c1 = min(-(-(end - base) // self.chunk_bytes), chunks) if index == last else chunks
            short = self.chunk_bytes - last_size if c1 == chunks else 0  # the blob's last chunk
            xorb = self.segment_id(sha256, index)
            chunk_range = {"start": c0, "end": c1}
            terms.append({
                "hash": xorb,
                "unpacked_length": (c1 - c0) * self.chunk_bytes - short,
                "range": chunk_range,
            })  # fmt: skip
            fetch_info[xorb] = [{
                "range": chunk_range,
                "url": url_for(index),
                # inclusive, as HTTP ranges are
                "url_range": {"start": c0 * self.stride, "end": c1 * self.stride - short - 1},
            }]  # fmt: skip
        offset = start - (
            first * self.segment_bytes + terms[0]["range"]["start"] * self.chunk_bytes
        )
        return {"offset_into_first_range": offset, "terms": terms, "fetch_info": fetch_info}

    def read(
        self, source: Source, size: int, index: int, start: int, end: int
    ) -> Iterator[memoryview]:
        """Bytes [start, end) of segment `index` of a blob of `size` bytes, in
        batches of whole chunks that `source` reads straight into place.

        Each batch is a buffer of its own: whether a server still holds a
        batch it has not sent when it asks for the next depends on its event
        loop, and a fresh buffer costs no measurable time.
        """
        chunks, last_size = self._chunks(size, index)
        per_batch = max(1, BATCH_BYTES // self.chunk_bytes)
        full = _header(self.chunk_bytes)
        position = start
        for batch in range(start // self.stride, chunks, per_batch):
            if position >= end:
                return
            sizes = [self.chunk_bytes] * (min(batch + per_batch, chunks) - batch)
            if batch + len(sizes) == chunks:
                sizes[-1] = last_size
            buffer = memoryview(bytearray(sum(sizes) + HEADER_BYTES * len(sizes)))
            targets, at = [], 0
            for length in sizes:
                buffer[at : at + HEADER_BYTES] = (
                    full if length == self.chunk_bytes else _header(length)
                )
                targets.append(buffer[at + HEADER_BYTES : at + HEADER_BYTES + length])
                at += HEADER_BYTES + length
            offset = index * self.segment_bytes + batch * self.chunk_bytes
            got = source(targets, offset)
            if got != sum(sizes):
                raise OSError(f"the blob ended early: {got} of {sum(sizes)} bytes at {offset}")
            first = batch * self.stride
            lo, hi = max(position, first) - first, min(end, first + at) - first
            yield buffer[lo:hi]
            position = first + hi


DEFAULT = Layout()
