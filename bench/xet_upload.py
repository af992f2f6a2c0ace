"""A 1.4 GB upload through Xet, as `pip install huggingface_hub` sends it (hf_xet),
against this registry's server in its own uvicorn process: throughput and the
server's peak RSS.

    python bench/xet_upload.py [--size-mb 1400] [--cache DIR] [--json PATH]

- Writes (once, cached) a file of `--size-mb` random bytes: nothing to compress,
  nothing to dedupe, the worst case for the server (every byte is received,
  hashed, stored as xorbs, then rebuilt into a blob).
- Uploads it with hf_xet's Python API, the token fetched from the server's
  `xet-write-token` route, with an empty client cache; checks that the blob the
  server rebuilt has the file's sha256.
- Uploads it again with another empty client cache: the server's dedupe answer
  spares every xorb, only the shard is sent.
- Publishes the GPT-2-medium-shaped preset of `bench/load.py` (~1.4 GB,
  generated once) with `HfApi.upload_folder`, Xet left on as a stock install
  has it, to a fresh server: preupload, Xet, then the commit that validates
  the preset and records the revision (skip with `--no-folder`).
- Streams the file with `curl` (httpx without it) to a hello-world endpoint
  that only reads it: the transport's own cost on this machine.
The server's peak RSS is its VmHWM after each upload. Prints a Markdown table.
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
from pathlib import Path
from typing import Any

# Siblings in bench/ (a script's own folder is first on sys.path); the project
# itself is imported as installed.
import hf_xet
import httpx
import load as load_bench
from serving import HELLO, load_bench_port, peak_rss_mb, server

from registry.catalog.database import Catalog
from registry.catalog.service import create_token
from registry.config import sqlite_url

RSS_TARGET_MB = 256.0
_PIECE = 16 << 20


def ensure_file(cache: Path, size_mb: int) -> tuple[Path, str]:
    """A file of `size_mb` MB of random bytes (made once) and its sha256."""
    path = cache / f"xet-upload-{size_mb}mb.bin"
    digest_path = path.with_suffix(".sha256")
    if not digest_path.is_file():
        print(f"writing {size_mb} MB of random bytes (once) ...", file=sys.stderr)
        cache.mkdir(parents=True, exist_ok=True)
        digest, left = hashlib.sha256(), size_mb * 1_000_000
        with open(path, "wb") as out:
            while left:
                piece = os.urandom(min(_PIECE, left))
                digest.update(piece)
                out.write(piece)
                left -= len(piece)
        digest_path.write_text(digest.hexdigest())
    return path, digest_path.read_text().strip()


def registry_home(root: Path, name: str = "home") -> tuple[Path, str]:
    """A fresh registry home and a write token of `bench` in its catalog."""
    home = root / name
    home.mkdir()
    catalog = Catalog.open(sqlite_url(home / "catalog.db"))
    with catalog.transaction() as session:
        secret, _ = create_token(session, owner="bench", scope="write", name="bench")
    catalog.close()
    return home, secret


def xet_upload(url: str, secret: str, path: Path, cache: Path) -> dict[str, Any]:
    """Upload `path` with hf_xet (its cache at `cache`); timing and what it sent."""
    os.environ["HF_XET_CACHE"] = str(cache)
    start = time.perf_counter()
    commit = hf_xet.XetSession().new_upload_commit(
        token_refresh_url=f"{url}/api/models/bench/big/xet-write-token/main",
        token_refresh_headers={"Authorization": f"Bearer {secret}"},
    )
    handle = commit.start_upload_file(str(path), sha256=hf_xet.COMPUTE_SHA256)
    report = commit.wait_to_finish()
    elapsed = time.perf_counter() - start
    size = path.stat().st_size
    return {
        "seconds": elapsed,
        "mb_per_s": size / 1e6 / elapsed,
        "bytes": size,
        "xorb_bytes_sent": report.dedup_metrics.xorb_bytes_uploaded,
        "sha256": handle.result().xet_info.sha256,
    }


def folder_upload(url: str, secret: str, preset: Path, cache: Path) -> dict[str, Any]:
    """Publish `preset` with `HfApi.upload_folder`; timing, and whether the
    revision lists the weights with their sha256."""
    os.environ["HF_XET_CACHE"] = str(cache)
    from huggingface_hub import HfApi
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    api = HfApi(endpoint=url, token=secret)
    size = sum(p.stat().st_size for p in preset.iterdir() if p.is_file())
    start = time.perf_counter()
    api.create_repo("bench/medium", exist_ok=True)
    api.upload_folder(repo_id="bench/medium", folder_path=preset)
    elapsed = time.perf_counter() - start
    manifest = json.loads((preset / "manifest.json").read_text())
    digest = next(f["sha256"] for f in manifest["files"] if f["path"] == "model.weights.h5")
    listed = {s.rfilename: s.lfs for s in api.model_info("bench/medium").siblings or []}
    lfs = listed.get("model.weights.h5")
    return {
        "seconds": elapsed,
        "mb_per_s": size / 1e6 / elapsed,
        "bytes": size,
        "revision_ok": lfs is not None and lfs.sha256 == digest,
    }


def sink_upload(url: str, path: Path) -> dict[str, Any]:
    """The same bytes streamed to an endpoint that only reads them."""
    start = time.perf_counter()
    if shutil.which("curl"):
        subprocess.run(
            ["curl", "-sf", "-o", "/dev/null", "-X", "POST", "-T", str(path), f"{url}/sink"],
            check=True,
        )
        tool = "curl"
    else:
        with open(path, "rb") as body:
            httpx.post(f"{url}/sink", content=body, timeout=3600).raise_for_status()
        tool = "httpx"
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "mb_per_s": path.stat().st_size / 1e6 / elapsed, "tool": tool}


def run(args: argparse.Namespace) -> dict[str, Any]:
    path, sha256 = ensure_file(args.cache, args.size_mb)
    results: dict[str, Any] = {"size_mb": args.size_mb}
    with tempfile.TemporaryDirectory(prefix="xet-bench-", dir=args.cache) as scratch:
        root = Path(scratch)
        home, secret = registry_home(root)
        (root / "hello_app.py").write_text(HELLO)
        env = {**os.environ, "REGISTRY_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
        ours, hello = load_bench_port(), load_bench_port()
        url = f"http://127.0.0.1:{ours}"
        with server(["web.app:create_app", "--factory"], env, ours) as process:
            results["server_rss_before_mb"] = peak_rss_mb(process.pid)
            results["first"] = xet_upload(url, secret, path, root / "cache-1")
            results["first"]["server_peak_rss_mb"] = peak_rss_mb(process.pid)
            blob = home / "store" / "blobs" / "sha256" / sha256[:2] / sha256
            results["blob_ok"] = results["first"]["sha256"] == sha256 and blob.is_file()
            results["again"] = xet_upload(url, secret, path, root / "cache-2")
            results["again"]["server_peak_rss_mb"] = peak_rss_mb(process.pid)
        if args.folder:
            preset = load_bench.ensure_preset(args.cache)
            folder_home, folder_secret = registry_home(root, "folder-home")
            env_folder = {**env, "REGISTRY_HOME": str(folder_home)}
            with server(["web.app:create_app", "--factory"], env_folder, ours) as process:
                results["folder"] = folder_upload(url, folder_secret, preset, root / "cache-3")
                results["folder"]["server_peak_rss_mb"] = peak_rss_mb(process.pid)
        with server(["hello_app:app", "--app-dir", str(root)], env, hello) as process:
            results["sink"] = sink_upload(f"http://127.0.0.1:{hello}", path)
            results["sink"]["server_peak_rss_mb"] = peak_rss_mb(process.pid)
    return results


def report(results: dict[str, Any]) -> str:
    first, again, sink = results["first"], results["again"], results["sink"]
    rows = [
        f"{results['size_mb']} MB of random bytes, client and server on the same machine; "
        f"the server's RSS before the upload: {results['server_rss_before_mb']:.0f} MB",
        "",
        "| upload | seconds | MB/s | xorb bytes sent | server peak RSS | target |",
        "|---|---|---|---|---|---|",
    ]
    for label, figures in (("hf_xet, empty client cache", first), ("hf_xet again", again)):
        met = "met" if figures["server_peak_rss_mb"] < RSS_TARGET_MB else "MISSED"
        rows.append(
            f"| {label} | {figures['seconds']:.1f} | {figures['mb_per_s']:.0f} | "
            f"{figures['xorb_bytes_sent'] / 1e6:.0f} MB | {figures['server_peak_rss_mb']:.0f} MB | "
            f"< {RSS_TARGET_MB:.0f} MB: {met} |"
        )
    if "folder" in results:
        folder = results["folder"]
        met = "met" if folder["server_peak_rss_mb"] < RSS_TARGET_MB else "MISSED"
        rows.append(
            f"| `HfApi.upload_folder` of a {folder['bytes'] / 1e9:.2f} GB preset, then its "
            f"commit | {folder['seconds']:.1f} | {folder['mb_per_s']:.0f} | | "
            f"{folder['server_peak_rss_mb']:.0f} MB | < {RSS_TARGET_MB:.0f} MB: {met} |"
        )
    rows.append(
        f"| {sink['tool']} to a hello-world sink | {sink['seconds']:.1f} | "
        f"{sink['mb_per_s']:.0f} | | {sink['server_peak_rss_mb']:.0f} MB | |"
    )
    rows.append("")
    rows.append(f"rebuilt blob has the file's sha256: {'yes' if results['blob_ok'] else 'NO'}")
    if "folder" in results:
        ok = "yes" if results["folder"]["revision_ok"] else "NO"
        rows.append(f"the published revision lists the weights with their sha256: {ok}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1400)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-folder", dest="folder", action="store_false")
    args = parser.parse_args()
    results = run(args)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
