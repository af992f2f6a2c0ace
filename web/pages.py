"""HTML pages (Jinja2): the catalog and a preset's page (the upload form is in
`web.uploads`, signing in in `web.login`). They work without JavaScript; a
little script only adds copy buttons and an upload progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from starlette.concurrency import run_in_threadpool

from registry.architectures import allowlist
from registry.architectures.breakdown import parameter_breakdown
from registry.catalog.queries import (
    SORT_KEYS,
    SearchFilters,
    find_preset,
    search_presets,
)
from registry.catalog.signatures import signatures_of
from registry.errors import PresetFormatError, RegistryError
from registry.preset.card import split_front_matter
from registry.preset.format import PresetKind, detect_kind
from registry.preset.validate import architecture_arguments
from registry.records import PresetDetail, SearchPage, SignatureInfo
from web import tryit
from web.api import common
from web.auth import (
    TOKEN_COOKIE,
    Principal,
    PrincipalDep,
    csrf_token,
)
from web.charts import Chart, parameter_chart
from web.rendering import SECURITY_HEADERS, give_csrf_cookie, render
from web.services import Services, ServicesDep

router = APIRouter(include_in_schema=False)
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_MAX_CARD_BYTES = 256 << 10
_MAX_FINE_TUNES = 50  # listed on a preset's page; the catalog's filter shows them all
_SOURCES = {"kaggle": "Kaggle", "hf": "Hugging Face", "local": "Local folder",
            "upload": "Uploaded", "bundled": "Bundled"}  # fmt: skip
_SIZE_BUCKETS = {  # value -> (min, max) parameters, label
    "tiny": (None, 10_000_000, "Tiny (< 10M)"),
    "small": (10_000_000, 200_000_000, "Small (10M-200M)"),
    "medium": (200_000_000, 500_000_000, "Medium (200M-500M)"),
    "large": (500_000_000, None, "Large (> 500M)"),
}
# The filters' choices, (value, label): the architectures from the allow-list.
_CHOICES = {
    "architecture": [(name, f"{spec.family} ({name})") for name, spec in allowlist.specs().items()],
    "size": [(value, label) for value, (_, _, label) in _SIZE_BUCKETS.items()],
    "source": list(_SOURCES.items()),
    "sort": [(key, key.capitalize()) for key in SORT_KEYS],
}


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
    base_model: Annotated[str, Query(max_length=256)] = "",
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
        response = HTMLResponse(cached.body, headers=SECURITY_HEADERS)
        give_csrf_cookie(request, response, csrf_token(request))
        return response
    response = await run_in_threadpool(
        _catalog_page, request, svc, who, q, architecture, size, source, tag, namespace,
        base_model, synced, sort, page,
    )  # fmt: skip
    body = bytes(response.body)
    if cacheable and request.state.csrf.encode() not in body:  # never share a token
        svc.cache.store(key, generation, body, "text/html")
    return response


def _catalog_page(
    request: Request, svc: Services, who: Principal, q: str, architecture: str, size: str,
    source: str, tag: str, namespace: str, base_model: str, synced: str, sort: str, page: int,
) -> HTMLResponse:  # fmt: skip
    low, high, _ = _SIZE_BUCKETS.get(size, (None, None, ""))
    filters = SearchFilters(
        architecture=architecture or None,
        min_parameters=low,
        max_parameters=high,
        source_kind=source if source in _SOURCES else None,
        tag=tag or None,
        synced=True if synced == "1" else None,
        namespace=namespace or None,
        base_model=base_model.strip() or None,
    )
    sort = sort if sort in SORT_KEYS else "relevance"
    results = svc.search(
        svc.cache.generation(), q, filters=filters, sort=sort, page=page, per_page=20,
        viewer=who.viewer,
    )  # fmt: skip
    query = {"q": q, "architecture": architecture, "size": size, "source": source, "tag": tag,
             "namespace": namespace, "base_model": base_model, "synced": synced,
             "sort": sort}  # fmt: skip
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
            "choices": _CHOICES,
            "filtered": bool(kept),
        },
    )


# === One preset ===


def _arguments(tree: Path) -> dict[str, Any] | None:
    """The backbone's constructor arguments.

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
        return None
    return arguments if isinstance(arguments, dict) else None


def _config_rows(arguments: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The backbone's constructor arguments as (name, value) rows."""
    if arguments is None:
        return []
    rows = []
    for key, raw in arguments.items():
        value = raw
        if isinstance(raw, dict) and isinstance(raw.get("config"), dict):  # a dtype policy
            value = raw["config"].get("name", raw)
        if isinstance(value, str | int | float | bool) or value is None:
            rows.append((str(key), str(value)))
    return rows[:40]


def _parameter_chart(architecture: str | None, arguments: dict[str, Any] | None) -> Chart | None:
    """Where the parameters are, from the architecture's weight table (None if
    the arguments build no model of an allowed architecture)."""
    spec = allowlist.spec_named(architecture) if architecture else None
    if spec is None or arguments is None:
        return None
    try:
        return parameter_chart(parameter_breakdown(spec, arguments))
    except (ValueError, TypeError, KeyError):
        return None


def _model_card(tree: Path) -> str | None:
    card = tree / "README.md"
    if not card.is_file() or card.stat().st_size > _MAX_CARD_BYTES:
        return None
    # The front matter is metadata (base_model, license), not prose: the Hub hides it too.
    _, body = split_front_matter(card.read_text(encoding="utf-8", errors="replace"))
    return _MARKDOWN.render(body)


def _lineage(svc: Services, who: Principal, detail: PresetDetail) -> dict[str, Any]:
    """The base model (`base_listed`: whether the viewer can open it here) and
    the presets fine-tuned from this one."""
    with svc.resolver.catalog.transaction(write=False) as session:
        base = detail.base_model
        listed = base is not None and find_preset(session, base, viewer=who.viewer) is not None
        tuned: SearchPage = search_presets(
            session,
            filters=SearchFilters(base_model=detail.full_name),
            sort="name",
            per_page=_MAX_FINE_TUNES,
            viewer=who.viewer,
        )
    return {"base_model": base, "base_listed": listed, "fine_tunes": tuned}


def _signatures(
    svc: Services, who: Principal, detail: PresetDetail
) -> dict[str, list[SignatureInfo]]:
    """revision digest -> its signatures, each checked now (key, name, verifies)."""
    found: dict[str, list[SignatureInfo]] = {}
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = find_preset(session, detail.full_name, viewer=who.viewer)
        for info in signatures_of(session, preset.revisions if preset is not None else []):
            found.setdefault(info.revision, []).append(info)
    return found


def _snippets(request: Request, detail: PresetDetail) -> dict[str, str]:
    name = detail.full_name
    base = str(request.base_url).rstrip("/")
    cls = detail.architecture or "Backbone"  # an empty repository: any class will do
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
    lineage = await run_in_threadpool(_lineage, svc, who, detail)
    signed = await run_in_threadpool(_signatures, svc, who, detail)
    config_rows: list[tuple[str, str]] = []
    chart = None
    box = None
    card = None
    problem = None
    latest = detail.latest_revision
    if latest is not None:
        try:
            found = await run_in_threadpool(common.revision, svc, who, namespace, name, latest)
            resolved = await common.materialize(svc, found)
            arguments = await run_in_threadpool(_arguments, resolved.path)
            config_rows = _config_rows(arguments)
            chart = _parameter_chart(detail.architecture, arguments)
            box = await run_in_threadpool(tryit.try_box, svc, who, detail, resolved.path)
            card = await run_in_threadpool(_model_card, resolved.path)
        except RegistryError as error:
            problem = str(error)
    return render(
        request,
        "preset.html",
        {
            "who": who,
            "detail": detail,
            "preset": detail,
            "latest": next((r for r in detail.revisions if r.digest == latest), None),
            "config_rows": config_rows,
            "chart": chart,
            "box": box,
            "card": card,
            "problem": problem,
            "snippets": _snippets(request, detail),
            "can_edit": who.owner is not None and who.owner == detail.owner,
            "lineage": lineage,
            "signatures": signed,
        },
    )
