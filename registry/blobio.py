"""Writing large files fast and checked: the bytes are hashed on one thread
and written on another while the caller fills the next batch, around the page
cache where the file system allows.

Used by the store (downloads, copies of local folders) and by uploads' staging.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from registry.errors import StoreError

_BATCH = 4 << 20  # the write and hash unit
_QUEUE = 4  # batches in flight (bounds a writer's memory to 16 MiB)
_BLOCK = 4096  # O_DIRECT writes whole blocks: a multiple of any disk's block size

Advance = Callable[[int], None]


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` at `target` (a new path), or copy it where the file
    system cannot link (another device, no link support, too many links)."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)


def open_new(path: Path) -> tuple[int, bool]:
    """Create `path` for writing, bypassing the page cache where the file system
    allows it (O_DIRECT; tmpfs and some others refuse): (fd, direct)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(path, flags | direct, 0o644), True
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
    return os.open(path, flags, 0o644), False


class BlobWriter:
    """Writes a new file from 4 MiB batches, hashing each on one thread and
    writing it on another while the caller fills the next.

    The batch buffers are page-aligned and reused in turn (a buffer is refilled
    only once its hash and write finished). Writes go around the page cache
    (O_DIRECT) where the file system allows: copying gigabytes into fresh
    page-cache pages costs more CPU than hashing them, and on virtual machines
    its cost swings severalfold from run to run. The last, partial batch is
    written through the cache, as O_DIRECT takes whole blocks only. A blob that
    fits in one batch is hashed and written on the caller's thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd, self.direct = open_new(path)
        self.digest = hashlib.sha256()
        self.size = 0
        self._buffers = [mmap.mmap(-1, _BATCH) for _ in range(_QUEUE)]
        self._pending: list[tuple[Future[None], Future[None]] | None] = [None] * _QUEUE
        self._threads: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
        self._index = 0
        self._fill = 0

    def _write(self, view: memoryview) -> None:
        if self.direct and len(view) % _BLOCK:
            self._through_cache()
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError as error:
                # A file system that took the flag at open but refuses the I/O.
                if not self.direct or error.errno != errno.EINVAL:
                    raise self._failed(error) from error
                self._through_cache()
                continue
            view = view[written:]

    def _failed(self, error: OSError) -> StoreError:
        return StoreError(
            f"Cannot write {self.path} ({error.strerror or error}). Free space on that "
            "disk, or point REGISTRY_HOME at another one; nothing partial was kept."
        )

    def _through_cache(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~getattr(os, "O_DIRECT", 0))
        self.direct = False

    def _land(self, final: bool = False) -> None:
        if self._fill == 0:
            return
        view = memoryview(self._buffers[self._index])[: self._fill]
        self._fill = 0
        if final and self._threads is None:
            self.digest.update(view)
            self._write(view)
            return
        if self._threads is None:
            self._threads = (
                ThreadPoolExecutor(1, thread_name_prefix="registry-hash"),
                ThreadPoolExecutor(1, thread_name_prefix="registry-write"),
            )
        hasher, writer = self._threads
        self._pending[self._index] = (
            hasher.submit(self.digest.update, view),
            writer.submit(self._write, view),
        )
        self._index = (self._index + 1) % _QUEUE
        self._settle(self._index)  # the next buffer is refilled only once it is free

    def _settle(self, index: int) -> None:
        pending, self._pending[index] = self._pending[index], None
        if pending is not None:
            for future in pending:
                future.result()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            room = _BATCH - self._fill
            taken = view[:room]
            self._buffers[self._index][self._fill : self._fill + len(taken)] = taken
            self._fill += len(taken)
            self.size += len(taken)
            view = view[room:]
            if self._fill == _BATCH:
                self._land()

    def read_all(self, source: Readable, advance: Advance | None = None) -> None:
        while True:
            target = memoryview(self._buffers[self._index])[self._fill :]
            read = source.readinto(target)
            if not read:
                return
            self._fill += read
            self.size += read
            if advance is not None:
                advance(read)
            if self._fill == _BATCH:
                self._land()

    def finish(self) -> str:
        """Write what is left, wait for every batch, sync; the sha256."""
        self._land(final=True)
        for index in range(_QUEUE):
            self._settle(index)
        try:
            os.fsync(self.fd)
        except OSError as error:
            raise self._failed(error) from error
        return self.digest.hexdigest()

    def close(self) -> None:
        """Release the threads, buffers and file (after `finish`, or on failure;
        closing twice is harmless)."""
        if self.fd < 0:
            return
        try:
            if self._threads is not None:
                for pool in self._threads:
                    pool.shutdown(wait=True)
        finally:
            fd, self.fd = self.fd, -1
            os.close(fd)
            self._buffers.clear()  # unmapped once the last view of them is gone
