"""Where xorbs are kept: verified before they are visible, written once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from registry.errors import XetFormatError
from registry.resolver.store import Store
from registry.xet import hashes
from registry.xet.cas import DEDUPE_VALID_S, XorbStore
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


def _age(cas: XorbStore, digest: bytes, seconds: float) -> None:
    path = cas.xorb_path(digest)
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_gc_removes_xorbs_unused_past_the_dedupe_window_and_their_records(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    cas = XorbStore(store)
    old, old_body = raw_xorb([b"a" * 100])
    used, used_body = raw_xorb([b"b" * 100])
    cas.add(_staged(store, old_body), old)
    cas.add(_staged(store, used_body), used)
    cas.remember({b"\x01" * 32: (old, used), b"\x02" * 32: (used, old)})
    _age(cas, old, DEDUPE_VALID_S + 60)
    _age(cas, used, DEDUPE_VALID_S + 60)
    cas.chunks(used)  # a shard or a dedupe answer used it just now

    assert cas.gc() == (1, len(old_body))

    assert not cas.has(old) and cas.has(used)
    assert not any(cas.indexes.rglob(hashes.to_hex(old)))
    assert not any(cas.dedupe.rglob(hashes.to_hex(b"\x01" * 32)))  # its holder is gone
    record = next(cas.dedupe.rglob(hashes.to_hex(b"\x02" * 32))).read_bytes()
    assert record == used  # the collected xorb is no longer offered
    assert not any(store.tmp.glob("xet-dedupe-*"))
    with pytest.raises(XetFormatError, match="collected"):
        cas.chunks(old)
    assert cas.gc() == (0, 0)


def test_registry_gc_reports_collected_xorbs(tmp_path: Path) -> None:
    from registry import Registry

    registry = Registry(cache_dir=tmp_path, offline=True)
    store = registry.resolver.store
    cas = XorbStore(store)
    digest, body = raw_xorb([b"c" * 300])
    cas.add(_staged(store, body), digest)
    assert registry.gc().xorbs == 0  # just uploaded
    _age(cas, digest, DEDUPE_VALID_S + 1)
    report = registry.gc()
    assert (report.xorbs, report.xorb_bytes) == (1, len(body))
