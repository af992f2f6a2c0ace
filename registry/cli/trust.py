"""Verbs of signed revisions: sign, signatures, export, key add.

`registry verify NAME --key PUBLIC.pem` and `registry lock --trust-key` are
options of `verify` and `lock` (`store.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from registry.cli.shell import JsonOption, print_json, registry, say

app = typer.Typer()
keys = typer.Typer(help="Name public signing keys, so pages say who signed.")
app.add_typer(keys, name="key")


@app.command()
def sign(
    preset: Annotated[str, typer.Argument(help="NAME or NAME@REV (default: latest).")],
    key: Annotated[Path, typer.Option("--key", help="Elliptic-curve private key, PEM.")],
    password: Annotated[
        str | None, typer.Option("--password", help="The private key's password, if any.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sign a revision and attach the signature (OpenSSF model-signing's format).

    The signature is made here from the recorded digests (no file is read); with
    REGISTRY_URL only it and the public key go to the server (a write token is
    needed). The revision id does not change.
    """
    info = registry().sign(preset, key=key, password=password)
    if as_json:
        print_json(info)
        return
    say(
        f"signed {preset}@{info.revision[:12]} with key {info.fingerprint[:16]}"
        f"{f' ({info.key_name})' if info.key_name else ''}"
    )


@app.command()
def signatures(
    preset: Annotated[str, typer.Argument(help="NAME or NAME@REV (default: latest).")],
    as_json: JsonOption = False,
) -> None:
    """List a revision's signatures and whether each verifies."""
    found = registry().signatures(preset)
    if as_json:
        print_json([info.model_dump(mode="json") for info in found])
        return
    if not found:
        say(f"{preset}: no signature (`registry sign {preset} --key PRIVATE.pem`)")
    for info in found:
        verdict = "verifies" if info.verified else "DOES NOT VERIFY: " + "; ".join(info.problems)
        name = f" {info.key_name}" if info.key_name else ""
        say(f"{info.revision[:12]} key {info.fingerprint[:16]}{name} by {info.signer}: {verdict}")


@app.command()
def export(
    preset: Annotated[str, typer.Argument(help="NAME or NAME@REV (default: latest).")],
    directory: Annotated[Path, typer.Argument(help="A new (or empty) directory.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Write this key's signature (default: the first valid)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a revision's files and its signature (model.sig) into DIRECTORY.

    `model_signing verify key DIRECTORY --signature DIRECTORY/model.sig
    --public_key PUBLIC.pem` then checks it; works offline from the store.
    """
    exported = registry().export(preset, directory, key=key)
    if as_json:
        print_json({**exported.__dict__, "path": str(exported.path)})
        return
    signed = (
        f"signed by key {exported.signature[:16]} ({exported.path / 'model.sig'})"
        if exported.signature
        else "UNSIGNED: no valid signature to write"
    )
    say(f"{exported.preset}@{exported.digest[:12]}: {exported.files} files, {signed}")


@keys.command("add")
def key_add(
    name: Annotated[str, typer.Argument(help="A name people know the key by.")],
    public_key: Annotated[Path, typer.Argument(help="Elliptic-curve public key, PEM.")],
    as_json: JsonOption = False,
) -> None:
    """Register a public key under a name (shown beside its signatures)."""
    info = registry().register_key(name, public_key)
    if as_json:
        print_json(info)
        return
    say(f"key {info.fingerprint} is {info.name!r}")
