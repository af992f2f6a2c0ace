"""The content-addressed store: blobs by sha256, revision trees of links to them.

```
<root>/blobs/sha256/ab/abcdef...       file content, stored once, read-only
<root>/manifests/<digest>.json         a revision's manifest; its canonical file
                                       list hashes to <digest>, so it checks itself
<root>/trees/<digest>/...              the revision's files: hard links to blobs
                                       (copies where links are impossible)
<root>/state/<digest>.json             (size, mtime, inode) of each file at its
                                       last full hash: the fast verification path
<root>/tmp/                            staging; entries carry the writer's pid
<root>/locks/                          file locks
<root>/quarantine/                     blobs that failed verification
```

With a bucket (`REGISTRY_BLOB_URL`, `registry/bucket.py`), the bucket is where
blobs live for good and `blobs/` is this machine's cache of it: every blob that
settles here is also put in the bucket (once: an object that exists is never
rewritten) before anything names it, and a blob missing here is fetched from the
bucket, checked against its name, when a tree needs it.

Every file is hashed while it lands in `tmp/`, then moved into place with
`os.replace`; a tree is staged whole and renamed into `trees/` in one step. A
reader therefore sees a complete blob or tree or none, whatever happens to the
writer. File locks make N processes that ingest the same content store each
blob once; `cleanup_temp` removes what dead writers left behind.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from registry.blobio import Advance, BlobWriter, Readable, link_or_copy
from registry.bucket import blob_key
from registry.errors import StoreError

if TYPE_CHECKING:
    from registry.bucket import Bucket
from registry.preset.atomic import is_temporary
from registry.preset.manifest import (
    MANIFEST_FILE,
    FileEntry,
    Manifest,
    Mismatch,
    VerificationResult,
    sha256_file,
)

CHUNK = 4 << 20
LOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class GcReport:
    """What `Store.gc` removed."""

    trees: int
    blobs: int
    temporary: int
    bytes_freed: int
    evicted: int = 0  # of the trees: least recently used ones, to fit `max_bytes`
    xorbs: int = 0  # Xet uploads' xorbs unused past their dedupe window
    xorb_bytes: int = 0
    bucket_objects: int = 0  # blobs deleted from the bucket (REGISTRY_BLOB_URL)
    bucket_bytes: int = 0
    bucket_uploads: int = 0  # stale multipart uploads aborted, temporary objects deleted


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def byte_progress(label: str, total: int, enabled: bool | None) -> Iterator[Advance | None]:
    """A byte progress bar on stderr: by default only when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class Store:
    """A content-addressed store rooted at `root` (created on first use)."""

    def __init__(self, root: str | os.PathLike[str], *, bucket: Bucket | None = None) -> None:
        self.root = Path(root)
        self.bucket = bucket
        self.blobs = self.root / "blobs" / "sha256"
        self.manifests = self.root / "manifests"
        self.trees = self.root / "trees"
        self.state = self.root / "state"
        self.tmp = self.root / "tmp"
        self.locks = self.root / "locks"
        self.quarantine_dir = self.root / "quarantine"
        for directory in (self.blobs, self.manifests, self.trees, self.state, self.tmp, self.locks):
            directory.mkdir(parents=True, exist_ok=True)

    # === Paths and locks ===

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def tree_path(self, digest: str) -> Path:
        return self.trees / digest

    def lock(self, name: str) -> FileLock:
        """An inter-process lock of this store (a file under `locks/`)."""
        return FileLock(str(self.locks / f"{name}.lock"), timeout=LOCK_TIMEOUT_S)

    def staging_dir(self, kind: str = "fetch") -> Path:
        """A fresh directory under `tmp/` for a download or an upload; the caller
        removes it."""
        path = self._staging(kind)
        path.mkdir(parents=True)
        return path

    def _staging(self, kind: str) -> Path:
        # The pid lets `cleanup_temp` tell a dead writer's leftovers from live work.
        return self.tmp / f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:12]}"

    # === Blobs ===

    def _settle_blob(self, staged: Path, sha256: str) -> None:
        """Move a staged, hashed file into place unless the blob exists already,
        and into the bucket unless it holds the blob already.

        Raises:
            BlobStoreUnavailableError: the bucket failed; the caller records nothing.
        """
        target = self._place_blob(staged, sha256)
        if self.bucket is not None:
            self.bucket.put_blob(sha256, target)

    def _place_blob(self, staged: Path, sha256: str) -> Path:
        target = self.blob_path(sha256)
        with self.lock(f"blob-{sha256}"):
            if target.is_file():
                staged.unlink(missing_ok=True)
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(staged, target)
        return target

    def blob_size(self, sha256: str) -> int | None:
        """The size of blob `sha256` here or in the bucket; None if neither holds it."""
        with contextlib.suppress(FileNotFoundError):
            return self.blob_path(sha256).stat().st_size
        return None if self.bucket is None else self.bucket.head(blob_key(sha256))

    def has_blob(self, sha256: str) -> bool:
        return self.blob_size(sha256) is not None

    def ensure_blob(self, sha256: str) -> Path:
        """The path of blob `sha256`, fetched from the bucket (and checked against
        its name) if only the bucket holds it; the path may not exist when
        neither does.

        Raises:
            StoreError: the bucket's object does not hash to its name.
            BlobStoreUnavailableError: the bucket did not answer.
        """
        target = self.blob_path(sha256)
        if self.bucket is None or target.is_file():
            return target
        if self.bucket.head(blob_key(sha256)) is None:
            return target
        staged = self._staging("bucket")
        try:
            self.bucket.download(sha256, staged)
            return self._place_blob(staged, sha256)
        finally:
            staged.unlink(missing_ok=True)

    def settle_staged(self, staged: Path, sha256: str) -> None:
        """Move a file already hashed while it landed under `tmp/` into the blobs."""
        self._settle_blob(staged, sha256)

    def add_stream(self, chunks: Iterable[bytes | memoryview]) -> tuple[str, int]:
        """Store bytes from an iterator, hashing as they land; return (sha256, size)."""

        def fill(writer: BlobWriter) -> None:
            for chunk in chunks:
                writer.write(chunk)

        return self._add(fill)

    def add_readable(self, source: Readable, *, advance: Advance | None = None) -> tuple[str, int]:
        """Store everything `source.readinto` yields (a socket's response, a file),
        read straight into the write buffers; return (sha256, size)."""
        return self._add(lambda writer: writer.read_all(source, advance))

    def _add(self, fill: Callable[[BlobWriter], object]) -> tuple[str, int]:
        staged = self._staging("blob")
        try:
            writer = BlobWriter(staged)
            try:
                fill(writer)
                sha256 = writer.finish()
            finally:
                writer.close()
            self._settle_blob(staged, sha256)
        finally:
            staged.unlink(missing_ok=True)
        return sha256, writer.size

    def add_file(
        self, source: Path, *, link: bool = False, advance: Advance | None = None
    ) -> tuple[str, int]:
        """Copy a file into the store, hashing while it lands; return (sha256, size).

        With `link=True` (for files already staged inside the store, such as a
        download) the file is hashed and then hard-linked into place: no copy.
        """
        if link:
            sha256, size = sha256_file(source, advance), source.stat().st_size
            staged = self._staging("blob")
            self._link_or_copy(source, staged)
            try:
                self._settle_blob(staged, sha256)
            finally:
                staged.unlink(missing_ok=True)
            return sha256, size
        with open(source, "rb", buffering=0) as reader:
            return self._add(lambda writer: writer.read_all(reader, advance))

    def ingest_directory(
        self, directory: Path, *, link: bool = False, progress: bool | None = None
    ) -> Manifest:
        """Store every regular file under `directory`; return the manifest.

        The source is only read. Symbolic links are refused: a preset is data,
        and a link could point anywhere on the machine. A top-level
        `manifest.json` is the registry's own record of the other files, not
        part of the revision (as in `build_manifest`), so a preset written by
        `save_to_preset` gets the revision id its manifest states.
        """
        files = []
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory).as_posix()
            if path.is_symlink():
                raise StoreError(
                    f"{path} is a symbolic link; presets are plain files. Copy the file "
                    "it points to into the preset directory instead."
                )
            skipped = relative == MANIFEST_FILE or relative.startswith(".git/")
            if path.is_file() and not is_temporary(path) and not skipped:
                files.append((relative, path))
        total = sum(path.stat().st_size for _, path in files)
        entries = []
        with byte_progress(f"hashing {directory.name}", total, progress) as advance:
            for relative, path in files:
                sha256, size = self.add_file(path, link=link, advance=advance)
                entries.append(FileEntry(relative, size, sha256))
        if not entries:
            raise StoreError(f"{directory} holds no files to store.")
        return Manifest(tuple(sorted(entries)))

    # === Manifests and trees ===

    def save_manifest(self, manifest: Manifest) -> None:
        target = self.manifests / f"{manifest.revision_id}.json"
        if target.is_file():
            return
        staged = self._staging("manifest")
        staged.write_text(manifest.to_json(), encoding="utf-8")
        os.replace(staged, target)

    def load_manifest(self, digest: str) -> Manifest | None:
        """The stored manifest of `digest`, or None; a tampered one is refused."""
        path = self.manifests / f"{digest}.json"
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            manifest = Manifest(
                tuple(
                    sorted(FileEntry(f["path"], int(f["size"]), f["sha256"]) for f in body["files"])
                )
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(f"{path} is malformed ({error}); run `registry gc`.") from error
        if not hmac.compare_digest(manifest.revision_id, digest):
            raise StoreError(
                f"{path} does not hash to {digest}; it was altered. Run `registry gc`."
            )
        return manifest

    def _link_or_copy(self, blob: Path, target: Path) -> None:
        link_or_copy(blob, target)

    def publish_tree(self, manifest: Manifest) -> Path:
        """Make `trees/<digest>` hold the revision's files, atomically; return it."""
        digest = manifest.revision_id
        final = self.tree_path(digest)
        self.save_manifest(manifest)
        if final.is_dir():
            return final
        with self.lock(f"tree-{digest}"):
            if final.is_dir():
                return final
            staging = self._staging("tree")
            try:
                for entry in manifest.files:
                    blob = self.ensure_blob(entry.sha256)
                    if not blob.is_file():
                        raise StoreError(f"blob {entry.sha256} of {entry.path} is not in the store")
                    target = staging / entry.path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self._link_or_copy(blob, target)
                os.replace(staging, final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        self._record_state(digest, manifest)
        return final

    def remove_tree(self, digest: str) -> None:
        """Take a tree out of service (the next resolve rebuilds or refetches it)."""
        with self.lock(f"tree-{digest}"):
            tree = self.tree_path(digest)
            if tree.is_dir():
                doomed = self._staging("doomed")
                os.replace(tree, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
            (self.state / f"{digest}.json").unlink(missing_ok=True)
            (self.state / f"{digest}.checked").unlink(missing_ok=True)

    # === Verification ===

    def json_checked(self, digest: str) -> bool:
        """Whether the revision's JSON files passed `check_json_files` (they cannot
        have changed since: their bytes are verified against the revision)."""
        return (self.state / f"{digest}.checked").is_file()

    def mark_json_checked(self, digest: str) -> None:
        (self.state / f"{digest}.checked").touch()

    def _record_state(self, digest: str, manifest: Manifest) -> None:
        tree = self.tree_path(digest)
        records = {}
        for entry in manifest.files:
            info = (tree / entry.path).stat()
            records[entry.path] = [info.st_size, info.st_mtime_ns, info.st_ino]
        staged = self._staging("state")
        staged.write_text(json.dumps(records), encoding="utf-8")
        os.replace(staged, self.state / f"{digest}.json")

    def _cached_state(self, digest: str) -> dict[str, list[int]]:
        try:
            body = json.loads((self.state / f"{digest}.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return body if isinstance(body, dict) else {}

    def verify_tree(
        self, digest: str, manifest: Manifest, *, full: bool = False
    ) -> VerificationResult:
        """Check a tree's files against its manifest.

        The fast path trusts a file whose size, mtime and inode are those seen
        at its last full hash (as git's index does) and rehashes the others;
        `full=True` rehashes every file.
        """
        tree = self.tree_path(digest)
        cached = {} if full else self._cached_state(digest)
        mismatches = []
        rehashed = False
        for entry in manifest.files:
            path = tree / entry.path
            try:
                info = path.stat()
            except FileNotFoundError:
                mismatches.append(Mismatch(entry.path, entry.sha256, "missing"))
                continue
            current = [info.st_size, info.st_mtime_ns, info.st_ino]
            if info.st_size == entry.size and cached.get(entry.path) == current:
                continue
            rehashed = True
            actual = sha256_file(path) if info.st_size == entry.size else f"size {info.st_size}"
            if not hmac.compare_digest(actual, entry.sha256):
                mismatches.append(Mismatch(entry.path, entry.sha256, actual))
        result = VerificationResult(checked=len(manifest.files), mismatches=tuple(mismatches))
        if result.ok and rehashed:
            self._record_state(digest, manifest)
        elif result.ok:  # nothing changed: mark the use (eviction is by last use)
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.state / f"{digest}.json")
        return result

    def quarantine(self, sha256: str) -> None:
        """Move a blob that failed verification aside, so it is never served again."""
        blob = self.blob_path(sha256)
        with self.lock(f"blob-{sha256}"):
            if blob.exists():
                self.quarantine_dir.mkdir(parents=True, exist_ok=True)
                os.replace(blob, self.quarantine_dir / f"{sha256}-{int(time.time())}")

    # === Housekeeping ===

    def cleanup_temp(self, *, max_age_s: float = 24 * 3600) -> int:
        """Remove staging entries of dead writers (or older than `max_age_s`)."""
        removed = 0
        now = time.time()
        for entry in self.tmp.iterdir():
            parts = entry.name.split("-")
            pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
            try:
                stale = now - entry.lstat().st_mtime > max_age_s
            except FileNotFoundError:  # its live writer just moved it into place
                continue
            if (pid is not None and pid != os.getpid() and not _pid_alive(pid)) or stale:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def digests(self) -> set[str]:
        """Every revision the store holds a manifest of."""
        return {path.stem for path in self.manifests.glob("*.json")}

    def last_used(self, digest: str) -> float:
        """When a revision was last verified (loaded), or stored."""
        for path in (self.state / f"{digest}.json", self.manifests / f"{digest}.json"):
            with contextlib.suppress(FileNotFoundError):
                return path.stat().st_mtime
        return 0.0

    def _referenced(self, digests: set[str]) -> dict[str, int]:
        blobs: dict[str, int] = {}
        for digest in digests:
            manifest = self.load_manifest(digest)
            if manifest is not None:
                blobs.update((entry.sha256, entry.size) for entry in manifest.files)
        return blobs

    def _to_evict(self, kept: set[str], evictable: set[str], max_bytes: int) -> set[str]:
        """Least recently used evictable revisions to drop until the rest fit."""
        evicted: set[str] = set()
        for digest in sorted(kept & evictable, key=self.last_used):
            if sum(self._referenced(kept - evicted).values()) <= max_bytes:
                break
            evicted.add(digest)
        return evicted

    def gc(
        self,
        keep: set[str],
        *,
        grace_s: float = 3600,
        max_bytes: int | None = None,
        evictable: set[str] | None = None,
    ) -> GcReport:
        """Remove trees and manifests not in `keep`, then blobs no kept manifest lists.

        With `max_bytes`, also evict the least recently used of `evictable`
        (revisions that can be fetched again) until the rest fits. Blobs
        younger than `grace_s` stay: a writer may be about to reference them.
        """
        with self.lock("gc"):
            temporary = self.cleanup_temp()
            doomed = self.digests() - keep
            evicted: set[str] = set()
            if max_bytes is not None:
                evicted = self._to_evict(self.digests() - doomed, evictable or set(), max_bytes)
            # Blobs of evicted revisions are known, whatever their age.
            freed_by_eviction = set(self._referenced(evicted))
            for digest in doomed | evicted:
                self.remove_tree(digest)
                (self.manifests / f"{digest}.json").unlink(missing_ok=True)
            referenced = self._referenced(self.digests())
            blobs = freed = 0
            now = time.time()
            for blob in self.blobs.glob("*/*"):
                info = blob.stat()
                young = now - info.st_mtime < grace_s and blob.name not in freed_by_eviction
                if blob.name not in referenced and not young:
                    blob.unlink(missing_ok=True)
                    blobs += 1
                    freed += info.st_size
        return GcReport(
            trees=len(doomed | evicted),
            blobs=blobs,
            temporary=temporary,
            bytes_freed=freed,
            evicted=len(evicted),
        )
