"""Readers of a download under way (`registry.resolver.fill`): from the ring
right behind it, from the staging file when they lag, from the blob once
stored, as a plain GET reads them and as Xet segments do; and a reader
following another server process's download when that download ends between
two of its reads.

The processes themselves are tested through the mirror (tests/web/test_mirror.py);
here the moments are set up directly: a download paced by the test, and a
followed staging file gone (stored, or removed by a failed download) before
this process's own poll learned which.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from registry.errors import UpstreamUnavailableError
from registry.resolver.fill import BATCH, QUEUE, Expected, Fill, Fills, Known
from registry.resolver.store import Store
from registry.xet.segments import Layout, file_source


class _Paced:
    """An upstream body that sends `data` in odd pieces, and waits at `pause`
    until the test lets it go on."""

    def __init__(self, data: bytes, pause: int) -> None:
        self.data, self.pause = data, pause
        self.position = 0
        self.paused = threading.Event()
        self.go_on = threading.Event()

    @property
    def start(self) -> int:
        return 0

    def readinto(self, buffer: memoryview, /) -> int:
        if self.position == self.pause and not self.go_on.is_set():
            self.paused.set()
            assert self.go_on.wait(30)
        end = min(self.position + 77_777, len(self.data), len(buffer) + self.position)
        if self.position < self.pause:
            end = min(end, self.pause)
        count = end - self.position
        buffer[:count] = self.data[self.position : end]
        self.position = end
        return count


def test_readers_get_every_byte_from_the_ring_the_staging_file_and_the_blob(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    data = os.urandom((QUEUE + 2) * BATCH + 12_345)  # more than the ring holds
    body = _Paced(data, pause=(QUEUE + 1) * BATCH + 5)

    @contextmanager
    def opener(offset: int) -> Iterator[_Paced]:
        assert offset == 0
        yield body

    sha256 = hashlib.sha256(data).hexdigest()
    fills = Fills(store)
    fill = fills.start(
        Expected("org/x@abc: model.weights.h5", len(data), sha256),
        opener,
        Known(stored=lambda: None, learned=lambda _: None),
    )
    layout = Layout(chunk_bytes=40_000, segment_chunks=300)  # segments of 12 MB, odd chunks
    results: dict[str, bytes] = {}

    def whole() -> None:  # a plain GET, right behind the download
        results["whole"] = b"".join(fill.read())

    def segments() -> None:  # Xet segments, in parallel ranges of the same bytes
        served = []
        for index in range(layout.segment_count(len(data))):
            length = layout.segment_length(len(data), index)
            with ExitStack() as stack:
                source = stack.enter_context(fill.reader()).fill_all
                served += layout.read(source, len(data), index, 0, length)
        results["segments"] = b"".join(served)

    readers = [threading.Thread(target=whole), threading.Thread(target=segments)]
    for reader in readers:
        reader.start()
    assert body.paused.wait(30)  # the ring has moved past the first bytes: a new reader...
    late = threading.Thread(target=lambda: results.update(late=b"".join(fill.read(3, 10 << 20))))
    late.start()  # ...reads them from the staging file, then waits at the download's pause
    body.go_on.set()
    for reader in [*readers, late]:
        reader.join(30)
    assert fill.wait(30) == sha256
    assert results["whole"] == data
    assert results["late"] == data[3 : 10 << 20]
    blob = os.open(store.blob_path(sha256), os.O_RDONLY)
    try:
        from_blob = b"".join(
            piece
            for index in range(layout.segment_count(len(data)))
            for piece in layout.read(
                file_source(blob), len(data), index, 0, layout.segment_length(len(data), index)
            )
        )
    finally:
        os.close(blob)
    assert results["segments"] == from_blob
    assert b"".join(fill.read(len(data) - 7)) == data[-7:]  # stored: read from the blob


def _following_a_file_now_gone(tmp_path: Path) -> tuple[Fill, bytes, str]:
    store = Store(tmp_path / "store")
    data = os.urandom(100_000)
    sha256, _ = store.add_stream([data])
    fill = Fill(store, Expected("org/x@abc: model.weights.h5", len(data), sha256))
    # What `Fill._follow` noted of the other process's download: all of it written.
    fill._followed, fill._followed_size, fill._started = tmp_path / "moved", len(data), True
    return fill, data, sha256


def test_a_follower_reads_the_blob_its_leader_stored_meanwhile(tmp_path: Path) -> None:
    fill, data, sha256 = _following_a_file_now_gone(tmp_path)
    learned = threading.Timer(0.2, fill._finish, args=(sha256,))  # this process's next poll
    learned.start()
    try:
        assert b"".join(fill.read()) == data
    finally:
        learned.cancel()


def test_a_follower_gets_the_error_of_a_leader_that_failed(tmp_path: Path) -> None:
    fill, _, _ = _following_a_file_now_gone(tmp_path)
    failed = UpstreamUnavailableError("Another server process's download failed; ask again.")
    learned = threading.Timer(0.2, fill._fail, args=(failed,))
    learned.start()
    try:
        with pytest.raises(UpstreamUnavailableError, match="download failed"):
            b"".join(fill.read())
    finally:
        learned.cancel()
