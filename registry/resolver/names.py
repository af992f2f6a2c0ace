"""Names a registry server resolved, remembered in the store for offline use.

huggingface_hub keeps `refs/main` beside its snapshots so that `HF_HUB_OFFLINE=1`
still finds them by name; this is the same for `Registry(url)`: each time a
server says which revision `namespace/name[@ref]` means, the answer is written
under `store/names/<server>/<namespace>/<name>/<ref>.json` with the time it was
given. Offline, the name resolves to the last answer recorded, and callers say
how old it is. A revision id is the sha256 of its manifest, so a stale mapping
can name an old revision but never the wrong bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from registry.resolver.handles import CatalogHandle

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class RecordedName:
    """Which revision a server said a name meant, and when."""

    server: str
    name: str  # namespace/name
    ref: str  # the alias asked for ("latest" when none)
    digest: str
    resolved_at: dt.datetime

    def describe(self) -> str:
        return (
            f"{self.name}@{self.ref} -> {self.digest[:12]}, as {self.server} answered "
            f"{age(self.resolved_at)} ago ({self.resolved_at:%Y-%m-%d %H:%M} UTC)"
        )


def age(moment: dt.datetime) -> str:
    """How long ago `moment` was, as people say it: "3 min", "2 h", "5 days"."""
    if moment.tzinfo is None:  # SQLite keeps UTC without its zone
        moment = moment.replace(tzinfo=dt.timezone.utc)
    seconds = (dt.datetime.now(dt.timezone.utc) - moment).total_seconds()
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


class RecordedNames:
    """The mappings of one server, in a store's `names/` directory."""

    def __init__(self, root: Path, server: str) -> None:
        self.server = server
        key = hashlib.sha256(server.encode()).hexdigest()[:16]
        self.directory = root / "names" / key
        self.tmp = root / "tmp"

    def _path(self, handle: CatalogHandle) -> Path:
        parts = (handle.namespace, handle.name, f"{handle.ref or 'latest'}.json")
        return self.directory.joinpath(*(quote(part, safe="") for part in parts))

    def record(self, handle: CatalogHandle, digest: str) -> RecordedName:
        """Remember that the server resolved `handle` to `digest`, now."""
        recorded = RecordedName(
            self.server,
            handle.full_name,
            handle.ref or "latest",
            digest,
            dt.datetime.now(dt.timezone.utc),
        )
        body = {
            "server": recorded.server,
            "name": recorded.name,
            "ref": recorded.ref,
            "digest": recorded.digest,
            "resolved_at": recorded.resolved_at.isoformat(),
        }
        path = self._path(handle)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Staged under the store's tmp/ (which start-up cleans), then renamed into
        # place: a process killed in between leaves nothing under names/.
        self.tmp.mkdir(parents=True, exist_ok=True)
        prefix = f"name-{os.getpid()}-"  # the pid: cleanup_temp knows a dead writer's
        with tempfile.NamedTemporaryFile("w", dir=self.tmp, prefix=prefix, delete=False) as file:
            file.write(json.dumps(body) + "\n")
        os.replace(file.name, path)
        return recorded

    def lookup(self, handle: CatalogHandle) -> RecordedName | None:
        """The last mapping recorded for `handle`, or None (never resolved, or unreadable)."""
        try:
            body = json.loads(self._path(handle).read_text(encoding="utf-8"))
            digest = str(body["digest"])
            recorded = RecordedName(
                self.server,
                handle.full_name,
                handle.ref or "latest",
                digest,
                dt.datetime.fromisoformat(body["resolved_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if len(digest) != 64 or not set(digest) <= _HEX:
            return None
        return recorded

    def digests(self) -> set[str]:
        """Every revision a recorded name points at (what gc must keep)."""
        found = set()
        for path in self.directory.rglob("*.json"):
            try:
                found.add(str(json.loads(path.read_text(encoding="utf-8"))["digest"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return found
