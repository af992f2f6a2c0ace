"""Run in a subprocess by test_store.py: start a store write, then hang to be killed.

Usage: python -m tests.resolver.crash_helper MODE STORE_ROOT READY_FILE [SOURCE_DIR]
MODE is "blob" (killed while a blob is half written) or "tree" (killed while a
tree is half linked).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

from registry.resolver import store as store_module
from registry.resolver.store import Store


def _hang(ready: Path) -> None:
    ready.write_text("ready")
    time.sleep(600)


def blob(root: Path, ready: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"half of a blob " * 1000
        _hang(ready)
        yield b"never written"

    Store(root).add_stream(chunks())


def tree(root: Path, ready: Path, source: Path) -> None:
    store = Store(root)
    manifest = store.ingest_directory(source)
    original = Store._link_or_copy
    calls = []

    def slow_link(self: Store, blob_path: Path, target: Path) -> None:
        original(self, blob_path, target)
        calls.append(target)
        if len(calls) == 1:
            _hang(ready)

    store_module.Store._link_or_copy = slow_link  # type: ignore[method-assign]
    store.publish_tree(manifest)


if __name__ == "__main__":
    mode, root, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "blob":
        blob(root, ready)
    else:
        tree(root, ready, Path(sys.argv[4]))
