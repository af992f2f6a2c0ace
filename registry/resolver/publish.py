"""Publishing an upload: validate the staged files, store them, record a revision.

Every upload takes one path, in one order, whichever way it comes (the
embedded `Registry.upload`, the JSON API, the page's form, the CLI):
1. `UploadRequest.build`: the target's name and the fields (tags lowercased);
2. `check_target`: may this uploader write there? Both before a file is read;
3. the files land in a `Staging` area, hashed and held to the limits as they come;
4. `publish`: the staged preset is validated whole; only then do its files move
   into the blob store (by rename: their bytes were hashed as they landed); the
   catalog rows follow in one transaction; `latest` (or the chosen alias) moves last.
   A `model.sig` beside the files is their signature, not a file of the revision:
   it is checked (and required where `REGISTRY_REQUIRE_SIGNED` says so) before a
   file is stored, and attached to the revision (`upload_signature.py`).
A refused upload leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from registry.catalog.models import Preset
from registry.catalog.names import check_base_model
from registry.catalog.queries import EVERYONE, find_preset, preset_detail
from registry.catalog.service import PresetSpec, move_alias, record_revision, upsert_preset
from registry.catalog.signatures import attach_signature
from registry.errors import (
    ChecksumMismatchError,
    InvalidNameError,
    PermissionDeniedError,
    PresetNotFoundError,
    UnsafePresetError,
)
from registry.preset.card import CARD_FILE, card_base_model
from registry.preset.manifest import MANIFEST_FILE, Manifest, read_manifest
from registry.preset.upload import CHUNK, Staging
from registry.preset.validate import Limits, PresetFacts, inspect_preset
from registry.records import Uploaded
from registry.resolver.request import UploadRequest
from registry.resolver.resolve import Resolved, Resolver
from registry.resolver.upload_signature import SIDECARS, check_upload_signature, take_signature

Authorize = Callable[[Preset | None], None]


@dataclass(frozen=True)
class Published:
    """The revision an upload became; `created` is False for known content."""

    resolved: Resolved
    created: bool
    parameter_count: int
    architecture: str


def check_target(
    resolver: Resolver, request: UploadRequest, authorize: Authorize | None = None
) -> None:
    """Refuse, before any file is read, an upload its uploader may not make
    (`authorize` raises; by default only the preset's owner may add revisions)."""
    check = authorize or (lambda preset: _check_owner(preset, request))
    with resolver.catalog.transaction(write=False) as session:
        check(find_preset(session, request.handle.full_name, viewer=EVERYONE))


def uploaded(resolver: Resolver, request: UploadRequest, published: Published) -> Uploaded:
    """The record of a published upload, as the client and the API return it."""
    with resolver.catalog.transaction(write=False) as session:
        detail = preset_detail(session, request.handle.full_name, viewer=EVERYONE)
    revision = detail.revision(published.resolved.digest) if detail is not None else None
    if revision is None:
        raise PresetNotFoundError(
            f"{request.handle.full_name} was deleted while its upload was being recorded."
        )
    return Uploaded(
        preset=request.handle.full_name,
        revision=revision,
        created=published.created,
        architecture=published.architecture,
        parameter_count=published.parameter_count,
        alias=request.alias,
    )


def new_staging(
    resolver: Resolver, limits: Limits | None = None, *, stream_to_bucket: bool = False
) -> Staging:
    """A fresh staging area inside the store (same filesystem: files move by rename).

    `stream_to_bucket`: with a bucket, large files also stream into it while
    they are received (`StagedFile`), rather than after validation; for bytes
    coming over the network, where it overlaps the two transfers.
    """
    directory = resolver.store.staging_dir("upload")
    bucket = resolver.store.bucket if stream_to_bucket else None
    return Staging(directory, limits or Limits.from_env(), sidecars=SIDECARS, bucket=bucket)


def stage_path(staging: Staging, source: Path) -> None:
    """Copy a local directory or archive into `staging`, hashing as it goes."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_symlink():
                raise UnsafePresetError(
                    path, "is a symbolic link; presets are plain files.", "Copy the file itself."
                )
            if path.is_file():
                with (
                    staging.open(path.relative_to(source).as_posix()) as target,
                    open(path, "rb") as reader,
                ):
                    while chunk := reader.read(CHUNK):
                        target.write(chunk)
        return
    if source.is_file():
        staging.unpack(source)
        return
    raise FileNotFoundError(f"{source} is neither a preset directory nor an archive.")


def _staged_manifest(staging: Staging) -> Manifest:
    entries = tuple(sorted(e for p, e in staging.entries.items() if p != MANIFEST_FILE))
    manifest = Manifest(entries)
    if MANIFEST_FILE in staging.entries:  # written by save_to_preset: it must agree
        stated = read_manifest(staging.directory)
        if stated.revision_id != manifest.revision_id:
            raise ChecksumMismatchError(
                f"{MANIFEST_FILE} of the upload",
                stated.revision_id,
                manifest.revision_id,
                fix="The files changed after the manifest was written (or in transit); "
                "save the preset again, or delete manifest.json.",
            )
    return manifest


def _card_base_model(directory: Path, request: UploadRequest) -> str | None:
    """The base model the staged preset's card names, checked as an explicit one is."""
    named = card_base_model(directory)
    if named is None:
        return None
    try:
        return check_base_model(named, of=request.handle.full_name)
    except InvalidNameError as error:
        raise InvalidNameError(
            f"{CARD_FILE} of {request.handle.full_name}: {error} Fix the card's front "
            "matter, or give the base model with the upload (`--base-model`), which takes "
            "precedence over the card."
        ) from error


def _check_owner(preset: Preset | None, request: UploadRequest) -> None:
    if preset is not None and preset.owner not in (None, request.owner):
        raise PermissionDeniedError(
            f"{request.handle.full_name} belongs to {preset.owner}; {request.owner} may not "
            "upload revisions to it. Upload under your own namespace."
        )


def publish(
    resolver: Resolver,
    staging: Staging,
    request: UploadRequest,
    *,
    authorize: Authorize | None = None,
) -> Published:
    """Validate the staged preset and record it as a revision of `request.handle`.

    The staging directory is consumed (its files move into the store) and
    removed, whatever happens.
    """
    check = authorize or (lambda preset: _check_owner(preset, request))
    try:
        bundle = take_signature(staging)  # model.sig signs the preset; it is no file of it
        facts: PresetFacts = inspect_preset(staging.directory)
        manifest = _staged_manifest(staging)
        signature = check_upload_signature(resolver, request, manifest, bundle)
        spec = PresetSpec(
            namespace=request.handle.namespace,
            name=request.handle.name,
            architecture=facts.architecture,
            description=request.description or "",
            parameter_count=facts.parameter_count,
            source=None,
            source_kind="upload",
            tags=tuple(request.tags),
            license=request.license,
            visibility="private" if request.private else "public",
            owner=request.owner,
            base_model=request.base_model or _card_base_model(staging.directory, request),
        ).validated()  # names and tags, before a byte reaches the store
        with resolver.catalog.transaction(write=False) as session:
            check(find_preset(session, request.handle.full_name, viewer=EVERYONE))
        # The files streamed into the bucket while received become its blobs
        # (then settling them finds them there); the others are put now.
        staging.settle_bucket({entry.sha256 for entry in manifest.files})
        for entry in manifest.files:
            resolver.store.settle_staged(staging.directory / entry.path, entry.sha256)
        tree = resolver.store.publish_tree(manifest)
        resolver.store.mark_json_checked(manifest.revision_id)  # inspect_preset did
    finally:
        staging.discard()  # the directory, and in the bucket what was not settled
    with resolver.catalog.transaction() as session:
        existing = find_preset(session, request.handle.full_name, viewer=EVERYONE)
        check(existing)
        if existing is not None:
            spec = _keep_fields(spec, existing, request)
        preset = upsert_preset(session, spec)
        revision, created = record_revision(
            session, preset, manifest, uploader=request.owner, message=request.message
        )
        session.flush()
        if signature is not None:
            attach_signature(
                session, revision, signature.bundle, signature.public_key, signer=request.owner
            )
        move_alias(
            session, preset, request.alias, revision, author=request.owner, message=request.message
        )
    resolved = Resolved(request.handle.full_name, manifest.revision_id, tree, manifest)
    return Published(resolved, created, facts.parameter_count, facts.architecture)


def _keep_fields(spec: PresetSpec, preset: Preset, request: UploadRequest) -> PresetSpec:
    """A new revision keeps the preset's card fields its upload does not set."""
    from dataclasses import replace

    return replace(
        spec,
        description=preset.description if request.description is None else spec.description,
        tags=spec.tags or tuple(t.tag for t in preset.tags),
        license=spec.license or preset.license,
        base_model=spec.base_model or preset.base_model,
        visibility=preset.visibility if request.private is None else spec.visibility,
    )
