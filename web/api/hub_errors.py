"""Errors as the Hub's clients read them, on every Hub-protocol route.

`huggingface_hub` turns `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`,
`EntryNotFound`) into its typed errors and shows `X-Error-Message` and a body's
`{"error": "..."}` (never FastAPI's `{"detail"}`, nor the registry's own
`{"error": {"code", "message"}}`). `web.errors` answers the registry's errors
raised on these routes through `hub_error`, so each route raises what it
raises elsewhere and the client still shows the message.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from registry.errors import (
    AuthenticationError,
    EntryNotFoundError,
    PresetNotFoundError,
    RegistryError,
    RevisionNotFoundError,
    UpstreamUnavailableError,
    status_of,
)

_PREFIXES = ("/api/models/", "/api/repos/", "/api/validate-yaml", "/api/lfs/")
# What huggingface_hub reads as a bad token (so it does not call it RepoNotFound).
BAD_CREDENTIALS = "Invalid credentials in Authorization header"
UPSTREAM_UNAVAILABLE = "UpstreamUnavailable"
# Most specific first. `UpstreamUnavailable` is not one of the codes huggingface_hub
# turns into a typed error: with a 504 it keeps the client on its "Hub unreachable"
# path (its own cache, else an error showing this server's message).
_CODES: tuple[tuple[type[RegistryError], str], ...] = (
    (EntryNotFoundError, "EntryNotFound"),
    (RevisionNotFoundError, "RevisionNotFound"),
    (PresetNotFoundError, "RepoNotFound"),
    (UpstreamUnavailableError, UPSTREAM_UNAVAILABLE),
)


class HubError(Exception):
    """An error the Hub's clients recognise by its `X-Error-Code` header (when it
    has one) and show by its message."""

    def __init__(
        self, code: str | None, message: str, status: int = 404, headline: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headline = headline or message  # the X-Error-Message header

    def response(self, extra: dict[str, object] | None = None) -> JSONResponse:
        # Header values are Latin-1 on the wire; the message may echo anything a client sent.
        header = self.headline.encode("ascii", "backslashreplace").decode("ascii")
        headers = {"X-Error-Message": " ".join(header.split())[:500].rstrip()}
        if self.code is not None:
            headers["X-Error-Code"] = self.code
        return JSONResponse(
            {"error": self.message, **(extra or {})}, status_code=self.status, headers=headers
        )


def is_hub_path(path: str) -> bool:
    """Whether a request's path is one of the Hub protocol's routes."""
    return path.startswith(_PREFIXES) or "/resolve/" in path or ".git/info/lfs/" in path


def _repo_scoped(path: str) -> bool:
    return path.startswith(("/api/models/", "/api/lfs/")) or not path.startswith("/api/")


def hub_error(error: RegistryError, request: Request) -> HubError:
    """The Hub's form of a registry error raised on a Hub route."""
    status, _ = status_of(error)
    message = str(error)
    for kind, code in _CODES:
        if isinstance(error, kind):
            return HubError(code, message, status)
    if isinstance(error, AuthenticationError):
        # The Hub answers a missing token on a repository with 401, which its client
        # reads as RepoNotFound over https only: say so over plain http too. A token
        # sent but unknown is a bad credential, not a missing repository.
        if request.headers.get("authorization"):
            return HubError("Unauthorized", message, status, headline=BAD_CREDENTIALS)
        code = "RepoNotFound" if _repo_scoped(request.url.path) else "Unauthorized"
        return HubError(code, message, status)
    return HubError(None, message, status)
