"""The registry's JSON API, `/api/v1`: what `Registry(url=...)` and scripts use.

| method and path | what |
|---|---|
| `GET /api/v1/presets` | search, with the catalog's filters, sort and pagination |
| `GET /api/v1/presets/{ns}/{name}` | one preset with its aliases and revisions |
| `GET /api/v1/presets/{ns}/{name}/revisions[/{ref}]` | revisions and their files |
| `GET /api/v1/presets/{ns}/{name}/revisions/{ref}/files/{path}` | one file (ranges work) |
| `POST /api/v1/presets/{ns}/{name}/revisions` | upload a new revision (write token) |
| `PUT /api/v1/presets/{ns}/{name}/aliases/{alias}` | point an alias at a revision (owner) |
| `DELETE /api/v1/presets/{ns}/{name}` | delete a preset (owner) |
| `GET /api/v1/whoami` | the token's owner and scope |
| `GET /api/v1/upload-options` | what a tar upload may announce (each file's sha256) |
| `.../revisions/{ref}/signatures`, `POST /api/v1/keys` | signatures: `web/api/signatures.py` |
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from registry.catalog.names import ALIAS, check_name
from registry.catalog.service import delete_preset, move_alias
from registry.errors import PresetNotFoundError
from registry.preset.upload import TEE_BYTES
from registry.records import (
    AliasIn,
    AliasOut,
    ErrorBody,
    PresetDetail,
    RevisionInfo,
    SearchPage,
    SearchRequest,
    UploadOptions,
    WhoAmI,
)
from registry.resolver.handles import CatalogHandle
from registry.resolver.resolve import pick_revision
from web.api import common
from web.auth import CallerDep, PrincipalDep
from web.services import ServicesDep

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 409, 413, 422)
}
router = APIRouter(prefix="/api/v1", tags=["presets"], responses=ERRORS)


@router.get("/presets", response_model=SearchPage, summary="Search presets")
async def search(
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    asked: Annotated[SearchRequest, Query()],
) -> Response:
    # Answers are cached per query and viewer until the catalog changes (web.cache),
    # and read from the in-memory index when it is current (registry.catalog.memory).
    key = ("search", who.owner, str(request.url.query))
    cached, generation = svc.cache.lookup(key)
    if cached is not None:
        return Response(cached.body, media_type=cached.media_type)

    options = dict(
        filters=asked.filters(), sort=asked.sort, descending=asked.descending(),
        page=asked.page, per_page=asked.per_page, viewer=who.viewer,
    )  # fmt: skip
    found = svc.search_memory(generation, asked.q, **options)
    if found is None:
        found = await run_in_threadpool(svc.search_database, asked.q, **options)
    body = found.model_dump_json().encode()
    svc.cache.store(key, generation, body, "application/json")
    return Response(body, media_type="application/json")


@router.get("/presets/{namespace}/{name}", response_model=PresetDetail, summary="One preset")
def get_preset(namespace: str, name: str, svc: ServicesDep, who: PrincipalDep) -> PresetDetail:
    return common.detail(svc, who, namespace, name)


@router.get(
    "/presets/{namespace}/{name}/revisions",
    response_model=list[RevisionInfo],
    summary="A preset's revisions, newest first",
)
def list_revisions(
    namespace: str, name: str, svc: ServicesDep, who: PrincipalDep
) -> list[RevisionInfo]:
    return list(common.detail(svc, who, namespace, name).revisions)


@router.get(
    "/presets/{namespace}/{name}/revisions/{ref}",
    response_model=RevisionInfo,
    summary="One revision (by alias, digest or digest prefix) with its files",
)
def get_revision(
    namespace: str, name: str, ref: str, svc: ServicesDep, who: PrincipalDep
) -> RevisionInfo:
    found = common.revision(svc, who, namespace, name, ref)
    revision = common.detail(svc, who, namespace, name).revision(found.digest)
    if revision is None:
        raise common.not_found(namespace, name)  # deleted between the two reads
    return revision


@common.file_route(router, "/presets/{namespace}/{name}/revisions/{ref}/files/{path:path}", "file")
async def get_file(namespace: str, name: str, ref: str, path: str, caller: CallerDep) -> Response:
    """One file of a revision (ranges work; its sha256 in `ETag`)."""
    request, svc, who = caller.request, caller.svc, caller.who
    found = await run_in_threadpool(common.revision, svc, who, namespace, name, ref)
    entry = found.entry(path)
    if entry is None:
        raise PresetNotFoundError(
            f"Revision {found.digest[:12]} of {namespace}/{name} has no file {path!r}."
        )
    headers = {
        "ETag": f'"{entry.sha256}"',
        "X-Checksum-Sha256": entry.sha256,
        "X-Revision": found.digest,
        "Cache-Control": "public, max-age=31536000, immutable"
        if ref == found.digest
        else "no-cache",
    }
    return await common.serve_file(request, svc, found, entry, headers)


@router.put(
    "/presets/{namespace}/{name}/aliases/{alias}",
    response_model=AliasOut,
    summary="Point an alias at a revision (owner only)",
)
def put_alias(
    namespace: str, name: str, alias: str, body: AliasIn, svc: ServicesDep, who: PrincipalDep
) -> AliasOut:
    who.require_write()
    check_name("alias", alias, ALIAS)
    with svc.resolver.catalog.transaction() as session:
        preset = common.writable_preset(session, who, namespace, name)
        target = pick_revision(session, preset, CatalogHandle(namespace, name, body.revision))
        if target is None:
            raise PresetNotFoundError(f"{namespace}/{name} has no revision {body.revision!r}.")
        move_alias(session, preset, alias, target)
        digest = target.digest
    svc.cache.changed()
    return AliasOut(preset=f"{namespace}/{name}", alias=alias, revision=digest)


@router.delete(
    "/presets/{namespace}/{name}",
    status_code=204,
    response_class=Response,
    summary="Delete a preset with its revisions and aliases (owner only)",
)
def delete(namespace: str, name: str, svc: ServicesDep, who: PrincipalDep) -> Response:
    with svc.resolver.catalog.transaction() as session:
        delete_preset(session, common.writable_preset(session, who, namespace, name))
    svc.cache.changed()
    return Response(status_code=204)


@router.get("/upload-options", response_model=UploadOptions, summary="How uploads are taken")
def upload_options(svc: ServicesDep) -> UploadOptions:
    on_bucket = svc.resolver.store.bucket is not None
    return UploadOptions(announce_sha256_from=TEE_BYTES if on_bucket else None)


@router.get("/whoami", response_model=WhoAmI, tags=["tokens"], summary="The caller's token")
def whoami(who: PrincipalDep) -> WhoAmI:
    return WhoAmI(owner=who.owner, scope=who.scope, token_name=who.token_name)
