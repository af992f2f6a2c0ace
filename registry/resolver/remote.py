"""Another registry server as a source: its JSON API (`/api/v1`) over httpx.

`Registry(url=...)` and a resolver with `REGISTRY_URL` set ask the server which
revision a name means and which files it holds, then download only the blobs
the local store lacks, hashing each as it lands. Nothing the server says is
trusted blindly: every file must hash to the digest the manifest lists, and the
manifest must hash to the revision id the server named.
"""

from __future__ import annotations

import functools
import hmac
import http.client
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from registry import records
from registry.errors import (
    ChecksumMismatchError,
    RegistryError,
    SourceError,
    StoreError,
    error_from,
)
from registry.preset.manifest import FileEntry, Manifest, sha256_file
from registry.preset.upload import SHA256_PAX
from registry.resolver.handles import CatalogHandle
from registry.resolver.request import UploadRequest
from registry.resolver.store import CHUNK, Advance, Store, byte_progress
from registry.version import __version__

# A dead server is an error within seconds (connect), a slow body is not (read).
TIMEOUT = httpx.Timeout(30.0, connect=5.0, read=300.0)


def _manifest(revision: records.RevisionInfo) -> Manifest:
    return Manifest(tuple(sorted(revision.files)))


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class RegistryServer:
    """A client of one registry server's JSON API."""

    def __init__(self, url: str, *, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"keras-preset-registry/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Plain-HTTP servers need no certificates (requests never leave the base
        # URL: redirects are not followed), and loading them costs 40-100 ms.
        tls = self.url.startswith("https://")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT, verify=tls)

    def __repr__(self) -> str:
        return f"RegistryServer({self.url!r})"

    def close(self) -> None:
        self.http.close()

    # === Requests ===

    def _raise_for(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            error = records.ErrorBody.model_validate_json(response.content).error
            code, message = error.code, error.message
        except ValueError:
            code, message = "http_error", response.text[:300] or response.reason_phrase
        # The server's message names the preset or file and the fix.
        raise error_from(code, f"{self.url}: {message}")

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise SourceError(
                f"Cannot reach the registry server {self.url} ({error}). Check REGISTRY_URL "
                "and that the server runs (`registry serve`)."
            ) from error
        self._raise_for(response)
        return response

    @staticmethod
    def _preset_path(handle: CatalogHandle) -> str:
        return f"/api/v1/presets/{quote(handle.namespace)}/{quote(handle.name)}"

    # === Reading ===

    def search(self, asked: records.SearchRequest) -> records.SearchPage:
        response = self._request("GET", "/api/v1/presets", params=asked.query_parameters())
        return records.SearchPage.model_validate_json(response.content)

    def detail(self, handle: CatalogHandle) -> records.PresetDetail:
        response = self._request("GET", self._preset_path(handle))
        return records.PresetDetail.model_validate_json(response.content)

    def revision(self, handle: CatalogHandle) -> Manifest:
        """The files of the revision `handle.ref` names (latest if None), checked
        against the revision id the server gave."""
        ref = quote(handle.ref or "latest", safe="")
        response = self._request("GET", f"{self._preset_path(handle)}/revisions/{ref}")
        revision = records.RevisionInfo.model_validate_json(response.content)
        manifest = _manifest(revision)
        if not hmac.compare_digest(manifest.revision_id, revision.digest):
            raise ChecksumMismatchError(
                f"{handle} from {self.url}",
                revision.digest,
                manifest.revision_id,
                fix="The server's file list does not hash to the revision it named; "
                "report it to the server's operator.",
            )
        return manifest

    def download(self, handle: CatalogHandle, manifest: Manifest, store: Store) -> None:
        """Put every blob of the revision in `store`, each checked as it lands."""
        digest = manifest.revision_id
        missing = [e for e in manifest.files if not store.blob_path(e.sha256).is_file()]
        total = sum(entry.size for entry in missing)
        with byte_progress(f"downloading {handle}", total, None) as advance:
            for entry in missing:
                self._download_one(handle, digest, entry, store, advance)

    def _download_one(
        self,
        handle: CatalogHandle,
        digest: str,
        entry: FileEntry,
        store: Store,
        advance: Advance | None,
    ) -> None:
        path = f"{self._preset_path(handle)}/revisions/{digest}/files/{quote(entry.path)}"
        try:
            sha256, size = self._fetch_blob(path, store, advance)
        except StoreError:
            raise  # the local disk, not the server: its own message says what to do
        except (OSError, http.client.HTTPException) as error:
            raise SourceError(
                f"Downloading {entry.path} of {handle} from {self.url} failed ({error})."
            ) from error
        if sha256 != entry.sha256 or size != entry.size:
            raise ChecksumMismatchError(
                f"{handle}: {entry.path} from {self.url}",
                entry.sha256,
                sha256,
                fix="The download was corrupted or the server's copy is damaged; "
                "nothing was published. Try again, or tell the server's operator.",
            )

    def _fetch_blob(self, path: str, store: Store, advance: Advance | None) -> tuple[str, int]:
        """GET one file into the store with the standard library's `http.client`.

        Bodies are read with `readinto` into 1 MiB buffers: a fraction of the
        per-piece work of a pure-Python HTTP/1.1 stack, which at multi-GB sizes
        is most of a download's CPU time. Metadata requests stay on httpx.
        """
        target = self.url.rstrip("/") + path
        headers = self._blob_headers()
        for _ in range(_MAX_REDIRECTS + 1):
            url = urlsplit(target)
            https = url.scheme == "https"
            kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
            connection = kind(url.hostname or "localhost", url.port, timeout=TIMEOUT.read)
            try:
                query = f"?{url.query}" if url.query else ""
                connection.request("GET", (url.path or "/") + query, headers=headers)
                response = connection.getresponse()
                location = response.getheader("Location")
                if response.status in _REDIRECTS and location:
                    # A server whose blobs are in a bucket sends a presigned URL:
                    # the token stays with the server (the URL carries its own).
                    response.read()
                    moved = urljoin(target, location)
                    if _origin(moved) != _origin(target):
                        headers.pop("Authorization", None)
                    target = moved
                    continue
                if response.status != 200:
                    body = response.read()
                    self._raise_for(
                        httpx.Response(response.status, content=body, headers=response.getheaders())
                    )
                return store.add_readable(response, advance=advance)
            finally:
                connection.close()
        raise SourceError(f"{self.url}{path} redirected more than {_MAX_REDIRECTS} times.")

    def _blob_headers(self) -> dict[str, str]:
        headers = {"User-Agent": self.http.headers["User-Agent"], "Accept-Encoding": "identity"}
        if "Authorization" in self.http.headers:
            headers["Authorization"] = self.http.headers["Authorization"]
        return headers

    def whoami(self) -> records.WhoAmI:
        return records.WhoAmI.model_validate_json(self._request("GET", "/api/v1/whoami").content)

    # === Writing ===

    def upload(self, source: Path, request: UploadRequest) -> records.Uploaded:
        """Send a directory (as a tar stream, built as it is sent) or an archive,
        with a byte progress bar on terminals."""
        handle = request.handle
        params = {
            "description": request.description,
            "tags": list(request.tags) or None,
            "private": request.private,
            "alias": request.alias,
            "message": request.message or None,
            "license": request.license,
            "base_model": request.base_model,
        }
        params = {k: v for k, v in params.items() if v is not None}
        if source.is_dir():
            tar = TarStream(source, announce_from=self._announce_from())
            size, chunks, content_type = tar.size, tar.chunks, "application/x-tar"
        else:
            size = source.stat().st_size
            chunks = functools.partial(_file_chunks, source)
            content_type = "application/zip" if source.suffix == ".zip" else "application/gzip"
            if source.name.endswith(".tar"):
                content_type = "application/x-tar"
        with byte_progress(f"uploading {handle}", size, None) as advance:
            response = self._request(
                "POST",
                f"{self._preset_path(handle)}/revisions",
                params=params,
                content=_advancing(chunks(), advance),
                headers={"Content-Type": content_type, "Content-Length": str(size)},
            )
        return records.Uploaded.model_validate_json(response.content)

    def _announce_from(self) -> int | None:
        """The size from which the server wants each file's sha256 in the tar
        (only a server on a bucket does; an older server has no such route)."""
        try:
            response = self.http.get("/api/v1/upload-options")
        except httpx.HTTPError:
            return None  # the upload's own request says what is wrong
        if response.status_code == 404:
            return None
        self._raise_for(response)
        options = records.UploadOptions.model_validate_json(response.content)
        return options.announce_sha256_from

    def alias(self, handle: CatalogHandle, alias: str, revision: str) -> records.AliasOut:
        response = self._request(
            "PUT",
            f"{self._preset_path(handle)}/aliases/{quote(alias, safe='')}",
            json=records.AliasIn(revision=revision).model_dump(),
        )
        return records.AliasOut.model_validate_json(response.content)

    def delete(self, handle: CatalogHandle) -> None:
        self._request("DELETE", self._preset_path(handle))

    # === Signatures ===

    def _signatures_path(self, handle: CatalogHandle) -> str:
        ref = quote(handle.ref or "latest", safe="")
        return f"{self._preset_path(handle)}/revisions/{ref}/signatures"

    def signatures(self, handle: CatalogHandle) -> list[records.SignatureInfo]:
        response = self._request("GET", self._signatures_path(handle))
        return [records.SignatureInfo.model_validate(item) for item in response.json()]

    def attach_signature(
        self, handle: CatalogHandle, body: records.SignatureIn
    ) -> records.SignatureInfo:
        response = self._request("POST", self._signatures_path(handle), json=body.model_dump())
        return records.SignatureInfo.model_validate_json(response.content)

    def register_key(self, body: records.SigningKeyIn) -> records.SigningKeyInfo:
        response = self._request("POST", "/api/v1/keys", json=body.model_dump())
        return records.SigningKeyInfo.model_validate_json(response.content)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def _advancing(chunks: Iterator[bytes], advance: Advance | None) -> Iterator[bytes]:
    for chunk in chunks:
        if advance is not None:
            advance(len(chunk))
        yield chunk


class TarStream:
    """A directory's regular files as an uncompressed tar, produced while it is
    sent: no copy on disk, and a size known in advance (tar's layout is fixed:
    each member's header, its bytes padded to 512, two empty blocks at the end,
    all padded to tar's 10 KiB record), so the request has a Content-Length.

    With `announce_from` (a server on a bucket asks for it: `GET
    /api/v1/upload-options`), each file of that size or more is hashed just
    before it is sent, and its sha256 goes in its PAX header (`REGISTRY.sha256`,
    64 hex digits: the header's size is known before the hash): the server then
    streams it straight to the blob's key rather than to a temporary one it
    would have to copy. The server checks it; other tar readers ignore it. A
    server on its own disk does not ask: the hash would cost a read of each file
    (a second per GB) for nothing.
    """

    def __init__(self, directory: Path, *, announce_from: int | None = None) -> None:
        self.members: list[tuple[Path, tarfile.TarInfo, int]] = []  # (file, header, size)
        body = 0
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                info = tarfile.TarInfo(path.relative_to(directory).as_posix())
                stat = path.stat()
                info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
                if announce_from is not None and stat.st_size >= announce_from:
                    info.pax_headers = {SHA256_PAX: "0" * 64}  # its size; the hash comes later
                self.members.append((path, info, stat.st_size))
                body += len(_header(info)) + _padded(stat.st_size)
        self.size = _padded(body + 2 * tarfile.BLOCKSIZE, tarfile.RECORDSIZE)

    def chunks(self) -> Iterator[bytes]:
        sent = 0
        for path, info, size in self.members:
            if SHA256_PAX in info.pax_headers:
                info.pax_headers = {SHA256_PAX: sha256_file(path)}
            header = _header(info)
            yield header
            left = size
            with open(path, "rb") as file:
                while left and (chunk := file.read(min(CHUNK, left))):
                    left -= len(chunk)
                    yield chunk
            if left or path.stat().st_size != size:
                raise RegistryError(
                    f"{path} changed while it was being uploaded; upload again once it is written."
                )
            yield bytes(_padded(size) - size)
            sent += len(header) + _padded(size)
        yield bytes(self.size - sent)  # the end-of-archive blocks and the record padding


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padded(size: int, unit: int = tarfile.BLOCKSIZE) -> int:
    return -(-size // unit) * unit


def server_for(url: str, token: str | None) -> RegistryServer:
    return RegistryServer(url, token=token or os.environ.get("REGISTRY_TOKEN") or None)
