"""The embedded backend: this machine's catalog database and store.

The embedded catalog's user (this machine's account) owns and sees every
preset in it; uploads go in that user's namespace unless named otherwise.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.orm import Session

from registry import records
from registry.catalog.models import ApiToken, Revision
from registry.catalog.queries import (
    EVERYONE,
    SearchFilters,
    find_preset,
    preset_detail,
    revision_manifest,
    search_presets,
)
from registry.catalog.service import (
    create_token,
    delete_preset,
    move_alias,
    record_download,
    revoke_token,
    tokens_of,
)
from registry.catalog.signatures import attach_signature, register_key, signatures_of
from registry.config import Settings, local_user
from registry.errors import PresetNotFoundError, RevisionNotFoundError
from registry.preset.manifest import Manifest
from registry.resolver.handles import CatalogHandle
from registry.resolver.publish import check_target, new_staging, publish, stage_path, uploaded
from registry.resolver.request import UploadRequest
from registry.resolver.resolve import Resolver, pick_revision
from registry.trust.signatures import fingerprint_of, public_key_pem


def _token_info(token: ApiToken) -> records.TokenInfo:
    return records.TokenInfo.model_validate(token, from_attributes=True)


class LocalBackend:
    """The catalog and store under `settings.home` (or `settings.db_url`)."""

    def __init__(self, settings: Settings) -> None:
        self.resolver = Resolver(settings)
        self.settings = settings

    def describe(self) -> str:
        return f"home={str(self.settings.home)!r}, db={self.settings.db_url!r}"

    def whoami(self) -> records.WhoAmI:
        return records.WhoAmI(owner=local_user(), scope="write", token_name=None)

    def _preset_missing(self, name: str) -> PresetNotFoundError:
        return PresetNotFoundError(
            f"No preset {name} in the catalog ({self.settings.db_url}). Try `registry search`."
        )

    # === Reading ===

    def search(
        self, query: str, *, filters: SearchFilters, sort: str, page: int, per_page: int
    ) -> records.SearchPage:
        with self.resolver.catalog.transaction(write=False) as session:
            return search_presets(
                session, query, filters=filters, sort=sort, page=page, per_page=per_page,
                viewer=EVERYONE,
            )  # fmt: skip

    def info(self, handle: CatalogHandle) -> records.PresetDetail:
        with self.resolver.catalog.transaction(write=False) as session:
            detail = preset_detail(session, handle.full_name, viewer=EVERYONE)
        if detail is None:
            raise self._preset_missing(handle.full_name)
        return detail

    def preset_names(self) -> dict[str, str]:
        from sqlalchemy import select

        from registry.catalog.models import Preset, Revision

        with self.resolver.catalog.transaction(write=False) as session:
            rows = session.execute(
                select(Revision.digest, Preset.namespace, Preset.name).join(
                    Preset, Preset.id == Revision.preset_id
                )
            )
            return {digest: f"{namespace}/{name}" for digest, namespace, name in rows}

    # === Writing ===

    def upload(self, source: Path, request: UploadRequest) -> records.Uploaded:
        check_target(self.resolver, request)
        staging = new_staging(self.resolver)
        try:
            stage_path(staging, source)
        except BaseException:
            shutil.rmtree(staging.directory, ignore_errors=True)
            raise
        published = publish(self.resolver, staging, request)
        return uploaded(self.resolver, request, published)

    def alias(self, handle: CatalogHandle, alias: str, revision: str) -> records.AliasOut:
        with self.resolver.catalog.transaction() as session:
            preset = find_preset(session, handle.full_name, viewer=EVERYONE)
            if preset is None:
                raise self._preset_missing(handle.full_name)
            target = pick_revision(session, preset, handle)
            if target is None:
                raise PresetNotFoundError(f"{handle.full_name} has no revision {revision!r}.")
            move_alias(session, preset, alias, target)
            return records.AliasOut(preset=handle.full_name, alias=alias, revision=target.digest)

    def delete(self, handle: CatalogHandle) -> None:
        with self.resolver.catalog.transaction() as session:
            preset = find_preset(session, handle.full_name, viewer=EVERYONE)
            if preset is None:
                raise self._preset_missing(handle.full_name)
            delete_preset(session, preset)

    def record_download(self, handle: CatalogHandle) -> None:
        with self.resolver.catalog.transaction() as session:
            preset = find_preset(session, handle.full_name, viewer=EVERYONE)
            if preset is not None:
                record_download(session, preset)

    # === Signatures ===

    def _revision(self, session: Session, handle: CatalogHandle) -> Revision:
        preset = find_preset(session, handle.full_name, viewer=EVERYONE)
        if preset is None:
            raise self._preset_missing(handle.full_name)
        revision = pick_revision(session, preset, handle)
        if revision is None:
            raise RevisionNotFoundError(
                f"{handle.full_name} has no revision yet: sync it first "
                f"(`registry sync {handle.full_name}`)."
            )
        return revision

    def revision_manifest(self, handle: CatalogHandle) -> Manifest:
        with self.resolver.catalog.transaction(write=False) as session:
            return revision_manifest(self._revision(session, handle))

    def signatures(self, handle: CatalogHandle) -> list[records.SignatureInfo]:
        with self.resolver.catalog.transaction(write=False) as session:
            return signatures_of(session, [self._revision(session, handle)])

    def attach_signature(
        self, handle: CatalogHandle, body: records.SignatureIn
    ) -> records.SignatureInfo:
        fingerprint = fingerprint_of(public_key_pem(body.public_key.encode()))
        with self.resolver.catalog.transaction() as session:
            revision = self._revision(session, handle)
            attach_signature(
                session,
                revision,
                body.bundle.encode(),
                body.public_key.encode(),
                signer=local_user(),
            )
            found = signatures_of(session, [revision])
        return next(info for info in found if info.fingerprint == fingerprint)

    def register_key(self, body: records.SigningKeyIn) -> records.SigningKeyInfo:
        with self.resolver.catalog.transaction() as session:
            return register_key(session, body.name, body.public_key.encode(), owner=local_user())

    # === Tokens (of this catalog, for when it serves: `registry serve`) ===

    def create_token(self, *, owner: str | None, scope: str, name: str) -> records.NewToken:
        with self.resolver.catalog.transaction() as session:
            secret, token = create_token(
                session, owner=owner or local_user(), scope=scope, name=name
            )
            session.flush()
            return records.NewToken(token=_token_info(token), secret=secret)

    def tokens(self, owner: str | None) -> list[records.TokenInfo]:
        with self.resolver.catalog.transaction(write=False) as session:
            return [_token_info(t) for t in tokens_of(session, owner or local_user())]

    def revoke_token(self, token_id: int, owner: str | None) -> None:
        owner = owner or local_user()
        with self.resolver.catalog.transaction() as session:
            if not revoke_token(session, token_id, owner=owner):
                raise PresetNotFoundError(
                    f"No live token {token_id} of {owner}. `registry token list` shows them."
                )

    def close(self) -> None:
        self.resolver.close()
