"""Verifying stored presets: a full rehash against sha256sum, and the fast path.

    python bench/verify.py [--runs 5] [--presets 100] [--cache DIR] [--json PATH]

Every side runs as a whole process, timed by the parent from spawn to exit; each
command runs once as a discarded warm-up, then the commands take turns for
`--runs` rounds (A B C A B C ...), so the page cache is the same for all.
Medians and worst cases (max) are reported.
- Full: `registry verify NAME --full` (the CLI, with REGISTRY_HOME set) of the
  GPT-2-medium-shaped preset of `bench/load.py` (~1.4 GB) against `sha256sum`
  of its files. Apart, for information: a process running
  `Registry(cache_dir=...).verify(name, full=True)` times opening the registry
  and the verify call inside itself.
- Fast path: `Registry().verify()` of `--presets` small cached presets (size,
  mtime and inode against the state recorded at the last full hash), and
  `verify(name)` of one of them, each timed inside its process (and, apart,
  opening the registry); and the whole `registry verify NAME` process for that
  one preset.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

# Siblings in bench/ (a script's own folder is first on sys.path); the project
# itself is imported as installed.
import load as load_bench
from interleave import Sample, cell, interleaved, summary

HERE = Path(__file__).resolve().parent

# Times opening the registry and the verify call inside the process.
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


def _environment(home: Path) -> dict[str, str]:
    """This process's environment, pointed at `home` and never at a server."""
    settings = ("REGISTRY_URL", "REGISTRY_TOKEN", "REGISTRY_DB_URL", "REGISTRY_OFFLINE")
    env = {key: value for key, value in os.environ.items() if key not in settings}
    return env | {"REGISTRY_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _cli() -> list[str]:
    """The `registry` command installed beside this interpreter, as a user runs it."""
    script = Path(sys.executable).with_name("registry")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "registry.cli"]


def _in_process(home: Path, name: str, mode: str) -> list[str]:
    return [sys.executable, "-c", _CALL, str(home), name, mode]


def _reported(sample: Sample) -> dict[str, float]:
    """The in-process figures a `_CALL` process printed, and its whole-process time."""
    figures: dict[str, float] = json.loads(sample.stdout.strip().splitlines()[-1])
    return figures | {"wall_s": sample.wall_s}


def _checked(sample: Sample) -> dict[str, float]:
    """The whole-process time of a `registry verify --json` that verified one preset."""
    report = json.loads(sample.stdout)
    if not (report["ok"] and report["checked"] == 1):
        raise SystemExit(f"registry verify did not verify one preset: {report}")
    return {"wall_s": sample.wall_s}


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


def _stored_files(home: Path, name: str) -> list[str]:
    from registry import Registry

    registry = Registry(cache_dir=home)
    tree = registry.resolver.resolve(name, verify=False).path
    registry.close()
    return sorted(str(p) for p in tree.rglob("*") if p.is_file())


def full_rehash(home: Path, medium: str, runs: int) -> dict[str, Any]:
    """`sha256sum FILES` against `registry verify NAME --full`, as whole processes."""
    files = _stored_files(home, medium)
    samples = interleaved(
        {
            "sha256sum": ["sha256sum", *files],
            "registry_cli": [*_cli(), "verify", medium, "--full", "--json"],
            "registry_in_process": _in_process(home, medium, "full"),
        },
        runs,
        env=_environment(home),
    )
    return {
        "bytes": sum(Path(p).stat().st_size for p in files),
        "sha256sum": summary([{"wall_s": s.wall_s} for s in samples["sha256sum"]]),
        "registry_cli": summary([_checked(s) for s in samples["registry_cli"]]),
        "registry_in_process": summary([_reported(s) for s in samples["registry_in_process"]]),
    }


def fast_path(home: Path, first_small: str, runs: int) -> dict[str, Any]:
    """The fast path, every stored preset and one, in-process and as the whole CLI."""
    samples = interleaved(
        {
            "fast_all": _in_process(home, "", "fast"),
            "fast_one": _in_process(home, first_small, "fast"),
            "fast_one_cli": [*_cli(), "verify", first_small, "--json"],
        },
        runs,
        env=_environment(home),
    )
    fast_all = summary([_reported(s) for s in samples["fast_all"]])
    return {
        "fast_all": fast_all | {"presets": int(fast_all["checked"])},
        "fast_one": summary([_reported(s) for s in samples["fast_one"]]),
        "fast_one_cli": summary([_checked(s) for s in samples["fast_one_cli"]]),
    }


def print_table(results: dict[str, Any], runs: int) -> None:
    full = results["full"]
    theirs, ours, inside = full["sha256sum"], full["registry_cli"], full["registry_in_process"]
    mb = full["bytes"] / 1e6
    print(
        f"| measure: median (max) of {runs} interleaved fresh processes, after a warm-up each "
        "| registry | reference | ratio (of worst cases) |"
    )
    print("|---|---:|---:|---:|")
    print(
        f"| full rehash of a {mb / 1e3:.2f} GB preset, whole process (s): "
        f"`registry verify NAME --full` vs `sha256sum FILES` | {cell(ours, 'wall_s')} "
        f"| {cell(theirs, 'wall_s')} | {theirs['wall_s'] / ours['wall_s']:.2f}x "
        f"({theirs['wall_s_max'] / ours['wall_s_max']:.2f}x) |"
    )
    print(
        f"| same, MB/s (worst) | {mb / ours['wall_s']:,.0f} ({mb / ours['wall_s_max']:,.0f}) "
        f"| {mb / theirs['wall_s']:,.0f} ({mb / theirs['wall_s_max']:,.0f}) | |"
    )
    print(
        "| in-process split of `Registry(cache_dir).verify(name, full=True)` (s): "
        f"import and open + verify = whole process | {cell(inside, 'open_s')} + "
        f"{cell(inside, 'verify_s')} = {cell(inside, 'wall_s')} | | |"
    )
    fast, one, cli = results["fast_all"], results["fast_one"], results["fast_one_cli"]
    print(
        f"| fast-path verify of {fast['presets']} cached presets, in-process (ms) "
        f"| {cell(fast, 'verify_s', '.0f', 1000)}"
        f"; {fast['verify_s'] * 1000 / fast['presets']:.1f} ms each | | |"
    )
    print(
        f"| fast-path verify of one cached preset, in-process (ms) "
        f"| {cell(one, 'verify_s', '.1f', 1000)}"
        f"; + {cell(one, 'open_s', '.0f', 1000)} to import and open | | |"
    )
    print(
        "| `registry verify NAME` (fast path, one preset), whole process (ms) "
        f"| {cell(cli, 'wall_s', '.0f', 1000)} | | |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--presets", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home, medium, small = prepare(args.cache, args.presets)
    results = {"full": full_rehash(home, medium, args.runs)} | fast_path(home, small[0], args.runs)
    print_table(results, args.runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
