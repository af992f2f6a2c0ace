"""A fault campaign: writers killed mid-write, corrupted blobs, a crowd of loaders,
a loaded API; prints the reliability table and exits 1 if a target is missed.

    python bench/faults.py [--json PATH] [--quick] [--cache DIR] [--seed 0]

Every scenario runs in a fresh temporary directory (its own `REGISTRY_HOME`s,
its own uvicorn server where it needs one), removed afterwards with every
process it started, whatever happens. The preset is GPT-2's shape with two
layers and random weights (214 MB, generated once into `--cache`); "variants"
of it differ in one weight, so each upload or sync writes a new 214 MB blob.
1. Uploads killed: `registry upload DIR alice/faults` (embedded catalog) killed
   with SIGKILL after a random delay within the time an uncut upload takes
   (the median of three, measured first); then the store is checked
   (`faults_workers.py check`): no staging left once the registry is opened
   again, every stored tree and every catalog revision of the preset rehashed
   and whole; then the same upload runs to the end and
   `registry verify alice/faults --full` passes.
2. Syncs killed: the same for `registry sync alice/faults` from a server
   (`REGISTRY_URL`) into a client's store, the server holding a new variant each time.
3. Byte flips: in one process, flips of a random byte of a random blob of a
   synced preset, each seen by `Registry().verify()` (fast), `verify(full=True)`
   and `Registry().load()`, repaired in between; then flips that keep the
   file's times (bit rot: only a rehash sees them).
4. N processes load one preset no one has synced yet, into one shared store,
   released together; the server's access log counts each file's downloads.
5. 64 connections for 30 s on the JSON API (searches, preset and revision
   reads) with wrk (else httpx); errors are non-2xx answers and socket errors.
`--quick`: 3 kills each, 10 flips, 4 processes, 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Siblings in bench/ (a script's own folder is first on sys.path); the project
# itself is imported as installed.
import httpx
import serving as web_bench
from random_presets import ensure_random_preset

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKERS = HERE / "faults_workers.py"

NAME = "alice/faults"
PRESET_DIR = "gpt2_two_layers_random"
PRESET_CONFIG = {
    "vocabulary_size": 50257,
    "num_layers": 2,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "max_sequence_length": 1024,
}
WEIGHTS = "model.weights.h5"
FULL = {"kills": 20, "flips": 100, "processes": 16, "seconds": 30.0, "connections": 64}
QUICK = {"kills": 3, "flips": 10, "processes": 4, "seconds": 5.0, "connections": 64}
# One file of a revision served by the JSON API, in a uvicorn access-log line.
FILE_GET = re.compile(r'"GET /api/v1/presets/[^ ]+/revisions/[^ /]+/files/([^ ?]+)[^"]*" (\d{3})')


# === Processes ===


class CampaignError(RuntimeError):
    """A step of a scenario that had to succeed did not (the scenario cannot go on)."""


def spawn(command: list[str], env: dict[str, str], **streams: Any) -> subprocess.Popen[bytes]:
    """A process in a session (so a process group) of its own, to kill whole."""
    streams.setdefault("stdout", subprocess.DEVNULL)
    streams.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True, **streams)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the process's group, then SIGKILL it if it outlives 30 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def environment(
    home: Path, *, url: str = "", token: str = "", offline: bool = False
) -> dict[str, str]:
    """The environment of a registry at `home` (a server's client when `url`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {"REGISTRY_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env |= {"REGISTRY_URL": url} if url else {}
    env |= {"REGISTRY_TOKEN": token} if token else {}
    env |= {"REGISTRY_OFFLINE": "1"} if offline else {}
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "registry.cli", *args]


def run(command: list[str], env: dict[str, str], timeout: float = 900) -> str:
    """Run to the end; its stdout, or a CampaignError with its stderr if it failed."""
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise CampaignError(
            f"failed (exit {result.returncode}): {command[2:]}\n{result.stderr[-2000:]}"
        )
    return result.stdout


def worker(*args: str, env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
    """A verb of faults_workers.py; its JSON answer."""
    answer: dict[str, Any] = json.loads(run([sys.executable, str(WORKERS), *args], env, timeout))
    return answer


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A temporary directory, removed with everything in it (blobs are read-only)."""
    root = Path(tempfile.mkdtemp(prefix="registry-faults-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# === A server holding the preset ===


@dataclass(frozen=True)
class Server:
    url: str
    root: Path  # the scratch directory: uploads go through a client home in it
    token: str  # write scope, owner alice
    log: Path  # uvicorn's output, access log included


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{url}/health", timeout=5).raise_for_status()
            return
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server at {url} did not start") from None
            time.sleep(0.2)


@contextlib.contextmanager
def server(root: Path) -> Iterator[Server]:
    """uvicorn on a fresh home under `root`, with a write token made before it starts."""
    home = root / "server"
    token = json.loads(
        run(
            cli("token", "create", "--scope", "write", "--owner", "alice", "--json"),
            environment(home),
        )
    )["token"]
    port = web_bench.load_bench_port()
    log = root / "server.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "web.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "info",
        "--access-log",
    ]
    with open(log, "wb") as output:
        process = spawn(command, environment(home), stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        yield Server(url, root, token, log)
    finally:
        stop(process)


def publish(server: Server, preset: Path) -> None:
    """Upload `preset` as a new revision of NAME, as alice."""
    uploader = environment(server.root / "uploader", url=server.url, token=server.token)
    run(cli("upload", str(preset), NAME), uploader)


# === Presets ===


def ensure_preset(cache: Path) -> Path:
    return ensure_random_preset(cache / PRESET_DIR, "GPT2Backbone", PRESET_CONFIG)


class Variants:
    """Copies of a preset that differ in one weight (the first of the token
    embedding), so that every upload or sync writes a new weights blob."""

    def __init__(self, preset: Path, directory: Path) -> None:
        import h5py

        self.preset = preset
        self.directory = directory
        with h5py.File(preset / WEIGHTS, "r") as weights:
            embedding = weights["layers/reversible_embedding/vars/0"]
            self.offset = int(embedding.id.get_offset())  # contiguous float32s

    def make(self, index: int) -> Path:
        """Variant `index`, replacing the previous one (manifest.json left out:
        it states the original's digests)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        target = self.directory / "preset"
        target.mkdir(parents=True)
        for name in ("config.json", "metadata.json", WEIGHTS):
            shutil.copyfile(self.preset / name, target / name)
        with open(target / WEIGHTS, "r+b") as weights:
            weights.seek(self.offset)
            weights.write(int(0x3A000000 + index).to_bytes(4, "little"))  # a small float32
        return target


# === 1, 2: writers killed with SIGKILL ===


@dataclass(frozen=True)
class Uncut:
    """An uncut run: its wall time, and when its staging files existed."""

    wall_s: float
    writing_from_s: float
    writing_to_s: float


@dataclass(frozen=True)
class Kill:
    """One killed run: when, what it was doing, and what was wrong afterwards."""

    delay_s: float
    phase: str  # "before writing", "mid-write", "after its blob landed", "finished first"
    problems: tuple[str, ...]


def watch_uncut(command: list[str], env: dict[str, str], tmp: Path) -> Uncut:
    """Time `command` to its end, polling `tmp` to see when it writes."""
    started = time.perf_counter()
    process = spawn(command, env)
    seen: list[float] = []
    try:
        while process.poll() is None:
            if any(tmp.iterdir()):
                seen.append(time.perf_counter() - started)
            time.sleep(0.002)
    finally:
        stop(process)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise CampaignError(f"the uncut run failed (exit {process.returncode}): {command[2:]}")
    return Uncut(wall, seen[0] if seen else float("nan"), seen[-1] if seen else float("nan"))


def _blobs(store: Path) -> int:
    return sum(1 for _ in (store / "blobs" / "sha256").glob("*/*"))


def kill_after(command: list[str], env: dict[str, str], delay: float, store: Path) -> str:
    """Start `command` (which stores one new blob), SIGKILL its process group
    after `delay`; what it was doing, by what it left in `store`."""
    blobs = _blobs(store)
    process = spawn(command, env)
    try:
        process.wait(timeout=delay)
        return "finished first" if process.returncode == 0 else f"failed ({process.returncode})"
    except subprocess.TimeoutExpired:
        stop(process, signal.SIGKILL)
        if any((store / "tmp").iterdir()):
            return "mid-write"  # staging files left behind
        return "after its blob landed" if _blobs(store) > blobs else "before writing"
    finally:
        stop(process)


def consistency(check_env: dict[str, str]) -> list[str]:
    """What `faults_workers.py check` finds wrong in the store after a kill."""
    found = worker("check", NAME, env=check_env)
    problems = list(found["problems"])
    problems += [f"left in store/tmp after a restart: {name}" for name in found["tmp_left"]]
    problems += [f"temporary file left: {path}" for path in found["stray_temporary"]]
    return problems


def recovers(command: list[str], env: dict[str, str]) -> list[str]:
    """The killed command, run again to its end, and the preset fully verified."""
    for attempt in (command, cli("verify", NAME, "--full")):
        result = subprocess.run(
            attempt, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        if result.returncode != 0:
            return [f"{' '.join(attempt[3:])} exited {result.returncode}: {result.stderr[-500:]}"]
    return []


def kill_campaign(
    victim: Callable[[int], list[str]],
    env: dict[str, str],
    check_env: dict[str, str],
    *,
    count: int,
    seed: int,
) -> dict[str, Any]:
    """`victim(i)` (a command writing variant i) killed `count` times at random
    points of an uncut run's duration (the median of three); after each, the
    checks and a full run."""
    store = Path(env["REGISTRY_HOME"]) / "store"
    run(victim(0), env)  # the store holds a revision before the first kill
    # The median of three uncut runs: one alone can be the slowest by half.
    uncut = sorted(
        (watch_uncut(victim(index), env, store / "tmp") for index in (1, 2, 3)),
        key=lambda watched: watched.wall_s,
    )[1]
    print(f"  uncut: {uncut}", file=sys.stderr)
    rng = random.Random(seed)
    kills = []
    for index in range(4, count + 4):
        command = victim(index)
        delay = rng.uniform(0, uncut.wall_s)
        phase = kill_after(command, env, delay, store)
        problems = consistency(check_env) + recovers(command, env)
        kills.append(Kill(delay, phase, tuple(problems)))
        print(
            f"  kill {index - 3}/{count} at {delay:.2f} s ({phase}): {problems or 'consistent'}",
            file=sys.stderr,
        )
    return {"uncut": asdict(uncut), "kills": [asdict(kill) for kill in kills]}


def upload_kills(preset: Path, root: Path, count: int, seed: int) -> dict[str, Any]:
    """Scenario 1: `registry upload` into the embedded catalog, killed."""
    env = environment(root / "home")
    variants = Variants(preset, root / "variants")
    victim = lambda index: cli("upload", str(variants.make(index)), NAME)  # noqa: E731
    return kill_campaign(victim, env, env, count=count, seed=seed)


def sync_kills(preset: Path, root: Path, count: int, seed: int) -> dict[str, Any]:
    """Scenario 2: `registry sync` from a server, killed; the server gets a new
    variant before each run, so that each sync has a new blob to write."""
    variants = Variants(preset, root / "variants")
    with server(root) as serving:
        env = environment(root / "client", url=serving.url)
        check_env = environment(root / "client", url=serving.url, offline=True)

        def victim(index: int) -> list[str]:
            publish(serving, variants.make(index))
            return cli("sync", NAME)

        return kill_campaign(victim, env, check_env, count=count, seed=seed)


# === 3: byte flips ===


def byte_flips(preset: Path, root: Path, count: int, seed: int) -> dict[str, Any]:
    """Scenario 3: flips in a synced preset's blobs, in one long-lived process."""
    with server(root) as serving:
        publish(serving, preset)
        env = environment(root / "client", url=serving.url)
        return worker(
            "flips", NAME, "--count", str(count), "--seed", str(seed), env=env, timeout=7200
        )


# === 4: loaders at once ===


def _release(barrier: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every loader is ready (imports done), then let them all go."""
    deadline = time.monotonic() + 600
    while len(list(barrier.glob("ready-*"))) < len(processes):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise CampaignError("a loader died before the start line")
        time.sleep(0.05)
    (barrier / "go").touch()


def downloads_per_file(log: Path) -> dict[str, int]:
    """GETs of each file of a revision in the server's access log."""
    counts = Counter(m.group(1) for m in FILE_GET.finditer(log.read_text(errors="replace")))
    return dict(sorted(counts.items()))


def concurrent_loads(preset: Path, root: Path, processes: int) -> dict[str, Any]:
    """Scenario 4: `processes` loads of one uncached preset into one shared store."""
    barrier = root / "barrier"
    barrier.mkdir()
    with server(root) as serving:
        publish(serving, preset)
        env = environment(root / "client", url=serving.url)
        before = downloads_per_file(serving.log)
        command = [sys.executable, str(WORKERS), "load", NAME, "--barrier", str(barrier)]
        outputs = [root / f"loader-{index}.out" for index in range(processes)]
        loaders = []
        try:
            for index, output in enumerate(outputs):
                with open(output, "wb") as out:
                    loaders.append(spawn([*command, "--index", str(index)], env, stdout=out))
            _release(barrier, loaders)
            codes = [loader.wait(timeout=900) for loader in loaders]
        finally:
            for loader in loaders:
                stop(loader, signal.SIGKILL)
        after = downloads_per_file(serving.log)
    loads = [json.loads(out.read_text() or "null") for out in outputs]
    return {
        "processes": processes,
        "succeeded": sum(code == 0 for code in codes),
        "load_s": [load["load_s"] for load in loads if load],
        "downloads": {path: after[path] - before.get(path, 0) for path in after},
    }


# === 5: the JSON API under load ===


def api_paths() -> list[str]:
    searches = [
        f"/api/v1/presets?q={q}&sort={s}"
        for q in ("gpt2", "bert", "llama", "gemma", "faults", "base")
        for s in ("relevance", "name", "downloads")
    ]
    reads = [
        f"/api/v1/presets/{NAME}",
        f"/api/v1/presets/{NAME}/revisions/latest",
        "/api/v1/presets/keras/gpt2_tiny_demo",
        "/api/v1/presets/keras/gpt2_base_en",
    ]
    return searches + reads


async def _httpx_load(url: str, seconds: float, connections: int) -> list[dict[str, float]]:
    """Without wrk: bench/serving.py's loop, half the connections on searches,
    half on preset reads."""
    searches = [{"q": q} for q in ("gpt2", "bert", "llama", "gemma", "faults")]
    return list(
        await asyncio.gather(
            web_bench._load(url, "/api/v1/presets", searches, seconds, connections // 2),
            web_bench._load(
                url, f"/api/v1/presets/{NAME}", [], seconds, connections - connections // 2
            ),
        )
    )


def api_load(preset: Path, root: Path, seconds: float, connections: int) -> dict[str, Any]:
    """Scenario 5: `connections` connections for `seconds` on the JSON API."""
    with server(root) as serving:
        publish(serving, preset)
        if shutil.which("wrk"):
            figures = web_bench._wrk(serving.url, api_paths(), seconds, connections)
        else:
            halves = asyncio.run(_httpx_load(serving.url, seconds, connections))
            figures = {
                "errors": sum(h["errors"] for h in halves),
                "tool": "httpx",
                "requests_per_s": sum(h["requests_per_s"] for h in halves),
            }
    requests = round(figures["requests_per_s"] * seconds)
    return {**figures, "requests": requests, "seconds": seconds, "connections": connections}


# === The table ===


@dataclass(frozen=True)
class Row:
    fault: str
    figure: str
    target: str
    met: bool | None  # None: no target (reported only)
    notes: str = ""


def kill_row(what: str, result: dict[str, Any]) -> Row:
    kills = result["kills"]
    consistent = sum(not kill["problems"] for kill in kills)
    phases = Counter(kill["phase"] for kill in kills)
    uncut = result["uncut"]
    notes = (
        ", ".join(f"{n} {phase}" for phase, n in phases.most_common())
        + f"; uncut run (median of 3) {uncut['wall_s']:.2f} s, staging files from "
        f"{uncut['writing_from_s']:.2f} s to {uncut['writing_to_s']:.2f} s"
    )
    found = [problem for kill in kills for problem in kill["problems"]]
    notes += f"; {len(found)} problem(s), the first: {found[0]}" if found else ""
    return Row(
        f"{what} killed with SIGKILL at {len(kills)} random points: consistent stores",
        f"{consistent}/{len(kills)}",
        f"{len(kills)}/{len(kills)}",
        consistent == len(kills),
        notes,
    )


def flip_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    for key, what, has_target in (
        ("flips", "byte flips in stored blobs", True),
        ("bit_rot", "byte flips keeping mtime (bit rot)", False),
    ):
        figures = result[key]
        count, caught = figures["flips"], figures["caught"]
        figure = (
            f"fast {caught['fast']}/{count}, full {caught['full']}/{count}, "
            f"load refused {caught['load']}/{count}"
        )
        met = all(caught[c] == count for c in caught) if has_target else None
        target = f"{count}/{count} each" if has_target else "none (fast trusts the stat)"
        rows.append(Row(f"{count} {what}: caught by", figure, target, met, _flip_notes(figures)))
    return rows


def _flip_notes(figures: dict[str, Any]) -> str:
    """Which files the flips hit; how the loads that were not refused as a
    checksum mismatch ended."""
    hits = ", ".join(f"{path} {n}" for path, n in figures["files"].items())
    loads = Counter(m["outcome"] for m in figures["misses"] if m["check"] == "load")
    if not loads:
        return f"flips in {hits}"
    ended = ", ".join(
        f"{n} loaded the flipped bytes" if kind == "not caught" else f"{n} failed with {kind}"
        for kind, n in loads.most_common()
    )
    return f"flips in {hits}; loads not refused as a mismatch: {ended}"


def loads_row(result: dict[str, Any]) -> Row:
    downloads = result["downloads"]
    processes = result["processes"]
    once = bool(downloads) and all(n == 1 for n in downloads.values())
    figure = (
        ", ".join(f"{path} {n}" for path, n in downloads.items())
        + f"; {result['succeeded']}/{processes} loads"
    )
    slowest = max(result["load_s"], default=float("nan"))
    return Row(
        f"{processes} processes loading one uncached preset at once: downloads per blob",
        figure,
        f"1 per blob; {processes}/{processes} loads",
        once and result["succeeded"] == processes,
        f"slowest load {slowest:.1f} s",
    )


def api_row(result: dict[str, Any]) -> Row:
    return Row(
        f"{result['seconds']:.0f} s of {result['connections']} connections on the JSON API: errors",
        f"{result['errors']} of ~{result['requests']:,} requests",
        "0",
        result["errors"] == 0,
        f"{result['requests_per_s']:.0f} requests/s ({result['tool']})",
    )


def table(rows: list[Row]) -> str:
    lines = ["| fault | figure | target | met | notes |", "|---|---|---|---|---|"]
    for row in rows:
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        notes = " ".join(row.notes.replace("|", "\\|").split())
        lines.append(f"| {row.fault} | {row.figure} | {row.target} | {met} | {notes} |")
    return "\n".join(lines)


# === The campaign ===


@dataclass(frozen=True)
class Scenario:
    label: str
    measure: Callable[[Path], dict[str, Any]]  # given its scratch directory
    rows: Callable[[dict[str, Any]], list[Row]]


def scenarios(preset: Path, sizes: dict[str, Any], seed: int) -> list[Scenario]:
    kills, flips = sizes["kills"], sizes["flips"]
    return [
        Scenario(
            "uploads killed",
            lambda root: upload_kills(preset, root, kills, seed),
            lambda result: [kill_row("`registry upload` (embedded)", result)],
        ),
        Scenario(
            "syncs killed",
            lambda root: sync_kills(preset, root, kills, seed),
            lambda result: [kill_row("`registry sync` from a server", result)],
        ),
        Scenario("byte flips", lambda root: byte_flips(preset, root, flips, seed), flip_rows),
        Scenario(
            "loads at once",
            lambda root: concurrent_loads(preset, root, sizes["processes"]),
            lambda result: [loads_row(result)],
        ),
        Scenario(
            "API under load",
            lambda root: api_load(preset, root, sizes["seconds"], sizes["connections"]),
            lambda result: [api_row(result)],
        ),
    ]


def run_scenario(scenario: Scenario) -> tuple[dict[str, Any], list[Row]]:
    """A scenario in a scratch directory of its own; one that cannot run misses its target."""
    print(f"{scenario.label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        with scratch() as root:
            result = scenario.measure(root)
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as error:
        print(f"  {scenario.label} could not run: {error}", file=sys.stderr)
        return {"error": str(error)}, [Row(scenario.label, "could not run", "-", False, str(error))]
    result["wall_s"] = time.perf_counter() - started
    return result, scenario.rows(result)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks: servers stopped, scratch removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="3 kills, 10 flips, 4 processes, 5 s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "registry-bench")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {}
    rows: list[Row] = []
    for scenario in scenarios(ensure_preset(args.cache), sizes, args.seed):
        results[scenario.label], made = run_scenario(scenario)
        rows += made
    wall = time.perf_counter() - started
    print(table(rows))
    print(f"\n{'quick' if args.quick else 'full'} campaign, seed {args.seed}: {wall / 60:.1f} min")
    if args.json:
        body = {
            "sizes": sizes,
            "seed": args.seed,
            "wall_s": wall,
            "results": results,
            "rows": [asdict(row) for row in rows],
        }
        args.json.write_text(json.dumps(body, indent=2))
    if any(row.met is False for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
