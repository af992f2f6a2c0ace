"""What every verb shares: the consoles, `--json` output, the client, and the
Keras import kept quiet and late (so `registry --help` starts quickly)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from pydantic import BaseModel

    from registry.client import Registry

stdout = Console()
stderr = Console(stderr=True)
state = {"debug": False}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def registry() -> Registry:
    """The client of the environment's settings (REGISTRY_URL, REGISTRY_HOME, ...)."""
    from registry.client import Registry

    return Registry()


def say(text: str) -> None:
    """One line for people (no markup, no highlighting)."""
    stdout.print(text, highlight=False, soft_wrap=True)


def warn(text: str) -> None:
    stderr.print(text, markup=False, highlight=False, soft_wrap=True)


def print_json(body: BaseModel | Any) -> None:
    """A record as the JSON API sends it, or any JSON-able value."""
    import json

    if hasattr(body, "model_dump_json"):
        print(body.model_dump_json(indent=2))
    else:
        print(json.dumps(body, indent=2, default=str))


def human_size(count: int | None) -> str:
    if count is None:
        return "?"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while Keras imports its backend.

    TensorFlow's C++ start-up lines ("oneDNN custom operations are on", ...)
    ignore TF_CPP_MIN_LOG_LEVEL in current releases; they are not the user's
    business. Python exceptions still propagate and are reported after.
    """
    if state["debug"]:
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


def import_keras() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr():
        import keras

        keras.ops.zeros(1)  # the backend probes its devices on first use
