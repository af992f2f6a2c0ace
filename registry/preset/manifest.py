"""The manifest: every file of a preset with its size and sha256.

A revision's id is the sha256 of the canonical JSON of its file list, as an OCI
image digest is of its manifest. Verification is pure logic returning a frozen
result that lists each mismatch; callers decide how to report it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import PresetFormatError
from registry.preset.atomic import is_temporary, write_atomically

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
_CHUNK = 4 << 20


@dataclass(frozen=True, order=True)
class FileEntry:
    """One file of a preset: its path relative to the preset, size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The files of one preset revision, sorted by path."""

    files: tuple[FileEntry, ...]

    @property
    def revision_id(self) -> str:
        """sha256 of the canonical JSON of the file list."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def canonical_json(self) -> str:
        return json.dumps(
            [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            sort_keys=True,
            separators=(",", ":"),
        )

    def to_json(self) -> str:
        body = {
            "version": MANIFEST_VERSION,
            "algorithm": "sha256",
            "revision": self.revision_id,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
        return json.dumps(body, indent=2) + "\n"


@dataclass(frozen=True)
class Mismatch:
    """A file whose bytes differ from what the manifest recorded."""

    path: str
    expected: str
    actual: str


@dataclass(frozen=True)
class VerificationResult:
    """What `verify_directory` found; `ok` when nothing differs."""

    checked: int
    mismatches: tuple[Mismatch, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.mismatches


def sha256_file(path: str | os.PathLike[str], advance: Callable[[int], None] | None = None) -> str:
    """The hex sha256 of a file, read in 4 MiB chunks (`advance(n)` after each)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            if advance is not None:
                advance(len(chunk))
    return digest.hexdigest()


def _preset_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and not is_temporary(path)
        and path.relative_to(directory).as_posix() != MANIFEST_FILE
    )


def build_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Hash every file under `directory` (except the manifest itself)."""
    root = Path(directory)
    return Manifest(
        tuple(
            FileEntry(
                path=path.relative_to(root).as_posix(),
                size=path.stat().st_size,
                sha256=sha256_file(path),
            )
            for path in _preset_files(root)
        )
    )


def write_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Hash `directory` and write its `manifest.json` atomically."""
    manifest = build_manifest(directory)
    write_atomically(
        Path(directory) / MANIFEST_FILE,
        lambda path: path.write_text(manifest.to_json(), encoding="utf-8"),
    )
    return manifest


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Read `manifest.json` from a preset directory.

    Raises:
        PresetFormatError: the manifest is absent or malformed.
    """
    path = Path(directory) / MANIFEST_FILE
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        files = tuple(
            FileEntry(path=str(f["path"]), size=int(f["size"]), sha256=str(f["sha256"]))
            for f in body["files"]
        )
    except FileNotFoundError as error:
        raise PresetFormatError(
            path,
            "is missing, so the preset's files cannot be verified.",
            "Write one with `Backbone.save_to_preset()` or `write_manifest()`.",
        ) from error
    except (ValueError, KeyError, TypeError) as error:
        raise PresetFormatError(
            path, f"is malformed ({error}).", "Write it again with `write_manifest()`."
        ) from error
    return Manifest(tuple(sorted(files)))


def verify_directory(directory: str | os.PathLike[str], manifest: Manifest) -> VerificationResult:
    """Compare every file the manifest lists with the bytes on disk.

    A missing file is reported with `actual="missing"`; a file of the wrong size
    with its size (no hashing needed); otherwise digests are compared in
    constant time.
    """
    root = Path(directory)
    mismatches = []
    for entry in manifest.files:
        path = root / entry.path
        if not path.is_file():
            mismatches.append(Mismatch(entry.path, entry.sha256, "missing"))
            continue
        size = path.stat().st_size
        if size != entry.size:
            mismatches.append(Mismatch(entry.path, entry.sha256, f"size {size}"))
            continue
        actual = sha256_file(path)
        if not hmac.compare_digest(actual, entry.sha256):
            mismatches.append(Mismatch(entry.path, entry.sha256, actual))
    return VerificationResult(checked=len(manifest.files), mismatches=tuple(mismatches))
