"""The upstream Hub of a pull-through mirror, spoken to over plain HTTP.

Three requests, as `huggingface_hub` makes them: a revision's model info (its
commit id), the commit's recursive tree listing (every file's size, git blob id
and, for LFS files, sha256) and a file's bytes from an offset. The server's own
token (`HF_TOKEN` in its environment) is the only credential sent; a caller's
is never seen here. The Hub's errors come back as the registry's: an unknown
repository, revision or file as `PresetNotFoundError` and its subclasses, an
upstream that cannot be reached, or fails, as `UpstreamUnavailableError`.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from registry.errors import (
    EntryNotFoundError,
    PresetNotFoundError,
    RegistryError,
    RevisionNotFoundError,
    SourceError,
    UpstreamUnavailableError,
)
from registry.version import __version__

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
_MAX_PAGES = 100
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Body:
    """A file's body as it arrives: where in the file it starts, and its bytes."""

    start: int
    _stream: http.client.HTTPResponse
    _hub: UpstreamHub

    def readinto(self, buffer: memoryview) -> int:
        """Fill `buffer` from the body; 0 at its end (or where the upstream stopped).

        Raises:
            UpstreamUnavailableError: the connection failed.
        """
        try:
            return self._stream.readinto(buffer)
        except (OSError, http.client.HTTPException) as error:
            raise self._hub.unreachable(error) from error


@dataclass(frozen=True)
class UpstreamFile:
    """A file of an upstream commit, as its tree listing describes it."""

    path: str
    size: int
    oid: str  # the git blob id (of the LFS pointer, for LFS files)
    sha256: str | None = None  # published for LFS files only

    @property
    def git_oid(self) -> str | None:
        """The git blob id of the content itself (regular files only)."""
        return self.oid if self.sha256 is None and _HEX40.match(self.oid) else None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "oid": self.oid, "sha256": self.sha256}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> UpstreamFile:
        return cls(str(body["path"]), int(body["size"]), str(body["oid"]), body.get("sha256"))


class UpstreamHub:
    """An HTTP client of one upstream Hub (`REGISTRY_HF_UPSTREAM`)."""

    def __init__(self, url: str, *, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"keras-preset-registry/{__version__} (mirror)"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # httpx drops Authorization when a redirect leaves the upstream's host
        # (the Hub sends LFS files to a CDN by signed URLs).
        self._client = httpx.Client(
            headers=headers,
            follow_redirects=True,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    def close(self) -> None:
        self._client.close()

    # === Requests ===

    def commit(self, repo_id: str, revision: str) -> tuple[str, dict[str, Any]]:
        """The commit id `revision` names, and the model info the upstream sent.

        Raises:
            PresetNotFoundError, RevisionNotFoundError: the upstream has no such one.
            UpstreamUnavailableError: the upstream cannot be reached or failed.
        """
        url = f"{self.url}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
        body = self._json(url, repo_id, revision)
        sha = body.get("sha") if isinstance(body, dict) else None
        if not isinstance(sha, str) or not _HEX40.match(sha):
            raise SourceError(
                f"The upstream Hub {self.url} answered {repo_id}@{revision} without a commit "
                "id (`sha`); check that REGISTRY_HF_UPSTREAM points at a Hub."
            )
        return sha, body

    def tree(self, repo_id: str, commit: str) -> list[UpstreamFile]:
        """Every file of a commit (the listing is followed page by page)."""
        url: str | None = f"{self.url}/api/models/{repo_id}/tree/{commit}?recursive=true"
        files: list[UpstreamFile] = []
        for _ in range(_MAX_PAGES):
            if url is None:
                break
            response = self._get(url, repo_id, commit)
            body = _decoded(response, url)
            files.extend(_file(entry) for entry in body if entry.get("type") == "file")
            url = response.links.get("next", {}).get("url")
        return files

    @contextmanager
    def open(self, repo_id: str, commit: str, path: str, start: int = 0) -> Iterator[Body]:
        """The file's body from byte `start` (or from 0, if the upstream ignores ranges).

        Bodies are read with the standard library's `http.client`, `readinto` a
        caller's buffer: a fraction of the per-piece work of a pure-Python HTTP
        stack (as the registry's own client does). Redirects are followed; the
        token goes to the upstream's own host only (the Hub sends LFS files to
        a CDN by signed URLs).

        Raises:
            EntryNotFoundError: the upstream has no such file.
            UpstreamUnavailableError: the upstream cannot be reached or failed.
        """
        url = f"{self.url}/{repo_id}/resolve/{commit}/{quote(path)}"
        headers = {"User-Agent": self._client.headers["User-Agent"], "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        try:
            connection, response = self._follow(url, headers)
        except RegistryError:
            raise
        except (OSError, http.client.HTTPException) as error:
            raise self.unreachable(error) from error
        try:
            if response.status >= 400:
                try:
                    content = response.read(64 << 10)
                except (OSError, http.client.HTTPException) as error:
                    raise self.unreachable(error) from error
                answer = httpx.Response(
                    response.status, content=content, headers=response.getheaders()
                )
                _raise_for(answer, repo_id, commit, path)
            yield Body(_body_start(response), response, self)
        finally:
            connection.close()

    def _follow(
        self, url: str, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        own_host = urlsplit(self.url).netloc
        for _ in range(_MAX_REDIRECTS):
            parts = urlsplit(url)
            https = parts.scheme == "https"
            kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
            connection = kind(parts.hostname or "localhost", parts.port, timeout=READ_TIMEOUT_S)
            sent = dict(headers)
            token = self._client.headers.get("Authorization")
            if token and parts.netloc == own_host:
                sent["Authorization"] = token
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                connection.request("GET", target, headers=sent)
                response = connection.getresponse()
            except BaseException:  # an upstream that dies before answering: no socket left open
                connection.close()
                raise
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                response.read()
                connection.close()
                url = urljoin(url, location)
                continue
            return connection, response
        raise UpstreamUnavailableError(
            f"The upstream Hub redirected {url} more than {_MAX_REDIRECTS} times."
        )

    # === Errors ===

    def _get(self, url: str, repo_id: str, revision: str) -> httpx.Response:
        try:
            response = self._client.get(url)
        except httpx.HTTPError as error:
            raise self.unreachable(error) from error
        _raise_for(response, repo_id, revision, None)
        return response

    def _json(self, url: str, repo_id: str, revision: str) -> Any:
        return _decoded(self._get(url, repo_id, revision), url)

    def unreachable(self, error: Exception) -> UpstreamUnavailableError:
        reason = type(error).__name__
        detail = " ".join(str(error).split())[:200]
        return UpstreamUnavailableError(
            f"The upstream Hub {self.url} could not be reached ({reason}: {detail}). What "
            "this mirror holds is still served; try again once the upstream is back."
        )


def _body_start(response: http.client.HTTPResponse) -> int:
    """Where a response's body starts in the file: a 206's `Content-Range`, else 0."""
    if response.status != 206:
        return 0
    match = re.match(r"bytes (\d+)-", response.getheader("Content-Range") or "")
    return int(match.group(1)) if match else 0


def _decoded(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise SourceError(f"The upstream Hub answered {url} with something not JSON.") from error


def _file(entry: dict[str, Any]) -> UpstreamFile:
    lfs = entry.get("lfs") or {}
    sha256 = lfs.get("oid") or lfs.get("sha256")
    return UpstreamFile(
        path=str(entry["path"]),
        size=int(entry.get("size", lfs.get("size", 0))),
        oid=str(entry.get("oid", "")),
        sha256=sha256 if isinstance(sha256, str) and _HEX64.match(sha256) else None,
    )


def _raise_for(response: httpx.Response, repo_id: str, revision: str, path: str | None) -> None:
    """The registry's error for an upstream's error answer (none for a success)."""
    status = response.status_code
    if status < 400:
        return
    code = response.headers.get("X-Error-Code")
    where = f"{repo_id}@{revision}" + (f": {path}" if path else "")
    if status >= 500 or status in (408, 429):
        raise UpstreamUnavailableError(
            f"The upstream Hub failed to serve {where} (HTTP {status}). What this mirror "
            "holds is still served; try again later."
        )
    if code == "EntryNotFound" or (status == 404 and path is not None and code is None):
        raise EntryNotFoundError(f"{path} does not exist in {repo_id}@{revision} upstream.")
    if code == "RevisionNotFound":
        raise RevisionNotFoundError(f"The upstream Hub has no revision {revision} of {repo_id}.")
    if status in (401, 403, 404) or code in ("RepoNotFound", "GatedRepo"):
        raise PresetNotFoundError(
            f"The upstream Hub has no repository {repo_id} that this mirror may read (HTTP "
            f"{status}{', ' + code if code else ''}). For a private or gated repository, "
            "start the mirror with an HF_TOKEN that can read it."
        )
    raise SourceError(f"The upstream Hub refused {where} (HTTP {status}).")
