"""The xorbs uploaded to this server, beside the store's blobs.

```
<store>/xet/xorbs/ab/<hash>     a xorb as uploaded: written once, read-only
<store>/xet/chunks/ab/<hash>    its chunk index, 40 bytes a chunk (hash, offset, size),
                                computed here when the xorb arrived (nothing a client
                                claims about its chunks is kept)
<store>/xet/dedupe/ab/<chunk>   the xorbs a dedupe query about the chunk is answered
                                with: the one holding it, then others of its file
```

`<hash>` is the hash's string form. A xorb is staged under the store's `tmp/`,
scanned (every chunk decompressed and hashed, the xorb's hash checked), its
index written, then linked into place: a reader sees a whole, verified xorb or
none, and two processes storing the same xorb write it once.

Xorbs are how bytes travel; the files rebuilt from them are the store's blobs.
They are kept only for dedupe: a xorb's mtime is when a shard or a dedupe
answer last used it, and `gc` removes those unused for longer than a client may
hold a dedupe answer (`DEDUPE_VALID_S`), with their indexes and the dedupe
records that name them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from registry.errors import XetFormatError
from registry.resolver.store import Store
from registry.xet import hashes, shard, xorb
from registry.xet.xorb import Chunk

_INDEX = struct.Struct("<32sII")  # chunk hash, offset of its header, uncompressed size
DEDUPE_VALID_S = 7 * 24 * 3600  # how long a client may dedupe against an answer
MAX_OFFERED = 64  # xorbs in one dedupe answer: ~4 GB of a file, ~3 MB of shard
Offer = tuple[bytes, ...]  # xorb hashes, the one holding the chunk first


def _shard(root: Path, digest: bytes) -> Path:
    name = hashes.to_hex(digest)
    return root / name[:2] / name


class XorbStore:
    """Xorbs, their chunk indexes and the dedupe index of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.root / "xet"
        self.xorbs = self.root / "xorbs"
        self.indexes = self.root / "chunks"
        self.dedupe = self.root / "dedupe"

    def xorb_path(self, digest: bytes) -> Path:
        return _shard(self.xorbs, digest)

    def has(self, digest: bytes) -> bool:
        return self.xorb_path(digest).is_file()

    def _place(self, content: bytes, target: Path, staging: Path) -> None:
        """Write a small file atomically (replacing an identical one is harmless)."""
        staged = staging / target.name
        staged.write_bytes(content)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)

    def add(self, staged: Path, digest: bytes) -> bool:
        """Verify a staged xorb and store it under `digest`; False if it was there.

        Raises:
            XetFormatError: the xorb is malformed or its chunks hash to another hash.
        """
        size = staged.stat().st_size
        with open(staged, "rb") as reader:
            chunks = xorb.scan(reader, size, digest)
        index = b"".join(_INDEX.pack(c.hash, c.offset, c.size) for c in chunks)
        self._place(index, _shard(self.indexes, digest), staged.parent)
        target = self.xorb_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        try:
            os.link(staged, target)
        except FileExistsError:
            return False
        return True

    def chunks(self, digest: bytes) -> tuple[Chunk, ...]:
        """The chunks of a stored xorb, from its index.

        Raises:
            XetFormatError: no such xorb was uploaded here.
        """
        try:
            os.utime(self.xorb_path(digest))  # used now: gc keeps it a while longer
            index = _shard(self.indexes, digest).read_bytes()
        except FileNotFoundError:
            raise self._missing(digest) from None
        return tuple(Chunk(*fields) for fields in _INDEX.iter_unpack(index))

    def open(self, digest: bytes) -> BinaryIO:
        try:
            return open(self.xorb_path(digest), "rb")
        except FileNotFoundError:  # collected between the check and the read
            raise self._missing(digest) from None

    @staticmethod
    def _missing(digest: bytes) -> XetFormatError:
        name = hashes.to_hex(digest)
        return XetFormatError(
            f"Xorb {name} is not on this server (never uploaded, or collected after "
            f"{DEDUPE_VALID_S // 86400} days unused); upload it "
            f"(POST /xet/v1/xorbs/default/{name}), then the shard that references it."
        )

    def remember(self, offers: Mapping[bytes, Offer]) -> None:
        """Record, for each chunk, the xorbs a dedupe query about it is answered
        with (the one holding it first); a chunk keeps its first record."""
        staging = self.store.staging_dir("xet-dedupe")
        try:
            for chunk, xorbs in sorted(offers.items()):
                target = _shard(self.dedupe, chunk)
                if not target.is_file():
                    self._place(b"".join(xorbs[:MAX_OFFERED]), target, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def offered(self, chunk: bytes) -> Offer:
        """The stored xorbs recorded for `chunk` (none if it was never recorded)."""
        try:
            record = _shard(self.dedupe, chunk).read_bytes()
        except FileNotFoundError:
            return ()
        size = hashes.HASH_BYTES
        xorbs = (record[i : i + size] for i in range(0, len(record) - size + 1, size))
        return tuple(digest for digest in xorbs if self.has(digest))

    def dedupe_answer(self, chunk: bytes) -> bytes | None:
        """The global dedupe API's answer for `chunk`: a shard offering the xorb
        that holds it and others of the same file, chunk hashes keyed anew for
        this answer; None if no stored xorb is known to hold it."""
        offered = []
        for digest in self.offered(chunk)[:MAX_OFFERED]:
            offered.append((digest, [(c.hash, c.size) for c in self.chunks(digest)]))
        if not offered:
            return None
        now = int(time.time())
        return shard.dedupe_shard(
            offered, key=secrets.token_bytes(32), created=now, expires=now + DEDUPE_VALID_S
        )

    def gc(self, *, max_age_s: float = DEDUPE_VALID_S) -> tuple[int, int]:
        """Remove xorbs unused for `max_age_s`, their chunk indexes, and the
        dedupe records naming them; how many xorbs, and their bytes."""
        now = time.time()
        removed: set[bytes] = set()
        freed = 0
        for path in self.xorbs.glob("*/*"):
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            if now - info.st_mtime < max_age_s:
                continue
            try:
                digest = hashes.from_hex(path.name)
            except XetFormatError:  # not a xorb this store wrote
                continue
            path.unlink(missing_ok=True)
            _shard(self.indexes, digest).unlink(missing_ok=True)
            removed.add(digest)
            freed += info.st_size
        if removed:
            self._forget(removed)
        return len(removed), freed

    def _forget(self, removed: set[bytes]) -> None:
        """Drop removed xorbs from the dedupe records; a record whose holder is
        gone goes whole."""
        size = hashes.HASH_BYTES
        staging = self.store.staging_dir("xet-dedupe")
        try:
            for path in self.dedupe.glob("*/*"):
                record = path.read_bytes()
                xorbs = [record[i : i + size] for i in range(0, len(record) - size + 1, size)]
                if not xorbs or xorbs[0] in removed:
                    path.unlink(missing_ok=True)
                elif removed.intersection(xorbs):
                    kept = b"".join(x for x in xorbs if x not in removed)
                    self._place(kept, path, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
