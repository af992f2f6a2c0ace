"""Verifying stored presets: a full rehash against sha256sum, and the fast path.

    python bench/verify.py [--runs 5] [--presets 100] [--cache DIR] [--json PATH]

- Full: `Registry().verify(name, full=True)` of the GPT-2-medium-shaped preset of
  `bench/load.py` (~1.4 GB, in the page cache) against `sha256sum` of its files.
- Fast path: `Registry().verify()` of `--presets` small cached presets (size,
  mtime and inode against the state recorded at the last full hash), and
  `verify(name)` of one of them; each in a fresh process, timing the call (and,
  apart, opening the registry).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import load as load_bench  # noqa: E402  (bench/load.py)

_CALL = """
import json, sys, time
started = time.perf_counter()
from registry import Registry
registry = Registry(cache_dir=sys.argv[1])
opened = time.perf_counter()
report = registry.verify(sys.argv[2] or None, full=sys.argv[3] == "full")
done = time.perf_counter()
assert report.ok, report
print(json.dumps({"open_s": opened - started, "verify_s": done - opened,
                  "checked": report.checked}))
"""


def _call(home: Path, name: str, mode: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _CALL, str(home), name, mode],
        cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    body: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return body


def prepare(cache: Path, presets: int) -> tuple[Path, str, list[str]]:
    """A registry home holding the medium preset and `presets` small ones."""
    from registry import Registry
    from registry.preset.demo import demo_preset_dir

    home = cache / f"verify-home-{presets}"
    marker = home / "prepared.json"
    if marker.is_file():
        body = json.loads(marker.read_text())
        return home, body["medium"], body["small"]
    shutil.rmtree(home, ignore_errors=True)
    registry = Registry(cache_dir=home)
    medium = registry.upload(load_bench.ensure_preset(cache), "bench/medium").preset
    small = []
    source = home / "source"
    for index in range(presets):
        shutil.copytree(demo_preset_dir(), source, dirs_exist_ok=True)
        (source / "README.md").write_text(f"# small preset {index}\n")
        (source / "manifest.json").unlink(missing_ok=True)  # it describes the demo's README
        small.append(registry.upload(source, f"bench/small-{index:03d}").preset)
    registry.close()
    shutil.rmtree(source)
    marker.write_text(json.dumps({"medium": medium, "small": small}))
    return home, medium, small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--presets", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home, medium, small = prepare(args.cache, args.presets)

    from registry import Registry

    registry = Registry(cache_dir=home)
    tree = registry.resolver.resolve(medium, verify=False).path
    registry.close()
    files = sorted(str(p) for p in tree.rglob("*") if p.is_file())
    size = sum(Path(p).stat().st_size for p in files)

    sha256sum = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(["sha256sum", *files], check=True, capture_output=True)
        sha256sum.append(time.perf_counter() - started)
    full = [_call(home, medium, "full") for _ in range(args.runs)]
    many = [_call(home, "", "fast") for _ in range(args.runs)]
    one = [_call(home, small[0], "fast") for _ in range(args.runs)]

    def median(samples: list[dict[str, float]], key: str) -> float:
        return statistics.median(sample[key] for sample in samples)

    results: dict[str, Any] = {
        "full": {
            "bytes": size,
            "registry_s": median(full, "verify_s"),
            "sha256sum_s": statistics.median(sha256sum),
        },
        "fast_all": {
            "presets": many[0]["checked"],
            "verify_s": median(many, "verify_s"),
            "open_s": median(many, "open_s"),
        },
        "fast_one": {"verify_s": median(one, "verify_s"), "open_s": median(one, "open_s")},
    }
    full_row = results["full"]
    ours_mb_s = size / 1e6 / full_row["registry_s"]
    theirs_mb_s = size / 1e6 / full_row["sha256sum_s"]
    print(f"| measure (median of {args.runs} fresh processes) | registry | reference | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| full rehash of a {size / 1e9:.2f} GB preset, MB/s | {ours_mb_s:,.0f} | "
        f"{theirs_mb_s:,.0f} (sha256sum) | {ours_mb_s / theirs_mb_s:.2f}x |"
    )
    fast, one = results["fast_all"], results["fast_one"]
    all_ms, one_ms = fast["verify_s"] * 1000, one["verify_s"] * 1000
    print(
        f"| fast-path verify of {fast['presets']} cached presets | {all_ms:.0f} ms "
        f"({all_ms / fast['presets']:.1f} ms each) | | |"
    )
    print(
        f"| fast-path verify of one cached preset | {one_ms:.1f} ms "
        f"(+ {one['open_s'] * 1000:.0f} ms to import and open) | | |"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
