"""Receiving an upload: loose files or one archive, into a staging directory.

Every file is hashed while it lands and counted against the upload's `Limits`
chunk by chunk, so an oversize upload stops at the limit rather than after it.
Names are checked before anything is written (`safe_relative_path`,
`check_file_name`); archives may hold only regular files and directories. A
tar can be unpacked from a stream as it arrives (`unpack_stream`).

With a bucket (`Staging(..., bucket=...)`), every file of `TEE_BYTES` or more
also streams into it while it lands (`registry.bucket.BlobTee`): to its blob's
key when the sender announced its sha256 (a tar member's `REGISTRY.sha256` PAX
header), else to a temporary key. `settle_bucket` makes those objects the
validated preset's blobs; `discard` leaves nothing of a refused upload.

```python
staging = Staging(directory, Limits.from_env())
with staging.open("config.json") as file:
    file.write(b"{...}")
staging.unpack(Path("preset.tar.gz"))        # or: an archive
entries = staging.entries                     # path -> FileEntry, hashed
```
"""

from __future__ import annotations

import gzip
import hmac
import os
import re
import shutil
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Protocol, TypeVar, cast

from registry.blobio import BlobWriter, link_or_copy
from registry.bucket import PART_BYTES, PENDING_TAILS, BlobTee, Bucket
from registry.errors import (
    ChecksumMismatchError,
    PresetFormatError,
    UnsafePresetError,
    UploadTooLargeError,
)
from registry.preset.manifest import FileEntry
from registry.preset.validate import (
    Limits,
    UploadBudget,
    check_file_name,
    safe_relative_path,
)

CHUNK = 1 << 20
TEE_BYTES = PART_BYTES  # smaller files reach the bucket after validation, in one PUT
SHA256_PAX = "REGISTRY.sha256"  # a tar member's announced sha256 (PAX vendor keyword)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_Member = TypeVar("_Member")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")


class StagedFile:
    """One file being written into the staging area, hashed as it goes (by a
    `BlobWriter`: hashing and writing on threads, around the page cache).

    With a bucket (`Staging.bucket`), a file that reaches `TEE_BYTES` also
    streams into it as it lands (`registry.bucket.BlobTee`), to the blob's own
    key if `sha256` was announced; smaller files go to the bucket after
    validation, as the store puts any blob.
    """

    def __init__(
        self, staging: Staging, relative: PurePosixPath, *, sha256: str | None = None
    ) -> None:
        self.staging = staging
        self.relative = relative
        self.path = staging.directory / relative
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.announced = sha256
        self._writer = BlobWriter(self.path)
        self._head: bytearray | None = bytearray() if staging.bucket is not None else None
        self._tee: BlobTee | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.staging.budget.admit(str(self.relative), self.size, len(chunk))
        self._writer.write(chunk)
        if self._tee is not None:
            self._tee.write(chunk)
        elif self._head is not None:  # held until the file is large enough to tee
            self._head += chunk
            if len(self._head) >= TEE_BYTES:
                head, self._head = self._head, None
                self._tee = self.staging.tee(self.announced)
                if self._tee is not None:
                    self._tee.write(head)

    def close(self) -> FileEntry:
        try:
            sha256 = self._writer.finish()
        finally:
            self._writer.close()
        self._head = None
        if self.announced is not None and not hmac.compare_digest(self.announced, sha256):
            self.abort()
            raise ChecksumMismatchError(
                str(self.relative),
                self.announced,
                sha256,
                fix="The file changed while it was being uploaded; upload it again.",
            )
        if self._tee is not None:
            self._tee.close(sha256)
        entry = FileEntry(self.relative.as_posix(), self.size, sha256)
        self.staging.entries[entry.path] = entry
        return entry

    def abort(self) -> None:
        self._writer.close()
        self._head = None
        if self._tee is not None:
            self._tee.discard()

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
        else:
            self.abort()


class Staging:
    """A directory receiving one upload's files (the caller owns and removes it).

    `sidecars` names files that travel with a preset without being part of it
    (a signature, `model.sig`): they are received like the others and the
    caller takes them out before the preset is validated.
    """

    def __init__(
        self,
        directory: Path,
        limits: Limits,
        *,
        sidecars: frozenset[str] = frozenset(),
        bucket: Bucket | None = None,
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.sidecars = sidecars
        self.bucket = bucket
        self.budget = UploadBudget(limits)
        self.entries: dict[str, FileEntry] = {}
        self.tees: list[BlobTee] = []
        self._tees_lock = threading.Lock()

    def open(self, name: str, *, sha256: str | None = None) -> StagedFile:
        """Start writing the upload's file `name` (a relative path), whose bytes
        the sender may say hash to `sha256` (checked when the file ends)."""
        announced = sha256.lower() if sha256 and _SHA256.fullmatch(sha256.lower()) else None
        return StagedFile(self, self._new_path(name), sha256=announced)

    # === The bucket ===

    def tee(self, sha256: str | None) -> BlobTee | None:
        """A new `BlobTee` into the bucket for a file being received (to the
        blob's key if `sha256` was announced), or None if the bucket holds that
        blob already or another file of this upload carries it there."""
        if self.bucket is None:
            return None
        with self._tees_lock:
            if sha256 is not None:
                if any(t.announced == sha256 for t in self.tees) or self.bucket.has_blob(sha256):
                    return None
                if sum(t.pending and t.announced is not None for t in self.tees) >= PENDING_TAILS:
                    sha256 = None  # bounded memory: this one takes a temporary key
            tee = BlobTee(self.bucket, sha256)
            self.tees.append(tee)
        return tee

    def settle_bucket(self, needed: set[str]) -> None:
        """Complete the bucket objects of the files whose sha256 is in `needed`
        (the validated preset's) and discard the others: then the store finds
        those blobs in the bucket and pushes only the files no tee carried.

        Raises:
            BlobStoreUnavailableError: the bucket failed; nothing is left of the
                tees not yet settled (see `discard_bucket`).
        """
        for tee in list(self.tees):
            if tee.sha256 in needed and tee.pending:
                tee.settle()
            else:
                tee.discard()

    def discard_bucket(self) -> None:
        """Leave nothing of this upload in the bucket (a refused or failed one);
        a no-op for tees already settled."""
        for tee in list(self.tees):
            tee.discard()

    def discard(self) -> None:
        """Remove the staging directory and whatever the upload put in the bucket."""
        try:
            self.discard_bucket()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def place(self, name: str, source: Path, sha256: str, *, link: bool) -> FileEntry:
        """Put a file whose sha256 is known at `name`, with the checks of `open`:
        a stored blob (hard-linked, or copied where links are impossible; its
        bytes count against the limits now) or a file this upload spooled while
        hashing it (moved; its bytes were counted as they came)."""
        relative = self._new_path(name)
        size = source.stat().st_size
        self.budget.admit(str(relative), size, size if link else 0)
        target = self.directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if link:
            link_or_copy(source, target)
        else:
            os.replace(source, target)
        entry = FileEntry(relative.as_posix(), size, sha256)
        self.entries[entry.path] = entry
        return entry

    def _new_path(self, name: str) -> PurePosixPath:
        relative = safe_relative_path(name)
        if relative.name not in self.sidecars:  # one below the top is refused later
            check_file_name(relative)
        if relative.as_posix() in self.entries or (self.directory / relative).exists():
            raise UnsafePresetError(
                str(relative), "appears twice in the upload.", "Send each file once."
            )
        for parent in relative.parents:
            if parent.as_posix() in self.entries:
                raise UnsafePresetError(
                    str(relative), f"lies under the file {parent}.", "Fix the file names."
                )
        self.budget.start_file(str(relative))
        return relative

    def strip_common_directory(self) -> None:
        """`preset/config.json`, `preset/...` -> `config.json`, ...: a directory
        uploaded (or archived) with its own name in front, as browsers and
        `tar czf x.tgz preset/` send it."""
        paths = [PurePosixPath(p) for p in self.entries]
        tops = {p.parts[0] for p in paths}
        if len(tops) != 1 or any(len(p.parts) == 1 for p in paths):
            return
        (top,) = tops
        holder = self.directory / top
        moved = self.directory.with_name(self.directory.name + ".strip")
        os.replace(holder, moved)
        for child in moved.iterdir():
            os.replace(child, self.directory / child.name)
        moved.rmdir()
        self.entries = {
            str(PurePosixPath(*PurePosixPath(p).parts[1:])): FileEntry(
                str(PurePosixPath(*PurePosixPath(p).parts[1:])), e.size, e.sha256
            )
            for p, e in self.entries.items()
        }

    # === Archives ===

    def unpack(self, archive: Path, *, name: str | None = None) -> None:
        """Extract a .tar, .tar.gz or .zip into the staging area, member by member.

        Raises:
            UnsafePresetError: a link, device or escaping member; too many
                members; expansion past the size limits or `max_ratio`.
            PresetFormatError: not an archive of a supported kind.
        """
        label = name or archive.name
        most = max(archive.stat().st_size * self.limits.max_ratio, CHUNK)

        def ceiling() -> float:
            return most

        if zipfile.is_zipfile(archive):
            self._unpack_zip(archive, label, ceiling)
        elif _is_tar(archive):
            self._unpack_tar(archive, label, ceiling)
        else:
            raise PresetFormatError(
                label,
                "is not a .tar, .tar.gz or .zip archive.",
                "Upload the preset's files, or one archive of its directory.",
            )
        self.strip_common_directory()

    def _copy_member(
        self,
        member: str,
        source: IO[bytes],
        label: str,
        ceiling: Callable[[], float],
        sha256: str | None = None,
    ) -> None:
        with self.open(member, sha256=sha256) as target:
            while chunk := source.read(CHUNK):
                target.write(chunk)
                if self.budget.total > ceiling():
                    raise UploadTooLargeError(
                        label,
                        f"expands past {self.limits.max_ratio} times its own size "
                        "(a compression bomb?).",
                        "Upload the files uncompressed, or raise REGISTRY_MAX_ARCHIVE_RATIO.",
                    )

    def _unpack_zip(self, archive: Path, label: str, ceiling: Callable[[], float]) -> None:
        try:
            self._unpack_zip_members(archive, label, ceiling)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise PresetFormatError(
                label,
                f"is a damaged archive ({error}).",
                "Create the archive again (`cd DIR && zip -r ../preset.zip .`).",
            ) from error

    def _unpack_zip_members(self, archive: Path, label: str, ceiling: Callable[[], float]) -> None:
        with zipfile.ZipFile(archive) as bundle:
            for info in _bounded(bundle.infolist(), self.limits, label):
                mode = (info.external_attr >> 16) & 0o170000
                if mode and mode not in (0o100000, 0o040000):  # only files and directories
                    raise _not_a_file(label, info.filename)
                if info.is_dir():
                    safe_relative_path(info.filename)
                    continue
                if info.file_size > self.limits.max_file_bytes:
                    raise UploadTooLargeError(
                        f"{label}: {info.filename}",
                        f"declares {info.file_size} bytes, over the "
                        f"{self.limits.max_file_bytes}-byte limit per file.",
                        "Raise REGISTRY_MAX_FILE_BYTES on the server to accept larger weights.",
                    )
                with bundle.open(info) as source:
                    self._copy_member(info.filename, source, label, ceiling)

    def unpack_stream(self, source: CountingReader, name: str) -> None:
        """Extract a .tar or .tar.gz read from `source` as it arrives (tar is
        read front to back: each member lands, and tees to the bucket, while
        the next bytes are still coming); the checks of `unpack`, the archive's
        size for the expansion limit being what `source` has given so far.

        Raises:
            UnsafePresetError, UploadTooLargeError: as `unpack`.
            PresetFormatError: not a tar, or a damaged one.
        """

        def ceiling() -> float:
            return max(source.consumed * self.limits.max_ratio, CHUNK)

        try:
            # 1 MiB reads: the default 10 KiB would cost a call (and a join) per 10 KiB
            bundle = tarfile.open(fileobj=cast(IO[bytes], source), mode="r|*", bufsize=CHUNK)  # noqa: SIM115
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise PresetFormatError(
                name,
                "is not a .tar, .tar.gz or .zip archive.",
                "Upload the preset's files, or one archive of its directory.",
            ) from error
        with bundle:
            self._unpack_tar_members(bundle, name, ceiling)
        self.strip_common_directory()

    def _unpack_tar(self, archive: Path, label: str, ceiling: Callable[[], float]) -> None:
        try:
            bundle = tarfile.open(archive, mode="r:*")  # noqa: SIM115 (closed below)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise _damaged(label, error) from error
        with bundle:
            self._unpack_tar_members(bundle, label, ceiling)

    def _unpack_tar_members(
        self, bundle: tarfile.TarFile, label: str, ceiling: Callable[[], float]
    ) -> None:
        try:
            for member in _bounded(bundle, self.limits, label):
                if member.isdir():
                    safe_relative_path(member.name)
                    continue
                if not member.isreg():
                    raise _not_a_file(label, member.name)
                source = bundle.extractfile(member)
                assert source is not None  # a regular file always has data
                announced = member.pax_headers.get(SHA256_PAX)
                self._copy_member(member.name, source, label, ceiling, announced)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise _damaged(label, error) from error


def _damaged(label: str, error: BaseException) -> PresetFormatError:
    return PresetFormatError(
        label,
        f"is a damaged archive ({error}).",
        "Create the archive again (`tar czf preset.tar.gz -C DIR .`).",
    )


class CountingReader(Protocol):
    """A binary stream that counts the bytes it has given (`Staging.unpack_stream`)."""

    consumed: int

    def read(self, size: int = -1, /) -> bytes: ...


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, tarfile.TarError, zlib.error):
        return False


def _bounded(members: Iterable[_Member], limits: Limits, label: str) -> Iterator[_Member]:
    """Stop reading an archive's index once it lists more members than a preset has."""
    most = 2 * limits.max_files + 64  # files, and the directories holding them
    for count, member in enumerate(members, 1):
        if count > most:
            raise UnsafePresetError(
                label,
                f"has more than {most} members; an upload holds at most {limits.max_files} files.",
                "Archive only the preset directory.",
            )
        yield member


def _not_a_file(label: str, member: str) -> UnsafePresetError:
    return UnsafePresetError(
        f"{label}: {member}",
        "is a link, device or other special file; archives may hold only regular "
        "files and directories.",
        "Archive the files themselves (`tar --dereference`), not links to them.",
    )
