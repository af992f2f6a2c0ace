"""Xet's hashes: keyed BLAKE3 over chunks, a Merkle tree over (hash, size) pairs
for xorbs and files, range hashes for shard verification, and the hex form.

A hash is 32 raw bytes. Its string form (in URLs and in the Merkle tree's node
text) reads each 8-byte quarter as a little-endian u64 printed in 16 hex digits
(the spec's "Converting Hashes to Strings"), so it is not the bytes' plain hex:

```python
>>> to_hex(bytes(range(32)))[:16]
'0706050403020100'
```
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import blake3

from registry.errors import XetFormatError

HASH_BYTES = 32
# The keys of the Xet Protocol Specification 1.1.0 ("Hashing").
DATA_KEY = bytes(
    (102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41)
)  # fmt: skip
INTERNAL_NODE_KEY = bytes(
    (1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63)
)  # fmt: skip
VERIFICATION_KEY = bytes(
    (127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195)
)  # fmt: skip
ZERO_KEY = bytes(HASH_BYTES)
BOOKEND = b"\xff" * HASH_BYTES  # the shard format's end-of-section marker

# xet-core's Merkle tree: a node ends after a child whose hash is 0 mod 4 (but
# holds at least 2 and at most 9 children); the dedupe index keeps chunks 0 mod 1024.
_BRANCHING = 4
_MAX_CHILDREN = 2 * _BRANCHING + 1
_DEDUPE_MODULUS = 1024
_HEX = re.compile(r"[0-9a-f]{64}")

Leaf = tuple[bytes, int]  # (hash, size in bytes)


def to_hex(digest: bytes) -> str:
    """The string form of a hash (each 8-byte quarter byte-reversed)."""
    return b"".join(digest[i : i + 8][::-1] for i in range(0, HASH_BYTES, 8)).hex()


def from_hex(text: str) -> bytes:
    """The hash a string form names.

    Raises:
        XetFormatError: `text` is not 64 lowercase hexadecimal digits.
    """
    if not _HEX.fullmatch(text):
        raise XetFormatError(
            f"{text[:80]!r} is not a Xet hash: expected 64 lowercase hexadecimal digits."
        )
    raw = bytes.fromhex(text)
    return b"".join(raw[i : i + 8][::-1] for i in range(0, HASH_BYTES, 8))


def keyed(key: bytes, data: bytes | memoryview) -> bytes:
    return blake3.blake3(data, key=key).digest()


def chunk_hash(data: bytes | memoryview) -> bytes:
    """A chunk's hash: BLAKE3 keyed with DATA_KEY."""
    return keyed(DATA_KEY, data)


def _quarter(digest: bytes) -> int:
    """The hash's last u64 (little-endian): what the tree's cuts and dedupe test."""
    return int.from_bytes(digest[24:32], "little")


def is_dedupe_eligible(digest: bytes) -> bool:
    """Whether clients ask the global dedupe API about this chunk (1 in 1024)."""
    return _quarter(digest) % _DEDUPE_MODULUS == 0


def _cut(level: Sequence[Leaf], start: int) -> int:
    """Where the node that starts at `start` ends (exclusive)."""
    if len(level) - start <= 2:
        return len(level)
    end = min(start + _MAX_CHILDREN, len(level))
    for index in range(start + 2, end):
        if _quarter(level[index][0]) % _BRANCHING == 0:
            return index + 1
    return end


def _node(children: Sequence[Leaf]) -> Leaf:
    text = "".join(f"{to_hex(digest)} : {size}\n" for digest, size in children)
    return keyed(INTERNAL_NODE_KEY, text.encode("ascii")), sum(size for _, size in children)


def merkle_root(leaves: Sequence[Leaf]) -> bytes:
    """The root of xet-core's aggregated Merkle tree (zeros for no leaves)."""
    level = list(leaves)
    if not level:
        return ZERO_KEY
    while len(level) > 1:
        parents, start = [], 0
        while start < len(level):
            end = _cut(level, start)
            parents.append(_node(level[start:end]))
            start = end
        level = parents
    return level[0][0]


def xorb_hash(chunks: Sequence[Leaf]) -> bytes:
    """A xorb's hash: the Merkle root of its chunks."""
    return merkle_root(chunks)


def file_hash(chunks: Sequence[Leaf]) -> bytes:
    """A file's hash: its chunks' Merkle root, keyed once more with zeros."""
    return keyed(ZERO_KEY, merkle_root(chunks)) if chunks else ZERO_KEY


def range_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    """The verification hash of a run of chunks (a shard's term): proof that
    the uploader knows every chunk's hash, not only the xorb's."""
    return keyed(VERIFICATION_KEY, b"".join(chunk_hashes))
