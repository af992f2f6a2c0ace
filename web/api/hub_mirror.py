"""The Hub's download routes for repositories this server mirrors from an
upstream Hub (`REGISTRY_HF_UPSTREAM`, `registry serve --hf-upstream`).

`web.api.hf` asks here first. A repository the catalog holds under its own name
(an upload, a built-in, a commit pushed here) is not the mirror's: these
functions return None and `hf` answers from the catalog as always. Every other
repository is the mirror's (`registry.resolver.mirror`): model info and tree
listings come from the upstream's commit (with only its preset files); a HEAD
is answered from the upstream's metadata without waiting for the body; a GET
streams the file while the mirror stores it, or serves it from the store.

Upstream commit ids are served as they are, so a client's cache and pinned
revisions mean the same thing here and upstream. Errors carry the Hub's
`X-Error-Code`: 404s stay 404s (`RepoNotFound`, `RevisionNotFound`,
`EntryNotFound`), a repository that is no preset is 422 with the reason, an
unreachable upstream is 504 (`UpstreamUnavailable`). The caller's own token
is never sent upstream: only the server's `HF_TOKEN` is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from registry.catalog.queries import EVERYONE, find_preset
from registry.errors import RegistryError
from registry.resolver.mirror import Mirror, MirroredCommit
from registry.resolver.upstream import UpstreamFile
from web.api import xet_offer
from web.api.common import BlobResponse
from web.api.hub_errors import hub_error
from web.services import Services

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_POINTER_SIZE = 134  # an LFS pointer's length, as the Hub reports it
FIRST_BYTE_TIMEOUT_S = 60.0


def mirror_of(svc: Services, namespace: str, name: str) -> Mirror | None:
    """The mirror, if it answers for `namespace/name` (the catalog holds no
    preset of that name, or holds the one the mirror recorded)."""
    if svc.mirror is None:
        return None
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = find_preset(session, f"{namespace}/{name}", viewer=EVERYONE)
        source = None if preset is None else preset.source
    return svc.mirror if preset is None or source == f"hf://{namespace}/{name}" else None


async def _commit(
    request: Request, svc: Services, namespace: str, name: str, rev: str
) -> tuple[Mirror, MirroredCommit] | Response | None:
    mirror = await run_in_threadpool(mirror_of, svc, namespace, name)
    if mirror is None:
        return None
    try:
        commit = await run_in_threadpool(mirror.commit, f"{namespace}/{name}", rev)
    except RegistryError as error:
        return hub_error(error, request).response()
    mirror.complete_later(commit)
    return mirror, commit


# === Model info and trees ===


def _sibling(file: UpstreamFile) -> dict[str, Any]:
    sibling: dict[str, Any] = {"rfilename": file.path, "size": file.size, "blobId": file.oid}
    if file.sha256 is not None:
        sibling["lfs"] = {"sha256": file.sha256, "size": file.size, "pointerSize": _POINTER_SIZE}
    return sibling


def model_info(commit: MirroredCommit) -> dict[str, Any]:
    """The upstream's model info, listing only the files the mirror serves."""
    return {
        **commit.info,
        "id": commit.repo_id,
        "modelId": commit.repo_id,
        "sha": commit.sha,
        "siblings": [_sibling(f) for f in commit.files],
    }


async def info(request: Request, svc: Services, namespace: str, name: str, rev: str) -> Any:
    """Model info of a mirrored repository, or None when it is not the mirror's."""
    found = await _commit(request, svc, namespace, name, rev)
    return found if found is None or isinstance(found, Response) else model_info(found[1])


def _tree_entry(file: UpstreamFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": file.oid, "size": file.size, "path": file.path}
    if file.sha256 is not None:
        entry["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": _POINTER_SIZE}
    return entry


def tree_entries(commit: MirroredCommit, path: str, recursive: bool) -> list[dict[str, Any]]:
    """The listing of a folder of the commit (its preset files only)."""
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    entries: dict[str, dict[str, Any]] = {}
    for file in commit.files:
        if not file.path.startswith(prefix):
            continue
        rest = file.path[len(prefix) :].split("/")
        for depth in range(1, len(rest) if recursive else min(2, len(rest))):
            folder = prefix + "/".join(rest[:depth])
            oid = hashlib.sha1(folder.encode(), usedforsecurity=False).hexdigest()
            entries.setdefault(folder, {"type": "directory", "oid": oid, "size": 0, "path": folder})
        if recursive or len(rest) == 1:
            entries[file.path] = _tree_entry(file)
    return [entries[key] for key in sorted(entries)]


async def tree(
    request: Request, svc: Services, namespace: str, name: str, rev: str, path: str, recursive: bool
) -> Any:
    """The tree listing of a mirrored repository, or None when it is not the mirror's."""
    found = await _commit(request, svc, namespace, name, rev)
    if found is None or isinstance(found, Response):
        return found
    return tree_entries(found[1], path, recursive)


# === Files ===


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range [start, end) a `Range` header asks for, if it is one."""
    match = _RANGE.match((header or "").strip())
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        return max(size - int(last), 0), size
    end = min(int(last) + 1, size) if last else size
    return int(first), end


async def resolve_file(
    request: Request, svc: Services, namespace: str, name: str, rev: str, path: str
) -> Response | None:
    """A file of a mirrored repository, or None when the repository is not the mirror's."""
    found = await _commit(request, svc, namespace, name, rev)
    if found is None or isinstance(found, Response):
        return found
    mirror, commit = found
    try:
        file = mirror.file(commit, path)
        sha256 = await run_in_threadpool(mirror.sha256, commit, file)
        etag = f'"{sha256}"'
        headers = {"X-Repo-Commit": commit.sha, "ETag": etag, "X-Linked-Etag": etag,
                   "X-Linked-Size": str(file.size), "Accept-Ranges": "bytes"}  # fmt: skip
        if file.sha256 is not None and xet_offer.offered(svc, file.size):  # stored or not
            headers.update(xet_offer.headers(request, namespace, name, commit.sha, sha256))
        blob = mirror.stored(commit, file)
        if blob is not None:
            return BlobResponse(blob, headers=headers)
        if request.method == "HEAD":  # from the upstream's metadata: no waiting for the body
            return Response(headers={**headers, "Content-Length": str(file.size)})
        return await _stream(request, mirror, commit, file, headers)
    except RegistryError as error:
        response = hub_error(error, request).response()
        response.headers["X-Repo-Commit"] = commit.sha
        return response


async def _stream(
    request: Request,
    mirror: Mirror,
    commit: MirroredCommit,
    file: UpstreamFile,
    headers: dict[str, str],
) -> Response:
    """The file as it lands in the store (one download, whoever asks)."""
    fill = mirror.fill(commit, file)
    await run_in_threadpool(fill.wait_started, FIRST_BYTE_TIMEOUT_S)
    status, start, end = 200, 0, file.size
    wanted = _range(request.headers.get("range"), file.size)
    if wanted is not None:
        start, end = wanted
        if start >= end:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{file.size}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
    headers["Content-Length"] = str(end - start)
    body: Iterator[memoryview] = fill.read(start, end)
    return StreamingResponse(
        body, status_code=status, headers=headers, media_type="application/octet-stream"
    )
