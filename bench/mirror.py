"""A pull-through mirror of the Hub, cold and warm, against the same download
without it, in one run.

    python bench/mirror.py [--runs 3] [--cache DIR] [--json PATH]

The upstream is a registry server (one uvicorn process) holding the
GPT-2-medium-shaped preset of `bench/load.py` (~1.4 GB); the mirror is another
one with `REGISTRY_HF_UPSTREAM` pointing at it. Every client is a fresh
process downloading into an empty directory on the same disk, timed from spawn
to exit; the cases take turns (A B A B ...) and each reports its median and
its worst run:
- cold: `snapshot_download` through a mirror started on an empty home for each
  run (it fetches, hashes, verifies and stores every file while streaming it to
  the client), against `snapshot_download` straight from the upstream (which
  offers hf_xet its read path: a stock client reads there in parallel ranges);
- warm: `snapshot_download` through the mirror once it holds the preset, as a
  stock install runs it (hf_xet, parallel ranged reads) and with
  `HF_HUB_DISABLE_XET=1` (one plain GET a file), against `curl` of the same
  files from it (the bytes with no client around them), after one untimed run
  of each (the mirror writes around the page cache; a first write is slower).
Prints a Markdown table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Siblings in bench/ (a script's own folder is first on sys.path); the project
# itself is imported as installed.
import httpx
import load as load_bench
import serving
import sync as sync_bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NAME = "bench/medium"

_HUB = """
import sys
from huggingface_hub import snapshot_download
snapshot_download(sys.argv[2], endpoint=sys.argv[1], local_dir=sys.argv[3])
"""


def _wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def _server(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = serving.load_bench_port()
    with serving.server(["web.app:create_app", "--factory"], env, port) as process:
        yield f"http://127.0.0.1:{port}", process


def _upstream_holds_the_preset(url: str, preset: Path, secret: str) -> int:
    detail = httpx.get(f"{url}/api/v1/presets/{NAME}")
    if detail.status_code == 404:
        serving.upload(url, f"/api/v1/presets/{NAME}/revisions", preset,
                       {"Authorization": f"Bearer {secret}"})  # fmt: skip
        detail = httpx.get(f"{url}/api/v1/presets/{NAME}")
    size: int = detail.json()["revisions"][0]["size"]
    return size


def _recorded(mirror: str, timeout: float = 600) -> None:
    """Wait until the mirror recorded the preset (every file stored and checked)."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{mirror}/api/v1/presets/{NAME}").status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"the mirror did not record {NAME} within {timeout:.0f} s")
        time.sleep(0.2)


def _figures(walls: list[float], size: int) -> dict[str, float]:
    median = statistics.median(walls)
    return {"wall_s": median, "wall_s_max": max(walls), "mb_per_s": size / 1e6 / median,
            "mb_per_s_worst": size / 1e6 / max(walls)}  # fmt: skip


def cold(
    upstream: str, size: int, runs: int, scratch: Path, env: dict[str, str], client: dict[str, str]
) -> dict[str, Any]:
    """A fresh mirror for each run, against the upstream itself, A B A B."""
    walls: dict[str, list[float]] = {"mirror, cold": [], "upstream": []}
    rss: list[float] = []
    for run in range(runs):
        home = scratch / f"mirror-home-{run}"
        mirror_env = {**env, "REGISTRY_HOME": str(home), "REGISTRY_HF_UPSTREAM": upstream}
        with _server(mirror_env) as (mirror, process):
            target = scratch / f"cold-{run}"
            walls["mirror, cold"].append(
                _wall([sys.executable, "-c", _HUB, mirror, NAME, str(target)], client)
            )
            shutil.rmtree(target)
            _recorded(mirror)
            rss.append(_peak_rss_mb(process.pid))
        shutil.rmtree(home)
        target = scratch / f"direct-{run}"
        walls["upstream"].append(
            _wall([sys.executable, "-c", _HUB, upstream, NAME, str(target)], client)
        )
        shutil.rmtree(target)
    results = {label: _figures(values, size) for label, values in walls.items()}
    results["mirror, cold"]["server_peak_rss_mb"] = max(rss)
    return results


def warm(
    upstream: str, size: int, runs: int, scratch: Path, env: dict[str, str], client: dict[str, str]
) -> dict[str, Any]:
    """A mirror that holds the preset, against curl of the same files from it, A B A B."""
    home = scratch / "mirror-home-warm"
    mirror_env = {**env, "REGISTRY_HOME": str(home), "REGISTRY_HF_UPSTREAM": upstream}
    with _server(mirror_env) as (mirror, _):
        filled = scratch / "fill"
        subprocess.run([sys.executable, "-c", _HUB, mirror, NAME, str(filled)], cwd=REPO,
                       env=client, check=True, capture_output=True)  # fmt: skip
        shutil.rmtree(filled)
        _recorded(mirror)
        info = httpx.get(f"{mirror}/api/models/{NAME}").json()
        urls = [f"{mirror}/{NAME}/resolve/{info['sha']}/{s['rfilename']}" for s in info["siblings"]]
        hub = [sys.executable, "-c", _HUB, mirror, NAME]
        commands: dict[str, tuple[Callable[[Path], list[str]], dict[str, str]]] = {
            "mirror, warm": (lambda target: [*hub, str(target)], client),
            "mirror, warm, HF_HUB_DISABLE_XET=1": (
                lambda target: [*hub, str(target)], {**client, "HF_HUB_DISABLE_XET": "1"}
            ),
            "curl": (lambda target: ["curl", "-sSf", "--create-dirs", *[
                part for i, url in enumerate(urls) for part in (url, "-o", str(target / f"f{i}"))
            ]], client),
        }  # fmt: skip
        walls: dict[str, list[float]] = {label: [] for label in commands}
        for command, env_of in commands.values():  # warm-up: page cache, first writes
            _wall(command(scratch / "warm-up"), env_of)
            shutil.rmtree(scratch / "warm-up", ignore_errors=True)
        for run in range(runs):
            for label, (command, env_of) in commands.items():
                target = scratch / f"run-{run}"
                walls[label].append(_wall(command(target), env_of))
                shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(home)
    return {label: _figures(values, size) for label, values in walls.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    preset = load_bench.ensure_preset(args.cache)
    home, secret = sync_bench.prepare_server_home(args.cache)
    servers = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    servers["TF_CPP_MIN_LOG_LEVEL"] = "3"
    scratch = Path(tempfile.mkdtemp(prefix="registry-mirror-bench-", dir=args.cache))
    client = {**servers, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(scratch / "hf_home")}
    try:
        with _server({**servers, "REGISTRY_HOME": str(home)}) as (upstream, _):
            size = _upstream_holds_the_preset(upstream, preset, secret)
            results = {
                "cold": cold(upstream, size, args.runs, scratch, servers, client),
                "warm": warm(upstream, size, args.runs, scratch, servers, client),
                "bytes": size,
                "runs": args.runs,
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any]) -> None:
    size, runs = results["bytes"], results["runs"]
    print(f"{size / 1e9:.2f} GB over loopback; median (worst) of {runs} fresh processes, "
          "the cases taking turns")  # fmt: skip
    print()
    print("| case | wall (s) | MB/s | vs reference (median) | vs reference (worst) | target |")
    print("|---|---:|---:|---:|---:|---|")
    for phase, ours, theirs in (("cold", ["mirror, cold"], "upstream"),
                                ("warm", ["mirror, warm", "mirror, warm, HF_HUB_DISABLE_XET=1"],
                                 "curl")):  # fmt: skip
        rows = results[phase]
        for label in (theirs, *ours):
            if label not in rows:  # a run before the case was measured
                continue
            row = rows[label]
            ratio = row["mb_per_s"] / rows[theirs]["mb_per_s"]
            worst = row["mb_per_s_worst"] / rows[theirs]["mb_per_s_worst"]
            target = "reference" if label == theirs else ">= 0.8x"
            print(
                f"| {label} | {row['wall_s']:.2f} ({row['wall_s_max']:.2f}) | "
                f"{row['mb_per_s']:.0f} | {ratio:.2f}x | {worst:.2f}x | {target} |"
            )
    rss = results["cold"]["mirror, cold"]["server_peak_rss_mb"]
    print()
    print(f"mirror server peak RSS over a cold download (worst): {rss:.0f} MB")


if __name__ == "__main__":
    main()
