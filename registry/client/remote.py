"""The remote backend: a registry server's JSON API (`REGISTRY_URL`).

The server's catalog answers searches and takes uploads, aliases and deletes;
loads download its files into this machine's store (a cache) and verify them
like any other. No local catalog is opened for any of this.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NoReturn

from registry import records
from registry.catalog.queries import SearchFilters
from registry.config import Settings
from registry.errors import OfflineError, RegistryError
from registry.preset.manifest import Manifest
from registry.resolver.handles import CatalogHandle
from registry.resolver.remote import RegistryServer
from registry.resolver.request import UploadRequest
from registry.resolver.resolve import Resolver
from registry.resolver.resolved import is_offline
from registry.trust.remembered import RememberedSignatures


class RemoteBackend:
    """A registry server's catalog, with this machine's store as its cache."""

    def __init__(self, settings: Settings) -> None:
        self.resolver = Resolver(settings)
        self.settings = settings
        assert self.resolver.server is not None, "a remote backend needs settings.url"
        self.server: RegistryServer = self.resolver.server

    def describe(self) -> str:
        return f"url={self.server.url!r}, home={str(self.settings.home)!r}"

    def whoami(self) -> records.WhoAmI:
        return self.server.whoami()

    def search(
        self, query: str, *, filters: SearchFilters, sort: str, page: int, per_page: int
    ) -> records.SearchPage:
        asked = records.SearchRequest.model_validate(
            {"q": query, "sort": sort, "page": page, "per_page": per_page,
             **dataclasses.asdict(filters)}
        )  # fmt: skip
        return self.server.search(asked)

    def info(self, handle: CatalogHandle) -> records.PresetDetail:
        if is_offline(self.settings):
            raise OfflineError(
                f"The registry is offline, so {self.server.url} cannot be asked about {handle}; "
                "`registry info` shows the revision recorded at the last sync."
            )
        return self.server.detail(handle)

    def preset_names(self) -> dict[str, str]:
        return {}  # the server's catalog is not listed here; stored trees keep their digests

    def upload(self, source: Path, request: UploadRequest) -> records.Uploaded:
        return self.server.upload(source, request)

    def alias(self, handle: CatalogHandle, alias: str, revision: str) -> records.AliasOut:
        return self.server.alias(handle, alias, revision)

    def delete(self, handle: CatalogHandle) -> None:
        self.server.delete(handle)

    def record_download(self, handle: CatalogHandle) -> None:
        pass  # the server counted the download when it served the files

    # === Signatures (remembered in the store for offline use) ===

    def revision_manifest(self, handle: CatalogHandle) -> Manifest:
        return self.server.revision(handle)

    def signatures(self, handle: CatalogHandle) -> list[records.SignatureInfo]:
        remembered = RememberedSignatures(self.resolver.store.root / "signatures")
        if is_offline(self.settings) and handle.ref is not None:
            return remembered.recall(handle.ref)
        found = self.server.signatures(handle)
        remembered.remember(found)
        return found

    def attach_signature(
        self, handle: CatalogHandle, body: records.SignatureIn
    ) -> records.SignatureInfo:
        attached = self.server.attach_signature(handle, body)
        RememberedSignatures(self.resolver.store.root / "signatures").remember([attached])
        return attached

    def register_key(self, body: records.SigningKeyIn) -> records.SigningKeyInfo:
        return self.server.register_key(body)

    def _operator_only(self) -> NoReturn:
        raise RegistryError(
            f"Tokens of {self.server.url} are managed by its operator: run `registry token` "
            "on the server (without REGISTRY_URL)."
        )

    def create_token(self, *, owner: str | None, scope: str, name: str) -> records.NewToken:
        self._operator_only()

    def tokens(self, owner: str | None) -> list[records.TokenInfo]:
        self._operator_only()

    def revoke_token(self, token_id: int, owner: str | None) -> None:
        self._operator_only()

    def close(self) -> None:
        self.resolver.close()
