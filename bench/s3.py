"""Blobs in an S3 bucket: obstore against boto3, and the server on a bucket
against the same server on a local directory, in one run.

    python bench/s3.py [--runs 2] [--size-mb 1400] [--cache DIR] [--json PATH]

One SeaweedFS `weed mini` on loopback (`tests/scale/seaweed.py`, authentication
on) is the bucket; it is removed with its data when the run ends. Every client
is a fresh process, timed inside from the start of its transfer to its end
(interpreter start and imports excluded); the cases take turns (A B A B ...)
and each reports its median and its worst run:
- clients: one file of `--size-mb` MB of random bytes (in the page cache)
  uploaded to a fresh bucket and downloaded back into a new file, by obstore
  as `registry/bucket.py` uses it (its S3Store; `obstore.put` from the open
  file, 8 MiB parts, four in flight; `obstore.get(...).stream()` in pieces of
  at least 10 MiB written to the file; a run with 4 MiB pieces read 0.78x as
  fast), and by boto3 (`upload_file` /
  `download_file`, its default TransferConfig: 8 MiB parts, ten threads).
  CPU is the client process's user + system time over the transfer (its own
  `getrusage`), and over its whole life (interpreter and imports too); the S3
  server's CPU over the same transfer is beside it.
- server: `registry serve` (one process) on a new home, once with its blobs
  under `REGISTRY_HOME` and once with `REGISTRY_BLOB_URL` on the bucket (a new
  key prefix each run); this project's `registry upload` sends the
  GPT-2-medium-shaped preset of `bench/load.py` (~1.4 GB) to each, and the
  server's peak RSS (VmHWM) over its whole life is read after it (the target:
  < 256 MB on the bucket). Then `huggingface_hub.snapshot_download` (a new
  cache directory each run) takes the preset from fresh servers on the last
  homes: the local one, the bucket one redirecting to presigned URLs (the
  default) and the bucket one with `REGISTRY_BLOB_REDIRECT=0` (the server
  streams the objects). Beside each: the server process's CPU over the transfer.
SeaweedFS, the server and the client share the same cores. Prints a Markdown
table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# Siblings in bench/ (a script's own folder is first on sys.path); the project
# itself, and its tests' SeaweedFS, are imported as installed (editable).
import httpx
import load as load_bench
import serving

from registry.bucket import BLOB_PREFIX, PART_BYTES, PARTS_IN_FLIGHT, READ_BYTES, Bucket
from registry.catalog.database import Catalog
from registry.catalog.service import create_token
from registry.config import sqlite_url
from tests.scale.seaweed import Seaweed, seaweed

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RSS_TARGET_MB = 256.0
NAME = "bench/medium"
CLIENT_BUCKET = "clients"
# What the server uses: registry/bucket.py's part size, parts in flight, read size.
PART, CONCURRENCY, READ = PART_BYTES, PARTS_IN_FLIGHT, READ_BYTES

# argv: "upload" or "download", the local file, the object's key. The bucket is
# REGISTRY_BLOB_URL's, reached with the AWS_* settings. Prints the transfer's
# wall seconds and CPU seconds (all, and the system's part) as JSON.
_CLIENT = """
import json, os, resource, sys, time
action, path, key = sys.argv[1:4]
{setup}
before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
upload() if action == "upload" else download()
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
print(json.dumps({{"wall_s": wall, "cpu_s": user + system, "system_cpu_s": system}}))
"""
_OBSTORE = f"""
import obstore
from registry.config import Settings
store = Settings.from_env().bucket().store  # the server's own client settings
def upload():
    with open(path, "rb") as reader:
        obstore.put(store, key, reader, chunk_size={PART}, max_concurrency={CONCURRENCY})
def download():
    with open(path, "xb") as writer:
        for piece in obstore.get(store, key).stream(min_chunk_size={READ}):
            writer.write(piece)
"""
# obstore's default pieces (at least 10 MB each), for comparison.
_BOTO3 = """
import boto3
from registry.bucket import parse_blob_url
name, prefix = parse_blob_url(os.environ["REGISTRY_BLOB_URL"])
key = f"{prefix}/{key}" if prefix else key
client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])  # keys from AWS_*
def upload():
    client.upload_file(path, name, key)
def download():
    client.download_file(name, key, path)
"""
# action: {client: its setup}; a download reads what its library uploaded that run.
CASES = {
    "upload": {"obstore": _OBSTORE, "boto3": _BOTO3},
    "download": {
        "obstore": _OBSTORE,
        "boto3": _BOTO3,
    },
}

# argv: the preset's directory, its name. Prints the upload's seconds.
_REGISTRY_UPLOAD = """
import sys, time
from registry import Registry
registry = Registry()
start = time.perf_counter()
registry.upload(sys.argv[1], sys.argv[2])
print(time.perf_counter() - start)
"""
# argv: the server's URL, the preset's directory, its name, a write token, a
# new hf_xet cache. Prints the upload's seconds (a stock install: through Xet).
_HUB_UPLOAD = """
import os, sys, time
os.environ["HF_XET_CACHE"] = sys.argv[5]
from huggingface_hub import HfApi
api = HfApi(endpoint=sys.argv[1], token=sys.argv[4])
start = time.perf_counter()
api.create_repo(sys.argv[3], exist_ok=True)
api.upload_folder(repo_id=sys.argv[3], folder_path=sys.argv[2])
print(time.perf_counter() - start)
"""
# argv: the preset's name, a new cache directory. Prints the download's seconds.
_HUB_DOWNLOAD = """
import sys, time
from huggingface_hub import snapshot_download
start = time.perf_counter()
snapshot_download(sys.argv[1], cache_dir=sys.argv[2])
print(time.perf_counter() - start)
"""


def _run(command: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run a client to its exit: what it printed last, and its whole life's CPU
    seconds (the only child that ends meanwhile)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=3600
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])[:200]} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout.strip().splitlines()[-1], cpu


def _figures(samples: list[dict[str, float]], size: int) -> dict[str, float]:
    """Medians, and worst cases as `<figure>_max` (MB/s: `mb_per_s_worst`)."""
    figures: dict[str, float] = {}
    for key in samples[0]:
        values = [sample[key] for sample in samples]
        figures[key], figures[f"{key}_max"] = statistics.median(values), max(values)
    figures["mb_per_s"] = size / 1e6 / figures["wall_s"]
    figures["mb_per_s_worst"] = size / 1e6 / figures["wall_s_max"]
    return figures


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as writer:
        left = size
        while left:
            piece = min(left, 16 << 20)
            writer.write(os.urandom(piece))
            left -= piece


def clients(s3: Seaweed, size_mb: int, runs: int, scratch: Path) -> dict[str, Any]:
    """obstore and boto3 uploading then downloading one file, A B A B."""
    import boto3

    server = s3.server
    env = {**os.environ, **server.env()}
    env["REGISTRY_BLOB_URL"] = f"s3://{CLIENT_BUCKET}/clients"
    admin = boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1",
    )  # fmt: skip
    admin.create_bucket(Bucket=CLIENT_BUCKET)
    source = scratch / "random.bin"
    size = size_mb * 1_000_000
    _random_file(source, size)
    samples: dict[str, list[dict[str, float]]] = {
        f"{client}, {action}": [] for action, setups in CASES.items() for client in setups
    }
    try:
        for run in range(runs):
            for action, setups in CASES.items():
                for client, setup in setups.items():
                    library = client.split(",")[0]
                    key = f"{library}-{run}.bin"
                    target = source if action == "upload" else scratch / f"{library}-{run}.bin"
                    code = _CLIENT.format(setup=setup)
                    s3_cpu = serving.process_cpu_s(server.pid)
                    printed, process_cpu = _run(
                        [sys.executable, "-c", code, action, str(target), key], env
                    )
                    samples[f"{client}, {action}"].append(
                        json.loads(printed)
                        | {
                            "process_cpu_s": process_cpu,
                            "s3_server_cpu_s": serving.process_cpu_s(server.pid) - s3_cpu,
                        }
                    )
                    if action == "download":
                        if target.stat().st_size != size:
                            raise SystemExit(f"{client} downloaded {target.stat().st_size} bytes")
                        target.unlink()
            for library in CASES["upload"]:
                admin.delete_object(Bucket=CLIENT_BUCKET, Key=f"clients/{library}-{run}.bin")
    finally:
        admin.close()
        source.unlink(missing_ok=True)
    return {label: _figures(values, size) for label, values in samples.items()} | {"bytes": size}


def _new_home(scratch: Path, label: str) -> tuple[Path, str]:
    """A new registry home whose catalog holds a write token of `bench`."""
    home = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=scratch))
    catalog = Catalog.open(sqlite_url(home / "catalog.db"))
    with catalog.transaction() as session:
        token, _ = create_token(session, owner="bench", scope="write", name="bench")
    catalog.close()
    return home, token


@contextmanager
def _serve(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`registry serve` (one process, `python -m registry.cli serve`) until the block ends."""
    port = serving.load_bench_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/", timeout=5)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("registry serve did not start") from None
                time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _bucket(env: dict[str, str]) -> Bucket:
    return Bucket(env["REGISTRY_BLOB_URL"], {k: v for k, v in env.items() if k.startswith("AWS_")})


def _upload(
    env: dict[str, str], token: str, preset: Path, base: dict[str, str], xet: bool = False
) -> dict[str, float]:
    """`registry upload` (or, with `xet`, huggingface_hub's `upload_folder`)
    of the preset to a server on `env`: its seconds, the server's peak RSS and,
    on a bucket, the bytes the bucket then holds."""
    client = {**base, "REGISTRY_HOME": env["REGISTRY_HOME"] + "/client", "REGISTRY_TOKEN": token}
    with _serve(env) as (url, process):
        cpu = serving.process_cpu_s(process.pid)
        if xet:
            xet_cache = tempfile.mkdtemp(prefix="xet-cache-", dir=env["REGISTRY_HOME"])
            command = [sys.executable, "-c", _HUB_UPLOAD, url, str(preset), NAME, token, xet_cache]
            printed, _ = _run(command, {**client, "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
        else:
            printed, _ = _run(
                [sys.executable, "-c", _REGISTRY_UPLOAD, str(preset), NAME],
                {**client, "REGISTRY_URL": url},
            )
        sample = {
            "wall_s": float(printed),
            "server_cpu_s": serving.process_cpu_s(process.pid) - cpu,
            "server_peak_rss_mb": serving.peak_rss_mb(process.pid),
        }
    if "REGISTRY_BLOB_URL" in env:
        stored = sum(found.size for found in _bucket(env).objects(BLOB_PREFIX))
        if stored < (preset / "model.weights.h5").stat().st_size:
            raise SystemExit(f"the bucket holds {stored} bytes after the upload")
        sample["bucket_bytes"] = float(stored)
    return sample


def uploads(
    s3: Seaweed, preset: Path, runs: int, scratch: Path, base: dict[str, str]
) -> tuple[dict[str, list[dict[str, float]]], dict[str, dict[str, str]]]:
    """The preset uploaded to a new server on a local directory and on the
    bucket (a new prefix), A B A B: the samples, and the last run's servers'
    settings (their homes hold the preset)."""
    samples: dict[str, list[dict[str, float]]] = {
        label: [] for label in ("local directory", "S3 bucket", *XET_UPLOADS)
    }
    settings: dict[str, dict[str, str]] = {}
    for run in range(runs):
        for case, (label, values) in enumerate(samples.items()):
            if label in settings:  # the run before's
                _remove(settings.pop(label))
            home, token = _new_home(scratch, label.split()[0])
            env = {**base, "REGISTRY_HOME": str(home)}
            if label.startswith("S3 bucket"):
                env |= s3.server.env(f"server-{run}-{case}")
            settings[label] = env
            values.append(_upload(env, token, preset, base, xet=label in XET_UPLOADS))
    for label in XET_UPLOADS:  # the downloads read the `registry upload` homes
        _remove(settings.pop(label))
    return samples, settings


def _remove(env: dict[str, str]) -> None:
    """A server's home, and its prefix's objects in the bucket."""
    shutil.rmtree(env["REGISTRY_HOME"], ignore_errors=True)
    if "REGISTRY_BLOB_URL" in env:
        bucket = _bucket(env)
        for found in list(bucket.objects("")):
            bucket.delete(found.key)


# huggingface_hub's `upload_folder` as a stock install sends it (Xet): each
# file rebuilt from xorbs by the server, into the bucket while it is.
XET_UPLOADS = ("local directory, upload_folder (Xet)", "S3 bucket, upload_folder (Xet)")
LOCAL = "local directory"

DOWNLOADS = (
    "local directory",
    "S3 bucket, redirect (default)",
    "S3 bucket, proxy (REGISTRY_BLOB_REDIRECT=0)",
)


def downloads(
    local: dict[str, str], bucket: dict[str, str], size: int, runs: int, scratch: Path,
    base: dict[str, str],
) -> tuple[dict[str, list[dict[str, float]]], dict[str, float]]:  # fmt: skip
    """`snapshot_download` of the preset from new servers on the uploads' homes,
    A B C A B C: the samples, and each server's peak RSS."""
    samples: dict[str, list[dict[str, float]]] = {label: [] for label in DOWNLOADS}
    with ExitStack() as stack:
        servers = {
            label: stack.enter_context(_serve(env))
            for label, env in zip(
                DOWNLOADS, (local, bucket, {**bucket, "REGISTRY_BLOB_REDIRECT": "0"}), strict=True
            )
        }
        for label, (url, _) in servers.items():  # what each case measures: 302 or 200
            answer = httpx.head(f"{url}/{NAME}/resolve/main/config.json")
            if answer.status_code != (302 if "redirect" in label else 200):
                raise SystemExit(f"{label}: a file's HEAD answered {answer.status_code}")
        for run in range(runs):
            for label, (url, process) in servers.items():
                cache = scratch / f"hf-{run}-{DOWNLOADS.index(label)}"
                client = {**base, "HF_ENDPOINT": url, "HF_HOME": str(cache / "home"),
                          "HF_HUB_DISABLE_TELEMETRY": "1",
                          "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # fmt: skip
                cpu = serving.process_cpu_s(process.pid)
                printed, _ = _run(
                    [sys.executable, "-c", _HUB_DOWNLOAD, NAME, str(cache / "hub")], client
                )
                cpu = serving.process_cpu_s(process.pid) - cpu
                got = sum(p.stat().st_size for p in (cache / "hub").glob("models--*/blobs/*"))
                shutil.rmtree(cache)
                if got != size:
                    raise SystemExit(f"{label}: snapshot_download got {got} of {size} bytes")
                samples[label].append({"wall_s": float(printed), "server_cpu_s": cpu})
        rss = {label: serving.peak_rss_mb(process.pid) for label, (_, process) in servers.items()}
    return samples, rss


def server(s3: Seaweed, preset: Path, runs: int, scratch: Path) -> dict[str, Any]:
    """Uploads to a server on a local directory and on the bucket, then
    downloads from them three ways."""
    base = {name: value for name, value in os.environ.items()
            if not name.startswith(("HF_", "AWS_", "REGISTRY_"))}  # fmt: skip
    base["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # The bytes of the repository snapshot_download gets: the preset but manifest.json.
    files = [p for p in preset.iterdir() if p.is_file() and p.name != "manifest.json"]
    size = sum(p.stat().st_size for p in files)
    sent, settings = uploads(s3, preset, runs, scratch, base)
    try:
        got, rss = downloads(
            settings["local directory"], settings["S3 bucket"], size, runs, scratch, base
        )
    finally:
        for env in settings.values():
            shutil.rmtree(env["REGISTRY_HOME"], ignore_errors=True)
    fetched = {label: _figures(values, size) for label, values in got.items()}
    for label, peak in rss.items():
        fetched[label]["server_peak_rss_mb"] = peak
    return {
        "upload": {label: _figures(values, size) for label, values in sent.items()},
        "download": fetched,
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--size-mb", type=int, default=1400, help="the clients' file")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    preset = load_bench.ensure_preset(args.cache)
    scratch = Path(tempfile.mkdtemp(prefix="registry-s3-bench-", dir=args.cache))
    try:
        with seaweed() as s3:
            results = {
                "clients": clients(s3, args.size_mb, args.runs, scratch),
                "server": server(s3, preset, args.runs, scratch),
                "runs": args.runs,
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _cell(row: dict[str, float], key: str, spec: str = ".2f") -> str:
    return f"{row[key]:{spec}} ({row[f'{key}_max']:{spec}})"


def report(results: dict[str, Any]) -> None:
    runs, clients_, server_ = results["runs"], results["clients"], results["server"]
    print(f"SeaweedFS `weed mini` on loopback; median (worst) of {runs} fresh client "
          "processes per case, the cases taking turns; CPU: user + system seconds")  # fmt: skip
    print()
    print(f"Clients, one file of {clients_['bytes'] / 1e6:,.0f} MB of random bytes:")
    print()
    print("| client | wall (s) | MB/s | vs boto3 | client CPU, transfer (s) | of which system "
          "(s) | client CPU, whole process (s) | S3 server CPU (s) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for action, setups in CASES.items():
        for client in setups:
            row = clients_[f"{client}, {action}"]
            ratio = row["mb_per_s"] / clients_[f"boto3, {action}"]["mb_per_s"]
            print(
                f"| {client}, {action} | {_cell(row, 'wall_s')} | {row['mb_per_s']:.0f} "
                f"({row['mb_per_s_worst']:.0f}) | {ratio:.2f}x | {_cell(row, 'cpu_s')} | "
                f"{_cell(row, 'system_cpu_s')} | {_cell(row, 'process_cpu_s')} | "
                f"{_cell(row, 's3_server_cpu_s')} |"
            )
    print()
    print(f"The server, the {server_['bytes'] / 1e9:.2f} GB preset:")
    print()
    print("| case | wall (s) | MB/s | vs local directory | server CPU (s) | "
          "server peak RSS (worst) | target |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|")
    for phase in ("upload", "download"):
        for label, row in server_[phase].items():
            xet = label in XET_UPLOADS
            ratio = row["mb_per_s"] / server_[phase][XET_UPLOADS[0] if xet else LOCAL]["mb_per_s"]
            rss = row.get("server_peak_rss_mb_max", row["server_peak_rss_mb"])
            where = label.split(",")[0] if xet else label
            what = "`snapshot_download` from"
            if phase == "upload":
                what = "`upload_folder` (Xet) to" if xet else "`registry upload` to"
            target = ""
            if phase == "upload" and where == "S3 bucket":
                target = f"< {RSS_TARGET_MB:.0f} MB: {'yes' if rss < RSS_TARGET_MB else 'no'}"
            print(
                f"| {what} {where} | {_cell(row, 'wall_s')} | {row['mb_per_s']:.0f} "
                f"({row['mb_per_s_worst']:.0f}) | {ratio:.2f}x | {_cell(row, 'server_cpu_s')} | "
                f"{rss:.0f} MB | {target} |"
            )


if __name__ == "__main__":
    main()
