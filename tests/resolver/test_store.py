"""The content-addressed store: dedupe, atomic publish, crashes, concurrency, gc."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry import blobio
from registry.errors import StoreError
from registry.preset.manifest import build_manifest
from registry.resolver.store import Store
from tests.conftest import REPO


def _preset(directory: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return directory


def _visible_blobs(store: Store) -> set[str]:
    return {path.name for path in store.blobs.glob("*/*")}


def test_blobs_are_stored_once_and_trees_link_to_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    shared = os.urandom(4096)
    one = _preset(tmp_path / "one", {"config.json": b"{}", "model.weights.h5": shared})
    two = _preset(tmp_path / "two", {"config.json": b'{"a": 1}', "sub/model.weights.h5": shared})
    first = store.ingest_directory(one)
    second = store.ingest_directory(two)
    assert first == build_manifest(one) and second == build_manifest(two)
    assert len(_visible_blobs(store)) == 3
    tree_one, tree_two = store.publish_tree(first), store.publish_tree(second)
    assert tree_one.name == first.revision_id
    weights = (tree_one / "model.weights.h5").stat()
    assert weights.st_ino == (tree_two / "sub/model.weights.h5").stat().st_ino
    assert weights.st_ino == store.blob_path(hashlib.sha256(shared).hexdigest()).stat().st_ino
    # The mode bits, not os.access: root may write anything, so access() says
    # nothing when the tests run as root (as CI does).
    mode = store.blob_path(hashlib.sha256(shared).hexdigest()).stat().st_mode
    assert stat.S_IMODE(mode) & 0o222 == 0, oct(mode)
    assert list(store.tmp.iterdir()) == []


def test_publishing_twice_is_harmless(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    manifest = store.ingest_directory(_preset(tmp_path / "p", {"a": b"1", "b": b"2"}))
    assert store.publish_tree(manifest) == store.publish_tree(manifest)
    assert store.load_manifest(manifest.revision_id) == manifest


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    source = _preset(tmp_path / "p", {"config.json": b"{}"})
    (source / "secret").symlink_to("/etc/passwd")
    with pytest.raises(StoreError, match="symbolic link"):
        Store(tmp_path / "store").ingest_directory(source)


def test_an_altered_manifest_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    manifest = store.ingest_directory(_preset(tmp_path / "p", {"a": b"1"}))
    store.save_manifest(manifest)
    path = store.manifests / f"{manifest.revision_id}.json"
    path.write_text(path.read_text().replace('"size": 1', '"size": 2'))
    with pytest.raises(StoreError, match="altered"):
        store.load_manifest(manifest.revision_id)


def _killed_midway(mode: str, root: Path, tmp_path: Path, *extra: str) -> None:
    ready = tmp_path / f"ready-{mode}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.resolver.crash_helper", mode, str(root), str(ready), *extra],
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert process.poll() is None, "the helper died before reaching the crash point"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_killed_blob_writer_leaves_nothing_visible(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _killed_midway("blob", root, tmp_path)
    store = Store(root)
    assert _visible_blobs(store) == set()
    assert len(list(store.tmp.iterdir())) == 1  # the dead writer's staging file
    assert store.cleanup_temp() == 1
    assert list(store.tmp.iterdir()) == []


def test_a_killed_tree_writer_leaves_no_tree(tmp_path: Path) -> None:
    root = tmp_path / "store"
    source = _preset(tmp_path / "p", {"a": b"1", "b": b"2", "c": b"3"})
    _killed_midway("tree", root, tmp_path, str(source))
    store = Store(root)
    manifest = build_manifest(source)
    assert not store.tree_path(manifest.revision_id).exists()
    assert store.cleanup_temp() == 1
    # The next run publishes the tree whole.
    tree = store.publish_tree(store.ingest_directory(source))
    assert sorted(p.name for p in tree.iterdir()) == ["a", "b", "c"]
    assert store.verify_tree(manifest.revision_id, manifest, full=True).ok


def test_live_writers_staging_is_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    mine = store.tmp / f"blob-{os.getpid()}-abc"
    mine.write_bytes(b"in progress")
    assert store.cleanup_temp() == 0 and mine.exists()


def test_cleanup_skips_what_a_live_writer_moves_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process lists tmp/ while this one renames its staged blob away.
    store = Store(tmp_path / "store")
    moving = store.tmp / "blob-1-moving"
    moving.write_bytes(b"about to be settled")
    lstat = Path.lstat

    def vanished(path: Path) -> os.stat_result:
        if path == moving:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return lstat(path)

    monkeypatch.setattr(Path, "lstat", vanished)
    assert store.cleanup_temp(max_age_s=0) == 0


def test_gc_removes_what_no_kept_revision_needs(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    keep = store.ingest_directory(_preset(tmp_path / "keep", {"a": b"shared", "b": b"kept"}))
    drop = store.ingest_directory(_preset(tmp_path / "drop", {"a": b"shared", "c": b"dropped"}))
    store.publish_tree(keep)
    store.publish_tree(drop)
    assert store.gc({keep.revision_id}, grace_s=3600).blobs == 0  # too young to collect
    report = store.gc({keep.revision_id}, grace_s=0)
    assert report.trees == 0 and report.blobs == 1 and report.bytes_freed == len(b"dropped")
    assert store.digests() == {keep.revision_id}
    assert not store.tree_path(drop.revision_id).exists()
    assert store.verify_tree(keep.revision_id, keep, full=True).ok


def test_gc_evicts_least_recently_used_to_fit(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    manifests = {}
    for name in ("old", "mid", "new"):
        manifest = store.ingest_directory(_preset(tmp_path / name, {"w": os.urandom(1000)}))
        store.publish_tree(manifest)
        manifests[name] = manifest
    for age, name in ((300, "old"), (200, "mid"), (100, "new")):
        stamp = time.time() - age
        os.utime(store.state / f"{manifests[name].revision_id}.json", (stamp, stamp))
    kept = {m.revision_id for m in manifests.values()}
    # "mid" cannot be evicted (an upload); "old" goes first, then "new" if needed.
    evictable = {manifests["old"].revision_id, manifests["new"].revision_id}
    report = store.gc(kept, grace_s=3600, max_bytes=2000, evictable=evictable)
    assert report.evicted == 1 and report.blobs == 1 and report.bytes_freed == 1000
    assert store.digests() == {manifests["mid"].revision_id, manifests["new"].revision_id}
    report = store.gc(kept, grace_s=3600, max_bytes=500, evictable=evictable)
    assert store.digests() == {manifests["mid"].revision_id}  # uploads are never evicted


def test_progress_bars_do_not_change_what_is_stored(tmp_path: Path) -> None:
    source = _preset(tmp_path / "p", {"a": os.urandom(10_000), "b": b"x"})
    quiet = Store(tmp_path / "quiet").ingest_directory(source, progress=False)
    shown = Store(tmp_path / "shown").ingest_directory(source, progress=True)
    assert quiet == shown == build_manifest(source)


# Blob writing: 64 KiB batches here, so that every edge (an empty blob, a partial
# block, a whole batch, several batches and a tail) takes milliseconds.
_SMALL_BATCH = 64 << 10
_SIZES = [
    0,
    1,
    4095,
    4096,
    _SMALL_BATCH - 1,
    _SMALL_BATCH,
    _SMALL_BATCH + 1,
    5 * _SMALL_BATCH + 4321,
]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobio, "_BATCH", _SMALL_BATCH)


def _add_each_way(store: Store, content: bytes, tmp_path: Path) -> list[tuple[str, int]]:
    source = tmp_path / "source"
    source.write_bytes(content)
    odd_chunks = (content[i : i + 9_999] for i in range(0, len(content), 9_999))
    return [
        store.add_stream(odd_chunks),
        store.add_readable(io.BytesIO(content)),
        store.add_file(source),
    ]


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.usefixtures("small_batches")
def test_blobs_land_whole_at_every_size(tmp_path: Path, size: int) -> None:
    content = os.urandom(size)
    expected = hashlib.sha256(content).hexdigest()
    store = Store(tmp_path / "store")
    for added in _add_each_way(store, content, tmp_path):
        assert added == (expected, size)
        assert store.blob_path(expected).read_bytes() == content
    assert not list(store.tmp.iterdir())


@pytest.mark.usefixtures("small_batches")
def test_blob_writes_fall_back_to_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file system that takes O_DIRECT at open but refuses the writes, and one
    # that refuses it at open (as tmpfs does): the bytes land the same.
    content = os.urandom(3 * _SMALL_BATCH + 17)
    expected = hashlib.sha256(content).hexdigest()
    write = os.write
    direct = getattr(os, "O_DIRECT", 0)

    def refusing(fd: int, data: memoryview) -> int:
        if direct and fcntl.fcntl(fd, fcntl.F_GETFL) & direct:
            raise OSError(errno.EINVAL, "Invalid argument")
        return write(fd, data)

    monkeypatch.setattr(os, "write", refusing)
    store = Store(tmp_path / "refused-writes")
    assert store.add_readable(io.BytesIO(content)) == (expected, len(content))
    assert store.blob_path(expected).read_bytes() == content

    monkeypatch.setattr(os, "write", write)
    opened = blobio.open_new

    def cached(path: Path) -> tuple[int, bool]:
        fd, _ = opened(path)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~direct)
        return fd, False

    monkeypatch.setattr(blobio, "open_new", cached)
    store = Store(tmp_path / "refused-open")
    assert store.add_readable(io.BytesIO(content)) == (expected, len(content))
    assert store.blob_path(expected).read_bytes() == content


@pytest.mark.usefixtures("small_batches")
def test_a_failing_source_leaves_no_blob(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        calls = 0

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            self.calls += 1
            if self.calls > 3:
                raise ConnectionResetError("reset by peer")
            read = min(len(buffer), 40_000)
            buffer[:read] = b"y" * read
            return read

    store = Store(tmp_path / "store")
    with pytest.raises(ConnectionResetError):
        store.add_readable(Broken())
    assert not _visible_blobs(store)
    assert not list(store.tmp.iterdir())


@pytest.mark.usefixtures("small_batches")
def test_a_full_disk_is_a_store_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    store = Store(tmp_path / "store")
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StoreError, match=r"No space left on device.*REGISTRY_HOME"):
        store.add_readable(io.BytesIO(os.urandom(3 * _SMALL_BATCH)))
    monkeypatch.undo()
    assert not _visible_blobs(store)
    assert not list(store.tmp.iterdir())
