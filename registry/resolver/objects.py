"""Objects announced by sha256 and size before their bytes come (the Hub's LFS
uploads), received straight into the blob store.

The bytes are hashed while they land (`BlobWriter`); an object with more or
fewer bytes than announced, or another sha256, is refused and leaves nothing.
A large object may come in parts: each part lands under the store's `tmp/` in
a directory named for the object (so any server process sharing the store may
receive any part, and `Store.cleanup_temp` removes what a day leaves idle), and
completing it streams the parts, in order, through one more hash into the blob.

With a bucket (`REGISTRY_BLOB_URL`), a whole object's bytes also stream into
a multipart upload under its announced name as they arrive; it is completed
only once they hash to that name, and aborted otherwise. The LFS batch then
offers no parts (`web/api/lfs.py`), as servers that share a bucket share no
`tmp/`.

An object stored but not yet committed is an unreferenced blob: `Store.gc`
keeps it for its grace period (an hour by default), time for the commit.

```python
wanted = Announced(sha256, size, limits)
with ObjectUpload(store, wanted) as upload:
    for chunk in body:
        upload.write(chunk)
    upload.finish()                     # checked, then moved into blobs/
```
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from registry.blobio import BlobWriter
from registry.bucket import BucketWriter, blob_key
from registry.errors import ChecksumMismatchError, InvalidNameError, UploadTooLargeError
from registry.preset.validate import Limits
from registry.resolver.store import Store

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FIX = "Upload the file again (its bytes changed, or the transfer was cut)."


def check_sha256(value: object, what: str = "an object") -> str:
    """`value` if it is a sha256 in lowercase hex, the only form objects are named by.

    Raises:
        InvalidNameError: anything else (a path, say).
    """
    if not isinstance(value, str) or not _SHA256.match(value):
        raise InvalidNameError(
            f"{str(value)[:80]!r}, given for {what}, is not a sha256 (64 lowercase hex digits)."
        )
    return value


@dataclass(frozen=True)
class Announced:
    """An object as a client announces it: sha256 and size, checked against the limits."""

    sha256: str
    size: int

    @classmethod
    def checked(cls, sha256: object, size: object, limits: Limits) -> Announced:
        """Raises:
        InvalidNameError: not a sha256 in lowercase hex, or not a size.
        UploadTooLargeError: over the per-file limit."""
        sha256 = check_sha256(sha256)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidNameError(f"The size of object {sha256} is not a byte count: {size!r}.")
        if size > limits.max_file_bytes:
            raise UploadTooLargeError(
                f"object {sha256}",
                f"announces {size} bytes, over the {limits.max_file_bytes}-byte limit per file.",
                "Raise REGISTRY_MAX_FILE_BYTES on the server to accept larger weights.",
            )
        return cls(sha256, size)

    def parts(self, chunk_size: int) -> int:
        """How many parts of `chunk_size` bytes the object comes in (at least one)."""
        return max(1, math.ceil(self.size / chunk_size))

    def part_size(self, number: int, chunk_size: int) -> int:
        return min(chunk_size, self.size - (number - 1) * chunk_size)


def is_stored(store: Store, wanted: Announced) -> bool:
    """Whether the store holds the object already (so it need not be sent)."""
    return store.blob_size(wanted.sha256) == wanted.size


class _Landing:
    """Bytes of a known count landing in a new file, hashed as they come."""

    def __init__(self, path: Path, size: int, label: str, sha256: str) -> None:
        self.path = path
        self.expected = size
        self.label = label
        self.sha256 = sha256  # of the whole object, for messages
        self._writer = BlobWriter(path)

    def write(self, chunk: bytes) -> None:
        if self._writer.size + len(chunk) > self.expected:
            raise ChecksumMismatchError(
                self.label, self.sha256, f"size over the {self.expected} bytes announced", _FIX
            )
        self._writer.write(chunk)

    def finish(self) -> str:
        """Wait for the last bytes; the sha256. Raises if fewer came than expected."""
        try:
            sha256 = self._writer.finish()
        finally:
            self._writer.close()
        if self._writer.size != self.expected:
            raise ChecksumMismatchError(
                self.label,
                self.sha256,
                f"size {self._writer.size} instead of the {self.expected} bytes announced",
                _FIX,
            )
        return sha256

    def close(self) -> None:
        self._writer.close()


class ObjectUpload:
    """One announced object's bytes, received into the store (see the module)."""

    def __init__(self, store: Store, wanted: Announced) -> None:
        self.store = store
        self.wanted = wanted
        self._directory = store.staging_dir("lfs")
        label = f"object {wanted.sha256}"
        self._landing = _Landing(self._directory / "object", wanted.size, label, wanted.sha256)
        # With a bucket, the bytes also stream into a multipart upload under
        # the announced name, completed only once they hash to it.
        self._bucket: BucketWriter | None = None
        if store.bucket is not None:
            self._bucket = store.bucket.writer(blob_key(wanted.sha256))

    def write(self, chunk: bytes) -> None:
        self._landing.write(chunk)
        if self._bucket is not None:
            self._bucket.write(chunk)

    def finish(self) -> None:
        """Check the bytes against the announcement, then store them.

        Raises:
            ChecksumMismatchError: another size or sha256 than announced.
        """
        sha256 = self._landing.finish()
        if sha256 != self.wanted.sha256:
            raise ChecksumMismatchError(
                f"object {self.wanted.sha256}", self.wanted.sha256, sha256, _FIX
            )
        if self._bucket is not None:
            self._bucket.commit()
        self.store.settle_staged(self._landing.path, sha256)

    def close(self) -> None:
        """Release the writer and remove what did not reach the store (a
        multipart upload not committed is aborted)."""
        if self._bucket is not None:
            self._bucket.abort()
        self._landing.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> ObjectUpload:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# === Multipart ===


def _parts_dir(store: Store, wanted: Announced) -> Path:
    return store.tmp / f"lfs-{wanted.sha256}"


class PartUpload:
    """Part `number` (from 1) of an object sent in parts of `chunk_size` bytes."""

    def __init__(self, store: Store, wanted: Announced, number: int, chunk_size: int) -> None:
        if not 1 <= number <= wanted.parts(chunk_size):
            raise InvalidNameError(
                f"Object {wanted.sha256} comes in {wanted.parts(chunk_size)} parts, not "
                f"{number}; ask the batch endpoint for its part URLs again."
            )
        self.number = number
        self.directory = _parts_dir(store, wanted)
        self.directory.mkdir(parents=True, exist_ok=True)
        size = wanted.part_size(number, chunk_size)
        landing = self.directory / f".incoming-{number:05d}-{uuid.uuid4().hex[:12]}"
        label = f"part {number} of object {wanted.sha256}"
        self._landing = _Landing(landing, size, label, wanted.sha256)

    def write(self, chunk: bytes) -> None:
        self._landing.write(chunk)

    def finish(self) -> str:
        """Keep the part (a retried part replaces the earlier one); its sha256,
        which is the part's ETag."""
        sha256 = self._landing.finish()
        for earlier in self.directory.glob(f"part-{self.number:05d}-*"):
            earlier.unlink(missing_ok=True)
        os.replace(self._landing.path, self.directory / f"part-{self.number:05d}-{sha256}")
        return sha256

    def close(self) -> None:
        """Release the writer; a refused part leaves nothing (nor an empty directory)."""
        self._landing.close()
        self._landing.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # other parts are there: keep them
            self.directory.rmdir()


def complete(store: Store, wanted: Announced, chunk_size: int, etags: dict[int, str]) -> None:
    """Join the parts the client names (number -> the ETag it was given) into the
    object, checked as one upload; the parts are removed, whatever happens. An
    object stored already is complete (a client may repeat its completion).

    Raises:
        ChecksumMismatchError: a part is missing or not the one sent, or the
            whole is not the object announced.
    """
    directory = _parts_dir(store, wanted)
    if is_stored(store, wanted):  # completed already (a completion sent again)
        shutil.rmtree(directory, ignore_errors=True)
        return
    try:
        paths = [
            _part(directory, wanted, n, etags.get(n))
            for n in range(1, wanted.parts(chunk_size) + 1)
        ]
        with ObjectUpload(store, wanted) as upload:
            for path in paths:
                with open(path, "rb") as part:
                    while chunk := part.read(4 << 20):
                        upload.write(chunk)
            upload.finish()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _part(directory: Path, wanted: Announced, number: int, etag: str | None) -> Path:
    found = sorted(directory.glob(f"part-{number:05d}-*"))
    sha256 = found[-1].name.rsplit("-", 1)[1] if found else "missing"
    if etag is None or etag.strip('"') != sha256:
        raise ChecksumMismatchError(
            f"part {number} of object {wanted.sha256}", (etag or "").strip('"'), sha256, _FIX
        )
    return found[-1]
