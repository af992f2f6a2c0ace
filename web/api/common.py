"""Catalog access shared by the JSON API, the Hub-compatible routes and pages:
visibility first (a private preset is "not found" to everyone but its owner),
then the revision a reference names, then its verified files on disk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from registry.catalog.models import Preset
from registry.catalog.queries import (
    EVERYONE,
    find_preset,
    preset_detail,
    revision_manifest,
)
from registry.catalog.service import record_download
from registry.errors import PresetNotFoundError, RevisionNotFoundError
from registry.preset.manifest import FileEntry, Manifest
from registry.records import PresetDetail
from registry.resolver.handles import CatalogHandle
from registry.resolver.resolve import Resolved, pick_revision
from web.auth import Principal
from web.bucket_files import bucket_file
from web.services import Services

Endpoint = Callable[..., Awaitable[Any]]


def file_route(router: APIRouter, path: str, operation_id: str) -> Callable[[Endpoint], Endpoint]:
    """Register a file download on GET, and its headers alone on HEAD (the Hub's
    clients ask first); the endpoint's docstring is the summary."""

    def register(endpoint: Endpoint) -> Endpoint:
        summary = (endpoint.__doc__ or "").strip().splitlines()[0]
        router.head(path, summary=f"{summary}: headers only", response_class=Response,
                    operation_id=f"head_{operation_id}")(endpoint)  # fmt: skip
        return router.get(
            path, summary=summary, response_class=Response, operation_id=f"get_{operation_id}",
            responses={200: {"content": {"application/octet-stream": {}}}},
        )(endpoint)  # fmt: skip

    return register


class BlobResponse(FileResponse):
    """A file served in 1 MiB reads (Starlette's 64 KiB costs a thread hop each)."""

    chunk_size = 1 << 20


def not_found(namespace: str, name: str) -> PresetNotFoundError:
    return PresetNotFoundError(
        f"No preset {namespace}/{name} here (or it is private and this token cannot see it). "
        "Search with GET /api/v1/presets?q=..."
    )


def detail(svc: Services, who: Principal, namespace: str, name: str) -> PresetDetail:
    with svc.resolver.catalog.transaction(write=False) as session:
        found = preset_detail(session, f"{namespace}/{name}", viewer=who.viewer)
    if found is None:
        raise not_found(namespace, name)
    return found


def writable_preset(session: Session, who: Principal, namespace: str, name: str) -> Preset:
    """The preset `who` may change (a write token of its owner).

    Raises:
        AuthenticationError, PermissionDeniedError: no write token, or not the owner's.
        PresetNotFoundError: no such preset visible to `who`.
    """
    who.require_write()
    preset = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
    if preset is None:
        raise not_found(namespace, name)
    who.authorize_upload(namespace, preset)
    return preset


@dataclass(frozen=True)
class RevisionRef:
    """A visible preset's revision: its digest and recorded files."""

    namespace: str
    name: str
    digest: str
    manifest: Manifest

    def entry(self, path: str) -> FileEntry | None:
        return next((f for f in self.manifest.files if f.path == path), None)


def revision(
    svc: Services, who: Principal, namespace: str, name: str, ref: str | None
) -> RevisionRef:
    """The revision `ref` (alias, digest or digest prefix; None: latest) names.

    Raises:
        PresetNotFoundError: no visible preset.
        RevisionNotFoundError: the preset has no such revision.
    """
    with svc.resolver.catalog.transaction(write=False) as session:
        preset = find_preset(session, f"{namespace}/{name}", viewer=who.viewer)
        if preset is None:
            raise not_found(namespace, name)
        try:
            found = pick_revision(session, preset, CatalogHandle(namespace, name, ref))
        except PresetNotFoundError as error:
            raise RevisionNotFoundError(str(error)) from error
        if found is None and preset.source is None:  # created over the Hub's protocol
            raise RevisionNotFoundError(
                f"{namespace}/{name} is an empty repository: nothing was committed to it yet."
            )
        if found is None:
            raise RevisionNotFoundError(
                f"{namespace}/{name} has no revision yet: it has not been synced from "
                f"{preset.source} on this server (`registry sync {namespace}/{name}`)."
            )
        return RevisionRef(namespace, name, found.digest, revision_manifest(found))


async def materialize(svc: Services, ref: RevisionRef) -> Resolved:
    """The revision's verified tree in the store (rebuilt or fetched if needed)."""
    handle = CatalogHandle(ref.namespace, ref.name, ref.digest)
    return await run_in_threadpool(svc.resolver.resolve, handle, verify="fast")


async def serve_file(
    request: Request, svc: Services, found: RevisionRef, entry: FileEntry, headers: dict[str, str]
) -> Response:
    """A file of a revision from its verified tree, or from the bucket (a
    redirect to it by default: `web/bucket_files.py`); a GET of config.json
    counts as a download (as the Hub counts them)."""
    bucket = svc.resolver.store.bucket
    if bucket is None:
        resolved = await materialize(svc, found)
    if request.method == "GET" and entry.path == "config.json":
        await count_download(svc, found.namespace, found.name)
    if bucket is not None:
        settings = svc.settings
        return await bucket_file(
            request, bucket, entry, headers,
            redirect=settings.blob_redirect, ttl_s=settings.blob_url_ttl_s,
        )  # fmt: skip
    return BlobResponse(resolved.path / entry.path, headers=headers)


async def count_download(svc: Services, namespace: str, name: str) -> None:
    def count() -> None:
        with svc.resolver.catalog.transaction() as session:
            preset = find_preset(session, f"{namespace}/{name}", viewer=EVERYONE)
            if preset is not None:
                record_download(session, preset)

    await run_in_threadpool(count)
