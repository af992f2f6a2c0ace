"""Uploads over HTTP: the JSON API's route and the page's form, one path.

Both read the same fields (`description`, `tags`, `private`, `alias`,
`message`, `license`, `base_model`: the API from its query or its form fields, the page from
its form) into one `UploadRequest.build`, then take the library's one upload
path in its order (`registry.resolver.publish`): a write token before the body
is read; the target and the fields (tags lowercased) and who may write there
before the first file is; the files streamed into a staging area under the
limits; the preset validated whole; then stored and recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from registry.errors import RegistryError, status_of
from registry.records import Uploaded
from registry.resolver.handles import CatalogHandle
from registry.resolver.publish import check_target, new_staging, publish, uploaded
from registry.resolver.request import UploadRequest
from web.api.v1 import ERRORS
from web.auth import CSRF_FIELD, Principal, PrincipalDep, check_csrf
from web.receive import receive
from web.rendering import render
from web.services import Services, ServicesDep

api_router = APIRouter(prefix="/api/v1", tags=["presets"], responses=ERRORS)
page_router = APIRouter(include_in_schema=False)
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("0", "false", "off", "no")


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def upload_request(
    who: Principal, handle: CatalogHandle, given: dict[str, Any], fields: dict[str, str]
) -> UploadRequest:
    """The upload's fields: from `given` (the API's query) where set, else the form's."""

    def pick(key: str) -> Any:
        value = given.get(key)
        return fields.get(key) if value in (None, "") or value == [] else value

    tags = pick("tags") or []
    return UploadRequest.build(
        handle,
        owner=who.owner or "",
        description=pick("description"),
        tags=[tags] if isinstance(tags, str) else tags,
        private=_flag(pick("private")),
        alias=pick("alias") or "latest",
        message=pick("message") or "",
        license=pick("license"),
        base_model=pick("base_model"),
    )


async def receive_upload(
    request: Request,
    svc: Services,
    who: Principal,
    make_request: Callable[[dict[str, str]], UploadRequest],
) -> Uploaded:
    """Receive, check and publish one upload (see the module's docstring)."""
    who.require_write()
    chosen: list[UploadRequest] = []

    def authorize(upload: UploadRequest) -> Callable[[Any], None]:
        return lambda preset: who.authorize_upload(upload.handle.namespace, preset)

    def prepare(fields: dict[str, str]) -> None:
        upload = make_request(fields)
        check_target(svc.resolver, upload, authorize(upload))
        chosen.append(upload)

    staging = await run_in_threadpool(
        lambda: new_staging(svc.resolver, svc.limits, stream_to_bucket=True)
    )
    try:
        await receive(request, staging, prepare)
    except BaseException:
        await run_in_threadpool(staging.discard)  # its files, and its bucket objects
        raise
    upload = chosen[0]
    published = await run_in_threadpool(
        publish, svc.resolver, staging, upload, authorize=authorize(upload)
    )
    svc.cache.changed()
    return await run_in_threadpool(uploaded, svc.resolver, upload, published)


# === The JSON API ===


@api_router.post(
    "/presets/{namespace}/{name}/revisions",
    response_model=Uploaded,
    status_code=201,
    summary="Upload a new revision",
    description=(
        "The body is either `multipart/form-data` (text fields first, then the preset's "
        "files named by their relative paths, or one archive) or a raw `.tar`, `.tar.gz` "
        "or `.zip`. The fields may also be given in the query. Tags are lowercased. The "
        "upload is validated whole before anything is recorded; identical files give the "
        "same revision (`created: false`). Needs a write token; new presets go in the "
        "token owner's namespace."
    ),
)
async def upload(
    namespace: str,
    name: str,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    description: Annotated[str | None, Query(max_length=10_000)] = None,
    tags: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006 (FastAPI copies it)
    private: bool | None = None,
    alias: Annotated[str | None, Query(max_length=128)] = None,
    message: Annotated[str | None, Query(max_length=1000)] = None,
    license: Annotated[str | None, Query(max_length=64)] = None,
    base_model: Annotated[
        str | None,
        Query(
            max_length=256,
            description="`namespace/name` it was fine-tuned from; default: the card's "
            "`base_model` (README.md front matter).",
        ),
    ] = None,
) -> Response:
    given = {"description": description, "tags": tags, "private": private, "alias": alias,
             "message": message, "license": license, "base_model": base_model}  # fmt: skip
    handle = CatalogHandle(namespace, name)
    result = await receive_upload(
        request, svc, who, lambda fields: upload_request(who, handle, given, fields)
    )
    return Response(
        result.model_dump_json(),
        status_code=201 if result.created else 200,
        media_type="application/json",
    )


# === The page's form ===


@page_router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, who: PrincipalDep) -> HTMLResponse:
    return render(request, "upload.html", {"who": who, "form": {}})


@page_router.post("/upload", response_model=None)
async def upload_submit(request: Request, svc: ServicesDep, who: PrincipalDep) -> Response:
    def make_request(fields: dict[str, str]) -> UploadRequest:
        check_csrf(request, fields.get(CSRF_FIELD))
        handle = CatalogHandle(who.owner or "", fields.get("name", "").strip())
        return upload_request(who, handle, {}, fields)

    try:
        result = await receive_upload(request, svc, who, make_request)
    except RegistryError as error:
        status, _ = status_of(error)
        return render(request, "upload.html", {"who": who, "error": str(error)}, status)
    target = f"/presets/{result.preset}"
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"location": target})
    return RedirectResponse(target, status_code=303)
