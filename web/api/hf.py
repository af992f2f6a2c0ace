"""Enough of the Hugging Face Hub's protocol for the stock `huggingface_hub`
client (and keras-hub's `from_preset("hf://...")`) to download presets from this
server: set `HF_ENDPOINT` to its URL and `HF_TOKEN` to a token for private ones.

- `GET /api/models/{ns}/{name}[/revision/{rev}]`: model info with `sha` and
  `siblings` (`rfilename`, `size`, `lfs.sha256`);
- `GET /api/models/{ns}/{name}/tree/{rev}[/{path}]`: the file listing
  `snapshot_download` reads;
- `HEAD`/`GET /{ns}/{name}/resolve/{rev}/{path}`: the file, with
  `X-Repo-Commit`, `ETag` and `X-Linked-Etag` (its sha256), `X-Linked-Size`,
  `Accept-Ranges` and range support; a large one also with `X-Xet-Hash` and a
  `xet-auth` link, for hf_xet's parallel reads (`web.api.xet_read`).

Every file is presented as an LFS file, so clients get its sha256 (`lfs.oid`,
`X-Linked-Etag`) and can check what they download. A revision's commit `sha` is
the first 40 hex digits of its digest (the form the Hub's clients expect);
`main` is the `latest` alias. Missing repositories, revisions and files are 404
with the Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from registry.catalog.refs import LATEST, MAIN
from registry.config import DEFAULT_NAMESPACE
from registry.errors import PresetNotFoundError, RevisionNotFoundError
from registry.preset.manifest import FileEntry
from registry.records import PresetDetail
from web.api import common, hub_mirror, xet_offer
from web.api.hub_errors import HubError
from web.auth import Caller, CallerDep, Principal, PrincipalDep
from web.services import Services, ServicesDep

router = APIRouter(tags=["huggingface"])
_COMMIT_LENGTH = 40


def commit_of(digest: str) -> str:
    return digest[:_COMMIT_LENGTH]


def _pointer(entry: FileEntry) -> bytes:
    """The Git LFS pointer file the Hub would store for this file."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{entry.sha256}\n"
        f"size {entry.size}\n"
    ).encode()


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _lfs(entry: FileEntry) -> dict[str, Any]:
    pointer = _pointer(entry)
    return {
        "oid": entry.sha256,
        "sha256": entry.sha256,
        "size": entry.size,
        "pointerSize": len(pointer),
    }


def revision_and_path(request: Request, marker: str) -> tuple[str, str]:
    """The revision and path after `/{marker}/` as the client sent them: the Hub's
    clients quote a revision with `safe=""`, so `feature%2Fx` is one revision,
    which the decoded path no longer tells from a folder."""
    raw = (request.scope.get("raw_path") or b"").decode("latin-1").split("?", 1)[0]
    if f"/{marker}/" not in raw:  # the marker itself percent-encoded: no quoting to keep
        raw = request.url.path
    tail = raw.split(f"/{marker}/", 1)[1]
    rev, _, path = tail.partition("/")
    return unquote(rev), unquote(path)


def hub_revision(
    svc: Services, who: Principal, namespace: str, name: str, rev: str
) -> common.RevisionRef:
    """The revision a Hub revision names: a branch (`main` is `latest`), a tag, or
    a commit id (the first 40 hex digits of a digest, or a shorter prefix)."""
    ref = None if rev in (MAIN, LATEST) else rev
    try:
        return common.revision(svc, who, namespace, name, ref)
    except RevisionNotFoundError as error:
        raise HubError("RevisionNotFound", f"Invalid rev id: {rev}. {error}") from error
    except PresetNotFoundError as error:
        raise HubError("RepoNotFound", f"Repository {namespace}/{name} not found.") from error


def hub_time(moment: dt.datetime) -> str:
    """The Hub's timestamps: UTC, milliseconds, a `Z` suffix."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _card_data(preset: PresetDetail) -> dict[str, Any]:
    """The card's metadata as the Hub returns it (only the fields that are set)."""
    fields = {"license": preset.license, "base_model": preset.base_model}
    return {key: value for key, value in fields.items() if value}


def _model_info(detail: PresetDetail, found: common.RevisionRef | None) -> dict[str, Any]:
    if found is None:
        return {"id": detail.full_name, "modelId": detail.full_name, "private": detail.private}
    summary = detail
    return {
        "_id": found.digest[:24],
        "id": summary.full_name,
        "modelId": summary.full_name,
        "author": summary.namespace,
        "sha": commit_of(found.digest),
        "lastModified": hub_time(summary.updated_at),
        "createdAt": hub_time(summary.created_at),
        "private": summary.private,
        "disabled": False,
        "gated": False,
        "downloads": summary.downloads,
        "likes": 0,
        "library_name": "keras-hub",
        "tags": ["keras", *summary.tags],
        "pipeline_tag": None,
        "cardData": _card_data(summary),
        "siblings": [
            {"rfilename": f.path, "size": f.size, "blobId": _git_oid(_pointer(f)), "lfs": _lfs(f)}
            for f in found.manifest.files
        ],
        "usedStorage": sum(f.size for f in found.manifest.files),
    }


def _info(svc: Services, who: Principal, namespace: str, name: str, rev: str) -> dict[str, Any]:
    try:
        detail = common.detail(svc, who, namespace, name)
    except PresetNotFoundError as error:
        raise HubError("RepoNotFound", f"Repository {namespace}/{name} not found.") from error
    if rev in (MAIN, LATEST) and not detail.revisions:  # created, nothing committed yet
        return {**_model_info(detail, None), "sha": None, "siblings": []}
    return _model_info(detail, hub_revision(svc, who, namespace, name, rev))


async def _guarded(call: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(call, *args)
    except HubError as error:
        return error.response()


@router.get("/api/models/{namespace}/{name}", summary="Model info (Hub protocol)")
async def model_info(
    namespace: str, name: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> Any:
    if (mirrored := await hub_mirror.info(request, svc, namespace, name, "main")) is not None:
        return mirrored
    return await _guarded(_info, svc, who, namespace, name, "main")


@router.get(
    "/api/models/{namespace}/{name}/revision/{rev:path}", summary="Model info at a revision"
)
async def model_info_at(
    namespace: str, name: str, rev: str, request: Request, svc: ServicesDep, who: PrincipalDep
) -> Any:
    if (mirrored := await hub_mirror.info(request, svc, namespace, name, rev)) is not None:
        return mirrored
    return await _guarded(_info, svc, who, namespace, name, rev)


def _tree(
    svc: Services, who: Principal, namespace: str, name: str, rev: str, path: str, recursive: bool
) -> list[dict[str, Any]]:
    found = hub_revision(svc, who, namespace, name, rev)
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    entries: dict[str, dict[str, Any]] = {}
    for entry in found.manifest.files:
        if not entry.path.startswith(prefix):
            continue
        rest = entry.path[len(prefix) :].split("/")
        for depth in range(1, len(rest)):  # the directories on the way
            if recursive or depth == 1:
                folder = prefix + "/".join(rest[:depth])
                entries.setdefault(
                    folder,
                    {
                        "type": "directory",
                        "oid": _git_oid(folder.encode()),
                        "size": 0,
                        "path": folder,
                    },
                )
        if recursive or len(rest) == 1:
            pointer = _pointer(entry)
            entries[entry.path] = {
                "type": "file",
                "oid": _git_oid(pointer),
                "size": entry.size,
                "path": entry.path,
                "lfs": {"oid": entry.sha256, "size": entry.size, "pointerSize": len(pointer)},
            }
    if prefix and not entries:
        raise HubError("EntryNotFound", f"{path} does not exist in {namespace}/{name}@{rev}.")
    return [entries[key] for key in sorted(entries)]


@router.get("/api/models/{namespace}/{name}/tree/{rev}", summary="File listing (Hub protocol)")
async def tree(
    namespace: str,
    name: str,
    rev: str,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    recursive: Annotated[bool, Query()] = False,
) -> Any:
    mirrored = await hub_mirror.tree(request, svc, namespace, name, rev, "", recursive)
    if mirrored is not None:
        return mirrored
    return await _guarded(_tree, svc, who, namespace, name, rev, "", recursive)


@router.get("/api/models/{namespace}/{name}/tree/{rev}/{path:path}", summary="Folder listing")
async def tree_path(
    namespace: str,
    name: str,
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    recursive: Annotated[bool, Query()] = False,
) -> Any:
    rev, path = revision_and_path(request, "tree")
    mirrored = await hub_mirror.tree(request, svc, namespace, name, rev, path, recursive)
    if mirrored is not None:
        return mirrored
    return await _guarded(_tree, svc, who, namespace, name, rev, path, recursive)


async def _resolve_file(caller: Caller, namespace: str, name: str, rev: str, path: str) -> Response:
    request, svc, who = caller.request, caller.svc, caller.who
    mirrored = await hub_mirror.resolve_file(request, svc, namespace, name, rev, path)
    if mirrored is not None:
        return mirrored
    try:
        found = await run_in_threadpool(hub_revision, svc, who, namespace, name, rev)
        entry = found.entry(path)
        if entry is None:
            raise HubError("EntryNotFound", f"{path} does not exist in {namespace}/{name}@{rev}.")
    except HubError as error:
        return error.response()
    etag = f'"{entry.sha256}"'
    commit = commit_of(found.digest)
    headers = {"X-Repo-Commit": commit, "ETag": etag, "X-Linked-Etag": etag,
               "X-Linked-Size": str(entry.size)}  # fmt: skip
    if xet_offer.offered(svc, entry.size):
        headers.update(xet_offer.headers(request, namespace, name, commit, entry.sha256))
    return await common.serve_file(request, svc, found, entry, headers)


@common.file_route(router, "/{namespace}/{name}/resolve/{rev}/{path:path}", "hub_file")
async def resolve(namespace: str, name: str, caller: CallerDep) -> Response:
    """A file of a revision (Hub protocol; ranges work)."""
    rev, path = revision_and_path(caller.request, "resolve")
    return await _resolve_file(caller, namespace, name, rev, path)


@common.file_route(router, "/{name}/resolve/{rev}/{path:path}", "hub_bare_file")
async def resolve_bare(name: str, caller: CallerDep) -> Response:
    """A file of a preset of the default namespace (Hub protocol)."""
    rev, path = revision_and_path(caller.request, "resolve")
    return await _resolve_file(caller, DEFAULT_NAMESPACE, name, rev, path)
