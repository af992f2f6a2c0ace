"""Where xorbs are kept: verified before they are visible, written once."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import XetFormatError
from registry.resolver.store import Store
from registry.xet.cas import XorbStore
from tests.xet.craft import raw_xorb


def _staged(store: Store, body: bytes) -> Path:
    path = store.staging_dir("test") / "xorb"
    path.write_bytes(body)
    return path


def test_a_xorb_is_stored_once_with_its_chunk_index(tmp_path: Path) -> None:
    store = Store(tmp_path)
    cas = XorbStore(store)
    digest, body = raw_xorb([b"a" * 100, b"b" * 200])
    assert cas.add(_staged(store, body), digest)
    assert not cas.add(_staged(store, body), digest)
    assert [(c.offset, c.size) for c in cas.chunks(digest)] == [(0, 100), (108, 200)]
    with cas.open(digest) as reader:
        assert reader.read() == body
    assert not cas.xorb_path(digest).stat().st_mode & 0o222  # read-only


def test_a_refused_xorb_is_never_visible(tmp_path: Path) -> None:
    store = Store(tmp_path)
    cas = XorbStore(store)
    digest, body = raw_xorb([b"a" * 100])
    with pytest.raises(XetFormatError):
        cas.add(_staged(store, body[:-1] + b"?"), digest)
    assert not cas.has(digest)
    with pytest.raises(XetFormatError, match="never uploaded"):
        cas.chunks(digest)


def test_the_dedupe_index_forgets_xorbs_that_are_gone(tmp_path: Path) -> None:
    store = Store(tmp_path)
    cas = XorbStore(store)
    digest, body = raw_xorb([b"a" * 100])
    other, _ = raw_xorb([b"b" * 100])
    cas.remember({b"\x01" * 32: (digest, other)})
    assert cas.offered(b"\x01" * 32) == ()  # recorded, but no xorb is stored
    assert cas.dedupe_answer(b"\x01" * 32) is None
    cas.add(_staged(store, body), digest)
    assert cas.offered(b"\x01" * 32) == (digest,)
    assert cas.dedupe_answer(b"\x01" * 32) is not None
