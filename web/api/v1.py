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
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from registry.catalog.queries import EVERYONE, SearchFilters, find_preset, search_presets
from registry.catalog.service import check_name, check_preset_name, delete_preset, move_alias
from registry.errors import PresetNotFoundError
from registry.preset.upload import Staging
from registry.resolver.handles import CatalogHandle
from registry.resolver.publish import Published, UploadRequest, new_staging, publish
from registry.resolver.resolve import pick_revision
from web.api import common
from web.api.schemas import (
    AliasIn,
    AliasOut,
    ErrorBody,
    PresetDetailOut,
    RevisionOut,
    SearchOut,
    UploadOut,
    WhoAmI,
)
from web.auth import Principal, PrincipalDep
from web.receive import receive
from web.services import Services, ServicesDep

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 409, 413, 422)
}
router = APIRouter(prefix="/api/v1", tags=["presets"], responses=_ERRORS)

Sort = Literal["relevance", "name", "parameters", "downloads", "updated"]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


@router.get("/presets", response_model=SearchOut, summary="Search presets")
async def search(
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    q: Annotated[str, Query(max_length=200, description="Words of names, descriptions, tags")] = "",
    architecture: Annotated[str | None, Query(max_length=64)] = None,
    min_parameters: Annotated[int | None, Query(ge=0, le=10**13)] = None,
    max_parameters: Annotated[int | None, Query(ge=0, le=10**13)] = None,
    source: Annotated[
        Literal["kaggle", "hf", "local", "upload", "bundled"] | None,
        Query(description="Where presets come from"),
    ] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    synced: Annotated[bool | None, Query(description="Only presets with files here")] = None,
    namespace: Annotated[str | None, Query(max_length=128)] = None,
    sort: Sort = "relevance",
    order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    # Answers are cached per query and viewer until the catalog changes (web.cache).
    key = ("search", who.owner, str(request.url.query))
    cached, generation = svc.cache.lookup(key)
    if cached is not None:
        return Response(cached.body, media_type=cached.media_type)
    filters = SearchFilters(
        architecture=architecture,
        min_parameters=min_parameters,
        max_parameters=max_parameters,
        source_kind=source,
        tag=tag,
        synced=synced,
        namespace=namespace,
    )

    def run() -> bytes:
        with svc.resolver.catalog.transaction(write=False) as session:
            found = search_presets(
                session,
                q,
                filters=filters,
                sort=sort,
                descending=None if order is None else order == "desc",
                page=page,
                per_page=per_page,
                viewer=who.viewer,
            )
        return SearchOut.of(found).model_dump_json().encode()

    body = await run_in_threadpool(run)
    svc.cache.store(key, generation, body, "application/json")
    return Response(body, media_type="application/json")


@router.get("/presets/{namespace}/{name}", response_model=PresetDetailOut, summary="One preset")
def get_preset(namespace: str, name: str, svc: ServicesDep, who: PrincipalDep) -> PresetDetailOut:
    return PresetDetailOut.of_detail(common.detail(svc, who, namespace, name))


@router.get(
    "/presets/{namespace}/{name}/revisions",
    response_model=list[RevisionOut],
    summary="A preset's revisions, newest first",
)
def list_revisions(
    namespace: str, name: str, svc: ServicesDep, who: PrincipalDep
) -> list[RevisionOut]:
    return [RevisionOut.of(r) for r in common.detail(svc, who, namespace, name).revisions]


@router.get(
    "/presets/{namespace}/{name}/revisions/{ref}",
    response_model=RevisionOut,
    summary="One revision (by alias, digest or digest prefix) with its files",
)
def get_revision(
    namespace: str, name: str, ref: str, svc: ServicesDep, who: PrincipalDep
) -> RevisionOut:
    found = common.revision(svc, who, namespace, name, ref)
    for revision in common.detail(svc, who, namespace, name).revisions:
        if revision.digest == found.digest:
            return RevisionOut.of(revision)
    raise common.not_found(namespace, name)  # deleted between the two reads


@router.head(
    "/presets/{namespace}/{name}/revisions/{ref}/files/{path:path}",
    summary="A file's size and sha256 (headers only)",
    response_class=Response,
    operation_id="head_file",
)
@router.get(
    "/presets/{namespace}/{name}/revisions/{ref}/files/{path:path}",
    summary="Download one file of a revision (ranges work)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    operation_id="get_file",
)
async def get_file(
    namespace: str,
    name: str,
    ref: str,
    path: str,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
) -> Response:
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


def _upload_request(
    who: Principal,
    namespace: str,
    name: str,
    fields: dict[str, str],
    description: str | None,
    tags: list[str],
    private: bool | None,
    alias: str,
    message: str,
    license_: str | None,
) -> UploadRequest:
    form_tags = [t.strip() for t in fields.get("tags", "").split(",") if t.strip()]
    form_private = fields.get("private")
    return UploadRequest(
        handle=CatalogHandle(namespace, name),
        owner=who.owner or "",
        description=description if description is not None else fields.get("description"),
        tags=tuple(tags or form_tags),
        private=private if private is not None else _form_bool(form_private),
        alias=fields.get("alias") or alias,
        message=message or fields.get("message", ""),
        license=license_ or fields.get("license") or None,
    )


def _form_bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() in ("1", "true", "on", "yes")


def check_upload_target(svc: Services, who: Principal, namespace: str, name: str) -> None:
    """Refuse before reading the body: bad names, no write token, not the owner."""
    who.require_write()
    check_preset_name(namespace, name)
    with svc.resolver.catalog.transaction(write=False) as session:
        existing = find_preset(session, f"{namespace}/{name}", viewer=EVERYONE)
        who.authorize_upload(namespace, existing)


async def receive_and_publish(
    request: Request,
    svc: Services,
    who: Principal,
    namespace: str,
    name: str,
    make_request: Callable[[dict[str, str]], UploadRequest],
) -> tuple[Published, UploadRequest]:
    """Stream the body into a staging area, then validate and publish it."""
    await run_in_threadpool(check_upload_target, svc, who, namespace, name)
    staging = await run_in_threadpool(new_staging, svc.resolver, svc.limits)
    try:
        fields = await receive(request, staging)
        upload = make_request(fields)
    except BaseException:
        shutil.rmtree(staging.directory, ignore_errors=True)
        raise
    return await publish_staged(svc, who, staging, upload), upload


async def publish_staged(
    svc: Services, who: Principal, staging: Staging, upload: UploadRequest
) -> Published:
    """Validate and publish a received upload as `who` (the API's and the form's)."""
    namespace = upload.handle.namespace
    published = await run_in_threadpool(
        publish,
        svc.resolver,
        staging,
        upload,
        authorize=lambda preset: who.authorize_upload(namespace, preset),
    )
    svc.cache.changed()
    return published


@router.post(
    "/presets/{namespace}/{name}/revisions",
    response_model=UploadOut,
    status_code=201,
    summary="Upload a new revision",
    description=(
        "The body is either `multipart/form-data` (the preset's files, named by their "
        "relative paths, or one archive) or a raw `.tar`, `.tar.gz` or `.zip`. The upload "
        "is validated whole before anything is recorded; identical files give the same "
        "revision (`created: false`). Needs a write token; new presets go in the token "
        "owner's namespace."
    ),
)
async def upload(
    namespace: str,
    name: str,
    request: Request,
    response: Response,
    svc: ServicesDep,
    who: PrincipalDep,
    description: Annotated[str | None, Query(max_length=10_000)] = None,
    tags: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006 (FastAPI copies it)
    private: bool | None = None,
    alias: Annotated[str, Query(pattern=_NAME)] = "latest",
    message: Annotated[str, Query(max_length=1000)] = "",
    license: Annotated[str | None, Query(max_length=64)] = None,
) -> UploadOut:
    published, upload_request = await receive_and_publish(
        request,
        svc,
        who,
        namespace,
        name,
        lambda fields: _upload_request(
            who, namespace, name, fields, description, tags, private, alias, message, license
        ),
    )
    if not published.created:
        response.status_code = 200
    detail = common.detail(svc, who, namespace, name)
    revision = next(r for r in detail.revisions if r.digest == published.resolved.digest)
    return UploadOut(
        preset=f"{namespace}/{name}",
        revision=RevisionOut.of(revision),
        created=published.created,
        parameter_count=published.parameter_count,
        architecture=published.architecture,
        alias=upload_request.alias,
    )


@router.put(
    "/presets/{namespace}/{name}/aliases/{alias}",
    response_model=AliasOut,
    summary="Point an alias at a revision (owner only)",
)
def put_alias(
    namespace: str, name: str, alias: str, body: AliasIn, svc: ServicesDep, who: PrincipalDep
) -> AliasOut:
    who.require_write()
    check_name("alias", alias)
    with svc.resolver.catalog.transaction() as session:
        preset = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
        if preset is None:
            raise common.not_found(namespace, name)
        who.authorize_upload(namespace, preset)
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
    who.require_write()
    with svc.resolver.catalog.transaction() as session:
        preset = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
        if preset is None:
            raise common.not_found(namespace, name)
        who.authorize_upload(namespace, preset)
        delete_preset(session, preset)
    svc.cache.changed()
    return Response(status_code=204)


@router.get("/whoami", response_model=WhoAmI, tags=["tokens"], summary="The caller's token")
def whoami(who: PrincipalDep) -> WhoAmI:
    return WhoAmI(owner=who.owner, scope=who.scope, token_name=who.token_name)
