"""Signatures a registry server gave for a revision, remembered in the store
(`store/signatures/<revision>/<fingerprint>.json`) so that `registry verify
--key` and `registry export` work offline, as loads do.

What is remembered is never trusted for itself: every use checks the bundle
against the key the user names (or pins) and the revision's files.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from registry.records import SignatureInfo

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class RememberedSignatures:
    """The signatures of revisions, one JSON record per revision and key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def remember(self, infos: list[SignatureInfo]) -> None:
        for info in infos:
            if not (_HEX64.match(info.revision) and _HEX64.match(info.fingerprint)):
                continue  # never a path from a server's words
            directory = self.root / info.revision
            directory.mkdir(parents=True, exist_ok=True)
            handle, scratch = tempfile.mkstemp(dir=directory, suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(info.model_dump_json())
                os.replace(scratch, directory / f"{info.fingerprint}.json")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(scratch)
                raise

    def recall(self, revision: str) -> list[SignatureInfo]:
        """What was remembered for `revision` (a full digest), oldest first."""
        if not _HEX64.match(revision):
            return []
        found = []
        for path in sorted((self.root / revision).glob("*.json")):
            try:
                found.append(SignatureInfo.model_validate_json(path.read_bytes()))
            except (OSError, ValueError):
                continue  # a damaged record is as good as none
        return sorted(found, key=lambda info: info.created_at)
