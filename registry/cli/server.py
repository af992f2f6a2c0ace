"""Verbs of a server's operator: serve the registry, upgrade its catalog."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from registry.cli.shell import JsonOption, say

app = typer.Typer()
db_app = typer.Typer(help="The catalog database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    hf_upstream: Annotated[
        str | None,
        typer.Option(
            help="Mirror this Hub (e.g. https://huggingface.co): fetch, verify and keep "
            "what the registry lacks (REGISTRY_HF_UPSTREAM; HF_TOKEN is sent to it)."
        ),
    ] = None,
) -> None:
    """Run the web catalog, JSON API and Hub-compatible endpoints (uvicorn)."""
    import os

    import uvicorn

    from registry.config import Settings

    if hf_upstream:  # the workers read their settings from the environment
        os.environ["REGISTRY_HF_UPSTREAM"] = hf_upstream
    settings = Settings.from_env()
    mirror = f", mirroring {settings.hf_upstream}" if settings.hf_upstream else ""
    say(
        f"Serving the registry at http://{host}:{port}/ (catalog {settings.db_url}, "
        f"store {settings.home / 'store'}{mirror}). Press Ctrl+C to stop."
    )
    uvicorn.run(
        "web.app:create_app", factory=True, host=host, port=port, workers=workers,
        log_level="info", proxy_headers=True,
    )  # fmt: skip


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False) -> None:
    """Apply the catalog's migrations (REGISTRY_DB_URL, or SQLite under REGISTRY_HOME)."""
    from registry.catalog.database import upgrade
    from registry.config import Settings

    done = upgrade(Settings.from_env().db_url)
    if as_json:
        print(json.dumps({"database": done.database, "from": done.before, "to": done.after}))
    elif done.before == done.after:
        say(f"{done.database} is already at migration {done.after}")
    else:
        say(f"{done.database}: migrated from {done.before or 'empty'} to {done.after}")
