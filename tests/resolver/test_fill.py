"""A reader following another server process's download (`registry.resolver.fill`)
when that download ends between two of its reads.

The processes themselves are tested through the mirror (tests/web/test_mirror.py);
here the moment that made them flaky is set up directly: the followed staging
file is gone (stored, or removed by a failed download) before this process's
own poll learned which.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from registry.errors import UpstreamUnavailableError
from registry.resolver.fill import Expected, Fill
from registry.resolver.store import Store


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
