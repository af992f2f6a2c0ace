"""Every benchmark, side by side with its reference, in one run: `python -m bench`.

    python -m bench [--only load,verify,...,xet_upload] [--out DIR] [--quick] [--charts]

Runs each benchmark script of this directory in its own process (each times its
cases in fresh processes and reports medians; load and verify also worst cases,
with every side a whole process, interleaved after a warm-up each), then writes
`DIR/results.md` (the targets table, then every benchmark's own table) and
`DIR/results.json`, then draws every benchmark's results in DIR (not only those
just run) as `DIR/<name>.svg`, linked from `DIR/charts.md` (bench/charts.py).
`--quick` uses fewer runs and a smaller catalog, for a smoke test; `--charts`
only draws the charts of the results already in DIR, running no benchmark.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_SCRIPTS = {"web": "serving"}  # bench/web.py would shadow the project's `web` package

BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    # name: (title, arguments, quick arguments)
    "load": ("Loading: keras-hub vs this registry", ["--runs", "3"], ["--runs", "1"]),
    "verify": ("Verifying stored presets", ["--runs", "5"], ["--runs", "1", "--presets", "10"]),
    "sync": ("Pulling a preset from the server", ["--runs", "3"], ["--runs", "1"]),
    "forward": ("Forward pass", ["--runs", "3"], ["--runs", "1", "--calls", "1"]),
    "catalog": ("Catalog search", [], ["--presets", "5000", "--queries", "50"]),
    "web": ("Web service under load", [], ["--presets", "5000", "--seconds", "3"]),
    "hub_upload": ("Publishing with huggingface_hub (LFS)", [], []),
    "xet_upload": ("Uploading through Xet", [], ["--size-mb", "200", "--no-folder"]),
    "mirror": ("Mirroring the Hub", ["--runs", "3"], ["--runs", "1"]),
    "s3": ("Blobs in an S3 bucket", ["--runs", "2"], ["--runs", "1", "--size-mb", "200"]),
    "generate": (
        "Generating text: tokens per second",
        ["--runs", "3", "--calls", "3"],
        ["--runs", "1", "--calls", "1", "--batch", "1", "--new", "16"],
    ),
    "tryit": (
        'The "Try it" box: time to first token through the page',
        ["--runs", "8"],
        ["--runs", "2", "--new", "8"],
    ),
}


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("nan")


# measure, figure, target, met; a row with no target has target "-" and met None.
Row = tuple[str, str, str, bool | None]


def _load_targets(body: dict[str, Any]) -> list[Row]:
    """Each architecture's rows: load time and peak RSS against keras-hub's."""
    rows = []
    for name, figures in body["architectures"].items():
        rows.extend(_load_rows(name, figures["load"]))
    return rows


def _load_rows(name: str, rows: dict[str, Any]) -> list[Row]:
    """Load time and peak RSS against keras-hub's, from the medians of each case.

    The target is the load that rehashes every file; the fast check (size,
    mtime, inode) does not read the content, so it is reported beside it.
    """
    reference = rows["keras-hub from_preset(dir)"]
    full = rows["registry load from store, full rehash"]
    fast = rows["registry load from store, fast check"]
    full_ratio = _ratio(full["load_s"], reference["load_s"])
    fast_ratio = _ratio(fast["load_s"], reference["load_s"])
    process_ratio = _ratio(full["wall_s"], reference["wall_s"])
    # `Registry().load(name)` checks with the fast check by default: the issue's
    # whole-process target is that call's, from spawn to exit.
    default_ratio = _ratio(fast["wall_s"], reference["wall_s"])
    rss_ratio = max(
        _ratio(row["rss_mb"], reference["rss_mb"])
        for label, row in rows.items()
        if label.startswith("registry")
    )
    return [
        (
            f"verified load (full rehash) time vs keras-hub, {name}",
            f"{full_ratio:.2f}x",
            "<= 0.6x",
            full_ratio <= 0.6,
        ),
        (
            f"verified load (fast check) time vs keras-hub, {name}",
            f"{fast_ratio:.2f}x",
            "<= 0.6x",
            fast_ratio <= 0.6,
        ),
        (
            f"verified load (fast check, the default) vs keras-hub, whole process, {name}",
            f"{default_ratio:.2f}x",
            "<= 0.6x",
            default_ratio <= 0.6,
        ),
        (
            f"verified load (full rehash) vs keras-hub, whole process, {name}",
            f"{process_ratio:.2f}x",
            "-",
            None,
        ),
        (
            f"peak RSS vs keras-hub (worst), {name}",
            f"{rss_ratio:.2f}x",
            "<= 0.8x",
            rss_ratio <= 0.8,
        ),
    ]


def _verify_targets(body: dict[str, Any]) -> list[Row]:
    """Whole processes on both sides: `registry verify --full` against `sha256sum`."""
    full = body["full"]
    throughput = _ratio(full["sha256sum"]["wall_s"], full["registry_cli"]["wall_s"])
    one_ms = body["fast_one"]["verify_s"] * 1000
    cli_ms = body["fast_one_cli"]["wall_s"] * 1000
    return [
        (
            "full verify vs sha256sum (whole processes)",
            f"{throughput:.2f}x",
            ">= 0.9x",
            throughput >= 0.9,
        ),
        ("fast-path verify, one preset", f"{one_ms:.1f} ms", "<= 50 ms", one_ms <= 50),
        (
            "fast-path `registry verify NAME`, one preset, whole process",
            f"{cli_ms:.0f} ms",
            "-",
            None,
        ),
    ]


def _sync_targets(body: dict[str, Any]) -> list[Row]:
    ours = body["registry client"]["mb_per_s"]
    curl = _ratio(ours, body["curl"]["mb_per_s"])
    hub = _ratio(ours, body["huggingface_hub"]["mb_per_s"])
    return [
        ("sync throughput vs curl", f"{curl:.2f}x", ">= 0.8x", curl >= 0.8),
        ("sync throughput vs huggingface_hub", f"{hub:.2f}x", ">= 1.0x", hub >= 1.0),
    ]


def _forward_targets(body: dict[str, Any]) -> list[Row]:
    """Each architecture's forward pass against keras-hub's, per backend and mode."""
    rows = []
    for name, figures in body["architectures"].items():
        for backend in ("tensorflow", "jax"):
            if backend not in figures:
                continue
            theirs, ours = figures[backend]["keras-hub"], figures[backend]["registry"]
            for mode in ("compiled", "eager"):
                ratio = _ratio(ours[mode]["wall_s"], theirs[mode]["wall_s"])
                label = f"forward ({backend}, {mode}) vs keras-hub, {name}"
                rows.append((label, f"{ratio:.2f}x", "<= 1.0x", ratio <= 1.0))
    return rows


def _catalog_targets(body: list[dict[str, Any]]) -> list[Row]:
    return [
        (
            f"catalog search p99, {row['backend']}, {row['mix']}",
            f"{row['p99_ms']:.1f} ms",
            "< 50 ms",
            row["p99_ms"] < 50,
        )
        for row in body
    ]


def _web_targets(body: dict[str, Any]) -> list[Row]:
    hello = body["hello"]["requests_per_s"]
    p99 = body["search_latency"]["p99_ms"]
    rows = [("web search p99 (one connection)", f"{p99:.1f} ms", "< 50 ms", p99 < 50)]
    for key, label in (
        ("search", "search, repeated queries"),
        ("page", "catalog page, repeated queries"),
        ("search_cold", "search, new queries, cache off"),
    ):
        ratio = _ratio(body[key]["requests_per_s"], hello)
        rows.append((f"web throughput vs hello-world ({label})", f"{ratio:.2f}x", ">= 0.5x",
                     ratio >= 0.5))  # fmt: skip
    cold_p99 = body["search_cold"]["p99_ms"]
    rows.append(("web search p99 under load (new queries, cache off)", f"{cold_p99:.0f} ms",
                 "< 50 ms", cold_p99 < 50))  # fmt: skip
    if "upload" in body:
        rss = body["upload"]["server_peak_rss_mb"]
        rows.append(("server peak RSS, 1.4 GB upload", f"{rss:.0f} MB", "< 256 MB", rss < 256))
    return rows


def _hub_upload_targets(body: dict[str, Any]) -> list[Row]:
    """Each client's throughput against `curl` of the weights, and the server's memory."""
    curl = next((row for label, row in body.items() if label.startswith("curl")), None)
    rows: list[Row] = []
    for label, row in body.items():
        if row is curl:
            continue
        if curl is not None:
            ratio = _ratio(row["mb_per_s"], curl["mb_per_s"])
            rows.append((f"{label} vs curl, MB/s", f"{ratio:.2f}x", "-", None))
    rss = max(row["server_peak_rss_mb"] for row in body.values())
    rows.append(("server peak RSS, 1.4 GB Hub upload (worst)", f"{rss:.0f} MB", "< 256 MB",
                 rss < 256))  # fmt: skip
    return rows


def _xet_upload_targets(body: dict[str, Any]) -> list[Row]:
    first, sink = body["first"], body["sink"]
    ratio = _ratio(first["mb_per_s"], sink["mb_per_s"])
    uploads = [body["first"], body["again"], *([body["folder"]] if "folder" in body else [])]
    rss = max(upload["server_peak_rss_mb"] for upload in uploads)
    again = body["again"]["xorb_bytes_sent"]
    return [
        ("Xet upload vs a sink's read, MB/s", f"{ratio:.2f}x", "-", None),
        ("Xet upload again: xorb bytes sent", f"{again}", "0", again == 0),
        ("server peak RSS, Xet upload (worst)", f"{rss:.0f} MB", "< 256 MB", rss < 256),
    ]


def mirror_links(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """bench/mirror.py's figures for each link it was run over (a run from before
    it measured links: its loopback's)."""
    links: dict[str, dict[str, Any]] = body.get("links") or {"loopback": body}
    return links


def _mirror_targets(body: dict[str, Any]) -> list[Row]:
    """Throughput through the mirror against the same download without it, on
    loopback and over each link."""
    rows: list[Row] = []
    for link, figures in mirror_links(body).items():
        for phase, ours, theirs, label in (
            ("cold", "mirror, cold", "upstream", "cold snapshot_download, mirror vs upstream"),
            ("warm", "mirror, warm", "curl", "warm snapshot_download, mirror vs curl"),
        ):
            cases = figures[phase]
            ratio = _ratio(cases[ours]["mb_per_s"], cases[theirs]["mb_per_s"])
            rows.append((f"{label}, {link}", f"{ratio:.2f}x", ">= 0.8x", ratio >= 0.8))
    return rows


def _s3_targets(body: dict[str, Any]) -> list[Row]:
    """obstore against boto3 (why the server uses it), the server on a bucket
    against the same server on a local directory, and its memory on the bucket."""
    clients, server = body["clients"], body["server"]
    rows: list[Row] = []
    for action in ("upload", "download"):
        ours, theirs = clients[f"obstore, {action}"], clients[f"boto3, {action}"]
        ratio = _ratio(ours["mb_per_s"], theirs["mb_per_s"])
        cpu = _ratio(ours["cpu_s"], theirs["cpu_s"])
        rows.append((f"S3 {action}, obstore vs boto3, MB/s", f"{ratio:.2f}x", "-", None))
        rows.append((f"S3 {action}, obstore vs boto3, client CPU", f"{cpu:.2f}x", "-", None))
    for phase, label, what in (
        ("upload", "S3 bucket", "`registry upload`"),
        ("download", "S3 bucket, redirect (default)", "snapshot_download, redirect"),
        ("download", "S3 bucket, proxy (REGISTRY_BLOB_REDIRECT=0)", "snapshot_download, proxy"),
    ):
        ratio = _ratio(server[phase][label]["mb_per_s"],
                       server[phase]["local directory"]["mb_per_s"])  # fmt: skip
        rows.append((f"server on S3 vs local directory, {what}, MB/s", f"{ratio:.2f}x", "-",
                     None))  # fmt: skip
    xet = server["upload"].get("S3 bucket, upload_folder (Xet)")  # runs since it was measured
    if xet is not None:
        local = server["upload"]["local directory, upload_folder (Xet)"]
        ratio = _ratio(xet["mb_per_s"], local["mb_per_s"])
        rows.append(("server on S3 vs local directory, upload_folder (Xet), MB/s",
                     f"{ratio:.2f}x", "-", None))  # fmt: skip
    uploads = ["S3 bucket", *(["S3 bucket, upload_folder (Xet)"] if xet is not None else [])]
    rss = max(server["upload"][label]["server_peak_rss_mb_max"] for label in uploads)
    rows.append(("server peak RSS, 1.4 GB upload to S3 (worst)", f"{rss:.0f} MB", "< 256 MB",
                 rss < 256))  # fmt: skip
    return rows


def _generate_targets(body: dict[str, Any]) -> list[Row]:
    """Greedy tokens per second against keras-hub's, per backend and batch size."""
    rows: list[Row] = []
    for backend, batches in body["backends"].items():
        for batch, figures in batches.items():
            rates = figures["rates"]
            ratio = _ratio(rates["registry"]["tokens_per_s"], rates["keras-hub"]["tokens_per_s"])
            rows.append((f"generate tokens/s vs keras-hub ({backend}, batch {batch})",
                         f"{ratio:.2f}x", ">= 1.0x", ratio >= 1.0))  # fmt: skip
            if "transformers" in rates:
                versus = _ratio(
                    rates["registry"]["tokens_per_s"], rates["transformers"]["tokens_per_s"]
                )
                rows.append((f"generate tokens/s vs transformers ({backend}, batch {batch})",
                             f"{versus:.2f}x", "-", None))  # fmt: skip
    return rows


def _tryit_targets(body: dict[str, Any]) -> list[Row]:
    """Time to first token through the page, and against the library in-process."""
    rows: list[Row] = []
    for key in ("demo", "gpt2_base"):
        page, library = body[key]["page"], body[key]["library"]
        ms = page["ttft_median_s"] * 1000
        ratio = _ratio(page["ttft_median_s"], library["ttft_median_s"])
        rows.append((f"time to first token through the page, {key}", f"{ms:.0f} ms", "-", None))
        rows.append((f"time to first token, page vs library in-process, {key}",
                     f"{ratio:.2f}x", "-", None))  # fmt: skip
    cold = body["cold_first_request"]["ttft_s"]
    rows.append(("first token of a server's first request (worker start)", f"{cold:.1f} s",
                 "-", None))  # fmt: skip
    return rows


TARGETS: dict[str, Callable[[Any], list[Row]]] = {
    "load": _load_targets,
    "verify": _verify_targets,
    "sync": _sync_targets,
    "forward": _forward_targets,
    "catalog": _catalog_targets,
    "web": _web_targets,
    "hub_upload": _hub_upload_targets,
    "xet_upload": _xet_upload_targets,
    "mirror": _mirror_targets,
    "s3": _s3_targets,
    "generate": _generate_targets,
    "tryit": _tryit_targets,
}


def _targets(results: dict[str, Any], out: Path) -> list[Row]:
    """Every target with figures in `results`."""
    rows = []
    for name, check in TARGETS.items():
        if name not in results:
            continue
        try:
            rows.extend(check(results[name]))
        except KeyError as error:  # a --reuse of results written by an older bench/
            raise SystemExit(
                f"bench: {out / (name + '.json')} lacks {error}: it was written by an older "
                f"bench/{name}.py. Delete it and rerun with --reuse to measure {name} again."
            ) from error
    return rows


def _met(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the results of benchmarks already in --out"
    )
    parser.add_argument(
        "--charts", action="store_true", help="only draw the charts of the results in --out"
    )
    args = parser.parse_args()
    if args.charts:
        _charts(args.out, required=True)
        return
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    sections: list[str] = []
    for name in chosen:
        title, arguments, quick = BENCHMARKS[name]
        output, table_file = args.out / f"{name}.json", args.out / f"{name}.md"
        if not (args.reuse and output.is_file() and table_file.is_file()):
            script = HERE / f"{_SCRIPTS.get(name, name)}.py"
            command = [sys.executable, str(script),
                       *(quick if args.quick else arguments), "--json", str(output)]  # fmt: skip
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"bench: {name} failed:\n{done.stderr[-4000:]}")
            table = "\n".join(
                line
                for line in done.stdout.splitlines()
                if not line.startswith(("generating", "fill"))
            )
            command_line = f"python bench/{name}.py {' '.join(quick if args.quick else arguments)}"
            table_file.write_text(
                f"### {title}\n\n`{command_line.strip()}` ({seconds:.0f} s)\n\n{table}\n"
            )
        results[name] = json.loads(output.read_text())
        sections.append(table_file.read_text())
    targets = _targets(results, args.out)
    lines = [
        "## Benchmarks",
        "",
        f"`python -m bench{' --quick' if args.quick else ''}` on {platform.machine()}, "
        f"{_cores()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.",
        "",
        "| measure | figure | target | met |",
        "|---|---:|---|---|",
        *[f"| {m} | {f} | {t} | {_met(ok)} |" for m, f, t, ok in targets],
        "",
        *sections,
    ]
    (args.out / "results.md").write_text("\n".join(lines))
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    _charts(args.out, required=False)


def _charts(out: Path, *, required: bool) -> None:
    """Draw the charts of every result in `out` (bench/charts.py); matplotlib is in
    the `test` extra, and a finished run does not fail for want of it."""
    try:
        from charts import draw
    except ImportError as error:
        message = f"bench: no charts: {error} (pip install -e '.[test]')"
        if required:
            raise SystemExit(message) from error
        print(message, file=sys.stderr)
        return
    if not out.is_dir():
        raise SystemExit(f"bench: no results in {out} to draw")
    drawn = draw(out)
    print(f"bench: {len(drawn)} chart(s) in {out}: {', '.join(p.name for p in drawn) or '-'}",
          file=sys.stderr)  # fmt: skip


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
