"""`resolve(handle) -> revision on disk`: parse, look in the store, else fetch, verify.

A resolved revision is a directory of the store (`trees/<digest>`) whose files
were checked against the manifest the catalog recorded: by the fast path
(size, mtime, inode as of the last full hash) or by a full rehash. A file that
fails is quarantined, its tree taken out of service, and the caller gets a
`ChecksumMismatchError` saying how to repair.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from registry.bucket import BLOB_PREFIX, UPLOAD_PREFIX, Bucket
from registry.catalog.database import Catalog
from registry.catalog.models import Alias, Preset, Revision, RevisionFile
from registry.catalog.names import check_base_model
from registry.catalog.queries import EVERYONE, find_preset, revision_manifest
from registry.catalog.service import (
    PresetSpec,
    adopt_base_model,
    move_alias,
    record_revision,
    upsert_preset,
)
from registry.config import Settings
from registry.errors import (
    ChecksumMismatchError,
    InvalidNameError,
    OfflineError,
    PresetFormatError,
    PresetNotFoundError,
    SourceError,
)
from registry.preset.card import card_base_model
from registry.preset.demo import DEMO_PRESET, demo_preset_dir
from registry.preset.manifest import FileEntry, Manifest
from registry.preset.validate import architecture_of, check_preset_files
from registry.resolver.handles import (
    CatalogHandle,
    Handle,
    HfHandle,
    KaggleHandle,
    LocalHandle,
    parse_handle,
)
from registry.resolver.names import age
from registry.resolver.resolved import Resolved, Verify, is_offline
from registry.resolver.sources import Download, fetch_hf, fetch_kaggle
from registry.resolver.store import GcReport, Store

if TYPE_CHECKING:
    from registry.resolver.names import RecordedNames
    from registry.resolver.remote import RegistryServer

LOCAL_NAMESPACE = "local"
log = logging.getLogger("registry.resolver")


def _local_name(path: Path) -> str:
    # The folder's name, made unique by its location: two folders called
    # "my_gpt2" in different places are different presets.
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in path.name).strip("._-")
    suffix = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    return f"{(base or 'preset')[:100]}-{suffix}"


def synced_base_model(directory: Path, source: object, of: str | None = None) -> str | None:
    """The base model a synced preset's card names. Unlike an upload's, a card
    that names it badly is someone else's to fix: the sync goes on without it."""
    try:
        named = card_base_model(directory)
        return check_base_model(named, of=of) if named is not None else None
    except (InvalidNameError, PresetFormatError) as error:
        log.warning("%s: the card's base_model is ignored: %s", source, error)
        return None


class Resolver:
    """Turns handles into verified revisions in the store, recording them in the catalog.

    Catalog names (`namespace/name[@ref]`) are looked up in one place, chosen
    once: the embedded catalog, or the registry server of `settings.url`. The
    embedded catalog is opened (migrated, seeded) only when something needs it,
    so a resolver for a server never touches one unless asked to record a local
    folder or a Kaggle or Hub download.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        catalog: Catalog | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._catalog = catalog
        self.store = store or Store(self.settings.home / "store", bucket=self.settings.bucket())
        self.store.cleanup_temp()
        self.server: RegistryServer | None = None
        self.names: RecordedNames | None = None
        self._resolve_name = self._resolve_catalog
        if self.settings.url:
            from registry.resolver.from_server import ServerNames

            names = ServerNames(self.settings, self.store)
            self.server, self.names = names.server, names.recorded
            self._resolve_name = names.resolve

    @property
    def catalog(self) -> Catalog:
        """The embedded catalog, opened on first use."""
        if self._catalog is None:
            self._catalog = Catalog.open(self.settings.db_url)
        return self._catalog

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
        if self.server is not None:
            self.server.close()

    def resolve(
        self, handle: str | Handle, *, force: bool = False, verify: Verify = "fast"
    ) -> Resolved:
        """Find or fetch the revision `handle` names; verify it; return it.

        Raises:
            InvalidHandleError: `handle` is malformed.
            PresetNotFoundError: nothing in the catalog or at the source matches.
            OfflineError: offline, and the store does not hold the revision.
            ChecksumMismatchError: a stored file differs from its recorded digest.
        """
        parsed = parse_handle(handle) if isinstance(handle, str) else handle
        if isinstance(parsed, LocalHandle):
            resolved = self._ingest_local(parsed.path)
        elif isinstance(parsed, CatalogHandle):
            resolved = self._resolve_name(parsed, force=force)
        else:
            resolved = self._resolve_remote(parsed, into=None, force=force)
        if verify:
            self.check(resolved, full=verify == "full")
        return resolved

    # === Verification ===

    def check(self, resolved: Resolved, *, full: bool = False) -> None:
        """Verify a resolved tree; quarantine and refuse it on any mismatch."""
        result = self.store.verify_tree(resolved.digest, resolved.manifest, full=full)
        if result.ok:
            return
        first = result.mismatches[0]
        by_path = {entry.path: entry.sha256 for entry in resolved.manifest.files}
        for mismatch in result.mismatches:
            self.store.quarantine(by_path[mismatch.path])
        self.store.remove_tree(resolved.digest)
        raise ChecksumMismatchError(
            f"{resolved.preset}: {first.path}",
            first.expected,
            first.actual,
            fix=f"{len(result.mismatches)} file(s) differ; the bad copies were quarantined "
            "and will not be served again. Repair with "
            f"`registry sync --force {resolved.preset}`.",
        )

    # === Local folders ===

    def _ingest_local(self, path: Path) -> Resolved:
        if not path.is_dir():
            raise PresetNotFoundError(f"{path} is not a directory of this machine.")
        check_preset_files(path)  # before a byte is stored
        architecture = architecture_of(path)
        manifest = self.store.ingest_directory(path)
        tree = self.store.publish_tree(manifest)
        self.store.mark_json_checked(manifest.revision_id)
        name = _local_name(path)
        spec = PresetSpec(
            namespace=LOCAL_NAMESPACE,
            name=name,
            architecture=architecture,
            source=path.as_uri(),
            source_kind="local",
            description=f"Synced from the local folder {path}.",
            base_model=synced_base_model(tree, path, of=f"{LOCAL_NAMESPACE}/{name}"),
        )
        with self.catalog.transaction() as session:
            preset = upsert_preset(session, spec)
            revision = record_revision(session, preset, manifest, message=f"synced from {path}")[0]
            session.flush()
            move_alias(session, preset, "latest", revision)
            name = f"{preset.namespace}/{preset.name}"
        return Resolved(name, manifest.revision_id, tree, manifest)

    # === Catalog names ===

    def _resolve_catalog(self, handle: CatalogHandle, *, force: bool) -> Resolved:
        with self.catalog.transaction(write=False) as session:
            preset = find_preset(session, handle.full_name, viewer=EVERYONE)
            if preset is None:
                raise PresetNotFoundError(
                    f"No preset {handle.full_name} in the catalog "
                    f"({self.settings.db_url}). Search with `registry search`, or name "
                    "a kaggle://, hf:// or local handle."
                )
            revision = pick_revision(session, preset, handle)
            source, source_kind = preset.source, preset.source_kind
            digest = revision.digest if revision is not None else None
            files = None
            if revision is not None:
                files = revision_manifest(revision)
                if source_kind in ("kaggle", "hf") and is_offline(self.settings):
                    log.warning(
                        "offline: %s@%s -> %s, as synced from %s %s ago", handle.full_name,
                        handle.ref or "latest", revision.digest[:12], source,
                        age(revision.created_at),
                    )  # fmt: skip
        if digest is not None and files is not None and not force:
            tree = self.store.tree_path(digest)
            if tree.is_dir():
                self.store.save_manifest(files)
                return Resolved(handle.full_name, digest, tree, files)
            if all(self.store.has_blob(f.sha256) for f in files.files):
                # Every blob is here or in the bucket (an upload, or a tree that
                # was evicted): relink, fetching what the bucket alone holds.
                return Resolved(handle.full_name, digest, self.store.publish_tree(files), files)
        return self._refetch(handle, source, source_kind, digest, force=force)

    def _refetch(
        self,
        handle: CatalogHandle,
        source: str | None,
        source_kind: str,
        digest: str | None,
        *,
        force: bool,
    ) -> Resolved:
        if source_kind == "bundled" and handle.name == DEMO_PRESET:
            manifest = self.store.ingest_directory(demo_preset_dir())
            return self._expect(handle, digest, manifest)
        if source_kind == "local" and source is not None:
            path = Path(source.removeprefix("file://"))
            if handle.ref is None:  # latest: whatever the folder holds now
                return self._ingest_local(path)
            return self._expect(handle, digest, self.store.ingest_directory(path))
        what = f"{handle.full_name} ({source or 'no source'})"
        if is_offline(self.settings):
            raise OfflineError(
                f"{what} is not in the store and the registry is offline. Run "
                f"`registry sync {handle.full_name}` with network access, or unset "
                "REGISTRY_OFFLINE / HF_HUB_OFFLINE."
            )
        remote = parse_handle(source) if source else None
        if not isinstance(remote, KaggleHandle | HfHandle):
            raise PresetNotFoundError(f"{what} has no source to fetch it from.")
        try:
            # A pinned revision is fetched and compared; otherwise another
            # process may have synced the preset while this one waited.
            pinned = force or handle.ref is not None
            resolved = self._resolve_remote(remote, into=handle.full_name, force=pinned)
        except SourceError as error:
            raise SourceError(
                f"{handle.full_name} is not in the store yet, and fetching it failed: {error}"
            ) from error
        if handle.ref is not None and digest is not None and resolved.digest != digest:
            raise ChecksumMismatchError(
                f"{handle.full_name}@{handle.ref}",
                digest,
                resolved.digest,
                fix=f"{remote} now serves other files; `registry sync {handle.full_name}` "
                "records them as a new revision.",
            )
        return resolved

    def _expect(self, handle: CatalogHandle, digest: str | None, manifest: Manifest) -> Resolved:
        if digest is not None and manifest.revision_id != digest:
            raise ChecksumMismatchError(
                f"{handle.full_name}: the revision rebuilt from its source",
                digest,
                manifest.revision_id,
                fix="The source's files changed since the catalog recorded this revision; "
                f"`registry sync {handle.full_name}` records what the source holds now.",
            )
        tree = self.store.publish_tree(manifest)
        return Resolved(handle.full_name, manifest.revision_id, tree, manifest)

    # === Housekeeping ===

    def gc(self, *, grace_s: float = 3600, max_bytes: int | None = None) -> GcReport:
        """Remove from the store every revision neither the catalog records nor a
        name recorded from a server points at.

        With `max_bytes`, also evict the least recently used synced revisions
        (never uploads: they have no source to fetch them from again) until the
        store's blobs fit.
        """
        keep: set[str] = set()
        synced: set[str] = set()
        if self.names is not None:  # a server's cache: what its names point at
            keep = self.names.digests()
            synced = set(keep)
        if self.names is None or self._catalog_exists():
            with self.catalog.transaction(write=False) as session:
                keep |= set(session.scalars(select(Revision.digest)))
                synced |= set(
                    session.scalars(
                        select(Revision.digest)
                        .join(Preset, Preset.id == Revision.preset_id)
                        .where(Preset.source_kind != "upload")
                    )
                )
        report = self.store.gc(keep, grace_s=grace_s, max_bytes=max_bytes, evictable=synced)
        if self.store.bucket is not None and self._catalog_exists():
            blobs, freed, aborted = self._gc_bucket(self.store.bucket, grace_s)
            report = dataclasses.replace(
                report,
                bucket_objects=blobs,
                bucket_bytes=freed,
                bucket_uploads=aborted,
            )
        return report

    def _gc_bucket(self, bucket: Bucket, grace_s: float) -> tuple[int, int, int]:
        """Delete the bucket's blobs no revision of the catalog names (older than
        `grace_s`: an upload may be about to record them), and abort multipart
        uploads and delete the temporary objects of uploads (`uploads/`) older
        than that (a killed server's)."""
        with self.catalog.transaction(write=False) as session:
            referenced = set(session.scalars(select(RevisionFile.sha256).distinct()))
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=grace_s)
        deleted = freed = 0
        for found in bucket.objects(BLOB_PREFIX):
            sha256 = found.key.rsplit("/", 1)[-1]
            if sha256 in referenced or found.modified > cutoff:
                continue
            bucket.delete(found.key)
            deleted += 1
            freed += found.size
        aborted = bucket.abort_stale_uploads(dt.timedelta(seconds=grace_s))
        for found in bucket.objects(UPLOAD_PREFIX):
            if found.modified <= cutoff:
                bucket.delete(found.key)
                aborted += 1
        return deleted, freed, aborted

    def check_bucket(self, digests: set[str] | None = None) -> list[tuple[str, FileEntry, str]]:
        """Rehash the bucket's blobs of the catalog's revisions (`digests`, or all):
        (preset@revision, file, what the object holds) for each that does not
        match its name ("missing" for an object that is gone)."""
        bucket = self.store.bucket
        if bucket is None:
            return []
        with self.catalog.transaction(write=False) as session:
            query = (
                select(Preset.namespace, Preset.name, Revision.digest, RevisionFile)
                .join(Revision, Revision.preset_id == Preset.id)
                .join(RevisionFile, RevisionFile.revision_id == Revision.id)
            )
            if digests is not None:
                query = query.where(Revision.digest.in_(digests))
            rows = [
                (f"{ns}/{name}@{digest[:12]}", FileEntry(f.path, f.size, f.sha256))
                for ns, name, digest, f in session.execute(query)
            ]
        verdicts: dict[str, str | None] = {}
        bad = []
        for label, entry in rows:
            if entry.sha256 not in verdicts:
                verdicts[entry.sha256] = bucket.check_blob(entry.sha256)
            actual = verdicts[entry.sha256]
            if actual is not None:
                bad.append((label, entry, actual))
        return bad

    def _catalog_exists(self) -> bool:
        """Whether an embedded catalog was ever made here (without making one)."""
        if self._catalog is not None:
            return True
        url = make_url(self.settings.db_url)
        return url.get_backend_name() != "sqlite" or Path(url.database or "").is_file()

    # === Remote sources ===

    def _resolve_remote(
        self, handle: KaggleHandle | HfHandle, *, into: str | None, force: bool
    ) -> Resolved:
        """The store's copy of `handle`, else one download of it, whoever asks.

        Processes asking for the same handle at once take turns on a file lock;
        the first downloads, the others then find its revision in the store.
        """
        if not force and (cached := self._cached_remote(handle, into)) is not None:
            return cached
        key = hashlib.sha256(str(handle).encode()).hexdigest()[:24]
        with self.store.lock(f"fetch-{key}"):
            if not force and (cached := self._cached_remote(handle, into)) is not None:
                return cached
            return self._fetch_remote(handle, into=into)

    def _cached_remote(self, handle: KaggleHandle | HfHandle, into: str | None) -> Resolved | None:
        with self.catalog.transaction(write=False) as session:
            preset = find_preset(session, into, viewer=EVERYONE) if into else None
            if preset is None:
                preset = session.scalars(select(Preset).where(Preset.source == str(handle))).first()
            if preset is None:
                return None
            revision = pick_revision(session, preset, CatalogHandle(preset.namespace, preset.name))
            if revision is None or not self.store.tree_path(revision.digest).is_dir():
                return None
            manifest = revision_manifest(revision)
            name = f"{preset.namespace}/{preset.name}"
        return Resolved(
            name, manifest.revision_id, self.store.tree_path(manifest.revision_id), manifest
        )

    def _fetch_remote(
        self, handle: KaggleHandle | HfHandle, *, into: str | None = None
    ) -> Resolved:
        """Download `handle` with its client, store it, record it as a revision.

        The revision goes to the preset `into` names, or to the preset whose
        source is this handle, or to a new one in the source's namespace.
        """
        if is_offline(self.settings):
            raise OfflineError(
                f"{handle} is not in the store and the registry is offline. Run "
                f"`registry sync {handle}` with network access."
            )
        staging = self.store.staging_dir()
        try:
            download = self._download(handle, staging)
            check_preset_files(download.path)
            architecture = architecture_of(download.path)
            base_model = synced_base_model(download.path, handle)
            manifest = self.store.ingest_directory(download.path, link=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._compare_published(handle, manifest, download.expected_sha256)
        tree = self.store.publish_tree(manifest)
        self.store.mark_json_checked(manifest.revision_id)
        with self.catalog.transaction() as session:
            preset = _preset_for_source(session, handle, into, architecture)
            adopt_base_model(session, preset, base_model)
            revision = record_revision(session, preset, manifest, message=f"synced from {handle}")[
                0
            ]
            session.flush()
            move_alias(session, preset, "latest", revision)
            name = f"{preset.namespace}/{preset.name}"
        return Resolved(name, manifest.revision_id, tree, manifest)

    def _compare_published(
        self, handle: KaggleHandle | HfHandle, manifest: Manifest, expected: dict[str, str]
    ) -> None:
        """Refuse a download whose digests differ from those the source published."""
        for entry in manifest.files:
            published = expected.get(entry.path)
            if published is not None and not hmac.compare_digest(published, entry.sha256):
                self.store.quarantine(entry.sha256)
                raise ChecksumMismatchError(
                    f"{handle}: {entry.path}",
                    published,
                    entry.sha256,
                    fix="The download was corrupted in transit; nothing was recorded. "
                    f"Try `registry sync {handle}` again.",
                )

    def _download(self, handle: KaggleHandle | HfHandle, staging: Path) -> Download:
        if isinstance(handle, KaggleHandle):
            return fetch_kaggle(handle, staging)
        return fetch_hf(handle, staging)


def _preset_for_source(
    session: Session, handle: KaggleHandle | HfHandle, into: str | None, architecture: str
) -> Preset:
    if into is not None:
        found = find_preset(session, into, viewer=EVERYONE)
        if found is not None:
            return found
    found = session.scalars(select(Preset).where(Preset.source == str(handle))).first()
    if found is not None:
        return found
    if isinstance(handle, KaggleHandle):
        namespace = "kaggle"
        name = f"{handle.owner}-{handle.model}-{handle.framework}-{handle.variation}"
        kind = "kaggle"
    else:
        namespace, kind = "hf", "hf"
        name = handle.repo_id.replace("/", "-") + (f"-{handle.revision}" if handle.revision else "")
    spec = PresetSpec(
        namespace=namespace,
        name="".join(c if c.isalnum() or c in "._-" else "-" for c in name)[:128].strip("-."),
        architecture=architecture,
        source=str(handle),
        source_kind=kind,
        description=f"Synced from {handle}.",
    )
    return upsert_preset(session, spec)


def pick_revision(session: Session, preset: Preset, handle: CatalogHandle) -> Revision | None:
    """The revision `handle.ref` names: an alias, a digest or its prefix; `latest` if none."""
    ref = handle.ref or "latest"
    alias = session.scalar(select(Alias).where(Alias.preset_id == preset.id, Alias.name == ref))
    if alias is not None:
        return alias.revision
    if handle.ref_is_digest:
        candidates = session.scalars(
            select(Revision).where(Revision.preset_id == preset.id, Revision.digest.startswith(ref))
        ).all()
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise PresetNotFoundError(
                f"{handle} is ambiguous: {len(candidates)} revisions begin with {ref}."
            )
    if handle.ref is None:
        return None
    raise PresetNotFoundError(
        f"{handle.full_name} has no alias or revision {ref!r}. `registry info "
        f"{handle.full_name}` lists them."
    )


@functools.lru_cache(maxsize=4)
def _resolver_for(settings: Settings) -> Resolver:
    return Resolver(settings)


def default_resolver() -> Resolver:
    """The resolver of the current settings (REGISTRY_HOME, REGISTRY_DB_URL, ...)."""
    return _resolver_for(Settings.from_env())
