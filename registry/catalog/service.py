"""Writing to the catalog: presets, revisions, aliases, tokens.

Functions take a session and never commit; the caller's transaction is the unit
of work. Uniqueness is enforced by the schema (an INSERT that loses a race fails
inside a savepoint and becomes a clean error), never by read-then-write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.catalog.generation import mark_changed
from registry.catalog.models import (
    ALIAS_KINDS,
    SOURCE_KINDS,
    VISIBILITIES,
    Alias,
    AliasMove,
    ApiToken,
    Blob,
    CatalogState,
    Preset,
    PresetTag,
    PresetWord,
    Revision,
    RevisionFile,
)
from registry.catalog.names import (
    ALIAS,
    NAMESPACE,
    TAG,
    check_base_model,
    check_name,
    check_preset_name,
)
from registry.catalog.search import indexed_words
from registry.errors import AliasExistsError, InvalidNameError, PresetExistsError
from registry.preset.manifest import Manifest

TOKEN_PREFIX = "kpr_"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class PresetSpec:
    """What a new preset is: the catalog fields a creator chooses."""

    namespace: str
    name: str
    architecture: str
    description: str = ""
    parameter_count: int | None = None
    source: str | None = None
    source_kind: str = "upload"
    tags: tuple[str, ...] = ()
    license: str | None = None
    visibility: str = "public"
    owner: str | None = None
    base_model: str | None = None  # `namespace/name` it was fine-tuned from

    def validated(self) -> PresetSpec:
        check_preset_name(self.namespace, self.name)
        if self.base_model is not None:
            check_base_model(self.base_model, of=f"{self.namespace}/{self.name}")
        for tag in self.tags:
            check_name("tag", tag, TAG)
        if self.visibility not in VISIBILITIES:
            raise InvalidNameError(
                f"visibility must be one of {VISIBILITIES}, not {self.visibility!r}"
            )
        if self.source_kind not in SOURCE_KINDS:
            raise InvalidNameError(
                f"source kind must be one of {SOURCE_KINDS}, not {self.source_kind!r}"
            )
        if self.parameter_count is not None and self.parameter_count < 0:
            raise InvalidNameError(f"parameter count cannot be negative: {self.parameter_count}")
        return self


def _apply(preset: Preset, spec: PresetSpec) -> None:
    preset.architecture = spec.architecture
    preset.description = spec.description
    preset.parameter_count = spec.parameter_count
    preset.source = spec.source
    preset.source_kind = spec.source_kind
    preset.license = spec.license
    preset.visibility = spec.visibility
    preset.owner = spec.owner
    preset.base_model = spec.base_model
    tags = sorted(set(spec.tags))
    _sync_rows(preset.tags, "tag", tags, lambda tag: PresetTag(tag=tag))
    found_by = indexed_words(spec.name, spec.description, tags)
    _sync_rows(preset.words, "word", found_by, lambda word: PresetWord(word=word))


def _sync_rows(rows: list[Any], key: str, wanted: list[str], make: Any) -> None:
    """Make a child collection hold exactly `wanted`, touching only differences."""
    present = {getattr(row, key): row for row in rows}
    for value, row in present.items():
        if value not in wanted:
            rows.remove(row)
    rows.extend(make(value) for value in wanted if value not in present)


def _insert_once(session: Session, row: object, refusal: Exception) -> None:
    """Add `row` in a savepoint; if a unique constraint refuses it (another writer
    got there first), raise `refusal` and leave the transaction usable."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as error:
        raise refusal from error
    mark_changed(session)


def create_preset(session: Session, spec: PresetSpec) -> Preset:
    """Insert a new preset.

    Raises:
        PresetExistsError: `namespace/name` exists (also when another writer
            created it a moment ago).
        InvalidNameError: a name, tag or field breaks the rules.
    """
    spec = spec.validated()
    preset = Preset(namespace=spec.namespace, name=spec.name, tags=[], words=[])
    _apply(preset, spec)
    _insert_once(
        session,
        preset,
        PresetExistsError(
            f"Preset {spec.namespace}/{spec.name} already exists. Upload a new revision "
            "to it, or choose another name."
        ),
    )
    return preset


def upsert_preset(session: Session, spec: PresetSpec) -> Preset:
    """The preset `spec` names, created or brought up to date (safe under races)."""
    statement = select(Preset).where(Preset.namespace == spec.namespace, Preset.name == spec.name)
    preset = session.scalar(statement)
    if preset is None:
        try:
            return create_preset(session, spec)
        except PresetExistsError:
            # Another writer created it a moment ago; bring that row up to date.
            preset = session.scalars(statement).one()
    update_preset(session, preset, spec)
    return preset


def _editable_fields(preset: Preset) -> tuple[object, ...]:
    return (
        preset.architecture,
        preset.description,
        preset.parameter_count,
        preset.source,
        preset.source_kind,
        preset.license,
        preset.visibility,
        preset.owner,
        preset.base_model,
        sorted(t.tag for t in preset.tags),
    )


def update_preset(session: Session, preset: Preset, spec: PresetSpec) -> bool:
    """Bring `preset`'s fields to `spec`; return whether anything changed."""
    spec = spec.validated()
    before = _editable_fields(preset)
    _apply(preset, spec)
    if _editable_fields(preset) == before:
        return False
    preset.updated_at = _now()
    session.flush()
    mark_changed(session)
    return True


def adopt_base_model(session: Session, preset: Preset, base_model: str | None) -> bool:
    """Record `base_model` (a checked name) for a preset that names none yet (a
    synced preset's card); return whether it was recorded. A base model the
    preset has already (its seed's, its uploader's) is kept."""
    if base_model is None or preset.base_model is not None:
        return False
    if base_model == f"{preset.namespace}/{preset.name}":
        return False  # a card naming its own preset names no base
    preset.base_model = base_model
    preset.updated_at = _now()
    session.flush()
    mark_changed(session)
    return True


def _upsert_statement(session: Session, model: type) -> Any:
    """INSERT with ON CONFLICT clauses, which SQLite and PostgreSQL share."""
    dialect = session.get_bind().dialect.name
    # Imported here: a client on SQLite need not load PostgreSQL's dialect.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(model)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(model)


def _insert_ignoring_conflicts(
    session: Session, model: type, rows: list[dict[str, object]]
) -> None:
    if rows:
        session.execute(_upsert_statement(session, model).on_conflict_do_nothing(), rows)


def _find_revision(session: Session, preset: Preset, digest: str) -> Revision | None:
    return session.scalar(
        select(Revision).where(Revision.preset_id == preset.id, Revision.digest == digest)
    )


def record_revision(
    session: Session,
    preset: Preset,
    manifest: Manifest,
    *,
    uploader: str | None = None,
    message: str = "",
) -> tuple[Revision, bool]:
    """Record an immutable revision and its files (idempotent by content);
    return it and whether this call created it.

    The same files give the same digest and return the existing revision. The
    revision, its file rows and the blob rows are written in the caller's
    transaction, so they land together or not at all.
    """
    existing = _find_revision(session, preset, manifest.revision_id)
    if existing is not None:
        return existing, False
    _insert_ignoring_conflicts(
        session, Blob, [{"sha256": f.sha256, "size": f.size} for f in manifest.files]
    )
    revision = Revision(
        preset_id=preset.id,
        digest=manifest.revision_id,
        uploader=uploader,
        message=message,
        files=[RevisionFile(path=f.path, size=f.size, sha256=f.sha256) for f in manifest.files],
    )
    try:
        with session.begin_nested():
            session.add(revision)
    except IntegrityError:
        # Another writer recorded the same content a moment ago: it is the same revision.
        found = _find_revision(session, preset, manifest.revision_id)
        if found is None:
            raise
        return found, False
    preset.updated_at = _now()
    mark_changed(session)
    return revision, True


def create_alias(
    session: Session, preset: Preset, name: str, revision: Revision, *, kind: str = "branch"
) -> Alias:
    """Add a new alias (a branch, or a tag); a second alias of the same name is refused.

    Raises:
        AliasExistsError: the preset has this alias already (or another writer
            just created it).
    """
    check_name("alias", name, ALIAS)
    if kind not in ALIAS_KINDS:
        raise InvalidNameError(f"an alias is one of {ALIAS_KINDS}, not {kind!r}")
    alias = Alias(preset_id=preset.id, name=name, revision_id=revision.id, kind=kind)
    _insert_once(
        session,
        alias,
        AliasExistsError(
            f"{preset.namespace}/{preset.name} already has an alias {name!r}. "
            "Move it instead (`registry alias --force`), or pick another name."
        ),
    )
    return alias


def move_alias(
    session: Session,
    preset: Preset,
    name: str,
    revision: Revision,
    *,
    author: str | None = None,
    message: str = "",
) -> bool:
    """Point `name` at `revision`, creating it if needed (an atomic upsert), and
    log the move (the commit history); return whether it moved. Pointing an
    alias where it points already changes and logs nothing."""
    check_name("alias", name, ALIAS)
    before = session.scalar(
        select(Alias.revision_id)
        .where(Alias.preset_id == preset.id, Alias.name == name)
        .with_for_update()
    )
    if before == revision.id:
        return False
    statement = _upsert_statement(session, Alias).values(
        preset_id=preset.id, name=name, revision_id=revision.id, updated_at=_now()
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["preset_id", "name"],
            set_={"revision_id": revision.id, "updated_at": _now()},
        )
    )
    session.add(
        AliasMove(
            preset_id=preset.id,
            alias=name,
            revision_id=revision.id,
            parent_id=before,
            author=author,
            message=message,
        )
    )
    session.expire(preset, ["aliases"])
    mark_changed(session)
    return True


def delete_preset(session: Session, preset: Preset) -> None:
    """Delete a preset with its tags, revisions, files and aliases (one statement:
    the database cascades)."""
    session.execute(delete(Preset).where(Preset.id == preset.id))
    session.expunge(preset)
    # The next open seeds again: a deleted built-in comes back, as it always has.
    session.execute(update(CatalogState).values(seeded=None))
    mark_changed(session)


def record_download(session: Session, preset: Preset) -> None:
    """Count one download, atomically in the database."""
    session.execute(
        update(Preset)
        .where(Preset.id == preset.id)
        .values(download_count=Preset.download_count + 1)
    )


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session, *, owner: str, scope: str, name: str = ""
) -> tuple[str, ApiToken]:
    """Create an API token; returns the secret (shown once) and its row."""
    check_name("owner", owner, NAMESPACE)
    if scope not in ("read", "write"):
        raise InvalidNameError(f"scope must be 'read' or 'write', not {scope!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(owner=owner, scope=scope, name=name, token_hash=_token_hash(secret))
    session.add(token)
    session.flush()
    return secret, token


# A token's last use is stamped at most this often: a write per request would
# queue every authenticated read behind SQLite's single writer.
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=1)


def authenticate(session: Session, secret: str) -> ApiToken | None:
    """The live token whose secret this is, or None. Reads only: see
    `token_use_is_stale` and `record_token_use`."""
    digest = _token_hash(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


def token_use_is_stale(token: ApiToken) -> bool:
    """Whether the token's recorded last use is older than the resolution."""
    last = token.last_used_at
    if last is None:
        return True
    if last.tzinfo is None:  # SQLite keeps UTC without its zone
        last = last.replace(tzinfo=dt.timezone.utc)
    return _now() - last >= TOKEN_USE_RESOLUTION


def record_token_use(session: Session, token_id: int) -> None:
    """Stamp a token's last use (unless another request just did)."""
    now = _now()
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at < now - TOKEN_USE_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
    )


def revoke_token(session: Session, token_id: int, *, owner: str) -> bool:
    """Revoke one of `owner`'s tokens; return whether a live token was revoked."""
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.owner == owner,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=_now())
    )
    return bool(getattr(result, "rowcount", 0))


def tokens_of(session: Session, owner: str) -> Iterable[ApiToken]:
    return session.scalars(select(ApiToken).where(ApiToken.owner == owner).order_by(ApiToken.id))
