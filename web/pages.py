"""HTML pages (Jinja2): the catalog, a preset, upload, login. They work without
JavaScript; a little script only adds copy buttons and an upload progress bar."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from starlette.concurrency import run_in_threadpool

from registry.architectures import allowlist
from registry.catalog.queries import (
    SORT_KEYS,
    PresetDetail,
    SearchFilters,
    search_presets,
)
from registry.errors import PresetFormatError, RegistryError
from registry.preset.format import PresetKind, detect_kind
from registry.preset.validate import architecture_arguments
from registry.resolver.handles import CatalogHandle
from registry.resolver.publish import UploadRequest, new_staging
from web.api import common
from web.api.v1 import check_upload_target, publish_staged
from web.auth import (
    CSRF_COOKIE,
    CSRF_FIELD,
    TOKEN_COOKIE,
    Principal,
    PrincipalDep,
    check_csrf,
    csrf_token,
    principal_for,
)
from web.receive import receive
from web.services import Services, ServicesDep

router = APIRouter(include_in_schema=False)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_MAX_CARD_BYTES = 256 << 10
_SOURCES = ("kaggle", "hf", "local", "upload", "bundled")
# The architecture filter's choices: (class name, family), from the allow-list.
_ARCHITECTURES = [(name, spec.family) for name, spec in allowlist.specs().items()]
_SIZE_BUCKETS = {  # label -> (min, max) parameters
    "": (None, None),
    "tiny": (None, 10_000_000),
    "small": (10_000_000, 200_000_000),
    "medium": (200_000_000, 500_000_000),
    "large": (500_000_000, None),
}


def human_count(value: int | None) -> str:
    """124_439_808 -> "124.4M" (parameter counts as model cards give them)."""
    if value is None:
        return "?"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return str(value)


def human_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


TEMPLATES.env.filters["count"] = human_count
TEMPLATES.env.filters["bytes"] = human_bytes


_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """Render a page; every page gets the caller and a CSRF token for its forms
    (kept in `request.state.csrf` too)."""
    token = request.state.csrf = csrf_token(request)
    who: Principal = context.get("who") or Principal()
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {"who": who, "csrf": token, "csrf_field": CSRF_FIELD, **context},
        status_code=status,
    )
    _give_csrf_cookie(request, response, token)
    response.headers.update(_SECURITY_HEADERS)
    return response


def _give_csrf_cookie(request: Request, response: Response, token: str) -> None:
    """Set the browser's CSRF cookie to `token` unless it holds it already."""
    if request.cookies.get(CSRF_COOKIE) != token:
        _set_cookie(request, response, CSRF_COOKIE, token)


def render_error(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "code": code, "message": message},
                  status)  # fmt: skip


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=30 * 24 * 3600,
    )


# === The catalog ===


@router.get("/", response_class=HTMLResponse)
async def catalog(
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    q: Annotated[str, Query(max_length=200)] = "",
    architecture: Annotated[str, Query(max_length=64)] = "",
    size: Annotated[str, Query(max_length=16)] = "",
    source: Annotated[str, Query(max_length=16)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    namespace: Annotated[str, Query(max_length=128)] = "",
    synced: Annotated[str, Query(max_length=8)] = "",
    sort: Annotated[str, Query(max_length=16)] = "relevance",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    # Anonymous pages hold nothing personal (no form on them carries the CSRF
    # token; only its cookie is set): cached until the catalog changes, for
    # browsers holding a CSRF cookie too.
    cacheable = who.owner is None and TOKEN_COOKIE not in request.cookies
    key = ("catalog-page", str(request.url.query))
    cached, generation = svc.cache.lookup(key) if cacheable else (None, 0)
    if cached is not None:
        response = HTMLResponse(cached.body, headers=_SECURITY_HEADERS)
        _give_csrf_cookie(request, response, csrf_token(request))
        return response
    response = await run_in_threadpool(
        _catalog_page, request, svc, who, q, architecture, size, source, tag, namespace,
        synced, sort, page,
    )  # fmt: skip
    body = bytes(response.body)
    if cacheable and request.state.csrf.encode() not in body:  # never share a token
        svc.cache.store(key, generation, body, "text/html")
    return response


def _catalog_page(
    request: Request, svc: Services, who: Principal, q: str, architecture: str, size: str,
    source: str, tag: str, namespace: str, synced: str, sort: str, page: int,
) -> HTMLResponse:  # fmt: skip
    low, high = _SIZE_BUCKETS.get(size, (None, None))
    filters = SearchFilters(
        architecture=architecture or None,
        min_parameters=low,
        max_parameters=high,
        source_kind=source if source in _SOURCES else None,
        tag=tag or None,
        synced=True if synced == "1" else None,
        namespace=namespace or None,
    )
    sort = sort if sort in SORT_KEYS else "relevance"
    with svc.resolver.catalog.transaction(write=False) as session:
        results = search_presets(
            session, q, filters=filters, sort=sort, page=page, per_page=20, viewer=who.viewer
        )
    query = {"q": q, "architecture": architecture, "size": size, "source": source, "tag": tag,
             "namespace": namespace, "synced": synced, "sort": sort}  # fmt: skip
    kept = {k: v for k, v in query.items() if v and not (k == "sort" and v == "relevance")}

    def page_url(number: int) -> str:
        return "/?" + urlencode({**kept, "page": number})

    return render(
        request,
        "catalog.html",
        {
            "who": who,
            "results": results,
            "query": query,
            "page_url": page_url,
            "sort_keys": SORT_KEYS,
            "sources": _SOURCES,
            "architectures": _ARCHITECTURES,
            "sizes": [s for s in _SIZE_BUCKETS if s],
            "filtered": bool(kept),
        },
    )


# === One preset ===


def _config_rows(tree: Path) -> list[tuple[str, str]]:
    """The backbone's constructor arguments as (name, value) rows.

    A keras-hub preset's come from its `config.json`; a transformers checkpoint's
    are the ones this registry derives from its config and tensor shapes, so both
    read as the architecture's own arguments.
    """
    try:
        kind, config = detect_kind(tree)
        if kind is PresetKind.TRANSFORMERS:
            arguments: Any = architecture_arguments(tree)
        else:
            arguments = config.get("config")
    except PresetFormatError:
        return []
    if not isinstance(arguments, dict):
        return []
    rows = []
    for key, raw in arguments.items():
        value = raw
        if isinstance(raw, dict) and isinstance(raw.get("config"), dict):  # a dtype policy
            value = raw["config"].get("name", raw)
        if isinstance(value, str | int | float | bool) or value is None:
            rows.append((str(key), str(value)))
    return rows[:40]


def _model_card(tree: Path) -> str | None:
    card = tree / "README.md"
    if not card.is_file() or card.stat().st_size > _MAX_CARD_BYTES:
        return None
    return _MARKDOWN.render(card.read_text(encoding="utf-8", errors="replace"))


def _snippets(request: Request, detail: PresetDetail) -> dict[str, str]:
    name = detail.summary.full_name
    base = str(request.base_url).rstrip("/")
    cls = detail.summary.architecture
    spec = allowlist.spec_named(cls)
    inputs = f"  # inputs: {', '.join(spec.inputs)}" if spec is not None else ""
    return {
        "Registry": (
            f'from registry import Registry\n\nbackbone = Registry("{base}").load("{name}"){inputs}'
        ),
        "keras (with HF_ENDPOINT set to this server)": (
            f'import os\nos.environ["HF_ENDPOINT"] = "{base}"\n\n'
            f"from registry import {cls}  # or: from keras_hub.models import {cls}\n"
            f'backbone = {cls}.from_preset("hf://{name}")'
        ),
        "CLI": f"REGISTRY_URL={base} registry sync {name}",
        "huggingface_hub": (
            f'HF_ENDPOINT={base} python -c "from huggingface_hub import snapshot_download; '
            f"print(snapshot_download('{name}'))\""
        ),
    }


@router.get("/presets/{namespace}/{name}", response_class=HTMLResponse)
async def preset_page(
    namespace: str, name: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> HTMLResponse:
    detail = await run_in_threadpool(common.detail, svc, who, namespace, name)
    config_rows: list[tuple[str, str]] = []
    card = None
    problem = None
    latest = detail.summary.latest_revision
    if latest is not None:
        try:
            found = await run_in_threadpool(common.revision, svc, who, namespace, name, latest)
            resolved = await common.materialize(svc, found)
            config_rows = await run_in_threadpool(_config_rows, resolved.path)
            card = await run_in_threadpool(_model_card, resolved.path)
        except RegistryError as error:
            problem = str(error)
    return render(
        request,
        "preset.html",
        {
            "who": who,
            "detail": detail,
            "preset": detail.summary,
            "latest": next((r for r in detail.revisions if r.digest == latest), None),
            "config_rows": config_rows,
            "card": card,
            "problem": problem,
            "snippets": _snippets(request, detail),
            "can_edit": who.owner is not None and who.owner == detail.summary.owner,
        },
    )


# === Upload ===


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, who: PrincipalDep) -> HTMLResponse:
    return render(request, "upload.html", {"who": who, "form": {}})


async def _receive_form_upload(request: Request, svc: Services, who: Principal) -> str:
    """Receive the form's files, check them, publish; return the new preset's page."""
    who.require_write()
    staging = await run_in_threadpool(new_staging, svc.resolver, svc.limits)
    try:
        fields = await receive(request, staging)
        check_csrf(request, fields.get(CSRF_FIELD))
        name = fields.get("name", "").strip()
        namespace = who.owner or ""
        await run_in_threadpool(check_upload_target, svc, who, namespace, name)
        tags = tuple(t.strip().lower() for t in fields.get("tags", "").split(",") if t.strip())
        upload = UploadRequest(
            handle=CatalogHandle(namespace, name),
            owner=namespace,
            description=fields.get("description") or None,
            tags=tags,
            private=fields.get("private") == "on",
            message=fields.get("message", ""),
            license=fields.get("license") or None,
        )
    except BaseException:
        shutil.rmtree(staging.directory, ignore_errors=True)
        raise
    await publish_staged(svc, who, staging, upload)
    return f"/presets/{namespace}/{name}"


@router.post("/upload", response_model=None)
async def upload_submit(
    request: Request, svc: ServicesDep, who: PrincipalDep
) -> HTMLResponse | RedirectResponse:
    try:
        target = await _receive_form_upload(request, svc, who)
    except RegistryError as error:
        from web.errors import status_of

        status, _ = status_of(error)
        return render(request, "upload.html", {"who": who, "error": str(error)}, status)
    if "application/json" in request.headers.get("accept", ""):
        return HTMLResponse(f'{{"location": "{target}"}}', media_type="application/json")
    return RedirectResponse(target, status_code=303)


# === Login ===


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, who: PrincipalDep, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"who": who, "next": _local(next)})


def _local(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    svc: ServicesDep,
    token: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> HTMLResponse | RedirectResponse:
    check_csrf(request, csrf_token)
    who = principal_for(svc, token.strip())
    if who is None:
        return render(
            request,
            "login.html",
            {"error": "That token is unknown or revoked.", "next": _local(next)},
            status=401,
        )
    response = RedirectResponse(_local(next), status_code=303)
    _set_cookie(request, response, TOKEN_COOKIE, token.strip())
    return response


@router.post("/logout", response_model=None)
def logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response
