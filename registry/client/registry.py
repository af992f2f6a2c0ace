"""`Registry`: the one facade for Python users (see `registry.client`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry import lockfile
from registry.catalog.queries import SearchFilters
from registry.client.backend import Backend
from registry.config import Settings, sqlite_url
from registry.errors import AuthenticationError, ChecksumMismatchError, RegistryError
from registry.records import (
    AliasOut,
    NewToken,
    PresetDetail,
    SearchPage,
    TokenInfo,
    Uploaded,
    WhoAmI,
)
from registry.resolver.handles import CatalogHandle, parse_handle
from registry.resolver.names import RecordedName
from registry.resolver.request import UploadRequest
from registry.resolver.resolve import Resolved, Verify
from registry.resolver.store import GcReport

if TYPE_CHECKING:
    from registry.architectures.backbone import Backbone


def _catalog_handle(name: str) -> CatalogHandle:
    handle = parse_handle(name)
    if not isinstance(handle, CatalogHandle):
        raise RegistryError(f"{name!r} is not a catalog preset name (namespace/name).")
    return handle


class Registry:
    """A registry of Keras presets: the embedded catalog on this machine, or a server's.

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
        self.backend: Backend = _backend_for(settings)
        self.resolver = self.backend.resolver

    def __repr__(self) -> str:
        return f"Registry({self.backend.describe()})"

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
        handle = parse_handle(target)
        if isinstance(handle, CatalogHandle):
            self.backend.record_download(handle)

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
        license: str | None = None,
    ) -> Uploaded:
        """Publish a preset directory (or a .tar/.tar.gz/.zip of one) as a new
        immutable revision of `name` (a bare name goes in your own namespace).

        The target and fields are checked first (tags are lowercased), then the
        preset is validated (an allowed architecture, a config that builds,
        weights whose every shape fits it); identical files give the same
        revision, stored once. `alias` moves only after everything is recorded.
        With a server, the files are sent to it (a write token is needed).

        Example:
            ```python
            Registry().upload("./my_gpt2", "team/my_gpt2", tags=["gpt2"], private=True)
            ```
        """
        owner = self.whoami().owner
        if owner is None:
            raise AuthenticationError(
                f"Uploading to {self.settings.url} needs a token with write scope: set "
                "REGISTRY_TOKEN (the server's operator creates one with "
                "`registry token create --scope write`)."
            )
        request = UploadRequest.build(
            _upload_handle(name, owner),
            owner=owner,
            description=description,
            tags=tags,
            private=private,
            alias=alias,
            message=message,
            license=license,
        )
        return self.backend.upload(Path(path).resolve(), request)

    def delete(self, name: str) -> None:
        """Remove a preset, its revisions and aliases from the catalog (owners only
        on a server). Its blobs stay until `registry gc` finds nothing refers to them."""
        self.backend.delete(_catalog_handle(name))

    def alias(self, name: str, alias: str, revision: str) -> AliasOut:
        """Point `alias` of preset `name` at `revision` (a digest or its prefix, or an alias)."""
        return self.backend.alias(_catalog_handle(f"{name}@{revision}"), alias, revision)

    def whoami(self) -> WhoAmI:
        """Who this registry acts as: this machine's user, or the server token's owner."""
        return self.backend.whoami()

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
        return self.backend.search(
            query, filters=SearchFilters(**filters), sort=sort, page=page, per_page=per_page
        )

    def info(self, name: str) -> PresetDetail:
        """A preset with its revisions, aliases and files."""
        return self.backend.info(_catalog_handle(name))

    def recorded(self, name: str) -> RecordedName | None:
        """Which revision the server last said `name` (`ns/name[@alias]`) means, and
        when: what resolves it offline. None without a server, or never resolved."""
        names = self.resolver.names
        return names.lookup(_catalog_handle(name)) if names is not None else None

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
        store = self.resolver.store
        names = self.backend.preset_names()
        stored = []
        for digest in sorted(store.digests()):
            manifest = store.load_manifest(digest)
            tree = store.tree_path(digest)
            if manifest is not None and tree.is_dir():
                stored.append(Resolved(names.get(digest, digest[:12]), digest, tree, manifest))
        return stored

    def gc(self, *, grace_s: float = 3600, max_bytes: int | None = None) -> GcReport:
        """Remove from the store every revision the catalog no longer records, and
        stale temporary files; with `max_bytes`, also evict the least recently used
        synced revisions until the store fits."""
        return self.resolver.gc(grace_s=grace_s, max_bytes=max_bytes)

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

    # === Tokens (for a server's operator: the catalog `registry serve` serves) ===

    def create_token(
        self, *, scope: str = "read", name: str = "", owner: str | None = None
    ) -> NewToken:
        """Create an API token; its secret is in the result, and nowhere else."""
        return self.backend.create_token(owner=owner, scope=scope, name=name)

    def tokens(self, owner: str | None = None) -> list[TokenInfo]:
        """`owner`'s tokens (default: this machine's user), never their secrets."""
        return self.backend.tokens(owner)

    def revoke_token(self, token_id: int, *, owner: str | None = None) -> None:
        """Revoke a token: it stops working at once."""
        self.backend.revoke_token(token_id, owner)


def _backend_for(settings: Settings) -> Backend:
    """The embedded catalog, or the server `settings.url` names: chosen once."""
    if settings.url:
        from registry.client.remote import RemoteBackend

        return RemoteBackend(settings)
    from registry.client.local import LocalBackend

    return LocalBackend(settings)


def _upload_handle(name: str, owner: str) -> CatalogHandle:
    handle = parse_handle(name if "/" in name else f"{owner}/{name}")
    if not isinstance(handle, CatalogHandle) or handle.ref is not None:
        raise RegistryError(f"{name!r} is not a preset name (namespace/name) to upload to.")
    return handle
