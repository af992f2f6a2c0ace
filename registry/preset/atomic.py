"""Replace files atomically: write beside the target, then `os.replace`.

A reader sees the old file or the new one, never half of either; a crash
leaves only a `.<name>.<pid>.tmp` file, which `is_temporary` recognises.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def temporary_path(target: Path) -> Path:
    """Where `target` is written before `os.replace` moves it into place."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def is_temporary(path: Path) -> bool:
    """Whether `path` is a leftover of `write_atomically`."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Call `write(temporary)`, then move the result onto `target`."""
    temporary = temporary_path(target)
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
