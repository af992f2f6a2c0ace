"""Who is asking: bearer tokens for the API, a token cookie for pages, CSRF.

Tokens are created by the server's operator (`registry token create`) and stored
hashed; `authenticate` compares digests in constant time. The API reads
`Authorization: Bearer <token>` (huggingface_hub sends `HF_TOKEN` the same way);
pages read the token from an HttpOnly, SameSite=Strict cookie set by the login
form. Every form carries a CSRF token that must equal the `registry_csrf`
cookie (the double-submit pattern): another site can make a browser send the
cookies, but cannot read them to fill in the form.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from registry.catalog.models import Preset
from registry.catalog.queries import ANONYMOUS, Viewer
from registry.catalog.service import authenticate, record_token_use, token_use_is_stale
from registry.errors import AuthenticationError, PermissionDeniedError
from web.services import Services, ServicesDep

TOKEN_COOKIE = "registry_token"
CSRF_COOKIE = "registry_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Principal:
    """The caller: anonymous (`owner=None`) or a token's owner with its scope."""

    owner: str | None = None
    scope: str | None = None
    token_name: str | None = None

    @property
    def viewer(self) -> Viewer:
        return ANONYMOUS if self.owner is None else Viewer(owner=self.owner)

    @property
    def can_write(self) -> bool:
        return self.scope == "write"

    def require_write(self) -> Principal:
        if self.owner is None:
            raise AuthenticationError(
                "This needs a token with write scope: send `Authorization: Bearer <token>` "
                "(the server's operator creates one with `registry token create --scope write`)."
            )
        if not self.can_write:
            raise PermissionDeniedError(
                f"The token {self.token_name or ''!s} of {self.owner} has read scope only; "
                "use a token created with `--scope write`."
            )
        return self

    def authorize_upload(self, namespace: str, preset: Preset | None) -> None:
        """Owners write their own presets; new presets go in the owner's namespace."""
        self.require_write()
        if preset is None and namespace != self.owner:
            raise PermissionDeniedError(
                f"{self.owner} may create presets only in the namespace {self.owner!r}, "
                f"not {namespace!r}."
            )
        if preset is not None and preset.owner != self.owner:
            raise PermissionDeniedError(
                f"{preset.namespace}/{preset.name} belongs to {preset.owner or 'the registry'}; "
                f"{self.owner} may not change it."
            )


ANONYMOUS_PRINCIPAL = Principal()


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def principal_for(svc: Services, secret: str) -> Principal | None:
    catalog = svc.resolver.catalog
    with catalog.transaction(write=False) as session:
        token = authenticate(session, secret)
    if token is None:
        return None
    if token_use_is_stale(token):
        with catalog.transaction() as session:
            record_token_use(session, token.id)
    return Principal(owner=token.owner, scope=token.scope, token_name=token.name or None)


async def principal(request: Request, svc: ServicesDep) -> Principal:
    """FastAPI dependency: the caller, from the bearer header or the page cookie.

    Raises:
        AuthenticationError: a bearer token was sent but is unknown or revoked
            (on a mirror, only for writes: reads with a token it does not know
            are anonymous).
    """
    secret = bearer(request)
    if secret is not None:
        found = await run_in_threadpool(principal_for, svc, secret)
        if found is None and svc.mirror is not None and request.method in ("GET", "HEAD"):
            # A mirror's users keep their huggingface.co token in HF_TOKEN: on a
            # read it is not ours to refuse, and the caller reads as anyone.
            return ANONYMOUS_PRINCIPAL
        if found is None:
            raise AuthenticationError(
                "The bearer token is unknown or revoked. Ask the server's operator for a "
                "new one (`registry token create`)."
            )
        return found
    cookie = request.cookies.get(TOKEN_COOKIE)
    if cookie:
        return await run_in_threadpool(principal_for, svc, cookie) or ANONYMOUS_PRINCIPAL
    return ANONYMOUS_PRINCIPAL


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (from its cookie, or a new one to set)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    return existing if len(existing) >= 32 else secrets.token_urlsafe(32)


def check_csrf(request: Request, submitted: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise PermissionDeniedError(
            "The form's CSRF token is missing or stale. Reload the page and submit it again."
        )


PrincipalDep = Annotated[Principal, Depends(principal)]


@dataclass(frozen=True)
class Caller:
    """A request with the services and the caller behind it, for routes that
    hand all three on (the file downloads)."""

    request: Request
    svc: Services
    who: Principal


async def caller(request: Request, svc: ServicesDep, who: PrincipalDep) -> Caller:
    """FastAPI dependency: the request, the services and the caller."""
    return Caller(request, svc, who)


CallerDep = Annotated[Caller, Depends(caller)]
