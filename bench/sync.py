"""Pulling a 1.4 GB preset from this registry's server over loopback: our client
against curl of the same bytes and huggingface_hub's snapshot_download, in one run.

    python bench/sync.py [--runs 3] [--cache DIR] [--json PATH]

The server (one uvicorn process) holds the GPT-2-medium-shaped preset of
`bench/load.py`, uploaded once. Each client runs in a fresh process into an
empty directory on the same disk, the median of `--runs`:
- `Registry(url).sync(name)`: the registry's client (downloads each blob,
  hashes it as it lands, checks it against the manifest, publishes the tree);
- `curl` of the same file URLs into files (no checks);
- `huggingface_hub.snapshot_download` from the server's Hub-compatible routes.
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
from pathlib import Path
from typing import Any

import httpx

# Siblings in bench/ (a script's own folder is first on sys.path); the project
# itself is imported as installed.
import load as load_bench
import serving as web_bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

NAME = "bench/medium"

_OURS = """
import sys, time, resource, json
from registry import Registry
started = time.perf_counter()
Registry(sys.argv[1], cache_dir=sys.argv[2]).sync(sys.argv[3])
print(json.dumps({"s": time.perf_counter() - started}))
"""
_HUB = """
import sys, time, json
from huggingface_hub import snapshot_download
started = time.perf_counter()
snapshot_download(sys.argv[3], endpoint=sys.argv[1], local_dir=sys.argv[2])
print(json.dumps({"s": time.perf_counter() - started}))
"""


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time of a fresh process and its CPU time (user + system, children)."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def prepare_server_home(cache: Path) -> tuple[Path, str]:
    home = cache / "sync-server-home"
    marker = home / "uploaded.json"
    if marker.is_file():
        return home, json.loads(marker.read_text())["token"]
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    from registry.catalog.database import Catalog
    from registry.catalog.service import create_token
    from registry.config import sqlite_url

    catalog = Catalog.open(sqlite_url(home / "catalog.db"))
    with catalog.transaction() as session:
        secret, _ = create_token(session, owner="bench", scope="write")
    catalog.close()
    marker.write_text(json.dumps({"token": secret}))
    return home, secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    preset = load_bench.ensure_preset(args.cache)
    home, secret = prepare_server_home(args.cache)
    env = {**os.environ, "REGISTRY_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    port = web_bench.load_bench_port()
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    with web_bench.server(["web.app:create_app", "--factory"], env, port):
        detail = httpx.get(f"{url}/api/v1/presets/{NAME}")
        if detail.status_code == 404:
            web_bench.upload(url, f"/api/v1/presets/{NAME}/revisions", preset,
                             {"Authorization": f"Bearer {secret}"})  # fmt: skip
            detail = httpx.get(f"{url}/api/v1/presets/{NAME}")
        revision = detail.json()["revisions"][0]
        size = revision["size"]
        file_urls = [
            f"{url}/api/v1/presets/{NAME}/revisions/{revision['digest']}/files/{f['path']}"
            for f in revision["files"]
        ]
        scratch = Path(tempfile.mkdtemp(prefix="registry-sync-bench-", dir=args.cache))
        client_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_DISABLE_TELEMETRY": "1",
                      "HF_HOME": str(scratch / "hf_home")}  # fmt: skip
        commands = {
            "curl": lambda target: ["curl", "-sSf", "--create-dirs", *[
                part for i, file_url in enumerate(file_urls)
                for part in (file_url, "-o", str(target / f"file{i}"))
            ]],
            "registry client": lambda target: [sys.executable, "-c", _OURS, url, str(target), NAME],
            "huggingface_hub": lambda target: [sys.executable, "-c", _HUB, url, str(target), NAME],
        }  # fmt: skip
        try:
            walls: dict[str, list[float]] = {label: [] for label in commands}
            cpus: dict[str, list[float]] = {label: [] for label in commands}
            # Interleaved, so that the machine's state (page cache, memory) drifts
            # evenly across the clients rather than favouring one.
            for run in range(args.runs):
                for label, command in commands.items():
                    target = scratch / f"{label.replace(' ', '_')}-{run}"
                    wall, cpu = _timed(command(target), client_env)
                    walls[label].append(wall)
                    cpus[label].append(cpu)
                    shutil.rmtree(target, ignore_errors=True)
            for label in commands:
                results[label] = {
                    "wall_s": statistics.median(walls[label]),
                    "cpu_s": statistics.median(cpus[label]),
                    "mb_per_s": size / 1e6 / statistics.median(walls[label]),
                }
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    results["bytes"] = size
    curl = results["curl"]["mb_per_s"]
    hub = results["huggingface_hub"]["mb_per_s"]
    print(f"pulling {size / 1e9:.2f} GB over loopback; median of {args.runs} fresh processes")
    print()
    print("| client | wall (s) | CPU (s) | MB/s | vs curl | vs huggingface_hub |")
    print("|---|---:|---:|---:|---:|---:|")
    for label in ("curl", "huggingface_hub", "registry client"):
        row = results[label]
        print(
            f"| {label} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | {row['mb_per_s']:.0f} | "
            f"{row['mb_per_s'] / curl:.2f}x | {row['mb_per_s'] / hub:.2f}x |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
