"""The web service under load, side by side with a FastAPI hello-world, in one run.

    python bench/serving.py [--presets 100000] [--seconds 10] [--connections 64]
                        [--cache DIR] [--json PATH] [--no-upload]

- Fills (once, cached) a SQLite catalog with `--presets` synthetic presets.
- Starts this registry's server and a hello-world FastAPI app, each one uvicorn
  process, on the same stack.
- Latency: sequential requests (one connection) to the catalog API's search
  and to the catalog page, with queries that combine a word, a filter and a sort.
- Throughput: `wrk` (or, without it, an httpx load loop) with `--connections`
  concurrent connections for `--seconds` against each of: hello-world, API
  search and the catalog page cycling through the queries the latency run
  asked (served from the response cache, as popular searches are); then API
  search with 20,000 queries never asked before, the response cache off
  (`REGISTRY_RESPONSE_CACHE=0`), in a server of its own: answered from its
  in-memory index, and in another with the index off too
  (`REGISTRY_SEARCH_INDEX=0`), answered by the database.
- Upload: the GPT-2-medium-shaped preset of `bench/load.py` (~1.4 GB, generated
  once) uploaded as multipart files; wall time, throughput and the server's
  peak RSS (VmHWM), against the same bytes streamed to a hello-world endpoint
  that only reads them.
Prints a Markdown table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# Siblings in bench/ (a script's own folder is first on sys.path); the project
# itself is imported as installed.
import catalog as catalog_bench
import httpx
import load as load_bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

from registry.catalog.database import Catalog  # noqa: E402
from registry.catalog.service import create_token  # noqa: E402
from registry.config import sqlite_url  # noqa: E402

HELLO = """
from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/")
def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.post("/sink")
async def sink(request: Request) -> dict[str, int]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return {"bytes": size}
"""
SORTS = ["relevance", "name", "parameters", "downloads", "updated"]
TARGETS = {"search_p99_ms": 50.0, "throughput_ratio": 0.5, "upload_rss_mb": 256.0}


def prepare_home(cache: Path, presets: int) -> tuple[Path, list[str], str]:
    """A registry home whose catalog holds `presets` presets (built once)."""
    home = cache / f"web-home-{presets}"
    done = home / "filled.json"
    if not done.is_file():
        print(f"filling a catalog with {presets:,} presets (once) ...", file=sys.stderr)
        home.mkdir(parents=True, exist_ok=True)
        (home / "catalog.db").unlink(missing_ok=True)
        catalog = Catalog.open(sqlite_url(home / "catalog.db"))
        vocabulary = catalog_bench.fill(catalog, presets)
        catalog.close()
        done.write_text(json.dumps({"vocabulary": vocabulary}))
    vocabulary = json.loads(done.read_text())["vocabulary"]
    catalog = Catalog.open(sqlite_url(home / "catalog.db"))
    with catalog.transaction() as session:
        secret, _ = create_token(session, owner="bench", scope="write", name="bench")
    catalog.close()
    return home, vocabulary, secret


@contextmanager
def server(args: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server {args} did not start") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def queries(vocabulary: list[str], count: int, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        query = {"q": rng.choice(vocabulary), "sort": rng.choice(SORTS)}
        if rng.random() < 0.5:
            query["tag"] = rng.choice(catalog_bench.TAGS)
        made.append(query)
    return made


def latency(url: str, path: str, params: list[dict[str, str]]) -> dict[str, float]:
    timings = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for query in params[:20]:  # warm-up
            client.get(path, params=query).raise_for_status()
        for query in params:
            start = time.perf_counter()
            client.get(path, params=query).raise_for_status()
            timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
    }


async def _load(url: str, path: str, params: list[dict[str, str]], seconds: float,
                connections: int) -> dict[str, float]:  # fmt: skip
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timings: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        stop = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            nonlocal errors
            index = offset
            while time.perf_counter() < stop:
                query = params[index % len(params)] if params else None
                index += connections
                start = time.perf_counter()
                response = await client.get(path, params=query)
                if response.status_code != 200:
                    errors += 1
                timings.append((time.perf_counter() - start) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.perf_counter() - began
    timings.sort()
    return {
        "requests_per_s": len(timings) / elapsed,
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
        "errors": errors,
    }


_WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"errors": %%d, "non_2xx": %%d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout,
    e.status))
end
"""


def _wrk(url: str, paths: list[str], seconds: float, connections: int) -> dict[str, float]:
    script = Path(os.environ.get("TMPDIR", "/tmp")) / f"registry-bench-{os.getpid()}.lua"
    script.write_text(_WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
    try:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
             "-s", str(script), url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    figures = json.loads(output.split("WRK", 1)[1])
    return {
        "requests_per_s": figures["requests"] / (figures["duration_us"] / 1e6),
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "errors": figures["errors"] + figures["non_2xx"],
        "tool": "wrk",
    }


def throughput(url: str, path: str, params: list[dict[str, str]], seconds: float,
               connections: int) -> dict[str, float]:  # fmt: skip
    """Requests per second with `connections` at once: wrk when installed (it
    costs the CPU the server shares least), else an httpx asyncio loop."""
    if shutil.which("wrk"):
        paths = [path + ("?" + urlencode(q) if q else "") for q in (params or [{}])]
        return _wrk(url, paths, seconds, connections)
    return {**asyncio.run(_load(url, path, params, seconds, connections)), "tool": "httpx"}


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM")


def process_cpu_s(pid: int) -> float:
    """User + system seconds of a running process (a server's) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


def wait_for_index(url: str, timeout: float = 300) -> None:
    """Wait until the server's in-memory search index is built (or is off)."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/health", timeout=30).json().get("search_index") == "building":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the search index of {url} was not built in {timeout:.0f} s")
        time.sleep(0.2)


def upload(url: str, path: str, preset: Path, headers: dict[str, str]) -> dict[str, float]:
    files = [p for p in sorted(preset.iterdir()) if p.is_file() and p.name != "manifest.json"]
    size = sum(p.stat().st_size for p in files)
    handles = [open(p, "rb") for p in files]  # noqa: SIM115 (closed below)
    try:
        start = time.perf_counter()
        response = httpx.post(
            url + path,
            files=[("files", (p.name, handle)) for p, handle in zip(files, handles, strict=True)],
            headers=headers,
            timeout=3600,
        )
        elapsed = time.perf_counter() - start
    finally:
        for handle in handles:
            handle.close()
    response.raise_for_status()
    return {"seconds": elapsed, "mb_per_s": size / 1e6 / elapsed, "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-upload", action="store_true")
    args = parser.parse_args()

    home, vocabulary, secret = prepare_home(args.cache, args.presets)
    hello_dir = args.cache / "hello"
    hello_dir.mkdir(parents=True, exist_ok=True)
    (hello_dir / "hello_app.py").write_text(HELLO)
    env = {**os.environ, "REGISTRY_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    ours_port, hello_port = load_bench_port(), load_bench_port()
    ours, hello = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{hello_port}"
    params = queries(vocabulary, args.queries)
    results: dict[str, Any] = {"presets": args.presets, "connections": args.connections}
    fresh = queries(vocabulary, 20_000, seed=2)  # never asked before, with the cache off
    with server(["hello_app:app", "--app-dir", str(hello_dir)], env, hello_port) as hello_process:
        with server(["web.app:create_app", "--factory"], env, ours_port) as ours_process:
            wait_for_index(ours)
            results["search_latency"] = latency(ours, "/api/v1/presets", params)
            results["page_latency"] = latency(ours, "/", params)
            results["hello"] = throughput(hello, "/", [], args.seconds, args.connections)
            results["search"] = throughput(
                ours, "/api/v1/presets", params, args.seconds, args.connections
            )
            results["page"] = throughput(ours, "/", params, args.seconds, args.connections)
            results["rss_mb"] = rss_mb(ours_process.pid)
            if not args.no_upload:
                preset = load_bench.ensure_preset(args.cache)
                before = peak_rss_mb(ours_process.pid)
                results["upload"] = upload(
                    ours,
                    "/api/v1/presets/bench/medium/revisions",
                    preset,
                    {"Authorization": f"Bearer {secret}"},
                )
                results["upload"]["server_peak_rss_mb"] = peak_rss_mb(ours_process.pid)
                results["upload"]["server_rss_before_mb"] = before
                results["sink"] = upload(hello, "/sink", preset, {})
                results["sink"]["server_peak_rss_mb"] = peak_rss_mb(hello_process.pid)
        # New queries with the response cache off: from the in-memory index, and
        # from the database alone (the index off), each in a server of its own.
        for key, extra in (
            ("search_cold", {"REGISTRY_RESPONSE_CACHE": "0"}),
            ("search_cold_sql", {"REGISTRY_RESPONSE_CACHE": "0", "REGISTRY_SEARCH_INDEX": "0"}),
        ):
            app = ["web.app:create_app", "--factory"]
            with server(app, {**env, **extra}, ours_port) as process:
                wait_for_index(ours)
                results[key] = throughput(
                    ours, "/api/v1/presets", fresh, args.seconds, args.connections
                )
                results[key]["server_rss_mb"] = rss_mb(process.pid)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def load_bench_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def report(results: dict[str, Any]) -> None:
    hello = results["hello"]["requests_per_s"]
    lines = [
        f"{results['presets']:,} presets; load: {results['connections']} connections "
        f"({results['hello'].get('tool')}) on the same 2 cores as the servers",
        "",
        "| measure | this registry | hello-world | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("search_latency", "API search"), ("page_latency", "catalog page")):
        figures = results[key]
        lines.append(
            f"| {label}, one connection: p50 / p99 | {figures['p50_ms']:.1f} / "
            f"{figures['p99_ms']:.1f} ms | | | p99 < {TARGETS['search_p99_ms']:.0f} ms |"
        )
    for key, label in (
        ("search", "API search (repeated queries)"),
        ("page", "catalog page (repeated queries)"),
        ("search_cold", "API search (new queries, cache off)"),
        ("search_cold_sql", "API search (new queries, cache and index off)"),
    ):
        figures = results[key]
        lines.append(
            f"| {label} under load: requests/s (p99) | {figures['requests_per_s']:.0f} "
            f"({figures['p99_ms']:.0f} ms) | {hello:.0f} ({results['hello']['p99_ms']:.0f} ms) | "
            f"{figures['requests_per_s'] / hello:.2f}x | >= {TARGETS['throughput_ratio']}x |"
        )
    lines.append(f"| server RSS after the repeated queries | {results['rss_mb']:.0f} MB | | | |")
    lines.append(
        f"| server RSS after new queries: index, database only | "
        f"{results['search_cold']['server_rss_mb']:.0f} MB, "
        f"{results['search_cold_sql']['server_rss_mb']:.0f} MB | | | |"
    )
    if "upload" in results:
        up, sink = results["upload"], results["sink"]
        lines.append(
            f"| upload of {up['bytes'] / 1e9:.2f} GB: MB/s | {up['mb_per_s']:.0f} | "
            f"{sink['mb_per_s']:.0f} (read and dropped) | {up['mb_per_s'] / sink['mb_per_s']:.2f}x "
            "| |"
        )
        lines.append(
            f"| server peak RSS during the upload | {up['server_peak_rss_mb']:.0f} MB | "
            f"{sink['server_peak_rss_mb']:.0f} MB | | < {TARGETS['upload_rss_mb']:.0f} MB |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
