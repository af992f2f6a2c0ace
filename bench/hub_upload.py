"""Publishing a 1.4 GB preset to a registry server three ways, and the server's memory.

    python bench/hub_upload.py [--cache DIR] [--json PATH]

The GPT-2-medium-shaped preset of `bench/load.py` (~1.4 GB, generated once) is
sent to a fresh server (one uvicorn process, a new registry home each time):
- `huggingface_hub`'s `upload_folder` with `HF_HUB_DISABLE_XET=1` (the LFS batch
  API: preupload, batch, the weights in parts or in one PUT, verify, the NDJSON
  commit), in one PUT (the server's default part size is larger than the file)
  and in 512 MiB parts;
- this project's `registry upload` (a tar of the directory, streamed);
- `curl -T` of the weights file alone to a signed LFS upload URL (the bytes
  with no client around them: the transfer's floor).
Each row: the client's wall time for the transfer (its imports excluded), MB/s
and the server process's peak RSS (VmHWM) over its whole life, against the
256 MB target. Prints a Markdown table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
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

from registry.catalog.database import Catalog
from registry.catalog.service import create_token
from registry.config import sqlite_url

RSS_TARGET_MB = 256.0
HUB_UPLOAD = """
import sys, time
from huggingface_hub import HfApi
api = HfApi()
api.create_repo(sys.argv[1])
start = time.perf_counter()
api.upload_folder(repo_id=sys.argv[1], folder_path=sys.argv[2])
print(time.perf_counter() - start)
"""
REGISTRY_UPLOAD = """
import sys, time
from registry import Registry
registry = Registry()
start = time.perf_counter()
registry.upload(sys.argv[2], sys.argv[1])
print(time.perf_counter() - start)
"""


@contextmanager
def fresh_server(
    scratch: Path, settings: dict[str, str]
) -> Iterator[tuple[str, str, int, dict[str, str]]]:
    """A server on a new registry home: (url, a write token of `bench`, pid, env)."""
    home = Path(tempfile.mkdtemp(prefix="hub-upload-", dir=scratch))
    catalog = Catalog.open(sqlite_url(home / "catalog.db"))
    with catalog.transaction() as session:
        token, _ = create_token(session, owner="bench", scope="write", name="bench")
    catalog.close()
    env = {**os.environ, "REGISTRY_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3", **settings}
    port = serving.load_bench_port()
    try:
        with serving.server(["web.app:create_app", "--factory"], env, port) as process:
            yield f"http://127.0.0.1:{port}", token, process.pid, env
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _client(code: str, repo: str, preset: Path, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", code, repo, str(preset)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return float(done.stdout.strip().splitlines()[-1])


def huggingface_hub(url: str, token: str, preset: Path, env: dict[str, str]) -> float:
    client_env = {
        **env,
        "HF_ENDPOINT": url,
        "HF_TOKEN": token,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HOME": str(Path(env["REGISTRY_HOME"]) / "hf"),
    }
    return _client(HUB_UPLOAD, "bench/medium-hub", preset, client_env)


def registry_upload(url: str, token: str, preset: Path, env: dict[str, str]) -> float:
    client_env = {
        **env,
        "REGISTRY_URL": url,
        "REGISTRY_TOKEN": token,
        "REGISTRY_HOME": str(Path(env["REGISTRY_HOME"]) / "client"),
    }
    return _client(REGISTRY_UPLOAD, "bench/medium-registry", preset, client_env)


def curl(url: str, token: str, preset: Path, env: dict[str, str]) -> float:
    weights = preset / "model.weights.h5"
    digest = hashlib.sha256()
    with open(weights, "rb") as source:
        while chunk := source.read(4 << 20):
            digest.update(chunk)
    auth = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{url}/api/repos/create", json={"name": "medium-curl"}, headers=auth)
    batch = httpx.post(
        f"{url}/bench/medium-curl.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "objects": [{"oid": digest.hexdigest(), "size": weights.stat().st_size}],
        },
        headers=auth,
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    start = time.perf_counter()
    subprocess.run(["curl", "-sSf", "-T", str(weights), href, "-o", os.devnull], check=True)
    return time.perf_counter() - start


Send = Callable[[str, str, Path, dict[str, str]], float]
PARTS = {"REGISTRY_LFS_CHUNK_BYTES": str(512 << 20)}  # the weights in three parts
# label: (client, whether it sends the whole preset or the weights alone, server settings)
CLIENTS: dict[str, tuple[Send, bool, dict[str, str]]] = {
    "huggingface_hub upload_folder, LFS basic (one PUT; the default up to 2 GiB)": (
        huggingface_hub,
        True,
        {},
    ),
    "huggingface_hub upload_folder, LFS multipart (512 MiB parts)": (huggingface_hub, True, PARTS),
    "registry upload": (registry_upload, True, {}),
    "curl -T of the weights to a signed LFS URL (basic)": (curl, False, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    preset = load_bench.ensure_preset(args.cache)
    whole = sum(p.stat().st_size for p in preset.iterdir() if p.is_file())
    weights = (preset / "model.weights.h5").stat().st_size
    results: dict[str, Any] = {}
    for label, (send, everything, settings) in CLIENTS.items():
        if label.startswith("curl") and not shutil.which("curl"):
            continue
        with fresh_server(args.cache, settings) as (url, token, pid, env):
            seconds = send(url, token, preset, env)
            size = whole if everything else weights
            results[label] = {
                "seconds": seconds,
                "bytes": size,
                "mb_per_s": size / 1e6 / seconds,
                "server_peak_rss_mb": serving.peak_rss_mb(pid),
            }
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any]) -> None:
    print("| client | bytes | wall (s) | MB/s | server peak RSS | < 256 MB |")
    print("|---|---:|---:|---:|---:|---|")
    for label, row in results.items():
        ok = "yes" if row["server_peak_rss_mb"] < RSS_TARGET_MB else "no"
        print(
            f"| {label} | {row['bytes'] / 1e9:.2f} GB | {row['seconds']:.2f} | "
            f"{row['mb_per_s']:.0f} | {row['server_peak_rss_mb']:.0f} MB | {ok} |"
        )


if __name__ == "__main__":
    main()
