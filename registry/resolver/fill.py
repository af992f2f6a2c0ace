"""One download of one blob, which any number of readers stream while it lands.

A `Fill` writes the bytes of an upstream file into a staging file of the store,
hashing them as they arrive; readers (the mirror's clients) read the staging
file behind the writer. The last byte is held back from every reader until the
whole file matched the digest the upstream published: a corrupted or cut-off
download reaches no client whole, and is never stored. A body that ends early
is asked for again from where it stopped.

`Fills` keeps one `Fill` per blob in a process; across processes the writer
holds a file lock of the store, so another server process does not download
the blob again: it follows the writer's staging file (named in a `follow-`
marker under the store's `tmp/`), its readers reading behind the writer up to
the bytes written, the last one once the blob is stored. If that writer fails,
the follower's readers get the error too (clients resume, and the next request
downloads afresh).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import mmap
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout

from registry.blobio import open_new
from registry.errors import (
    ChecksumMismatchError,
    RegistryError,
    SourceError,
    StoreError,
    UpstreamUnavailableError,
)
from registry.resolver.store import LOCK_TIMEOUT_S, Store

log = logging.getLogger("registry.mirror")

CHUNK = 1 << 20  # what a reader reads at once
BATCH = 4 << 20  # what the writer receives, hashes and writes at once
QUEUE = 6  # batches in flight or kept for readers (a fill's memory: 24 MiB)
_BLOCK = 4096  # O_DIRECT writes whole blocks: a multiple of any disk's block size
ATTEMPTS = 4
CONCURRENT = 4  # downloads at once in a process
READER_WAIT_S = 1.0  # how long the ring waits for a lagging reader
STALL_S = 60.0  # a reader gives up when the writer made no progress for this long
FOLLOW_POLL_S = 0.05  # how often a follower looks at another process's download


class Body(Protocol):
    """A file's body from an offset: where it really starts, and its bytes."""

    @property
    def start(self) -> int: ...

    def readinto(self, buffer: memoryview, /) -> int: ...


# `opener(offset)`: the body from `offset` on (or from 0, when ranges are ignored).
Opener = Callable[[int], AbstractContextManager[Body]]


@dataclass(frozen=True)
class Known:
    """What the fill's owner knows of a blob: `stored()` its sha256 if the store
    holds it already, `learned(sha256)` to note it once stored."""

    stored: Callable[[], str | None]
    learned: Callable[[str], None]


@dataclass(frozen=True)
class Expected:
    """What a file must be: its size, and the digest its source published (the
    sha256 of an LFS file, or the git blob id of a regular one)."""

    label: str  # for messages: `org/name@commit: path`
    size: int
    sha256: str | None = None
    git_oid: str | None = None

    @property
    def key(self) -> str:
        return self.sha256 or f"git-{self.git_oid}"


class _Landing:
    """Where a fill's bytes land: batches read into a ring of page-aligned buffers,
    each hashed on one thread and written on another while the next is read.

    Writes bypass the page cache where the file system allows (O_DIRECT, as the
    store's `BlobWriter`): filling fresh cache pages costs more CPU than hashing,
    several times the direct write on virtual machines. Readers take what they
    need from the ring while it is there (a client streams right behind the
    download), and from the file once its batch was written and the buffer reused.
    """

    def __init__(
        self,
        path: Path,
        update: Callable[[memoryview], None],
        lock: threading.Condition,
        readers: dict[int, int],
    ) -> None:
        self.fd, self.direct = open_new(path)
        self.update = update
        self.lock = lock  # the fill's: guards `received`, the ring and `readers`
        self.readers = readers  # each reader's position
        self.received = 0
        self.waiting = False  # for readers to leave a batch
        self._buffers = [mmap.mmap(-1, BATCH) for _ in range(QUEUE)]
        self._held: list[tuple[int, int] | None] = [None] * QUEUE  # (offset, length)
        self._pending: list[tuple[Future[None], Future[None]] | None] = [None] * QUEUE
        self._index = 0
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="mirror-hash")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="mirror-write")

    def close(self) -> None:
        """Wait for the writes under way, then release the threads, buffers and file."""
        try:
            self._hasher.shutdown(wait=True)
            self._writer.shutdown(wait=True)
        finally:
            os.close(self.fd)
            with self.lock:  # readers go to the file from now on
                self._held = [None] * QUEUE
                for buffer in self._buffers:
                    with contextlib.suppress(BufferError):  # a view still held: freed later
                        buffer.close()

    def next_buffer(self) -> memoryview:
        """A free buffer to read the next batch into (its old batch is on disk).

        A batch is kept until the readers streaming from the ring are past it,
        or for `READER_WAIT_S` at most: a client sets the pace of the download
        it asked for, as a proxy's would, and one that lags reads the file.
        """
        self._settle(self._index)
        with self.lock:
            held = self._held[self._index]
            if held is not None:
                deadline = time.monotonic() + READER_WAIT_S
                self.waiting = True  # readers moving on wake it
                while (left := deadline - time.monotonic()) > 0 and self._lagging(held):
                    self.lock.wait(left)
                self.waiting = False
            self._held[self._index] = None
        return memoryview(self._buffers[self._index])

    def _lagging(self, held: tuple[int, int]) -> bool:
        """Whether a reader in the ring still needs the batch `held`."""
        oldest = min(h[0] for h in self._held if h is not None)
        return any(oldest <= p < held[0] + held[1] for p in self.readers.values())

    def land(self, view: memoryview) -> None:
        """Hash and write `view` (the start of the last `next_buffer`) in the background."""
        with self.lock:
            self._held[self._index] = (self.received, len(view))
            self.received += len(view)
            self.lock.notify_all()
        self._pending[self._index] = (
            self._hasher.submit(self.update, view),
            self._writer.submit(self._write, view),
        )
        self._index = (self._index + 1) % QUEUE

    def drain(self) -> None:
        """Wait for every batch to be hashed and written (and raise the first failure)."""
        for index in range(QUEUE):
            self._settle((self._index + index) % QUEUE)

    def copy_into(self, position: int, targets: list[memoryview]) -> int:
        """Copy into `targets` in turn what the ring holds from `position` on;
        the count, 0 if the ring no longer holds it (call with `lock` held)."""
        done = 0
        for target in targets:
            at = 0
            while at < len(target):
                found = self._find(position + done)
                if found is None:
                    return done
                buffer, start, held = found
                count = min(len(target) - at, held - start)
                target[at : at + count] = buffer[start : start + count]
                at, done = at + count, done + count
        return done

    def _find(self, position: int) -> tuple[memoryview, int, int] | None:
        """The ring's buffer holding `position`: (buffer, offset in it, bytes it holds)."""
        for index, held in enumerate(self._held):
            if held is not None and held[0] <= position < held[0] + held[1]:
                return memoryview(self._buffers[index]), position - held[0], held[1]
        return None

    def _settle(self, index: int) -> None:
        pending, self._pending[index] = self._pending[index], None
        if pending is not None:
            for future in pending:
                future.result()

    def _write(self, view: memoryview) -> None:
        if self.direct and len(view) % _BLOCK:  # O_DIRECT takes whole blocks only
            flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~getattr(os, "O_DIRECT", 0))
            self.direct = False
        remaining = view
        try:
            while remaining:
                remaining = remaining[os.write(self.fd, remaining) :]
        except OSError as error:
            raise StoreError(
                f"Cannot write a mirrored file into the store ({error.strerror or error}). "
                "Free space on that disk, or point REGISTRY_HOME at another one; nothing "
                "partial was kept."
            ) from error


def _skip(body: Body, count: int) -> None:
    """Read past the `count` bytes a body repeats (an upstream that ignored the range)."""
    scratch = memoryview(bytearray(min(max(count, 1), CHUNK)))
    while count > 0:
        read = body.readinto(scratch[: min(count, len(scratch))])
        if not read:
            return
        count -= read


class Fill:
    """A blob on its way into the store, readable while it lands."""

    def __init__(self, store: Store, expected: Expected) -> None:
        self.store = store
        self.expected = expected
        self._staging = store.staging_dir("fill")
        self._path = self._staging / "blob"
        self._landing: _Landing | None = None
        self._readers: dict[int, int] = {}  # position of each reader, by id
        self._done = False
        self._started = False
        self._verified = False  # every byte matched the published digest
        self.sha256: str | None = None  # once stored
        self.error: RegistryError | None = None
        self._changed = threading.Condition()
        # The pid lets `Store.cleanup_temp` remove a dead writer's marker.
        self._marker = store.tmp / f"follow-{os.getpid()}-{expected.key}"
        self._followed: Path | None = None  # another process's staging file
        self._followed_size = 0

    # === The writer ===

    def run(self, opener: Opener, stop: threading.Event, known: Known) -> None:
        """Download (unless another process stores the blob first: then follow
        its download), verify, store."""
        try:
            lock = self.store.lock(f"fill-{self.expected.key}")
            if not self._take(lock, stop, known):
                return
            try:
                already = known.stored()  # what another process stored while this one waited
                if already is not None:
                    self._finish(already)
                    return
                if self._followed is not None:  # readers had bytes of a download that failed
                    raise UpstreamUnavailableError(
                        f"Another server process's download of {self.expected.label} failed; "
                        "ask again."
                    )
                self._download(opener, stop, known)
            finally:
                lock.release()
        except RegistryError as error:
            self._fail(error)
        except Exception as error:  # a bug must not leave readers waiting
            log.exception("mirror: %s failed", self.expected.label)
            self._fail(SourceError(f"Mirroring {self.expected.label} failed: {error}"))
        finally:
            self._marker.unlink(missing_ok=True)
            shutil.rmtree(self._staging, ignore_errors=True)

    # === Following another process's download ===

    def _take(self, lock: FileLock, stop: threading.Event, known: Known) -> bool:
        """Take the fill's lock; while another process holds it, follow that
        process's download. False if the blob was stored meanwhile (then the
        fill is finished)."""
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                lock.acquire(timeout=FOLLOW_POLL_S)
                return True
            except Timeout:
                pass
            if stop.is_set():
                raise UpstreamUnavailableError(f"{self.expected.label}: the server is stopping.")
            if time.monotonic() > deadline:
                raise StoreError(
                    f"Another server process has held the download of {self.expected.label} "
                    f"for {LOCK_TIMEOUT_S} s; its lock is {lock.lock_file}."
                )
            if not self._follow():  # the file is whole or gone: is the blob stored?
                already = known.stored()
                if already is not None:
                    self._finish(already)
                    return False

    def _follow(self) -> bool:
        """Note how far the other process's staging file is written; False if it
        is whole, or there is none to follow."""
        size = None
        for marker in self.store.tmp.glob(f"follow-*-{self.expected.key}"):
            with contextlib.suppress(OSError, ValueError):
                path = Path(marker.read_text(encoding="utf-8"))
                size = min(path.stat().st_size, self.expected.size)
                break
        if size is None:
            return False
        with self._changed:
            if self._followed != path:
                self._followed, self._followed_size = path, 0
            self._followed_size = max(self._followed_size, size)
            self._started = True
            self._changed.notify_all()
        return size < self.expected.size

    def _download(self, opener: Opener, stop: threading.Event, known: Known) -> None:
        sha256 = hashlib.sha256()
        git = hashlib.sha1(b"blob %d\0" % self.expected.size, usedforsecurity=False)

        def update(view: memoryview) -> None:
            sha256.update(view)
            if self.expected.sha256 is None:  # a regular file: its git blob id is published
                git.update(view)

        landing = _Landing(self._path, update, self._changed, self._readers)
        self._landing = landing
        # Where other server processes find the bytes as they land (see `_follow`).
        staged = self._marker.with_name(self._marker.name + ".new")
        staged.write_text(str(self._path), encoding="utf-8")
        os.replace(staged, self._marker)
        try:
            self._attempts(opener, stop, landing)
            landing.drain()
            self._verify(sha256.hexdigest(), git.hexdigest())
            with self._changed:  # every byte is right: readers may have the last one
                self._verified = True
                self._changed.notify_all()
            os.fsync(landing.fd)
        finally:
            landing.close()
        with self._changed:  # readers open the staged file, or the blob, under this lock
            self.store.settle_staged(self._path, sha256.hexdigest())
            self.sha256 = sha256.hexdigest()  # the staged file is gone: open the blob
        known.learned(sha256.hexdigest())  # before the lock lets another process look
        self._finish(sha256.hexdigest())

    def _attempts(self, opener: Opener, stop: threading.Event, landing: _Landing) -> None:
        """Receive the body, asking again from where it stopped when it ends early."""
        for attempt in range(ATTEMPTS):
            try:
                self._receive(opener, stop, landing)
            except UpstreamUnavailableError:
                if attempt == ATTEMPTS - 1 or stop.is_set():
                    raise
            if landing.received == self.expected.size:
                return
            log.warning(
                "mirror: %s stopped after %d of %d bytes; resuming",
                self.expected.label, landing.received, self.expected.size,
            )  # fmt: skip
            time.sleep(0.2 * (attempt + 1))
        raise UpstreamUnavailableError(
            f"The upstream Hub sent {landing.received} of the {self.expected.size} bytes of "
            f"{self.expected.label}, {ATTEMPTS} times over; nothing was stored. Try again later."
        )

    def _receive(self, opener: Opener, stop: threading.Event, landing: _Landing) -> None:
        with opener(landing.received) as body:
            if body.start > landing.received:
                raise SourceError(
                    f"The upstream Hub answered {self.expected.label} from byte {body.start}, "
                    f"not {landing.received} as asked; nothing was stored."
                )
            self._mark_started()
            _skip(body, landing.received - body.start)  # an upstream that ignored the range
            while True:
                if stop.is_set():
                    raise UpstreamUnavailableError("The mirror is shutting down.")
                buffer = landing.next_buffer()
                filled = 0
                try:
                    while filled < len(buffer) and (count := body.readinto(buffer[filled:])):
                        filled += count
                        if landing.received + filled > self.expected.size:
                            raise ChecksumMismatchError(
                                self.expected.label,
                                self.expected.sha256 or f"git blob {self.expected.git_oid}",
                                f"size over {self.expected.size}",
                                fix="The upstream sent more bytes than its listing announced; "
                                "nothing was stored. Try again later.",
                            )
                finally:  # what arrived before a failure is kept: the next try resumes after it
                    if filled:
                        landing.land(buffer[:filled])
                if filled < len(buffer):
                    return

    def _verify(self, sha256: str, git_oid: str) -> None:
        expected = self.expected
        published, actual = (
            (expected.sha256, sha256) if expected.sha256 else (expected.git_oid, git_oid)
        )
        if published is not None and not hmac.compare_digest(published, actual):
            raise ChecksumMismatchError(
                expected.label,
                published,
                actual if expected.sha256 else f"git blob {actual}",
                fix="The download was corrupted in transit; nothing was stored. Ask again.",
            )

    def _mark_started(self) -> None:
        with self._changed:
            self._started = True
            self._changed.notify_all()

    def _finish(self, sha256: str) -> None:
        with self._changed:
            self.sha256 = sha256
            self._done = self._started = True
            self._changed.notify_all()

    def _fail(self, error: RegistryError) -> None:
        with self._changed:
            self.error = error
            self._done = self._started = True
            self._changed.notify_all()

    # === Readers ===

    @property
    def done(self) -> bool:
        return self._done

    def wait_started(self, timeout: float | None = None) -> None:
        """Wait until the upstream answered (or the fill ended); raise its error."""
        with self._changed:
            self._changed.wait_for(lambda: self._started, timeout=timeout)
            if self.error is not None:
                raise self.error

    def wait(self, timeout: float | None = None) -> str:
        """Wait for the blob to be stored; its sha256.

        Raises:
            the fill's error: it was refused or could not be downloaded.
        """
        with self._changed:
            self._changed.wait_for(lambda: self._done, timeout=timeout)
            if self.error is not None:
                raise self.error
            if self.sha256 is None:
                raise UpstreamUnavailableError(f"{self.expected.label} is still on its way.")
            return self.sha256

    def read(self, start: int = 0, end: int | None = None) -> Iterator[memoryview]:
        """The bytes [start, end) as they land (the last one once verified).

        Raises:
            the fill's error, mid-stream: the client's connection is cut short.
        """
        end = self.expected.size if end is None else end
        with self.reader() as reader:
            position = start
            while position < end:
                buffer = memoryview(bytearray(min(CHUNK, end - position)))
                count = reader.readinto([buffer], position)
                position += count
                yield buffer[:count]

    def reader(self) -> FillReader:
        """A reader of this fill's bytes, to close when done (`with`)."""
        return FillReader(self)

    def _moved(self, reader: int, position: int | None) -> None:
        """Note where a reader is (None: gone): the ring keeps the batch a
        reader is in a while, and a writer waiting for it to move on is woken."""
        with self._changed:
            if position is None:
                self._readers.pop(reader, None)
            else:
                self._readers[reader] = position
            if self._landing is not None and self._landing.waiting:
                self._changed.notify_all()

    def _available(self) -> int:
        if self.error is None and (self._verified or self._done):
            return self.expected.size
        return min(self._progress(), self.expected.size - 1)

    def _progress(self) -> int:
        if self._done and self.error is None:
            return self.expected.size
        if self._landing is not None:
            return self._landing.received
        return self._followed_size

    def _wait_for(self, position: int) -> int:
        """How far readers may read, once it is past `position`."""
        deadline = time.monotonic() + STALL_S
        with self._changed:
            while True:
                if self.error is not None:
                    raise self.error
                available = self._available()
                if available > position:
                    return available
                before, left = self._progress(), deadline - time.monotonic()
                if left <= 0:
                    raise UpstreamUnavailableError(
                        f"The upstream Hub stalled on {self.expected.label} for {STALL_S:.0f} s."
                    )
                self._changed.wait(timeout=left)
                if self._progress() != before:
                    deadline = time.monotonic() + STALL_S

    def _from_ring(self, position: int, targets: list[memoryview]) -> int:
        """Copy what the ring holds from `position` on into `targets`; the count."""
        with self._changed:
            landing = self._landing
            return landing.copy_into(position, targets) if landing is not None else 0

    def _open(self) -> int:
        """A descriptor of the bytes on disk: the staging file, or the blob once stored."""
        with self._changed:
            if self.sha256:
                path = self.store.blob_path(self.sha256)
            else:
                path = self._followed if self._landing is None and self._followed else self._path
            try:
                return os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                # The followed file was stored (or its download failed) before this
                # process learned it: its own run learns which within a poll.
                self._changed.wait_for(
                    lambda: self.sha256 is not None or self.error is not None, timeout=STALL_S
                )
                if self.error is not None:
                    raise self.error from None
                if self.sha256 is None:
                    raise UpstreamUnavailableError(
                        f"{self.expected.label} moved while it was read; ask again."
                    ) from None
                return os.open(self.store.blob_path(self.sha256), os.O_RDONLY)


class FillReader:
    """One reader of a fill: its place (which keeps the writer's ring for it),
    and the file it reads what the ring no longer holds from."""

    def __init__(self, fill: Fill) -> None:
        self.fill = fill
        self._fd = -1

    def readinto(self, targets: list[memoryview], position: int) -> int:
        """Fill `targets` in turn with the bytes from `position` on, as many as
        have landed (at least one, waiting for it); the count.

        Raises:
            the fill's error: the download failed or was refused.
        """
        fill = self.fill
        fill._moved(id(self), position)
        limit = fill._wait_for(position)
        targets = _window(targets, 0, limit - position)
        count = fill._from_ring(position, targets)
        if count:
            return count
        if self._fd < 0:
            self._fd = fill._open()
        count = os.preadv(self._fd, targets, position)
        if not count:
            raise UpstreamUnavailableError(f"{fill.expected.label} was cut short.")
        return count

    def fill_all(self, targets: list[memoryview], position: int) -> int:
        """Fill `targets` with the bytes from `position` on, waiting for them
        (a `registry.xet.segments.Source`); the count."""
        total = sum(len(target) for target in targets)
        done = 0
        while done < total:
            done += self.readinto(_window(targets, done, total), position + done)
        return done

    def close(self) -> None:
        self.fill._moved(id(self), None)
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> FillReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _window(targets: list[memoryview], start: int, stop: int) -> list[memoryview]:
    """Bytes [start, stop) of `targets` taken end to end, as views of them."""
    window, at = [], 0
    for target in targets:
        lo, hi = max(start - at, 0), min(stop - at, len(target))
        if lo < hi:
            window.append(target[lo:hi])
        at += len(target)
    return window


class Fills:
    """The fills of one process: one per blob, started on first demand."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._active: dict[str, Fill] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Downloads at once (each holds 24 MiB of buffers); the others wait their turn.
        self._slots = threading.BoundedSemaphore(CONCURRENT)

    def start(self, expected: Expected, opener: Opener, known: Known) -> Fill:
        """The fill of `expected`: the one under way, or a new one started in the
        background (it finishes even if every reader leaves)."""
        with self._lock:
            fill = self._active.get(expected.key)
            if fill is not None:
                return fill
            fill = Fill(self.store, expected)
            self._active[expected.key] = fill

        def run() -> None:
            try:
                with self._slots:
                    fill.run(opener, self._stop, known)
            finally:
                with self._lock:
                    self._active.pop(expected.key, None)

        threading.Thread(target=run, name=f"mirror-{expected.key[:12]}", daemon=True).start()
        return fill

    def close(self) -> None:
        """Stop every fill (their readers get an error; nothing partial is kept)."""
        self._stop.set()
