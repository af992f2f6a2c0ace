"""Catalog names resolved by a registry server (`REGISTRY_URL`), with this
machine's store as the cache and its recorded names (`names.py`) for offline use.

Online, the server says which revision a name means (checked against the file
list it sends), the missing blobs are downloaded and verified, and the answer is
recorded. Offline, a full revision digest is answered by the store alone, and a
name by the last answer recorded for it, with a warning saying how old it is.
"""

from __future__ import annotations

import logging

from registry.config import Settings
from registry.errors import OfflineError
from registry.resolver.handles import CatalogHandle
from registry.resolver.names import RecordedNames
from registry.resolver.remote import RegistryServer
from registry.resolver.resolved import Resolved, is_offline
from registry.resolver.store import Store

log = logging.getLogger("registry.resolver")


class ServerNames:
    """Resolves `namespace/name[@ref]` through one server into one store."""

    def __init__(self, settings: Settings, store: Store) -> None:
        assert settings.url is not None
        self.settings = settings
        self.store = store
        self.server = RegistryServer(settings.url, token=settings.token)
        self.recorded = RecordedNames(store.root, self.server.url)

    def resolve(self, handle: CatalogHandle, *, force: bool = False) -> Resolved:
        pinned = handle.ref if handle.ref is not None and len(handle.ref) == 64 else None
        if pinned is not None and not force and (stored := self._stored(handle, pinned)):
            return stored  # a full digest: the store answers alone
        if is_offline(self.settings):
            return self._offline(handle)
        manifest = self.server.revision(handle)
        digest = manifest.revision_id
        tree = self.store.tree_path(digest)
        if tree.is_dir() and not force:
            self.store.save_manifest(manifest)
        else:
            with self.store.lock(f"remote-{digest}"):
                if force:
                    self.store.remove_tree(digest)
                self.server.download(handle, manifest, self.store)
                tree = self.store.publish_tree(manifest)
        if pinned is None:
            self.recorded.record(handle, digest)
        return Resolved(handle.full_name, digest, tree, manifest)

    def _stored(self, handle: CatalogHandle, digest: str) -> Resolved | None:
        manifest = self.store.load_manifest(digest)
        if manifest is None:
            return None
        tree = self.store.tree_path(digest)
        if not tree.is_dir():
            if not all(self.store.blob_path(f.sha256).is_file() for f in manifest.files):
                return None
            tree = self.store.publish_tree(manifest)  # every blob is here: relink
        return Resolved(handle.full_name, digest, tree, manifest)

    def _offline(self, handle: CatalogHandle) -> Resolved:
        recorded = self.recorded.lookup(handle)
        stored = self._stored(handle, recorded.digest) if recorded is not None else None
        if recorded is None or stored is None:
            raise OfflineError(
                f"{handle} was never synced from {self.server.url} on this machine (or its "
                f"files have left the store), and the registry is offline. Run `registry "
                f"sync {handle}` with network access, then it resolves offline by name."
            )
        log.warning("offline: %s", recorded.describe())
        return stored
