"""The `registry` command. Thin: each verb formats what a library call returns.

Keras is imported only by the verbs that build models, so `registry --help`
starts quickly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from registry import __version__
from registry.errors import PresetFormatError, PresetNotFoundError, RegistryError

app = typer.Typer(
    name="registry",
    help="A verified model-preset registry for Keras backbones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}
stdout = Console()
stderr = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"registry {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    """A verified model-preset registry for Keras backbones."""
    _state["debug"] = debug


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while Keras imports its backend.

    TensorFlow's C++ start-up lines ("oneDNN custom operations are on", ...)
    ignore TF_CPP_MIN_LOG_LEVEL in current releases; they are not the user's
    business. Python exceptions still propagate and are reported after.
    """
    if _state["debug"]:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_keras() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_stderr():
        import keras

        keras.ops.zeros(1)  # the backend probes its devices on first use


def _summary(backbone: Any) -> dict[str, Any]:
    return {
        "class": type(backbone).__name__,
        "config": {k: v for k, v in backbone.get_config().items() if k != "dtype"},
        "dtype": backbone.dtype_policy.name,
        "parameters": backbone.count_params(),
        "layers": [
            {
                "name": layer.name,
                "class": type(layer).__name__,
                "parameters": layer.count_params(),
            }
            for layer in backbone.layers
        ],
    }


def _print_summary(preset: str, summary: dict[str, Any], seconds: float) -> None:
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Load a preset and print the backbone's summary and the time taken."""
    _import_keras()
    from registry.architectures import Backbone

    overrides = {"dtype": dtype} if dtype else {}
    started = time.perf_counter()
    backbone = Backbone.from_preset(preset, load_weights=weights, **overrides)
    seconds = time.perf_counter() - started
    summary = _summary(backbone)
    if as_json:
        print(json.dumps({"preset": preset, **summary, "seconds": seconds}, indent=2))
    else:
        _print_summary(preset, summary, seconds)


@app.command()
def sync(
    preset: Annotated[str, typer.Argument(help="Catalog name, kaggle://, hf:// or a directory.")],
    force: Annotated[
        bool, typer.Option("--force", help="Fetch again even if the store has it.")
    ] = False,
    full: Annotated[bool, typer.Option("--full", help="Rehash every file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Bring a preset into the store and verify it."""
    from registry.resolver.resolve import default_resolver

    started = time.perf_counter()
    resolved = default_resolver().resolve(preset, force=force, verify="full" if full else "fast")
    body = {
        "preset": resolved.preset,
        "revision": resolved.digest,
        "path": str(resolved.path),
        "files": len(resolved.manifest.files),
        "bytes": sum(f.size for f in resolved.manifest.files),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if as_json:
        print(json.dumps(body, indent=2))
        return
    stdout.print(
        f"{body['preset']}@{resolved.digest[:12]}: {body['files']} files, "
        f"{body['bytes']:,} bytes, verified, in {body['seconds']} s\n{body['path']}",
        highlight=False,
    )


def _registry() -> Any:
    from registry.client import Registry

    return Registry()


def _human_size(count: int | None) -> str:
    if count is None:
        return "?"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to find in names, descriptions, tags.")] = "",
    sort: Annotated[
        str, typer.Option(help="relevance, name, parameters, downloads, updated.")
    ] = "relevance",
    tag: Annotated[str | None, typer.Option(help="Only presets with this tag.")] = None,
    synced: Annotated[
        bool | None, typer.Option("--synced/--not-synced", help="Only (not) synced.")
    ] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the catalog."""
    result = _registry().search(query, sort=sort, page=page, tag=tag, synced=synced)
    if as_json:
        items = [
            {
                "id": p.full_name,
                **dataclasses.asdict(p),
                "created_at": str(p.created_at),
                "updated_at": str(p.updated_at),
            }
            for p in result.items
        ]
        print(
            json.dumps(
                {"total": result.total, "exact": result.total_is_exact, "items": items}, indent=2
            )
        )
        return
    table = Table(
        title=f"{result.total}{'' if result.total_is_exact else '+'} presets", title_justify="left"
    )
    for column in ("preset", "parameters", "synced", "downloads", "description"):
        table.add_column(column, overflow="fold")
    for p in result.items:
        table.add_row(
            p.full_name,
            _human_size(p.parameter_count),
            "yes" if p.synced else "no",
            str(p.download_count),
            p.description,
        )
    stdout.print(table)


@app.command()
def info(
    preset: Annotated[str, typer.Argument(help="Catalog name, e.g. keras/gpt2_base_en.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A preset's details, revisions and files."""
    detail = _registry().info(preset)
    if as_json:
        print(json.dumps(dataclasses.asdict(detail), indent=2, default=str))
        return
    summary = detail.summary
    size = _human_size(summary.parameter_count)
    stdout.print(f"[bold]{summary.full_name}[/bold]  {summary.architecture}, {size} parameters")
    stdout.print(summary.description, highlight=False)
    stdout.print(
        f"source: {summary.source or summary.source_kind}   downloads: {summary.download_count}",
        highlight=False,
    )
    if not detail.revisions:
        stdout.print(f"not synced yet: `registry sync {summary.full_name}`", highlight=False)
    for revision in detail.revisions:
        aliases = f" ({', '.join(revision.aliases)})" if revision.aliases else ""
        stdout.print(
            f"\nrevision {revision.digest}{aliases}  {revision.created_at:%Y-%m-%d %H:%M}",
            highlight=False,
        )
        for file in revision.files:
            stdout.print(f"  {file.sha256}  {file.size:>12,}  {file.path}", highlight=False)


@app.command()
def lock(
    presets: Annotated[list[str], typer.Argument(help="Presets to pin.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The lock file.")] = Path(
        "presets.lock"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pin presets to their revisions, with every file's size and sha256."""
    path = _registry().lock(presets, output)
    if as_json:
        print(json.dumps({"lock_file": str(path), "presets": presets}))
        return
    stdout.print(f"wrote {path} ({len(presets)} preset(s))", highlight=False)


@app.command()
def verify(
    preset: Annotated[str | None, typer.Argument(help="One preset (default: all stored).")] = None,
    lock_file: Annotated[Path | None, typer.Option("--lock", help="Check a lock file.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Rehash every file.")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never fetch; missing is an error.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check files against recorded digests. Exit 0: all match; 1: a mismatch; 2: missing data."""
    if offline:
        os.environ["REGISTRY_OFFLINE"] = "1"
    registry = _registry()
    try:
        report = (
            registry.verify_lock(lock_file, full=full)
            if lock_file
            else registry.verify(preset, full=full)
        )
    except (PresetFormatError, PresetNotFoundError) as error:  # usage or missing data
        stderr.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from error
    if as_json:
        print(json.dumps(dataclasses.asdict(report) | {"ok": report.ok}, indent=2))
    for mismatch in report.mismatches:
        stderr.print(
            f"MISMATCH {mismatch.preset} {mismatch.path}: expected {mismatch.expected}, "
            f"actual {mismatch.actual}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for problem in report.missing:
        stderr.print(f"MISSING {problem}", markup=False, highlight=False, soft_wrap=True)
    if report.mismatches:
        raise typer.Exit(1)
    if report.missing:
        raise typer.Exit(2)
    if as_json:
        return
    stdout.print(
        f"ok: {report.checked} preset(s) verified{' (full rehash)' if full else ''}",
        highlight=False,
    )


@app.command()
def upload(
    path: Annotated[Path, typer.Argument(help="The preset directory, or a .tar/.tar.gz/.zip.")],
    name_argument: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="namespace/name (bare: your own namespace)."),
    ] = None,
    name_option: Annotated[str | None, typer.Option("--name", help="The same as NAME.")] = None,
    description: Annotated[str | None, typer.Option(help="What the preset is.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable).")] = None,
    private: Annotated[
        bool | None, typer.Option("--private/--public", help="Who sees it (default: unchanged).")
    ] = None,
    alias: Annotated[str, typer.Option(help="The alias to move to it.")] = "latest",
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Publish a preset as a new immutable revision (to REGISTRY_URL when set)."""
    name = name_argument or name_option
    if not name:
        raise typer.BadParameter("give the preset's name: `registry upload PATH NS/NAME`")
    uploaded = _registry().upload(
        path,
        name,
        description=description,
        tags=tag or (),
        private=private,
        alias=alias,
        message=message,
    )
    if as_json:
        print(json.dumps(dataclasses.asdict(uploaded), indent=2))
        return
    known = "" if uploaded.created else " (identical to an earlier upload)"
    stdout.print(
        f"{uploaded.preset}@{uploaded.digest[:12]} ({alias}){known}: {uploaded.architecture}, "
        f"{uploaded.parameter_count:,} parameters",
        highlight=False,
    )


@app.command("alias")
def alias_command(
    preset: Annotated[str, typer.Argument(help="namespace/name")],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. stable.")],
    revision: Annotated[str, typer.Argument(help="A revision digest (or prefix) or alias.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Point an alias at a revision."""
    _registry().alias(preset, alias, revision)
    if as_json:
        print(json.dumps({"preset": preset, "alias": alias, "revision": revision}))
        return
    stdout.print(f"{preset}@{alias} -> {revision}", highlight=False)


@app.command()
def delete(
    preset: Annotated[str, typer.Argument(help="namespace/name")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete a preset with its revisions and aliases (blobs go at the next gc)."""
    if not yes and not typer.confirm(f"Delete {preset} and all its revisions?"):
        raise typer.Exit(1)
    _registry().delete(preset)
    if as_json:
        print(json.dumps({"deleted": preset}))
        return
    stdout.print(f"deleted {preset}", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Run the web catalog, JSON API and Hub-compatible endpoints (uvicorn)."""
    import uvicorn

    from registry.config import Settings

    settings = Settings.from_env()
    stdout.print(
        f"Serving the registry at http://{host}:{port}/ (catalog {settings.db_url}, "
        f"store {settings.home / 'store'}). Press Ctrl+C to stop.",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=True,
    )


token_app = typer.Typer(
    help="API tokens of this registry's catalog (for a server's operator).", no_args_is_help=True
)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    scope: Annotated[str, typer.Option(help="read or write.")] = "read",
    name: Annotated[str, typer.Option(help="A label to recognise it by.")] = "",
    owner: Annotated[
        str | None, typer.Option(help="Whose token (default: your user name).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from registry.catalog.service import create_token
    from registry.client import _uploader

    registry = _registry()
    with registry.resolver.catalog.transaction() as session:
        secret, token = create_token(session, owner=owner or _uploader(), scope=scope, name=name)
        record = {"id": token.id, "owner": token.owner, "scope": token.scope, "name": token.name}
    if as_json:
        print(json.dumps({**record, "token": secret}, indent=2))
        return
    print(secret)
    stderr.print(
        f"token {record['id']} for {record['owner']} ({record['scope']}): shown once, keep it "
        "safe; send it as `Authorization: Bearer <token>` or set REGISTRY_TOKEN.",
        highlight=False,
    )


@token_app.command("list")
def token_list(
    owner: Annotated[str | None, typer.Option(help="Whose tokens (default: yours).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List tokens (never their secrets)."""
    from registry.catalog.service import tokens_of
    from registry.client import _uploader

    registry = _registry()
    with registry.resolver.catalog.transaction(write=False) as session:
        rows: list[dict[str, Any]] = [
            {
                "id": t.id,
                "owner": t.owner,
                "scope": t.scope,
                "name": t.name,
                "created_at": str(t.created_at),
                "last_used_at": str(t.last_used_at) if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in tokens_of(session, owner or _uploader())
        ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "owner", "scope", "name", "created", "last used", "state")
    for row in rows:
        table.add_row(
            str(row["id"]), row["owner"], row["scope"], row["name"], row["created_at"][:19],
            (row["last_used_at"] or "never")[:19], "revoked" if row["revoked"] else "live",
        )  # fmt: skip
    stdout.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (`registry token list`).")],
    owner: Annotated[str | None, typer.Option(help="Whose token (default: yours).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Revoke a token: it stops working at once."""
    from registry.catalog.service import revoke_token
    from registry.client import _uploader

    registry = _registry()
    with registry.resolver.catalog.transaction() as session:
        revoked = revoke_token(session, token_id, owner=owner or _uploader())
    if not revoked:
        raise PresetNotFoundError(f"No live token {token_id} of {owner or _uploader()}.")
    if as_json:
        print(json.dumps({"revoked": token_id}))
        return
    stdout.print(f"revoked token {token_id}", highlight=False)


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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Remove stored revisions the catalog no longer records, and stale temp files."""
    from registry.resolver.resolve import default_resolver

    limit = _parse_size(max_size) if max_size else None
    report = default_resolver().gc(grace_s=grace, max_bytes=limit)
    if as_json:
        print(json.dumps(dataclasses.asdict(report)))
        return
    stdout.print(
        f"removed {report.trees} revision(s) ({report.evicted} evicted to fit), "
        f"{report.blobs} blob(s) ({report.bytes_freed:,} bytes), "
        f"{report.temporary} temporary file(s)",
        highlight=False,
    )


db_app = typer.Typer(help="The catalog database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Apply the catalog's migrations (REGISTRY_DB_URL, or SQLite under REGISTRY_HOME)."""
    from registry.catalog import migrate
    from registry.catalog.database import check_connection, make_engine
    from registry.config import Settings

    engine = make_engine(Settings.from_env().db_url)
    check_connection(engine)
    where = engine.url.render_as_string(hide_password=True)
    head = migrate.head_revision()
    before = migrate.current_revision(engine)
    if before != head:
        migrate.ensure_schema(engine)
    if as_json:
        print(json.dumps({"database": where, "from": before, "to": head}))
    elif before == head:
        stdout.print(f"{where} is already at migration {head}", highlight=False)
    else:
        stdout.print(f"{where}: migrated from {before or 'empty'} to {head}", highlight=False)


def main() -> None:
    """Entry point: run the app, turning errors into one line on stderr.

    Usage errors are click's (exit code 2); the registry's own errors and
    anything unexpected print one line and exit 1, with the traceback only
    under `--debug`.
    """
    try:
        app()  # standalone: click reports usage errors itself and exits 2
    except RegistryError as error:
        _fail(error, str(error))
    except Exception as error:
        _fail(
            error,
            f"{type(error).__name__}: {error} (run with --debug for the traceback)",
        )


def _fail(error: Exception, message: str) -> None:
    if _state["debug"]:
        raise error
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
