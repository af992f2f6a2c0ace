"""`presets.lock`: presets pinned to revisions, with every file's size and sha256.

A small TOML file meant to be committed and diffed:

```toml
version = 1

trusted_keys = ["3f1a...e9"]  # optional (`registry lock --trust-key K.pem`)

[[preset]]
name = "keras/gpt2_tiny_demo"
revision = "94213ad9..."
files = [
  { path = "config.json", size = 634, sha256 = "bdf74061..." },
]
```
Checking a lock is pure logic over what the store holds: it returns a frozen
report listing each mismatch; the CLI formats it and picks the exit code.
`trusted_keys` pins signing keys by fingerprint (sha256 of the key's PEM):
then every pinned revision must carry a signature by one of them that covers
exactly its files.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import PresetFormatError
from registry.preset.atomic import write_atomically
from registry.preset.manifest import FileEntry, Manifest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK_VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class LockedPreset:
    """One preset pinned to a revision."""

    name: str
    revision: str
    files: tuple[FileEntry, ...]

    @property
    def manifest(self) -> Manifest:
        return Manifest(self.files)


@dataclass(frozen=True)
class LockMismatch:
    """A file of a locked preset whose stored copy differs from the lock."""

    preset: str
    path: str
    expected: str
    actual: str


@dataclass(frozen=True)
class LockReport:
    """What checking a lock found."""

    checked: int
    mismatches: tuple[LockMismatch, ...] = field(default=())
    missing: tuple[str, ...] = field(default=())  # presets that could not be had, with why
    unsigned: tuple[str, ...] = field(default=())  # no valid signature by a trusted key, with why

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.missing and not self.unsigned


@dataclass(frozen=True)
class Lock:
    """A lock file's pins, and the keys (fingerprints) trusted to sign them."""

    presets: tuple[LockedPreset, ...]
    trusted_keys: tuple[str, ...] = ()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dumps(presets: list[LockedPreset], trusted_keys: tuple[str, ...] = ()) -> str:
    lines = [
        "# Written by `registry lock`; check with `registry verify --lock <this file>`.",
        f"version = {LOCK_VERSION}",
    ]
    if trusted_keys:
        quoted = ", ".join(_quote(key) for key in sorted(set(trusted_keys)))
        lines.append(f"trusted_keys = [{quoted}]")
    for preset in sorted(presets, key=lambda p: p.name):
        lines += ["", "[[preset]]", f"name = {_quote(preset.name)}"]
        lines += [f"revision = {_quote(preset.revision)}", "files = ["]
        lines += [
            f"  {{ path = {_quote(f.path)}, size = {f.size}, sha256 = {_quote(f.sha256)} }},"
            for f in preset.files
        ]
        lines.append("]")
    return "\n".join(lines) + "\n"


def write(path: Path, presets: list[LockedPreset], trusted_keys: tuple[str, ...] = ()) -> None:
    text = dumps(presets, trusted_keys)
    write_atomically(path, lambda target: target.write_text(text, encoding="utf-8"))


def _entry(path: Path, body: object) -> LockedPreset:
    if not isinstance(body, dict):
        raise PresetFormatError(
            path, "has a [[preset]] that is not a table.", "Re-run `registry lock`."
        )
    try:
        files = tuple(
            sorted(
                FileEntry(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in body["files"]
            )
        )
        preset = LockedPreset(str(body["name"]), str(body["revision"]), files)
    except (KeyError, TypeError, ValueError) as error:
        raise PresetFormatError(
            path, f"has a malformed [[preset]] ({error}).", "Re-run `registry lock`."
        ) from error
    if not _HEX64.match(preset.revision) or preset.manifest.revision_id != preset.revision:
        raise PresetFormatError(
            path,
            f"pins {preset.name} to {preset.revision}, which is not the digest of the files "
            "it lists (the lock was edited by hand?).",
            "Re-run `registry lock`.",
        )
    return preset


def read(path: Path) -> list[LockedPreset]:
    """Parse a lock file's pins (see `read_lock`)."""
    return list(read_lock(path).presets)


def read_lock(path: Path) -> Lock:
    """Parse a lock file, checking that every pin is the digest of its file list
    and every trusted key a fingerprint.

    Raises:
        PresetFormatError: the file is missing, not TOML, or inconsistent.
    """
    try:
        body = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PresetFormatError(
            path, "does not exist.", "Write one with `registry lock NAME...`."
        ) from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PresetFormatError(
            path, f"is not valid TOML ({error}).", "Re-run `registry lock`."
        ) from error
    if body.get("version") != LOCK_VERSION:
        raise PresetFormatError(
            path,
            f"has version {body.get('version')!r}; this release reads {LOCK_VERSION}.",
            "Re-run `registry lock`.",
        )
    keys = body.get("trusted_keys", [])
    if not isinstance(keys, list) or not all(_HEX64.match(str(key)) for key in keys):
        raise PresetFormatError(
            path,
            "has trusted_keys that are not all 64-hex key fingerprints.",
            "Re-run `registry lock --trust-key PUBLIC.pem`.",
        )
    presets = tuple(_entry(path, preset) for preset in body.get("preset", []))
    return Lock(presets, tuple(str(key) for key in keys))


def compare(locked: LockedPreset, stored: Manifest) -> list[LockMismatch]:
    """Each file the lock lists whose stored copy differs (or is absent)."""
    have = {f.path: f for f in stored.files}
    mismatches = []
    for expected in locked.files:
        actual = have.get(expected.path)
        if actual is None:
            mismatches.append(LockMismatch(locked.name, expected.path, expected.sha256, "missing"))
        elif (actual.size, actual.sha256) != (expected.size, expected.sha256):
            mismatches.append(
                LockMismatch(locked.name, expected.path, expected.sha256, actual.sha256)
            )
    return mismatches
