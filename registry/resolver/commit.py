"""A commit applied to a revision: the tree it leaves, staged for the one upload path.

A commit (the Hub protocol's) names operations on its parent revision: files
added, their bytes sent with the commit or stored beforehand as objects (LFS),
and files or folders deleted, in order, a later operation on a path winning.
`CommitOperations` records them, the content of added files spooled to disk
(hashed and counted against the limits as it comes). `apply` gives the files
they leave on a parent, path by path, without writing anything: they can be
tried on another parent, and the result's revision id is known before a byte
is stored. `stage` puts that result in a `Staging` area: the parent's files and
the objects hard-linked from the blob store (nothing is copied), the sent files
moved from where they were spooled. Then `publish` validates and records the
whole, as it does every upload, so a commit that would leave an invalid preset
is refused and leaves nothing.

```python
operations = CommitOperations(resolver.store, staging)
try:
    spooled = operations.spool()
    spooled.write(b"# card")
    operations.add_file("README.md", spooled)
    operations.add_object("model.weights.h5", sha256, size)  # stored by an LFS upload
    operations.delete_folder("assets")
    files = operations.apply(parent_manifest)                # which may be None
    revision_of(files)                                       # the id it will have
    operations.stage(files)
finally:
    operations.close()
published = publish(resolver, staging, request)
```
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from registry.blobio import BlobWriter
from registry.errors import ChecksumMismatchError, EntryNotFoundError, PresetFormatError
from registry.preset.manifest import MANIFEST_FILE, FileEntry, Manifest
from registry.preset.upload import Staging
from registry.preset.validate import safe_relative_path
from registry.resolver.objects import check_sha256
from registry.resolver.store import Store

_UPLOAD_AGAIN = "Upload the file again: the server keeps an uploaded object for an hour."


@dataclass(frozen=True)
class _Source:
    """Where a file of the result is now: a blob of the store, or spooled."""

    path: Path
    sha256: str
    size: int
    spooled: bool


class Spooled:
    """A file of the commit received before its path is known (the Hub's commit
    body sends a file's content before its path), hashed and counted as it lands."""

    def __init__(self, path: Path, staging: Staging) -> None:
        self.path = path
        self._budget = staging.budget
        self._writer = BlobWriter(path)

    def write(self, chunk: bytes) -> None:
        self._budget.admit("a file of the commit", self._writer.size + len(chunk), len(chunk))
        self._writer.write(chunk)

    def finish(self) -> _Source:
        try:
            sha256 = self._writer.finish()
        finally:
            self._writer.close()
        return _Source(self.path, sha256, self._writer.size, spooled=True)

    def close(self) -> None:
        self._writer.close()


def _relative(path: str) -> str:
    return safe_relative_path(path).as_posix()


Files = dict[str, _Source]


class CommitOperations:
    """A commit's operations, in order, with the content of its added files on
    disk: they apply to any parent revision (see the module)."""

    def __init__(self, store: Store, staging: Staging) -> None:
        self.store = store
        self.staging = staging
        self._spool = store.staging_dir("spool")
        self._spooled: list[Spooled] = []
        self._operations: list[tuple[str, str, _Source | None]] = []

    def _stored(self, path: str, sha256: str, size: int | None) -> _Source:
        blob = self.store.ensure_blob(sha256)
        try:
            stored = blob.stat().st_size
        except FileNotFoundError:
            raise PresetFormatError(
                path,
                f"names the object sha256 {sha256}, which this server does not hold (it was "
                "never uploaded, or was collected since).",
                _UPLOAD_AGAIN,
            ) from None
        if size is not None and size != stored:
            raise ChecksumMismatchError(path, sha256, f"size {stored}, not {size}", _UPLOAD_AGAIN)
        return _Source(blob, sha256, stored, spooled=False)

    def spool(self) -> Spooled:
        """A new file to write the content of an added file into."""
        spooled = Spooled(self._spool / uuid.uuid4().hex, self.staging)
        self._spooled.append(spooled)
        return spooled

    def add_file(self, path: str, spooled: Spooled) -> None:
        """Add (or replace) `path` with the content written into `spooled`."""
        self._operations.append(("add", _relative(path), spooled.finish()))

    def add_object(self, path: str, sha256: str, size: int | None) -> None:
        """Add (or replace) `path` with an object of the store (an LFS upload).

        Raises:
            InvalidNameError: `sha256` is not 64 lowercase hex digits.
        """
        check_sha256(sha256, path)
        self._operations.append(("add", _relative(path), self._stored(path, sha256, size)))

    def delete_file(self, path: str) -> None:
        self._operations.append(("delete", _relative(path), None))

    def delete_folder(self, path: str) -> None:
        self._operations.append(("delete folder", _relative(path), None))

    def __len__(self) -> int:
        return len(self._operations)

    # === The result ===

    def apply(self, parent: Manifest | None) -> Files:
        """The files the operations leave when applied to `parent` (nothing is
        written: sources only).

        Raises:
            EntryNotFoundError: a deletion names no file (or folder) of the tree.
            PresetFormatError: a parent's file is not in the store.
        """
        files: Files = {}
        for entry in parent.files if parent is not None else ():
            files[entry.path] = self._stored(entry.path, entry.sha256, entry.size)
        for kind, path, source in self._operations:
            if source is not None:
                files[path] = source
            elif kind == "delete" and files.pop(path, None) is None:
                raise EntryNotFoundError(
                    f"{path}: A file with this name doesn't exist in the parent revision or "
                    "the commit; delete a folder as a folder (`deletedFolder`)."
                )
            elif kind == "delete folder":
                doomed = [name for name in files if name.startswith(path + "/")]
                if not doomed:
                    raise EntryNotFoundError(f"{path}/: no folder of this name holds a file.")
                for name in doomed:
                    del files[name]
        return files

    def stage(self, files: Files) -> None:
        """Put `files` (from `apply`) in the staging area, checked as any upload's
        (names, file count, sizes), for `publish`.

        Raises:
            PresetFormatError: the commit leaves no file.
            UnsafePresetError, UploadTooLargeError: from the staging area's checks.
        """
        if not files:
            raise PresetFormatError(
                "the commit",
                "leaves the repository without files.",
                "Keep the preset's config and weights, or delete the repository.",
            )
        for path, source in sorted(files.items()):
            try:
                self.staging.place(path, source.path, source.sha256, link=not source.spooled)
            except FileNotFoundError:  # a blob collected since `apply` (past gc's grace)
                raise PresetFormatError(
                    path,
                    f"names the object sha256 {source.sha256}, collected since.",
                    _UPLOAD_AGAIN,
                ) from None

    def close(self) -> None:
        """Remove what was spooled and not staged."""
        for spooled in self._spooled:
            spooled.close()
        shutil.rmtree(self._spool, ignore_errors=True)


def revision_of(files: Files) -> str:
    """The revision id `files` make (as `publish` computes it: without `manifest.json`)."""
    entries = (FileEntry(p, s.size, s.sha256) for p, s in files.items() if p != MANIFEST_FILE)
    return Manifest(tuple(sorted(entries))).revision_id
