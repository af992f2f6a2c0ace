"""Verbs of the catalog (the embedded one, or REGISTRY_URL's): search, info,
upload, alias, delete."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from registry.cli.shell import JsonOption, human_size, print_json, registry, say, stdout
from registry.errors import OfflineError

if TYPE_CHECKING:
    from registry.client import Registry
    from registry.resolver.names import RecordedName

app = typer.Typer()


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
    base_model: Annotated[
        str | None,
        typer.Option(help="Only presets fine-tuned from this one (namespace/name)."),
    ] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    as_json: JsonOption = False,
) -> None:
    """Search the catalog (`--base-model keras/gpt2_base_en`: the fine-tunes of one)."""
    from rich.table import Table

    result = registry().search(
        query, sort=sort, page=page, tag=tag, synced=synced, base_model=base_model
    )
    if as_json:
        print_json(result)
        return
    exact = "" if result.total_is_exact else "+"
    table = Table(title=f"{result.total}{exact} presets", title_justify="left")
    for column in ("preset", "parameters", "synced", "downloads", "description"):
        table.add_column(column, overflow="fold")
    for p in result.items:
        table.add_row(
            p.id, human_size(p.parameter_count), "yes" if p.synced else "no",
            str(p.downloads), p.description,
        )  # fmt: skip
    stdout.print(table)


@app.command()
def info(
    preset: Annotated[str, typer.Argument(help="Catalog name, e.g. keras/gpt2_base_en.")],
    as_json: JsonOption = False,
) -> None:
    """A preset's details, revisions and files (offline: the revision last synced)."""
    client = registry()
    recorded = client.recorded(preset)
    try:
        detail = client.info(preset)
    except OfflineError:
        if recorded is None:
            raise
        _print_recorded(client, recorded, as_json)
        return
    if as_json:
        print_json(detail)
        return
    stdout.print(
        f"[bold]{detail.id}[/bold]  {detail.architecture}, "
        f"{human_size(detail.parameter_count)} parameters"
    )
    say(detail.description)
    if detail.base_model is not None:
        say(f"fine-tuned from: {detail.base_model}")
    say(f"source: {detail.source or detail.source_kind}   downloads: {detail.downloads}")
    if not detail.revisions:
        say(f"not synced yet: `registry sync {detail.id}`")
    for revision in detail.revisions:
        aliases = f" ({', '.join(revision.aliases)})" if revision.aliases else ""
        say(f"\nrevision {revision.digest}{aliases}  {revision.created_at:%Y-%m-%d %H:%M}")
        for file in revision.files:
            say(f"  {file.sha256}  {file.size:>12,}  {file.path}")
    if recorded is not None:
        say(f"\nsynced here: {recorded.describe()}")


def _print_recorded(client: Registry, recorded: RecordedName, as_json: bool) -> None:
    """What the store knows of a server's preset while offline."""
    manifest = client.resolver.store.load_manifest(recorded.digest)
    files = manifest.files if manifest is not None else ()
    if as_json:
        print_json(
            {**dataclasses.asdict(recorded), "files": [dataclasses.asdict(f) for f in files]}
        )
        return
    say(f"offline: {recorded.describe()}")
    for file in files:
        say(f"  {file.sha256}  {file.size:>12,}  {file.path}")


@app.command()
def upload(
    path: Annotated[Path, typer.Argument(help="The preset directory, or a .tar/.tar.gz/.zip.")],
    name_argument: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="namespace/name (bare: your own namespace)."),
    ] = None,
    name_option: Annotated[str | None, typer.Option("--name", help="The same as NAME.")] = None,
    description: Annotated[str | None, typer.Option(help="What the preset is.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="A tag (repeatable, or comma-separated; lowercased).")
    ] = None,
    private: Annotated[
        bool | None, typer.Option("--private/--public", help="Who sees it (default: unchanged).")
    ] = None,
    alias: Annotated[str, typer.Option(help="The alias to move to it.")] = "latest",
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")] = "",
    license: Annotated[str | None, typer.Option(help="The license, e.g. apache-2.0.")] = None,
    base_model: Annotated[
        str | None,
        typer.Option(
            help="The preset it was fine-tuned from (namespace/name); default: the "
            "card's base_model (README.md front matter)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a preset as a new immutable revision (to REGISTRY_URL when set).

    `--base-model keras/gpt2_base_en` records what it was fine-tuned from (the
    card's `base_model` otherwise).
    """
    name = name_argument or name_option
    if not name:
        raise typer.BadParameter("give the preset's name: `registry upload PATH NS/NAME`")
    uploaded = registry().upload(
        path, name, description=description, tags=tag or (), private=private, alias=alias,
        message=message, license=license, base_model=base_model,
    )  # fmt: skip
    if as_json:
        print_json(uploaded)
        return
    known = "" if uploaded.created else " (identical to an earlier upload)"
    say(
        f"{uploaded.preset}@{uploaded.digest[:12]} ({alias}){known}: {uploaded.architecture}, "
        f"{uploaded.parameter_count:,} parameters"
    )


@app.command("alias")
def alias_command(
    preset: Annotated[str, typer.Argument(help="namespace/name")],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. stable.")],
    revision: Annotated[str, typer.Argument(help="A revision digest (or prefix) or alias.")],
    as_json: JsonOption = False,
) -> None:
    """Point an alias at a revision."""
    moved = registry().alias(preset, alias, revision)
    if as_json:
        print_json(moved)
        return
    say(f"{moved.preset}@{moved.alias} -> {moved.revision}")


@app.command()
def delete(
    preset: Annotated[str, typer.Argument(help="namespace/name")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a preset with its revisions and aliases (blobs go at the next gc)."""
    if not yes and not typer.confirm(f"Delete {preset} and all its revisions?"):
        raise typer.Exit(1)
    registry().delete(preset)
    if as_json:
        print_json({"deleted": preset})
        return
    say(f"deleted {preset}")
