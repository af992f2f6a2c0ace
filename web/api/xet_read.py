"""The Xet read path: stock clients (`pip install huggingface_hub` brings
`hf_xet`) download large files as parallel ranged reads instead of one stream.

A file's `HEAD`/`GET` answer (`web.api.hf`, and the mirror's for an LFS file,
stored or not yet) carries `X-Xet-Hash` (the file's id: its sha256) and a `xet-auth` link to
`GET /api/models/{ns}/{name}/xet-read-token/{commit}`, which gives a CAS token
bound to that revision, to whoever may read it. With it, hf_xet asks
`GET /xet/v1/reconstructions/{id}` (a `Range` header asks for part of the file)
and gets the file as segments of the stored blob (`registry.xet.segments`),
each with a URL signed for 15 minutes; it fetches them in parallel with `Range`
headers (no token: as presigned storage URLs) and writes each at its offset.
`/xet/v2/reconstructions` is left to 404, after which hf_xet asks v1. A
mirrored file the mirror has not stored yet is read behind its download (the
last byte once the whole file matched its digest, as for a plain GET).

Which files are offered, and how, is `web.api.xet_offer`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from registry.catalog.models import Revision, RevisionFile
from registry.errors import RegistryError
from registry.signing import signer_for
from registry.xet import segments
from web.api import hub_mirror
from web.api.hf import hub_revision
from web.api.hub_errors import HubError, hub_error
from web.api.xet import CAS_PREFIX, TOKEN_TTL_S, cas_token_claims, token_answer
from web.auth import Principal, PrincipalDep
from web.bucket_files import byte_range
from web.services import Services, ServicesDep

router = APIRouter(tags=["xet"])
READ_PURPOSE = "xet-read"
SEGMENT_PURPOSE = "xet-segment"
LAYOUT = segments.DEFAULT


def _claims(svc: Services, who: Principal, namespace: str, name: str, rev: str) -> dict[str, Any]:
    """What a read token is bound to: a catalog revision's digest, or a mirrored commit."""
    mirror = hub_mirror.mirror_of(svc, namespace, name)
    repo = f"{namespace}/{name}"
    if mirror is not None:
        return {"repo": repo, "commit": mirror.commit(repo, rev).sha}
    return {"repo": repo, "digest": hub_revision(svc, who, namespace, name, rev).digest}


@router.get(
    "/api/models/{namespace}/{name}/xet-read-token/{rev:path}",
    summary="A Xet read token (Hub protocol)",
)
async def xet_read_token(
    namespace: str, name: str, rev: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> Response:
    """A short-lived token to read this revision's files through the Xet CAS."""
    try:
        claims = await run_in_threadpool(_claims, svc, who, namespace, name, rev)
    except HubError as error:
        return error.response()
    except RegistryError as error:
        return hub_error(error, request).response()
    return token_answer(request, svc, READ_PURPOSE, claims)


@dataclass(frozen=True)
class _Located:
    """A file a read token may reconstruct: its size, and for a mirrored file
    not stored yet, where the mirror fetches it (its segments read behind that
    download)."""

    size: int
    fetch: dict[str, str] | None = None  # {"repo", "commit", "path"}


def _locate(svc: Services, claims: dict[str, Any], sha256: str) -> _Located | None:
    """The file `sha256` if the revision the token names holds it, and it is
    stored here or the mirror can fetch it."""
    if "digest" in claims:
        query = (
            select(RevisionFile.size)
            .join(Revision, Revision.id == RevisionFile.revision_id)
            .where(Revision.digest == claims["digest"], RevisionFile.sha256 == sha256)
            .limit(1)
        )
        with svc.resolver.catalog.transaction(write=False) as session:
            size = session.scalar(query)
        return None if size is None or not svc.resolver.store.has_blob(sha256) else _Located(size)
    mirror = svc.mirror
    if mirror is None or not isinstance(claims.get("commit"), str):
        return None
    commit = mirror.commit(claims["repo"], claims["commit"])
    file = next((f for f in commit.files if f.sha256 == sha256), None)
    if file is None:
        return None
    if mirror.stored(commit, file) is not None:
        return _Located(file.size)
    return _Located(file.size, {"repo": commit.repo_id, "commit": commit.sha, "path": file.path})


def _not_found(sha256: str) -> JSONResponse:
    return JSONResponse({"error": f"No file {sha256} in the revision this token is for."}, 404)


@router.get(f"{CAS_PREFIX}/v1/reconstructions/{{file_id}}", summary="File reconstruction (Xet CAS)")
async def reconstruction(file_id: str, request: Request, svc: ServicesDep) -> Response:
    """The segments that make up the file (or the range of it the `Range` header asks)."""
    claims = cas_token_claims(request, svc, READ_PURPOSE)
    sha256 = file_id.lower()
    try:
        found = await run_in_threadpool(_locate, svc, claims, sha256)
    except RegistryError as error:
        return hub_error(error, request).response()
    if found is None:
        return _not_found(sha256)
    wanted = byte_range(request.headers.get("range"), found.size)
    if wanted is False:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{found.size}"})
    start, end = wanted if isinstance(wanted, tuple) else (0, found.size)
    grant = {"sha": sha256, "size": found.size, **(found.fetch or {})}
    token = signer_for(svc.settings).sign(SEGMENT_PURPOSE, grant, ttl=TOKEN_TTL_S).token
    base = str(request.base_url).rstrip("/") + CAS_PREFIX

    def url_for(index: int) -> str:
        return f"{base}/v1/segments/{sha256}/{index}?token={token}"

    return JSONResponse(LAYOUT.reconstruction(sha256, found.size, start, end, url_for))


def _source(svc: Services, grant: dict[str, Any]) -> Callable[[ExitStack], segments.Source]:
    """Where a segment's bytes come from, opened within a stack: the stored
    blob, else the mirror's download of it (under way, or started now).

    Raises:
        FileNotFoundError: no such blob here, nor a download to read behind.
        RegistryError: the mirror's download did not start.
    """
    path = svc.resolver.store.blob_path(grant["sha"])
    mirror = svc.mirror
    if path.is_file():

        def from_file(stack: ExitStack) -> segments.Source:
            fd = os.open(path, os.O_RDONLY)
            stack.callback(os.close, fd)
            return segments.file_source(fd)

        return from_file
    if mirror is None or "path" not in grant:
        raise FileNotFoundError(path)
    commit = mirror.commit(grant["repo"], grant["commit"])
    fill = mirror.fill(commit, mirror.file(commit, grant["path"]))
    fill.wait_started(hub_mirror.FIRST_BYTE_TIMEOUT_S)
    return lambda stack: stack.enter_context(fill.reader()).fill_all


@router.get(
    f"{CAS_PREFIX}/v1/segments/{{sha256}}/{{index}}", summary="A segment of a file (Xet CAS)"
)
async def segment(
    sha256: str, index: int, token: str, request: Request, svc: ServicesDep
) -> Response:
    """Bytes of a segment as a xorb holds them (chunk headers and chunks), one range."""
    grant = signer_for(svc.settings).verify(SEGMENT_PURPOSE, token)
    if grant is None or grant.get("sha") != sha256 or not isinstance(grant.get("size"), int):
        # hf_xet asks for a new reconstruction (new URLs) on a 403.
        return JSONResponse({"error": "This segment URL is invalid or expired."}, 403)
    size = grant["size"]
    if not 0 <= index < LAYOUT.segment_count(size):
        return _not_found(sha256)
    length = LAYOUT.segment_length(size, index)
    wanted = byte_range(request.headers.get("range"), length)
    if wanted is False:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{length}"})
    start, end = wanted if isinstance(wanted, tuple) else (0, length)
    try:
        opener = await run_in_threadpool(_source, svc, grant)
    except FileNotFoundError:
        return _not_found(sha256)
    except RegistryError as error:
        return hub_error(error, request).response()

    def body() -> Iterator[memoryview]:
        with ExitStack() as stack:
            yield from LAYOUT.read(opener(stack), size, index, start, end)

    answer = {"Content-Length": str(end - start), "Accept-Ranges": "bytes"}
    status = 200
    if wanted:
        status, answer["Content-Range"] = 206, f"bytes {start}-{end - 1}/{length}"
    return StreamingResponse(
        iterate_in_threadpool(body()), status_code=status, headers=answer,
        media_type="application/octet-stream",
    )  # fmt: skip
