"""What a `Registry` asks of the catalog it works with: one small interface,
implemented once by the embedded catalog (`LocalBackend`) and once by a
registry server's JSON API (`RemoteBackend`)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from registry import records
from registry.catalog.queries import SearchFilters
from registry.preset.manifest import Manifest
from registry.resolver.handles import CatalogHandle
from registry.resolver.request import UploadRequest
from registry.resolver.resolve import Resolver


class Backend(Protocol):
    """A catalog of presets and the store that holds their files here."""

    resolver: Resolver  # resolves names through this backend's catalog into the store

    def describe(self) -> str:
        """Where the catalog is, for `repr`."""
        ...

    def whoami(self) -> records.WhoAmI:
        """Who uploads: this machine's user, or the server token's owner."""
        ...

    def search(
        self, query: str, *, filters: SearchFilters, sort: str, page: int, per_page: int
    ) -> records.SearchPage: ...

    def info(self, handle: CatalogHandle) -> records.PresetDetail: ...

    def upload(self, source: Path, request: UploadRequest) -> records.Uploaded: ...

    def alias(self, handle: CatalogHandle, alias: str, revision: str) -> records.AliasOut: ...

    def delete(self, handle: CatalogHandle) -> None: ...

    def revision_manifest(self, handle: CatalogHandle) -> Manifest:
        """The recorded files of the revision `handle` names (`latest` if none):
        what a signature of it covers (no file is read)."""
        ...

    def signatures(self, handle: CatalogHandle) -> list[records.SignatureInfo]:
        """The signatures of the revision `handle` names, each checked by the catalog."""
        ...

    def attach_signature(
        self, handle: CatalogHandle, body: records.SignatureIn
    ) -> records.SignatureInfo: ...

    def register_key(self, body: records.SigningKeyIn) -> records.SigningKeyInfo: ...

    def record_download(self, handle: CatalogHandle) -> None:
        """Count a load (a server counts what it serves itself)."""
        ...

    def preset_names(self) -> dict[str, str]:
        """revision digest -> `namespace/name`, for the revisions this catalog knows."""
        ...

    def create_token(self, *, owner: str | None, scope: str, name: str) -> records.NewToken: ...

    def tokens(self, owner: str | None) -> list[records.TokenInfo]: ...

    def revoke_token(self, token_id: int, owner: str | None) -> None: ...

    def close(self) -> None: ...
