"""Verbs of identity: who this registry acts as, and the API tokens a server's
operator hands out (`registry token create` on the server's catalog)."""

from __future__ import annotations

from typing import Annotated

import typer

from registry.cli.shell import JsonOption, print_json, registry, say, stdout, warn

app = typer.Typer()
token_app = typer.Typer(
    help="API tokens of this registry's catalog (for a server's operator).", no_args_is_help=True
)
app.add_typer(token_app, name="token")
Owner = Annotated[str | None, typer.Option(help="Whose tokens (default: your user name).")]


@app.command()
def whoami(as_json: JsonOption = False) -> None:
    """Who uploads: your user name here, or the owner of REGISTRY_TOKEN on REGISTRY_URL."""
    who = registry().whoami()
    if as_json:
        print_json(who)
        return
    if who.owner is None:
        say("anonymous: set REGISTRY_TOKEN to a token of this server to upload")
        return
    say(f"{who.owner} ({who.scope}{', token ' + who.token_name if who.token_name else ''})")


@token_app.command("create")
def token_create(
    scope: Annotated[str, typer.Option(help="read or write.")] = "read",
    name: Annotated[str, typer.Option(help="A label to recognise it by.")] = "",
    owner: Owner = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    created = registry().create_token(scope=scope, name=name, owner=owner)
    token = created.token
    if as_json:
        print_json({**token.model_dump(mode="json"), "token": created.secret})
        return
    print(created.secret)
    warn(
        f"token {token.id} for {token.owner} ({token.scope}): shown once, keep it safe; "
        "send it as `Authorization: Bearer <token>` or set REGISTRY_TOKEN."
    )


@token_app.command("list")
def token_list(owner: Owner = None, as_json: JsonOption = False) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table

    tokens = registry().tokens(owner)
    if as_json:
        print_json([t.model_dump(mode="json") for t in tokens])
        return
    table = Table("id", "owner", "scope", "name", "created", "last used", "state")
    for t in tokens:
        used = f"{t.last_used_at:%Y-%m-%d %H:%M:%S}" if t.last_used_at else "never"
        table.add_row(
            str(t.id), t.owner, t.scope, t.name, f"{t.created_at:%Y-%m-%d %H:%M:%S}", used,
            "revoked" if t.revoked else "live",
        )  # fmt: skip
    stdout.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (`registry token list`).")],
    owner: Owner = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: it stops working at once."""
    registry().revoke_token(token_id, owner=owner)
    if as_json:
        print_json({"revoked": token_id})
        return
    say(f"revoked token {token_id}")
