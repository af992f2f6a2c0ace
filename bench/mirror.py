"""A pull-through mirror of the Hub, cold and warm, against the same download
without it, in one run.

    python bench/mirror.py [--runs 3] [--links loopback,2500,1000] [--cache DIR] [--json PATH]

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

Both phases run once for each of `--links`: `loopback` as it is (every process
sharing the same 2 cores, so CPU decides), then over links of so many Mbit/s,
as a mirror meets them: the upstream's replies capped (cold: the Hub across a
WAN, the clients beside the mirror on loopback), then the mirror's (warm: a
team's LAN, curl behind the same cap). The cap is an HTB class of `tc` on
`lo` for the server's port, removed afterwards; it needs root, and without it
those rows are left out with the reason. Every row also gives the CPU seconds
of the client (user + system) and of the servers, the medians: what the cores
were busy with; and where the client is hf_xet, its own log's account of its
download (`xet_timeline`): how long until it had every byte (the server's
part), and how long it then took to finish writing the file (its own).
Prints Markdown tables; `--json PATH` also writes the figures.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
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


class LinkUnavailableError(RuntimeError):
    """No link can be emulated here (no `tc`, not root, or `lo` has a qdisc of its own)."""


def _tc(*args: str) -> str:
    done = subprocess.run(["tc", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LinkUnavailableError(f"tc {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def link(port: int, mbit: int | None) -> Iterator[None]:
    """What the server on `port` sends over loopback capped at `mbit` Mbit/s,
    as a network link of that speed carries it (None: loopback as it is).

    An HTB qdisc on `lo` whose one class takes the packets from that port;
    everything else on `lo` passes it unclassified, at full speed. Removed on
    the way out, whatever happened.

    Raises:
        LinkUnavailableError: no `tc`, no right to use it, or `lo` already has a
            root qdisc of someone else's (left alone).
    """
    if mbit is None:
        yield
        return
    if shutil.which("tc") is None:
        raise LinkUnavailableError("no tc here (Debian's iproute2)")
    shown = _tc("qdisc", "show", "dev", "lo").split()
    if shown[:4] != ["qdisc", "noqueue", "0:", "root"]:
        raise LinkUnavailableError(f"lo has a qdisc of its own ({' '.join(shown)}); left alone")
    _tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb")
    try:
        rate = f"{mbit}mbit"
        _tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:1", "htb",
            "rate", rate, "ceil", rate, "quantum", "200000")  # fmt: skip
        _tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
            "u32", "match", "ip", "sport", str(port), "0xffff", "flowid", "1:1")  # fmt: skip
        yield
    finally:
        _tc("qdisc", "del", "dev", "lo", "root")


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """A fresh process, timed from spawn to exit: (wall, its user + system CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def _xet_logs(env: dict[str, str]) -> set[Path]:
    home = env.get("HF_HOME")
    return set((Path(home) / "xet" / "logs").glob("*.log")) if home else set()


def xet_timeline(log: Path) -> tuple[float, float] | None:
    """What an hf_xet log says of its download: seconds from its first
    reconstruction request to the last response it received (every byte in:
    the server's part), and from then until it had written its files (the
    client's own). None where the log does not tell (another hf_xet's format)."""
    first = last = written = None
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            message, stamp = entry["fields"].get("message", ""), entry["timestamp"]
        except (ValueError, KeyError, AttributeError):
            continue
        if "Starting get_reconstruction" in message and first is None:
            first = stamp
        elif "Received CAS response" in message:
            last = stamp
        elif "File reconstruction completed" in message:
            written = stamp
    if first is None or last is None or written is None:
        return None
    seconds = [datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
               for s in (first, last, written)]  # fmt: skip
    return seconds[1] - seconds[0], seconds[2] - seconds[1]


class _Timed:
    """One case's runs: wall, client CPU and server CPU of each, and where
    the client is hf_xet, its own timeline (`xet_timeline`)."""

    def __init__(self) -> None:
        self.walls: list[float] = []
        self.client_cpu: list[float] = []
        self.server_cpu: list[float] = []
        self.xet: list[tuple[float, float]] = []

    def run(self, command: list[str], env: dict[str, str], servers: list[int]) -> None:
        before = sum(serving.process_cpu_s(pid) for pid in servers)
        logs = _xet_logs(env)
        wall, cpu = _run(command, env)
        self.walls.append(wall)
        self.client_cpu.append(cpu)
        self.server_cpu.append(sum(serving.process_cpu_s(pid) for pid in servers) - before)
        new = sorted(_xet_logs(env) - logs, key=lambda log: log.stat().st_mtime)
        timeline = xet_timeline(new[-1]) if new else None
        if timeline is not None:
            self.xet.append(timeline)

    def figures(self, size: int) -> dict[str, float]:
        median = statistics.median(self.walls)
        figures = {"wall_s": median, "wall_s_max": max(self.walls),
                   "mb_per_s": size / 1e6 / median, "mb_per_s_worst": size / 1e6 / max(self.walls),
                   "client_cpu_s": statistics.median(self.client_cpu),
                   "server_cpu_s": statistics.median(self.server_cpu)}  # fmt: skip
        if self.xet:
            figures["xet_bytes_in_s"] = statistics.median(t[0] for t in self.xet)
            figures["xet_then_written_s"] = statistics.median(t[1] for t in self.xet)
        return figures


@contextmanager
def _server(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = serving.load_bench_port()
    with serving.server(["web.app:create_app", "--factory"], env, port) as process:
        yield f"http://127.0.0.1:{port}", process


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


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


@dataclass(frozen=True)
class Setting:
    """What both phases share: the preset's size, the runs, where clients write,
    the servers' and the clients' environments, and the link (None: loopback)."""

    size: int
    runs: int
    scratch: Path
    env: dict[str, str]
    client: dict[str, str]
    mbit: int | None


def cold(upstream: tuple[str, int], setting: Setting) -> dict[str, Any]:
    """A fresh mirror for each run, against the upstream itself, A B A B; the
    upstream's replies over the link (to the mirror, or to the client)."""
    url, upstream_pid = upstream
    timed = {"mirror, cold": _Timed(), "upstream": _Timed()}
    rss: list[float] = []
    with link(_port(url), setting.mbit):
        for run in range(setting.runs):
            home = setting.scratch / f"mirror-home-{run}"
            mirror_env = {**setting.env, "REGISTRY_HOME": str(home), "REGISTRY_HF_UPSTREAM": url}
            with _server(mirror_env) as (mirror, process):
                target = setting.scratch / f"cold-{run}"
                timed["mirror, cold"].run([sys.executable, "-c", _HUB, mirror, NAME, str(target)],
                                          setting.client, [upstream_pid, process.pid])  # fmt: skip
                shutil.rmtree(target)
                _recorded(mirror)
                rss.append(serving.peak_rss_mb(process.pid))
            shutil.rmtree(home)
            target = setting.scratch / f"direct-{run}"
            timed["upstream"].run([sys.executable, "-c", _HUB, url, NAME, str(target)],
                                  setting.client, [upstream_pid])  # fmt: skip
            shutil.rmtree(target)
    results = {label: case.figures(setting.size) for label, case in timed.items()}
    results["mirror, cold"]["server_peak_rss_mb"] = max(rss)
    return results


def warm(upstream: str, setting: Setting) -> dict[str, Any]:
    """A mirror that holds the preset, against curl of the same files from it,
    A B A B; the mirror's replies over the link."""
    home = setting.scratch / "mirror-home-warm"
    mirror_env = {**setting.env, "REGISTRY_HOME": str(home), "REGISTRY_HF_UPSTREAM": upstream}
    with _server(mirror_env) as (mirror, process):
        filled = setting.scratch / "fill"
        subprocess.run([sys.executable, "-c", _HUB, mirror, NAME, str(filled)], cwd=REPO,
                       env=setting.client, check=True, capture_output=True)  # fmt: skip
        shutil.rmtree(filled)
        _recorded(mirror)
        info = httpx.get(f"{mirror}/api/models/{NAME}").json()
        urls = [f"{mirror}/{NAME}/resolve/{info['sha']}/{s['rfilename']}" for s in info["siblings"]]
        hub = [sys.executable, "-c", _HUB, mirror, NAME]
        commands: dict[str, tuple[Callable[[Path], list[str]], dict[str, str]]] = {
            "mirror, warm": (lambda target: [*hub, str(target)], setting.client),
            "mirror, warm, HF_HUB_DISABLE_XET=1": (
                lambda target: [*hub, str(target)], {**setting.client, "HF_HUB_DISABLE_XET": "1"}
            ),
            "curl": (lambda target: ["curl", "-sSf", "--create-dirs", *[
                part for i, url in enumerate(urls) for part in (url, "-o", str(target / f"f{i}"))
            ]], setting.client),
        }  # fmt: skip
        timed = {label: _Timed() for label in commands}
        with link(_port(mirror), setting.mbit):
            for command, env_of in commands.values():  # warm-up: page cache, first writes
                _run(command(setting.scratch / "warm-up"), env_of)
                shutil.rmtree(setting.scratch / "warm-up", ignore_errors=True)
            for run in range(setting.runs):
                for label, (command, env_of) in commands.items():
                    target = setting.scratch / f"run-{run}"
                    timed[label].run(command(target), env_of, [process.pid])
                    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(home)
    return {label: case.figures(setting.size) for label, case in timed.items()}


def copy_rates(total: int = 1 << 30) -> dict[str, float]:
    """GB/s at which this machine copies 256 MiB of memory into a 16 KiB buffer
    (it stays in the CPU's caches, as curl's does) and into a 256 MiB one (it
    does not): what a client pays for each pass over large buffers."""
    rates = {}
    for label, block in (("16 KiB", 16 << 10), ("256 MiB", 256 << 20)):
        source, target = memoryview(bytearray(os.urandom(1 << 20)) * 256), bytearray(block)
        started, copied = time.perf_counter(), 0
        while copied < total:
            for offset in range(0, len(source) - block + 1, block):
                target[:] = source[offset : offset + block]
                copied += block
        rates[label] = copied / 1e9 / (time.perf_counter() - started)
    return rates


def _links(value: str) -> list[int | None]:
    """`loopback,2500,1000` -> [None, 2500, 1000]."""
    return [None if part == "loopback" else int(part) for part in value.split(",") if part]


def link_name(mbit: int | None) -> str:
    return "loopback" if mbit is None else f"{mbit / 1000:g} Gbit/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--links", type=_links, default=_links("loopback,2500,1000"),
                        help="loopback and/or link speeds in Mbit/s, comma-separated")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    preset = load_bench.ensure_preset(args.cache)
    home, secret = sync_bench.prepare_server_home(args.cache)
    servers = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    servers["TF_CPP_MIN_LOG_LEVEL"] = "3"
    scratch = Path(tempfile.mkdtemp(prefix="registry-mirror-bench-", dir=args.cache))
    client = {**servers, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(scratch / "hf_home")}
    results: dict[str, Any] = {"runs": args.runs, "links": {}, "left_out": {},
                               "copy_gb_per_s": copy_rates()}  # fmt: skip
    try:
        with _server({**servers, "REGISTRY_HOME": str(home)}) as (upstream, process):
            results["bytes"] = size = _upstream_holds_the_preset(upstream, preset, secret)
            for mbit in args.links:
                name = link_name(mbit)
                setting = Setting(size, args.runs, scratch, servers, client, mbit)
                try:
                    results["links"][name] = {
                        "mbit": mbit,
                        "cold": cold((upstream, process.pid), setting),
                        "warm": warm(upstream, setting),
                    }
                except LinkUnavailableError as error:
                    print(f"{name}: left out, {error}", file=sys.stderr)
                    results["left_out"][name] = str(error)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


CASES = (
    ("cold", "upstream", ["mirror, cold"]),
    ("warm", "curl", ["mirror, warm", "mirror, warm, HF_HUB_DISABLE_XET=1"]),
)


def report(results: dict[str, Any]) -> None:
    size, runs = results["bytes"], results["runs"]
    print(f"{size / 1e9:.2f} GB; median (worst) of {runs} fresh processes, the cases taking "
          "turns; CPU: user + system seconds, medians")  # fmt: skip
    for name, link_results in results["links"].items():
        where = ("loopback as it is: every process on the same 2 cores" if name == "loopback" else
                 f"cold: the upstream's replies over a {name} link; "
                 f"warm: the mirror's over a {name} link")  # fmt: skip
        print()
        print(f"{where}")
        print()
        print("| case | wall (s) | MB/s | vs reference (median) | vs reference (worst) "
              "| client CPU (s) | servers' CPU (s) | hf_xet: all bytes in + writing (s) "
              "| target |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for phase, theirs, ours in CASES:
            rows = link_results[phase]
            for label in (theirs, *ours):
                row = rows[label]
                ratio = row["mb_per_s"] / rows[theirs]["mb_per_s"]
                worst = row["mb_per_s_worst"] / rows[theirs]["mb_per_s_worst"]
                target = "reference" if label == theirs else ">= 0.8x"
                xet = (f"{row['xet_bytes_in_s']:.2f} + {row['xet_then_written_s']:.2f}"
                       if "xet_bytes_in_s" in row else "-")  # fmt: skip
                print(
                    f"| {label} | {row['wall_s']:.2f} ({row['wall_s_max']:.2f}) | "
                    f"{row['mb_per_s']:.0f} | {ratio:.2f}x | {worst:.2f}x | "
                    f"{row['client_cpu_s']:.2f} | {row['server_cpu_s']:.2f} | {xet} | {target} |"
                )
    for name, reason in results["left_out"].items():
        print(f"\n{name}: left out ({reason})")
    rates = ", ".join(f"{rate:.1f} GB/s in {block} blocks"
                      for block, rate in results["copy_gb_per_s"].items())  # fmt: skip
    print(f"\nthis machine copies 256 MiB of memory at {rates}")
    if results["links"]:
        rss = max(link["cold"]["mirror, cold"]["server_peak_rss_mb"]
                  for link in results["links"].values())  # fmt: skip
        print(f"\nmirror server peak RSS over a cold download (worst): {rss:.0f} MB")


if __name__ == "__main__":
    main()
