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

With a bucket (`Store.bucket`, `REGISTRY_BLOB_URL`), the servers of a registry
share the xorbs, as a load balancer may send a client's xorbs to one server and
its shard to another: a received xorb is put in the bucket
(`xet/xorbs/ab/<hash>`, written once) before it is placed here, so a xorb
stored here is in the bucket too, and a failed put is a 503 the client retries.
`xorbs/` and `chunks/` are then this server's cache of the bucket: a xorb that
only the bucket holds is fetched, checked as an uploaded one is, and indexed
here when a shard or a dedupe answer reads it. The dedupe index stays each
server's own (`dedupe/` records the shards registered on that server): it is a
cache, and a miss only costs a client a re-upload of xorbs the bucket may hold.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import stat
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from registry.bucket import XORB_PREFIX, xorb_key
from registry.errors import BlobStoreUnavailableError, StoreError, XetFormatError
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
        """Whether the xorb is stored here or, with a bucket, in the bucket.

        Raises:
            BlobStoreUnavailableError: the bucket did not answer.
        """
        if self.xorb_path(digest).is_file():
            return True
        bucket = self.store.bucket
        return bucket is not None and bucket.head(xorb_key(hashes.to_hex(digest))) is not None

    def _place(self, content: bytes, target: Path, staging: Path) -> None:
        """Write a small file atomically (replacing an identical one is harmless)."""
        staged = staging / target.name
        staged.write_bytes(content)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)

    def add(self, staged: Path, digest: bytes) -> bool:
        """Verify a staged xorb and store it under `digest` (and, with a bucket,
        in the bucket first); False if it was here already.

        Raises:
            XetFormatError: the xorb is malformed or its chunks hash to another hash.
            BlobStoreUnavailableError: the bucket failed; the xorb is not stored here.
        """
        index = self._scan(staged, digest)
        if self.store.bucket is not None:
            # Before placing it here: a xorb here is in the bucket, so a client
            # retrying after a 503 is not told it is stored and skips sending it.
            self.store.bucket.put_file(xorb_key(hashes.to_hex(digest)), staged)
        return self._settle(staged, digest, index)

    @staticmethod
    def _scan(staged: Path, digest: bytes) -> bytes:
        """The chunk index of a staged xorb, every chunk checked against `digest`."""
        size = staged.stat().st_size
        with open(staged, "rb") as reader:
            chunks = xorb.scan(reader, size, digest)
        return b"".join(_INDEX.pack(c.hash, c.offset, c.size) for c in chunks)

    def _settle(self, staged: Path, digest: bytes, index: bytes) -> bool:
        """Place a scanned xorb's index, then the xorb; False if it was here."""
        self._place(index, _shard(self.indexes, digest), staged.parent)
        target = self.xorb_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        try:
            os.link(staged, target)
        except FileExistsError:
            return False
        return True

    def _ensure(self, digest: bytes) -> bool:
        """Whether the xorb is here, fetched from the bucket (checked as `add`
        checks an upload, and indexed) if only the bucket holds it.

        Raises:
            StoreError: the bucket's object is not the xorb it is named after.
            BlobStoreUnavailableError: the bucket did not answer.
        """
        bucket = self.store.bucket
        if bucket is None or self.xorb_path(digest).is_file():
            return self.xorb_path(digest).is_file()
        name = hashes.to_hex(digest)
        with self.store.lock(f"xorb-{name}"):  # one download for concurrent readers
            if self.xorb_path(digest).is_file():
                return True
            key = xorb_key(name)
            staging = self.store.staging_dir("xet-bucket")
            try:
                staged = staging / "xorb"
                try:
                    pieces = bucket.read(key)
                except BlobStoreUnavailableError:
                    raise
                except StoreError:  # not in the bucket
                    return False
                limit = xorb.MAX_XORB_BYTES + xorb.MAX_FOOTER_BYTES
                with open(staged, "xb") as writer:
                    for piece in pieces:
                        if writer.tell() + len(piece) > limit:
                            raise self._altered(key, f"it has more than {limit} bytes")
                        writer.write(piece)
                try:
                    index = self._scan(staged, digest)
                except XetFormatError as error:
                    raise self._altered(key, str(error)) from error
                self._settle(staged, digest, index)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return True

    def _altered(self, key: str, what: str) -> StoreError:
        bucket = self.store.bucket
        return StoreError(
            f"{key} in {bucket.url if bucket else 'the bucket'} is not the xorb it is named "
            f"after ({what}): it was altered behind the registry's back. Delete the object; "
            "the next upload of its data sends it again."
        )

    def chunks(self, digest: bytes) -> tuple[Chunk, ...]:
        """The chunks of a stored xorb, from its index (fetching the xorb from
        the bucket if only the bucket holds it).

        Raises:
            XetFormatError: no such xorb was uploaded here (or to the bucket).
        """
        if not self._ensure(digest):
            raise self._missing(digest)
        try:
            os.utime(self.xorb_path(digest))  # used now: gc keeps it a while longer
            index = _shard(self.indexes, digest).read_bytes()
        except FileNotFoundError:
            raise self._missing(digest) from None
        return tuple(Chunk(*fields) for fields in _INDEX.iter_unpack(index))

    def open(self, digest: bytes) -> BinaryIO:
        """The bytes of a stored xorb (fetched from the bucket if only it holds them)."""
        if not self._ensure(digest):
            raise self._missing(digest)
        try:
            return open(self.xorb_path(digest), "rb")
        except FileNotFoundError:  # collected between the check and the read
            raise self._missing(digest) from None

    @staticmethod
    def _missing(digest: bytes) -> XetFormatError:
        name = hashes.to_hex(digest)
        return XetFormatError(
            f"Xorb {name} is not stored here (never uploaded, or collected after "
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
            try:
                chunks = self.chunks(digest)
            except XetFormatError:  # collected since `offered` saw it
                continue
            offered.append((digest, [(c.hash, c.size) for c in chunks]))
        if not offered:
            return None
        now = int(time.time())
        return shard.dedupe_shard(
            offered, key=secrets.token_bytes(32), created=now, expires=now + DEDUPE_VALID_S
        )

    def gc(self, *, max_age_s: float = DEDUPE_VALID_S) -> tuple[int, int]:
        """Remove xorbs unused for `max_age_s`, their chunk indexes, and the
        dedupe records naming them; how many xorbs, and the bytes freed (here
        and in the bucket).

        With a bucket, its xorbs uploaded more than `max_age_s` ago go too, and
        so does this store's copy of each (whatever its mtime), so this server
        stops offering what other servers can no longer fetch. A bucket keeps
        no access time, and a xorb's object is never rewritten, so its age
        there is its last-modified time: when it was first uploaded, not when
        a shard or a dedupe answer last used it. A xorb in use therefore goes
        `max_age_s` after its upload, and a dedupe answer given shortly before
        may outlive it: a shard naming it is then refused (400) by a server
        that holds no copy.
        """
        removed: set[bytes] = set()
        freed = 0
        bucket = self.store.bucket
        if bucket is not None:
            cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=max_age_s)
            for found in bucket.objects(XORB_PREFIX):
                if found.modified > cutoff:
                    continue
                try:
                    digest = hashes.from_hex(found.key.rsplit("/", 1)[-1])
                except XetFormatError:  # not a xorb this registry wrote
                    continue
                bucket.delete(found.key)
                freed += found.size + self._unlink(digest)
                removed.add(digest)
        now = time.time()
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
            freed += self._unlink(digest)
            removed.add(digest)
        if removed:
            self._forget(removed)
        return len(removed), freed

    def _unlink(self, digest: bytes) -> int:
        """Remove this store's copy of a xorb and its index; the bytes freed."""
        path = self.xorb_path(digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return 0
        path.unlink(missing_ok=True)
        _shard(self.indexes, digest).unlink(missing_ok=True)
        return size

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
