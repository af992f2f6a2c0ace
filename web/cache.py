"""Rendered catalog reads, reused until the catalog changes.

A search over 100,000 presets costs milliseconds of SQL and rendering; most
requests repeat a few queries. Each cached body is tagged with the catalog's
generation (`registry.catalog.generation`, a counter every visible
change increments in its own transaction) as read *before* the body was
computed, and is served only while the generation is unchanged. The counter is
re-read at most every `recheck_s` (and at once after this process writes), so
another server process's change shows within that delay; `ttl_s` bounds how
stale download counts (which do not move the generation) can get.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from registry.catalog.database import Catalog
from registry.catalog.generation import generation


@dataclass(frozen=True)
class Cached:
    body: bytes
    media_type: str
    generation: int
    expires: float


class ResponseCache:
    def __init__(
        self,
        catalog: Catalog,
        *,
        max_entries: int = 4096,
        recheck_s: float = 0.25,
        ttl_s: float = 60.0,
        enabled: bool = True,  # False (REGISTRY_RESPONSE_CACHE=0): store nothing
    ) -> None:
        self.catalog = catalog
        self.enabled = enabled
        self.max_entries = max_entries
        self.recheck_s = recheck_s
        self.ttl_s = ttl_s
        self._entries: OrderedDict[Hashable, Cached] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = -1
        self._checked = 0.0

    def generation(self) -> int:
        """The catalog's generation, as read at most `recheck_s` ago."""
        now = time.monotonic()
        if now - self._checked > self.recheck_s:
            with self.catalog.transaction(write=False) as session:
                self._generation = generation(session)
            self._checked = now
        return self._generation

    def changed(self) -> None:
        """This process changed the catalog: re-read the generation next time."""
        self._checked = 0.0

    def lookup(self, key: Hashable) -> tuple[Cached | None, int]:
        """The fresh entry of `key` (or None), and the generation to store a new one under."""
        current = self.generation()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, current
            if entry.generation != current or entry.expires < time.monotonic():
                del self._entries[key]
                return None, current
            self._entries.move_to_end(key)
            return entry, current

    def store(self, key: Hashable, generation: int, body: bytes, media_type: str) -> None:
        if not self.enabled:
            return
        entry = Cached(body, media_type, generation, time.monotonic() + self.ttl_s)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
