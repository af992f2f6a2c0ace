"""Verbs of this machine's store: load, sync, lock, verify, gc."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from registry.cli.shell import JsonOption, import_keras, print_json, registry, say, stdout, warn
from registry.config import Settings
from registry.errors import OfflineError, PresetFormatError, PresetNotFoundError, SourceError

app = typer.Typer()


def _summary(backbone: Any) -> dict[str, Any]:
    return {
        "class": type(backbone).__name__,
        "config": {k: v for k, v in backbone.get_config().items() if k != "dtype"},
        "dtype": backbone.dtype_policy.name,
        "parameters": backbone.count_params(),
        "layers": [
            {"name": layer.name, "class": type(layer).__name__,
             "parameters": layer.count_params()}
            for layer in backbone.layers
        ],
    }  # fmt: skip


def _print_summary(preset: str, summary: dict[str, Any], seconds: float) -> None:
    from rich.table import Table

    table = Table(title=f"{preset}: {summary['class']}", title_justify="left")
    table.add_column("layer")
    table.add_column("class")
    table.add_column("parameters", justify="right")
    for layer in summary["layers"]:
        table.add_row(layer["name"], layer["class"], f"{layer['parameters']:,}")
    stdout.print(table)
    arguments = ", ".join(
        f"{k}={v}" for k, v in summary["config"].items() if k not in ("name", "trainable")
    )
    stdout.print(f"config: {arguments}")
    stdout.print(f"parameters: {summary['parameters']:,}   dtype: {summary['dtype']}")
    stdout.print(f"loaded in {seconds:.2f} s")


@app.command()
def load(
    preset: Annotated[str, typer.Argument(help="Preset directory or name.")],
    dtype: Annotated[str | None, typer.Option(help="Override the dtype, e.g. bfloat16.")] = None,
    weights: Annotated[
        bool, typer.Option("--weights/--no-weights", help="Load the preset's weights.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Load a preset and print the backbone's summary and the time taken."""
    import_keras()
    from registry.architectures import Backbone

    overrides = {"dtype": dtype} if dtype else {}
    started = time.perf_counter()
    backbone = Backbone.from_preset(preset, load_weights=weights, **overrides)
    seconds = time.perf_counter() - started
    summary = _summary(backbone)
    if as_json:
        print_json({"preset": preset, **summary, "seconds": seconds})
    else:
        _print_summary(preset, summary, seconds)


@app.command()
def sync(
    preset: Annotated[str, typer.Argument(help="Catalog name, kaggle://, hf:// or a directory.")],
    force: Annotated[
        bool, typer.Option("--force", help="Fetch again even if the store has it.")
    ] = False,
    full: Annotated[bool, typer.Option("--full", help="Rehash every file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Bring a preset into the store and verify it."""
    started = time.perf_counter()
    resolved = registry().sync(preset, force=force, full=full)
    body = {
        "preset": resolved.preset,
        "revision": resolved.digest,
        "path": str(resolved.path),
        "files": len(resolved.manifest.files),
        "bytes": sum(f.size for f in resolved.manifest.files),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        print_json(body)
        return
    say(
        f"{body['preset']}@{resolved.digest[:12]}: {body['files']} files, "
        f"{body['bytes']:,} bytes, verified, in {body['seconds']} s\n{body['path']}"
    )


@app.command()
def lock(
    presets: Annotated[list[str], typer.Argument(help="Presets to pin.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The lock file.")] = Path(
        "presets.lock"
    ),
    trust_key: Annotated[
        list[Path] | None,
        typer.Option("--trust-key", help="Pin this public key: verify needs its signature."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Pin presets to their revisions, with every file's size and sha256 (and with
    --trust-key, the keys whose signature `verify --lock` then requires)."""
    path = registry().lock(presets, output, trust_keys=trust_key or [])
    if as_json:
        print(json.dumps({"lock_file": str(path), "presets": presets}))
        return
    say(f"wrote {path} ({len(presets)} preset(s))")


@app.command()
def verify(
    preset: Annotated[str | None, typer.Argument(help="One preset (default: all stored).")] = None,
    lock_file: Annotated[Path | None, typer.Option("--lock", help="Check a lock file.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Rehash every file.")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never fetch; missing is an error.")
    ] = False,
    key: Annotated[
        list[Path] | None,
        typer.Option("--key", help="Require a signature by this public key (one of several)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check files against recorded digests (and with --key, or a lock's trusted keys,
    a signature covering exactly them). Exit 0: all good; 1: a mismatch or no valid
    signature by a trusted key; 2: the preset or its revision cannot be had (unknown,
    offline and never synced, server down)."""
    if offline:
        os.environ["REGISTRY_OFFLINE"] = "1"
    client = registry()
    try:
        report = (
            client.verify_lock(lock_file, full=full) if lock_file
            else client.verify(preset, full=full, keys=key or [])
        )  # fmt: skip
    except (PresetFormatError, PresetNotFoundError, OfflineError, SourceError) as error:
        # The preset, its revision or its files cannot be had: absence, not corruption.
        warn(f"error: {error}")
        raise typer.Exit(2) from error
    if as_json:
        print(json.dumps(dataclasses.asdict(report) | {"ok": report.ok}, indent=2))
    for mismatch in report.mismatches:
        warn(
            f"MISMATCH {mismatch.preset} {mismatch.path}: expected {mismatch.expected}, "
            f"actual {mismatch.actual}"
        )
    for problem in report.missing:
        warn(f"MISSING {problem}")
    for problem in report.unsigned:
        warn(f"UNSIGNED {problem}")
    if report.mismatches or report.unsigned:
        raise typer.Exit(1)
    if report.missing:
        raise typer.Exit(2)
    if not as_json:
        say(f"ok: {report.checked} preset(s) verified{' (full rehash)' if full else ''}")


_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def _parse_size(text: str) -> int:
    """'500MB', '10G', '1.5 TB' -> bytes (decimal units)."""
    cleaned = text.strip().upper().removesuffix("B").replace(" ", "")
    number, unit = cleaned.rstrip("KMGT"), cleaned[len(cleaned.rstrip("KMGT")) :]
    try:
        return int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        raise typer.BadParameter(f"{text!r} is not a size; use e.g. 500MB or 10GB") from None


@app.command()
def gc(
    grace: Annotated[
        float, typer.Option(help="Keep unreferenced blobs younger than this (seconds).")
    ] = 3600,
    max_size: Annotated[
        str | None,
        typer.Option(help="Evict least recently used synced revisions to fit, e.g. 20GB."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Remove stored revisions the catalog no longer records, and stale temp files;
    with REGISTRY_BLOB_URL, also the bucket's blobs no revision names and stale
    uploads (multipart uploads, temporary objects)."""
    limit = _parse_size(max_size) if max_size else None
    report = registry().gc(grace_s=grace, max_bytes=limit)
    if as_json:
        print(json.dumps(dataclasses.asdict(report)))
        return
    say(
        f"removed {report.trees} revision(s) ({report.evicted} evicted to fit), "
        f"{report.blobs} blob(s) ({report.bytes_freed:,} bytes), "
        f"{report.temporary} temporary file(s), {report.xorbs} unused Xet xorb(s) "
        f"({report.xorb_bytes:,} bytes)"
    )
    if client_has_bucket():
        say(
            f"bucket: removed {report.bucket_objects} blob(s) ({report.bucket_bytes:,} bytes) "
            f"no revision names, {report.bucket_uploads} stale upload(s) (multipart uploads "
            "aborted, temporary objects deleted)"
        )


def client_has_bucket() -> bool:
    return Settings.from_env().blob_url is not None
