"""Repositories over the Hub's protocol: creating and deleting them, their
branches, tags and history.

- `POST /api/repos/create` (`create_repo`): a new, empty preset in the token
  owner's namespace (it gets its architecture from its first commit); 409 with
  the repository's `url` when it exists (`exist_ok=True` reads it).
- `DELETE /api/repos/delete` (`delete_repo`): the owner deletes a preset.
- `POST /api/validate-yaml`: a model card's front matter must be a YAML mapping.
- `GET /api/models/{ns}/{name}/refs` (`list_repo_refs`): branches (`main` is
  the alias `latest`) and tags, each with its commit.
- `POST`/`DELETE .../branch/{branch}` and `.../tag/{rev}` (`create_branch`,
  `create_tag`, `delete_branch`, `delete_tag`): aliases of kind branch or tag.
- `GET .../commits/{rev}` (`list_repo_commits`): the history of a revision from
  the log of alias moves, newest first, paginated with `Link: <...>; rel="next"`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from registry.catalog.history import history
from registry.catalog.models import Preset, Revision
from registry.catalog.queries import EVERYONE, find_preset
from registry.catalog.refs import create_ref, delete_ref, refs_of
from registry.catalog.service import PresetSpec, create_preset, delete_preset
from registry.errors import InvalidNameError, PresetExistsError
from web.api import common
from web.api.hf import commit_of, hub_revision, hub_time
from web.api.hub_errors import HubError
from web.api.json_body import read_json
from web.auth import CallerDep, Principal, PrincipalDep
from web.services import Services, ServicesDep

router = APIRouter(tags=["huggingface"])
COMMITS_PER_PAGE = 50


def _repo_name(who: Principal, body: Any) -> tuple[str, str]:
    """The `namespace/name` a create or delete body names (its `organization`,
    else the token's owner)."""
    body = body if isinstance(body, dict) else {}
    if body.get("type") not in (None, "model"):
        raise InvalidNameError(f"This registry holds models only, not {body.get('type')!r}.")
    return str(body.get("organization") or who.owner or ""), str(body.get("name") or "")


# === Repositories ===


def _create(svc: Services, who: Principal, body: Any, base: str) -> JSONResponse:
    who.require_write()
    namespace, name = _repo_name(who, body)
    url = f"{base}/{namespace}/{name}"
    private = isinstance(body, dict) and (
        body.get("visibility") == "private" or body.get("private") is True
    )
    exists = HubError(None, f"You already created this model repo: {namespace}/{name}.", 409)
    try:
        with svc.resolver.catalog.transaction() as session:
            existing = find_preset(session, f"{namespace}/{name}", viewer=EVERYONE)
            who.authorize_upload(namespace, existing)
            if existing is not None:
                return exists.response({"url": url})
            visibility = "private" if private else "public"
            spec = PresetSpec(
                namespace, name, architecture="", visibility=visibility, owner=who.owner
            )
            create_preset(session, spec)
    except PresetExistsError:  # created by another request a moment ago
        return exists.response({"url": url})
    svc.cache.changed()
    return JSONResponse({"url": url, "name": f"{namespace}/{name}", "id": f"{namespace}/{name}"})


@router.post("/api/repos/create", summary="Create a repository (Hub protocol)")
async def create_repo(request: Request, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """A new, empty preset in the token owner's namespace."""
    body = await read_json(request)
    base = str(request.base_url).rstrip("/")
    return await run_in_threadpool(_create, svc, who, body, base)


def _delete(svc: Services, who: Principal, body: Any) -> None:
    namespace, name = _repo_name(who, body)
    with svc.resolver.catalog.transaction() as session:
        delete_preset(session, common.writable_preset(session, who, namespace, name))
    svc.cache.changed()


@router.delete("/api/repos/delete", summary="Delete a repository (Hub protocol)")
async def delete_repo(request: Request, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """Delete a preset with its revisions, branches and tags (its blobs go at `gc`)."""
    body = await read_json(request)
    await run_in_threadpool(_delete, svc, who, body)
    return JSONResponse({})


def front_matter_errors(content: str) -> list[str]:
    """What is wrong with a model card's YAML front matter (nothing if it has none)."""
    if not content.startswith("---"):
        return []
    head, closing, _ = content[3:].partition("\n---")
    if not closing:
        return ["The front matter opened by '---' is never closed by a '---' line."]
    import yaml  # type: ignore[import-untyped]

    try:
        data = yaml.safe_load(head)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        return [f"The front matter is not YAML: {error}"]
    return [] if data is None or isinstance(data, dict) else ["The front matter is not a mapping."]


@router.post("/api/validate-yaml", summary="Check a model card's metadata (Hub protocol)")
async def validate_yaml(request: Request) -> JSONResponse:
    body = await read_json(request)
    content = body.get("content") if isinstance(body, dict) else None
    errors = front_matter_errors(content if isinstance(content, str) else "")
    status = 400 if errors else 200
    return JSONResponse({"errors": [{"message": e} for e in errors], "warnings": []}, status)


# === Refs ===


def _refs(svc: Services, who: Principal, namespace: str, name: str) -> dict[str, Any]:
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
        if preset is None:
            raise common.not_found(namespace, name)
        refs = refs_of(session, preset)
    found: dict[str, list[dict[str, str]]] = {"branch": [], "tag": []}
    for ref in refs:
        folder = "heads" if ref.kind == "branch" else "tags"
        found[ref.kind].append(
            {
                "name": ref.name,
                "ref": f"refs/{folder}/{ref.name}",
                "targetCommit": commit_of(ref.digest),
            }
        )
    return {"branches": found["branch"], "converts": [], "tags": found["tag"], "pullRequests": []}


@router.get("/api/models/{namespace}/{name}/refs", summary="Branches and tags (Hub protocol)")
async def list_refs(namespace: str, name: str, svc: ServicesDep, who: PrincipalDep) -> Any:
    return await run_in_threadpool(_refs, svc, who, namespace, name)


def _revision_row(session: Session, preset: Preset, digest: str) -> Revision:
    found = session.scalar(
        select(Revision).where(Revision.preset_id == preset.id, Revision.digest == digest)
    )
    if found is None:  # deleted since it was looked up
        raise common.not_found(preset.namespace, preset.name)
    return found


def _create_ref(
    svc: Services, who: Principal, namespace: str, name: str, ref: str, at: str, kind: str
) -> None:
    digest = hub_revision(svc, who, namespace, name, at).digest
    with svc.resolver.catalog.transaction() as session:
        preset = common.writable_preset(session, who, namespace, name)
        create_ref(session, preset, ref, _revision_row(session, preset, digest), kind=kind)
    svc.cache.changed()


def _delete_ref(
    svc: Services, who: Principal, namespace: str, name: str, ref: str, kind: str
) -> None:
    with svc.resolver.catalog.transaction() as session:
        delete_ref(session, common.writable_preset(session, who, namespace, name), ref, kind=kind)
    svc.cache.changed()


@router.post("/api/models/{namespace}/{name}/branch/{branch:path}", summary="Create a branch")
async def create_branch(
    namespace: str, name: str, branch: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> JSONResponse:
    """A new branch at `startingPoint` (a branch, tag or commit; `main` by default)."""
    body = await read_json(request)
    start = str((body if isinstance(body, dict) else {}).get("startingPoint") or "main")
    await run_in_threadpool(_create_ref, svc, who, namespace, name, branch, start, "branch")
    return JSONResponse({})


@router.post("/api/models/{namespace}/{name}/tag/{rev:path}", summary="Tag a revision")
async def create_tag(
    namespace: str, name: str, rev: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> JSONResponse:
    """A tag (`{"tag"}` in the body) at revision `rev`."""
    body = await read_json(request)
    tag = (body if isinstance(body, dict) else {}).get("tag")
    if not isinstance(tag, str):
        raise InvalidNameError('The body names the tag: {"tag": "v1"}.')
    await run_in_threadpool(_create_ref, svc, who, namespace, name, tag, rev, "tag")
    return JSONResponse({})


def _ref_deleter(kind: str) -> Any:
    async def delete_ref(
        namespace: str, name: str, ref: str, svc: ServicesDep, who: PrincipalDep
    ) -> JSONResponse:
        await run_in_threadpool(_delete_ref, svc, who, namespace, name, ref, kind)
        return JSONResponse({})

    return delete_ref


for _kind in ("branch", "tag"):  # delete_branch, delete_tag
    router.delete(
        f"/api/models/{{namespace}}/{{name}}/{_kind}/{{ref:path}}",
        summary=f"Delete a {_kind}",
        operation_id=f"delete_{_kind}",
    )(_ref_deleter(_kind))


# === History ===


def _commits(svc: Services, who: Principal, namespace: str, name: str, rev: str) -> list[Any]:
    digest = hub_revision(svc, who, namespace, name, rev).digest
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
        if preset is None:
            raise common.not_found(namespace, name)
        steps = history(session, preset, digest)
    return [
        {
            "id": commit_of(step.digest),
            "authors": [{"user": step.author or "registry"}],
            "date": hub_time(step.created_at),
            "title": step.title,
            "message": step.body,
        }
        for step in steps
    ]


@router.get("/api/models/{namespace}/{name}/commits/{rev:path}", summary="History (Hub protocol)")
async def list_commits(
    namespace: str, name: str, rev: str, caller: CallerDep, p: int = 0
) -> JSONResponse:
    """The commits leading to `rev`, newest first, a page at a time (`p`, from 0)."""
    svc, who, request = caller.svc, caller.who, caller.request
    commits = await run_in_threadpool(_commits, svc, who, namespace, name, rev)
    start = max(p, 0) * COMMITS_PER_PAGE
    page = commits[start : start + COMMITS_PER_PAGE]
    headers = {}
    if start + COMMITS_PER_PAGE < len(commits):
        headers["Link"] = f'<{request.url.include_query_params(p=max(p, 0) + 1)}>; rel="next"'
    return JSONResponse(page, headers=headers)
