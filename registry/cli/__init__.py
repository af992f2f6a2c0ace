"""The `registry` command. Thin: each verb formats what the public client
(`registry.Registry`) returns.

| module | verbs |
|---|---|
| `store.py` | load, sync, lock, verify, gc |
| `catalog.py` | search, info, upload, alias, delete |
| `auth.py` | whoami, token create/list/revoke |
| `server.py` | serve, db upgrade |
| `trust.py` | sign, signatures, export, key add |
| `generate.py` | generate |

Keras is imported only by the verbs that build models, so `registry --help`
starts quickly.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from registry.cli import auth, catalog, generate, server, store, trust
from registry.cli.shell import state, stdout, warn
from registry.errors import RegistryError
from registry.version import __version__

app = typer.Typer(
    name="registry",
    help="A verified model-preset registry for Keras backbones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for verbs in (store.app, catalog.app, auth.app, server.app, trust.app, generate.app):
    app.add_typer(verbs)


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
    state["debug"] = debug


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
        _fail(error, f"{type(error).__name__}: {error} (run with --debug for the traceback)")


def _fail(error: Exception, message: str) -> None:
    if state["debug"]:
        raise error
    warn(f"error: {message}")
    sys.exit(1)
