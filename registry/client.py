"""`Registry`: the one facade for Python users.

```python
from registry import Registry

registry = Registry()                          # the embedded catalog and store
backbone = registry.load("gpt2_tiny_demo")     # a verified GPT2Backbone
registry.search("medium", sort="downloads")
registry.lock(["gpt2_tiny_demo"], "presets.lock")
assert registry.verify_lock("presets.lock").ok
```
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry import lockfile
from registry.catalog.queries import (
    EVERYONE,
    PresetDetail,
    SearchFilters,
    SearchPage,
    find_preset,
    preset_detail,
    search_presets,
)
from registry.catalog.service import (
    delete_preset,
    move_alias,
    record_download,
)
from registry.config import Settings, sqlite_url
from registry.errors import ChecksumMismatchError, PresetNotFoundError, RegistryError
from registry.resolver.handles import CatalogHandle, parse_handle
from registry.resolver.resolve import Resolved, Resolver, Verify, pick_revision

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone


def _uploader() -> str:
    """This machine's user, as a namespace: who uploads in embedded mode."""
    import getpass

    cleaned = "".join(c if c.isalnum() else "-" for c in getpass.getuser().lower()).strip("-")
    return cleaned[:64] or "user"


@dataclass(frozen=True)
class Uploaded:
    """What an upload became: a revision of `preset` (`created` False when the
    same files had been uploaded before)."""

    preset: str
    digest: str
    created: bool
    architecture: str
    parameter_count: int
    alias: str


class Registry:
    """A registry of Keras presets: the embedded catalog and store on this machine.

    Args:
        url: a registry server to use instead of the embedded catalog
            (`REGISTRY_URL`): search, info, upload, alias and delete go to its
            API; loads download its files into this machine's store (a cache)
            and verify them like any other.
        db_url: the catalog database (default `REGISTRY_DB_URL`, else SQLite
            under `REGISTRY_HOME`).
        cache_dir: where the catalog and store live (default `REGISTRY_HOME`).
        token: an API token for a server (`REGISTRY_TOKEN`).
        offline: never touch the network (`REGISTRY_OFFLINE`).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        db_url: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        token: str | None = None,
        offline: bool = False,
    ) -> None:
        settings = Settings.from_env()
        if cache_dir is not None:
            home = Path(cache_dir)
            settings = dataclasses.replace(
                settings, home=home, db_url=sqlite_url(home / "catalog.db")
            )
        settings = dataclasses.replace(
            settings,
            db_url=db_url or settings.db_url,
            url=url or settings.url,
            token=token or settings.token,
            offline=offline or settings.offline,
        )
        self.settings = settings
        self.resolver = Resolver(settings)
        # Remote mode: the server's catalog, this machine's store as its cache.
        self.server = self.resolver.server

    def __repr__(self) -> str:
        if self.server is not None:
            return f"Registry(url={self.server.url!r}, home={str(self.settings.home)!r})"
        return f"Registry(home={str(self.settings.home)!r}, db={self.settings.db_url!r})"

    def close(self) -> None:
        self.resolver.catalog.close()
        if self.server is not None:
            self.server.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _catalog_handle(self, name: str) -> CatalogHandle:
        handle = parse_handle(name)
        if not isinstance(handle, CatalogHandle):
            raise RegistryError(f"{name!r} is not a catalog preset name (namespace/name).")
        return handle

    # === Loading ===

    def load(
        self,
        name_or_handle: str,
        *,
        revision: str | None = None,
        load_weights: bool = True,
        dtype: Any = None,
        verify: Verify = "fast",
    ) -> Backbone:
        """A ready backbone, its files verified against the recorded digests.

        Args:
            name_or_handle: a catalog name, `kaggle://`, `hf://` or a directory.
            revision: an alias or a revision digest (prefix) of a catalog preset.
            load_weights: load the weights (else fresh ones).
            dtype: override the preset's dtype (e.g. "bfloat16").
            verify: "fast" (size, mtime, inode since the last full hash), "full"
                (rehash every file) or False.

        Example:
            ```python
            backbone = Registry().load("gpt2_tiny_demo", verify="full")
            ```
        """
        from registry.architectures.backbone import Backbone
        from registry.resolver.load import load_backbone

        target = f"{name_or_handle}@{revision}" if revision else name_or_handle
        overrides = {"dtype": dtype} if dtype is not None else {}
        backbone = load_backbone(
            target,
            cls=Backbone,
            load_weights=load_weights,
            overrides=overrides,
            verify=verify,
            resolver=self.resolver,
        )
        self._count_download(target)
        return backbone

    def _count_download(self, target: str) -> None:
        if self.server is not None:
            return  # the server counts what it serves
        handle = parse_handle(target)
        if isinstance(handle, CatalogHandle):
            with self.resolver.catalog.transaction() as session:
                preset = find_preset(session, handle.full_name, viewer=EVERYONE)
                if preset is not None:
                    record_download(session, preset)

    def sync(self, name_or_handle: str, *, force: bool = False, full: bool = False) -> Resolved:
        """Bring a preset into the store (fetching it if needed) and verify it."""
        return self.resolver.resolve(name_or_handle, force=force, verify="full" if full else "fast")

    # === Publishing ===

    def upload(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        description: str | None = None,
        tags: tuple[str, ...] | list[str] = (),
        private: bool | None = None,
        alias: str = "latest",
        message: str = "",
    ) -> Uploaded:
        """Publish a preset directory (or a .tar/.tar.gz/.zip of one) as a new
        immutable revision of `name` (a bare name goes in your own namespace).

        The preset is validated first (an allowed architecture, a config that
        builds, weights whose every shape fits it); identical files give the
        same revision, stored once. `alias` moves only after everything is
        recorded. With a server, the files are sent to it (a write token is needed).

        Example:
            ```python
            Registry().upload("./my_gpt2", "team/my_gpt2", tags=["gpt2"], private=True)
            ```
        """
        source = Path(path).resolve()
        if self.server is not None:
            return self._upload_to_server(source, name, description, tags, private, alias, message)
        from registry.resolver.publish import UploadRequest, new_staging, publish, stage_path

        handle = self._upload_handle(name, _uploader())
        request = UploadRequest(
            handle=handle,
            owner=_uploader(),
            description=description,
            tags=tuple(tags),
            private=private,
            alias=alias,
            message=message,
        )
        staging = new_staging(self.resolver)
        try:
            stage_path(staging, source)
        except BaseException:
            shutil.rmtree(staging.directory, ignore_errors=True)
            raise
        # The embedded catalog's user owns every preset on this machine.
        published = publish(self.resolver, staging, request, authorize=lambda preset: None)
        return Uploaded(
            preset=handle.full_name,
            digest=published.resolved.digest,
            created=published.created,
            architecture=published.architecture,
            parameter_count=published.parameter_count,
            alias=alias,
        )

    @staticmethod
    def _upload_handle(name: str, owner: str) -> CatalogHandle:
        handle = parse_handle(name if "/" in name else f"{owner}/{name}")
        if not isinstance(handle, CatalogHandle) or handle.ref is not None:
            raise RegistryError(f"{name!r} is not a preset name (namespace/name) to upload to.")
        return handle

    def _upload_to_server(
        self,
        source: Path,
        name: str,
        description: str | None,
        tags: tuple[str, ...] | list[str],
        private: bool | None,
        alias: str,
        message: str,
    ) -> Uploaded:
        assert self.server is not None
        owner = self.server.whoami().get("owner") or _uploader()
        handle = self._upload_handle(name, owner)
        body = self.server.upload(
            source,
            handle,
            description=description,
            tags=list(tags),
            private=private,
            alias=alias,
            message=message,
        )
        return Uploaded(
            preset=body["preset"],
            digest=body["revision"]["digest"],
            created=body["created"],
            architecture=body["architecture"],
            parameter_count=body["parameter_count"],
            alias=body["alias"],
        )

    def delete(self, name: str) -> None:
        """Remove a preset, its revisions and aliases from the catalog (owners only
        on a server). Its blobs stay until `registry gc` finds nothing refers to them."""
        if self.server is not None:
            self.server.delete(self._catalog_handle(name))
            return
        with self.resolver.catalog.transaction() as session:
            preset = find_preset(session, name, viewer=EVERYONE)
            if preset is None:
                raise PresetNotFoundError(f"No preset {name} in the catalog.")
            delete_preset(session, preset)

    def alias(self, name: str, alias: str, revision: str) -> None:
        """Point `alias` of preset `name` at `revision` (a digest or its prefix, or an alias)."""
        handle = self._catalog_handle(f"{name}@{revision}")
        if self.server is not None:
            self.server.alias(handle, alias, revision)
            return
        with self.resolver.catalog.transaction() as session:
            preset = find_preset(session, handle.full_name, viewer=EVERYONE)
            if preset is None:
                raise PresetNotFoundError(f"No preset {handle.full_name} in the catalog.")
            target = pick_revision(session, preset, handle)
            if target is None:
                raise PresetNotFoundError(f"{handle.full_name} has no revision {revision!r}.")
            move_alias(session, preset, alias, target)

    # === The catalog ===

    def search(
        self,
        query: str = "",
        *,
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 20,
        **filters: Any,
    ) -> SearchPage:
        """Search the catalog; filters are those of `SearchFilters`."""
        if self.server is not None:
            known = {"source_kind": "source"}
            params = {known.get(k, k): v for k, v in filters.items()}
            return self.server.search(query, sort=sort, page=page, per_page=per_page, **params)
        with self.resolver.catalog.transaction(write=False) as session:
            return search_presets(
                session,
                query,
                filters=SearchFilters(**filters),
                sort=sort,
                page=page,
                per_page=per_page,
                viewer=EVERYONE,
            )

    def info(self, name: str) -> PresetDetail:
        """A preset with its revisions, aliases and files."""
        if self.server is not None:
            return self.server.detail(self._catalog_handle(name))
        with self.resolver.catalog.transaction(write=False) as session:
            detail = preset_detail(session, name, viewer=EVERYONE)
        if detail is None:
            raise PresetNotFoundError(f"No preset {name} in the catalog. Try `registry search`.")
        return detail

    # === Checksums ===

    def verify(self, name: str | None = None, *, full: bool = False) -> lockfile.LockReport:
        """Check stored presets against their recorded digests: `name`, or every
        revision the store holds when None."""
        if name is not None:
            targets = [self.resolver.resolve(name, verify=False)]
        else:
            targets = self._stored_revisions()
        mismatches: list[lockfile.LockMismatch] = []
        for target in targets:
            try:
                self.resolver.check(target, full=full)
            except ChecksumMismatchError as error:
                preset, _, file = error.path.partition(": ")
                mismatches.append(lockfile.LockMismatch(preset, file, error.expected, error.actual))
        return lockfile.LockReport(checked=len(targets), mismatches=tuple(mismatches))

    def _stored_revisions(self) -> list[Resolved]:
        """Every revision tree in the store, named after its preset when known."""
        from sqlalchemy import select

        from registry.catalog.models import Preset, Revision

        store = self.resolver.store
        names: dict[str, str] = {}
        if self.server is None:
            with self.resolver.catalog.transaction(write=False) as session:
                rows = session.execute(
                    select(Revision.digest, Preset.namespace, Preset.name).join(
                        Preset, Preset.id == Revision.preset_id
                    )
                )
                names = {digest: f"{namespace}/{name}" for digest, namespace, name in rows}
        stored = []
        for digest in sorted(store.digests()):
            manifest = store.load_manifest(digest)
            tree = store.tree_path(digest)
            if manifest is not None and tree.is_dir():
                stored.append(Resolved(names.get(digest, digest[:12]), digest, tree, manifest))
        return stored

    def lock(self, names: list[str], path: str | os.PathLike[str] = "presets.lock") -> Path:
        """Pin presets to their current revisions in a lock file; return its path."""
        pinned = []
        for name in names:
            resolved = self.resolver.resolve(name, verify="fast")
            pinned.append(
                lockfile.LockedPreset(resolved.preset, resolved.digest, resolved.manifest.files)
            )
        target = Path(path)
        lockfile.write(target, pinned)
        return target

    def verify_lock(
        self, path: str | os.PathLike[str], *, full: bool = False
    ) -> lockfile.LockReport:
        """Check that every pinned revision is present (syncing it unless offline)
        and that every file matches the lock."""
        locked = lockfile.read(Path(path))
        mismatches: list[lockfile.LockMismatch] = []
        missing: list[str] = []
        for preset in locked:
            try:
                resolved = self.resolver.resolve(
                    f"{preset.name}@{preset.revision}", verify="full" if full else "fast"
                )
            except ChecksumMismatchError as error:
                path_part = error.path.split(": ", 1)[-1]
                mismatches.append(
                    lockfile.LockMismatch(preset.name, path_part, error.expected, error.actual)
                )
                continue
            except RegistryError as error:
                missing.append(f"{preset.name}@{preset.revision[:12]}: {error}")
                continue
            mismatches += lockfile.compare(preset, resolved.manifest)
        return lockfile.LockReport(
            checked=len(locked), mismatches=tuple(mismatches), missing=tuple(missing)
        )
