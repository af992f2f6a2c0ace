"""The catalog's tables, as SQLAlchemy 2.0 typed declarative models.

Constraints live in the schema, not only in code: digests are CHECKed to be
64 lowercase hex characters, names are unique where they must be, and sizes and
counts cannot go negative. Migrations in `migrations/` create exactly these
tables (a test compares them).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from registry.errors import CatalogError

# Deterministic constraint names, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SOURCE_KINDS = ("kaggle", "hf", "local", "upload", "registry", "bundled")
VISIBILITIES = ("public", "private")
# An alias is a branch (commits move it) or a tag (it stays where it was put).
ALIAS_KINDS = ("branch", "tag")


def _hex_digest_check(column: str) -> str:
    # 64 characters, none outside [0-9a-f]; ltrim(x, set) works on SQLite and PostgreSQL.
    return f"length({column}) = 64 AND ltrim({column}, '0123456789abcdef') = ''"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# The database's own default, spelt as the first migration spells it, so that a
# schema created from these models is the migrated one (see migrate.py).
_DB_NOW = text("(CURRENT_TIMESTAMP)")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Preset(Base):
    """A named preset: what the catalog lists. Its content lives in revisions."""

    __tablename__ = "presets"
    __table_args__ = (
        UniqueConstraint("namespace", "name", name="uq_presets_namespace_name"),
        CheckConstraint("visibility IN ('public', 'private')", name="visibility_known"),
        CheckConstraint(
            "source_kind IN ('kaggle', 'hf', 'local', 'upload', 'registry', 'bundled')",
            name="source_kind_known",
        ),
        CheckConstraint("download_count >= 0", name="download_count_positive"),
        CheckConstraint(
            "parameter_count IS NULL OR parameter_count >= 0",
            name="parameter_count_positive",
        ),
        # SQLite's sort indexes; PostgreSQL has one per sort and direction (below).
        Index("ix_presets_parameter_count", "parameter_count").ddl_if(dialect="sqlite"),
        Index("ix_presets_download_count", "download_count").ddl_if(dialect="sqlite"),
        Index("ix_presets_updated_at", "updated_at").ddl_if(dialect="sqlite"),
        Index("ix_presets_name", "name").ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    architecture: Mapped[str] = mapped_column(String(64), index=True)
    parameter_count: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str | None] = mapped_column(String(1024))
    source_kind: Mapped[str] = mapped_column(String(16), index=True)
    license: Mapped[str | None] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(8), default="public")
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )
    download_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Lineage: the preset this one was fine-tuned from, as `namespace/name` (the
    # Hub's `base_model` card field). A name, not a key: the base may live elsewhere.
    base_model: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)

    tags: Mapped[list[PresetTag]] = relationship(
        back_populates="preset", cascade="all, delete-orphan", order_by="PresetTag.tag"
    )
    words: Mapped[list[PresetWord]] = relationship(
        back_populates="preset", cascade="all, delete-orphan"
    )
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="preset",
        cascade="all, delete-orphan",
        order_by="Revision.created_at",
    )
    aliases: Mapped[list[Alias]] = relationship(
        back_populates="preset", cascade="all, delete-orphan", order_by="Alias.name"
    )


# PostgreSQL: an index per sort of the search API and direction, in exactly the
# order the search asks for (`queries._order`: the key, then namespace, name and
# id), so a search that matches much of the catalog walks one and stops at the
# page's end, whatever the ties. PostgreSQL walks an index backwards only with
# every column reversed and nulls moved to the other end, so each direction
# needs its own; and descending sizes put unknown ones last, which no ascending
# index gives. SQLite, whose nulls sort first, keeps one ascending index per
# sort column, which it walks either way.
_NAME_TIES = (Preset.namespace, Preset.id)
_TIES = (Preset.namespace, Preset.name, Preset.id)
for _index in (
    Index("ix_presets_by_name", Preset.name, *_NAME_TIES),
    Index("ix_presets_by_name_desc", Preset.name.desc(), *_NAME_TIES),
    Index("ix_presets_by_parameters", Preset.parameter_count, *_TIES),
    Index("ix_presets_by_parameters_desc", Preset.parameter_count.desc().nulls_last(), *_TIES),
    Index("ix_presets_by_downloads", Preset.download_count, *_TIES),
    Index("ix_presets_by_downloads_desc", Preset.download_count.desc(), *_TIES),
    Index("ix_presets_by_updated", Preset.updated_at, *_TIES),
    Index("ix_presets_by_updated_desc", Preset.updated_at.desc(), *_TIES),
):
    _index.ddl_if(dialect="postgresql")


class PresetTag(Base):
    """One tag of a preset (a row each, so tag filters use an index)."""

    __tablename__ = "preset_tags"

    preset_id: Mapped[int] = mapped_column(
        ForeignKey("presets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

    preset: Mapped[Preset] = relationship(back_populates="tags")


class PresetWord(Base):
    """One word of a preset's name, description or tags: the search index."""

    __tablename__ = "preset_words"
    # (word, preset_id) finds the presets of a word prefix; (preset_id, word)
    # checks one preset against a prefix and serves the cascade on delete.
    __table_args__ = (Index("ix_preset_words_preset_id_word", "preset_id", "word"),)

    # Bytewise order on PostgreSQL too, so a prefix is exactly a range of the index.
    word: Mapped[str] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql"), primary_key=True
    )
    preset_id: Mapped[int] = mapped_column(
        ForeignKey("presets.id", ondelete="CASCADE"), primary_key=True
    )

    preset: Mapped[Preset] = relationship(back_populates="words")


class Blob(Base):
    """File content, stored once by sha256 whatever the presets that share it."""

    __tablename__ = "blobs"
    __table_args__ = (
        CheckConstraint(_hex_digest_check("sha256"), name="sha256_hex"),
        CheckConstraint("size >= 0", name="size_positive"),
    )

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )


class Revision(Base):
    """An immutable set of files; `digest` is the sha256 of its canonical manifest."""

    __tablename__ = "revisions"
    __table_args__ = (
        UniqueConstraint("preset_id", "digest", name="uq_revisions_preset_id_digest"),
        CheckConstraint(_hex_digest_check("digest"), name="digest_hex"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preset_id: Mapped[int] = mapped_column(ForeignKey("presets.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )
    uploader: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")

    preset: Mapped[Preset] = relationship(back_populates="revisions")
    files: Mapped[list[RevisionFile]] = relationship(
        back_populates="revision",
        cascade="all, delete-orphan",
        order_by="RevisionFile.path",
    )


class RevisionFile(Base):
    """One file of a revision: its path in the preset, size and content digest."""

    __tablename__ = "revision_files"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_positive"),
        CheckConstraint("length(path) > 0", name="path_not_empty"),
    )

    revision_id: Mapped[int] = mapped_column(
        ForeignKey("revisions.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)

    revision: Mapped[Revision] = relationship(back_populates="files")


class Alias(Base):
    """A name (`latest`, or one a user chose) that points at a revision: a branch,
    which commits move, or a tag (the Hub's refs; `latest` is its `main`)."""

    __tablename__ = "aliases"
    __table_args__ = (
        UniqueConstraint("preset_id", "name", name="uq_aliases_preset_id_name"),
        CheckConstraint("kind IN ('branch', 'tag')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preset_id: Mapped[int] = mapped_column(ForeignKey("presets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    revision_id: Mapped[int] = mapped_column(
        ForeignKey("revisions.id", ondelete="CASCADE"), index=True
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )

    kind: Mapped[str] = mapped_column(String(8), default="branch", server_default="branch")

    preset: Mapped[Preset] = relationship(back_populates="aliases")
    revision: Mapped[Revision] = relationship()


class AliasMove(Base):
    """One move of an alias: the commit log. Which revision it moved to, from
    which (its parent commit), by whom, with what message, when. A revision may
    be reached by several moves (identical content committed twice, a revert)."""

    __tablename__ = "alias_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preset_id: Mapped[int] = mapped_column(ForeignKey("presets.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    revision_id: Mapped[int] = mapped_column(
        ForeignKey("revisions.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("revisions.id", ondelete="SET NULL"), nullable=True
    )
    author: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )


class Signature(Base):
    """A signature of a revision: an OpenSSF model-signing bundle (sigstore
    format, DSSE over an in-toto statement of every file's sha256) by one key.
    A revision may carry several, one per key; signing never changes it."""

    __tablename__ = "signatures"
    __table_args__ = (
        UniqueConstraint(
            "revision_id", "fingerprint", name="uq_signatures_revision_id_fingerprint"
        ),
        CheckConstraint(_hex_digest_check("fingerprint"), name="fingerprint_hex"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(
        ForeignKey("revisions.id", ondelete="CASCADE"), index=True
    )
    # sha256 of the public key's PEM SubjectPublicKeyInfo: the bundle's key hint.
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    public_key: Mapped[str] = mapped_column(Text)  # PEM
    bundle: Mapped[str] = mapped_column(Text)  # the sigstore bundle, JSON
    signer: Mapped[str | None] = mapped_column(String(64))  # who attached it
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )


class SigningKey(Base):
    """A public key registered under a name, so pages can say who signed."""

    __tablename__ = "signing_keys"
    __table_args__ = (CheckConstraint(_hex_digest_check("fingerprint"), name="fingerprint_hex"),)

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str | None] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)  # PEM
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )


class ApiToken(Base):
    """An API token. Only the sha256 of the secret is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(_hex_digest_check("token_hash"), name="token_hash_hex"),
        CheckConstraint("scope IN ('read', 'write')", name="scope_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    owner: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=_DB_NOW
    )
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def _refuse_change(mapper: object, connection: object, target: Revision | RevisionFile) -> None:
    raise CatalogError(
        f"{type(target).__name__} rows are immutable: record a new revision instead of "
        "changing one."
    )


for _immutable in (Revision, RevisionFile):
    event.listen(_immutable, "before_update", _refuse_change)


class CatalogState(Base):
    """One row: a counter that every visible change of the catalog increments
    (in the changing transaction), so caches know when they are stale; and the
    fingerprint of the built-ins last seeded."""

    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    # The fingerprint of the built-in presets as last seeded (see catalog.builtin).
    seeded: Mapped[str | None] = mapped_column(String(64), nullable=True)
