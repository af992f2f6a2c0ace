"""The processes of `bench/faults.py`'s campaign, one verb each, printing JSON:

    python bench/faults_workers.py check NAME
    python bench/faults_workers.py flips NAME [--count 100] [--seed 0]
    python bench/faults_workers.py load NAME --barrier DIR --index I

Each works on the registry of its environment (`REGISTRY_HOME`, and
`REGISTRY_URL` for a server's client), through the public `Registry`:
- `check`: what the next start of a killed writer's registry finds. Opening it
  removes dead writers' staging (`store/tmp`); then every stored tree is
  rehashed, and every revision the catalog (or, for a server's client, the
  recorded name) points at is verified in full: its blobs must all be there.
- `flips`: byte flips in the store's blobs, each checked three ways (the fast
  check, the full rehash, a load) and repaired before the next; then the same
  with the file's times put back (bit rot, which only a rehash can see).
- `load`: one of N processes loading a preset the moment a start file appears.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry import Registry

# === check ===


def check(name: str) -> dict[str, Any]:
    """Leftovers after a restart, and every stored or recorded revision of `name`, rehashed."""
    from registry import Registry
    from registry.errors import RegistryError
    from registry.preset.atomic import is_temporary

    with Registry() as registry:  # opening it removes dead writers' staging
        store = registry.resolver.store
        home = registry.settings.home
        report = {
            "tmp_left": sorted(entry.name for entry in store.tmp.iterdir()),
            "stray_temporary": sorted(str(p) for p in home.rglob("*") if is_temporary(p)),
            "problems": [],
        }
        stored = registry.verify(full=True)
        report["trees_checked"] = stored.checked
        report["problems"] += [f"stored {m.preset}: {m.path} differs" for m in stored.mismatches]
        targets = _revisions_of(registry, name)
        report["revisions_checked"] = len(targets)
        for target in targets:
            try:
                found = registry.verify(target, full=True)
            except RegistryError as error:  # its blobs are gone, or its manifest
                report["problems"].append(f"{target}: {error}")
                continue
            report["problems"] += [f"{target}: {m.path} differs" for m in found.mismatches]
    return report


def _revisions_of(registry: Registry, name: str) -> list[str]:
    """`name@digest` of each revision the catalog records (or the name recorded
    from a server points at): what users can ask for, so what must be whole."""
    if registry.settings.url:
        recorded = registry.recorded(name)
        return [f"{name}@{recorded.digest}"] if recorded is not None else []
    return [
        f"{name}@{d}" for d, stored in registry.backend.preset_names().items() if stored == name
    ]


# === flips ===


@dataclass(frozen=True)
class Flip:
    """One byte of a blob, XORed with `mask` (flipping it twice puts it back)."""

    blob: Path
    offset: int
    mask: int

    def apply(self, *, keep_times: bool) -> os.stat_result:
        """Flip the byte (blobs are read-only: made writable for it); with
        `keep_times`, set the file's times back, as bit rot would leave them."""
        before = self.blob.stat()
        self.blob.chmod(stat.S_IRUSR | stat.S_IWUSR)
        with open(self.blob, "r+b") as file:
            file.seek(self.offset)
            byte = file.read(1)[0]
            file.seek(self.offset)
            file.write(bytes([byte ^ self.mask]))
        self.blob.chmod(stat.S_IMODE(before.st_mode))
        if keep_times:
            os.utime(self.blob, ns=(before.st_atime_ns, before.st_mtime_ns))
        return before

    def still_flipped(self, before: os.stat_result) -> bool:
        """Whether the flipped file is still in place (a caught one was quarantined)."""
        try:
            return self.blob.stat().st_ino == before.st_ino
        except FileNotFoundError:
            return False


def _fast_caught(registry: Registry, name: str) -> str | None:
    return None if registry.verify(name).ok else "caught"


def _full_caught(registry: Registry, name: str) -> str | None:
    return None if registry.verify(name, full=True).ok else "caught"


def _load_refused(registry: Registry, name: str) -> str | None:
    """Refused as promised ("caught": a ChecksumMismatchError), otherwise (the
    type of the error raised instead), or not at all (None: it loaded)."""
    from registry.errors import ChecksumMismatchError

    try:
        backbone = registry.load(name)
    except ChecksumMismatchError:
        return "caught"
    except Exception as error:  # a refusal, but not the one promised: reported
        return type(error).__name__
    del backbone
    gc.collect()
    return None


CHECKS: dict[str, Callable[[Registry, str], str | None]] = {
    "fast": _fast_caught,
    "full": _full_caught,
    "load": _load_refused,
}


def _repair(registry: Registry, name: str, flip: Flip, before: os.stat_result) -> None:
    """Undo a flip nothing caught (byte and times), or fetch the quarantined blob again."""
    if flip.still_flipped(before):
        flip.apply(keep_times=False)
        os.utime(flip.blob, ns=(before.st_atime_ns, before.st_mtime_ns))
    registry.sync(name, force=True)
    if not registry.verify(name, full=True).ok:
        raise SystemExit(f"repairing {name} after a flip of {flip} failed")


def flip_campaign(
    registry: Registry, name: str, count: int, rng: random.Random, *, keep_times: bool
) -> dict[str, Any]:
    """`count` flips of a random byte of a random blob of `name`'s revision; each
    applied once before each check (a caught flip is quarantined), repaired after."""
    files = registry.sync(name).manifest.files
    store = registry.resolver.store
    caught = dict.fromkeys(CHECKS, 0)
    hit = dict.fromkeys((entry.path for entry in files), 0)
    misses: list[dict[str, Any]] = []
    for index in range(count):
        entry = rng.choice(files)
        hit[entry.path] += 1
        flip = Flip(store.blob_path(entry.sha256), rng.randrange(entry.size), rng.randrange(1, 256))
        for label, run_check in CHECKS.items():
            before = flip.apply(keep_times=keep_times)
            outcome = run_check(registry, name)
            caught[label] += outcome == "caught"
            if outcome != "caught":
                misses.append(
                    {
                        "flip": index,
                        "check": label,
                        "file": entry.path,
                        "offset": flip.offset,
                        "outcome": outcome or "not caught",
                    }
                )
            _repair(registry, name, flip, before)
        if (index + 1) % 10 == 0:
            print(f"  {index + 1}/{count} flips ({keep_times=}): {caught}", file=sys.stderr)
    return {"flips": count, "caught": caught, "files": hit, "misses": misses}


def flips(name: str, count: int, seed: int) -> dict[str, Any]:
    """Flips that change the file's mtime, then as many that keep it."""
    from registry import Registry

    with Registry() as registry:
        registry.load(name)  # Keras imported and warm before the first flip
        rng = random.Random(seed)
        return {
            "flips": flip_campaign(registry, name, count, rng, keep_times=False),
            "bit_rot": flip_campaign(registry, name, count, rng, keep_times=True),
        }


# === load ===


def load_at_once(name: str, barrier: Path, index: int) -> dict[str, Any]:
    """Import everything, say ready, wait for `barrier/go`, then load `name`."""
    import registry.architectures.backbone  # Keras and TensorFlow, before the start line
    from registry import Registry

    (barrier / f"ready-{index}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.001)
    started = time.perf_counter()
    with Registry() as registry:
        registry.load(name)
    return {"index": index, "load_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("check").add_argument("name")
    flipping = verbs.add_parser("flips")
    flipping.add_argument("name")
    flipping.add_argument("--count", type=int, default=100)
    flipping.add_argument("--seed", type=int, default=0)
    loading = verbs.add_parser("load")
    loading.add_argument("name")
    loading.add_argument("--barrier", type=Path, required=True)
    loading.add_argument("--index", type=int, required=True)
    args = parser.parse_args()
    if args.verb == "check":
        result = check(args.name)
    elif args.verb == "flips":
        result = flips(args.name, args.count, args.seed)
    else:
        result = load_at_once(args.name, args.barrier, args.index)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
