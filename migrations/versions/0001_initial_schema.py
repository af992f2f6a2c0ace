"""Initial schema: presets, their tags and search words, blobs, revisions, files,
aliases and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 11:59:43.126795
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "length(token_hash) = 64 AND ltrim(token_hash, '0123456789abcdef') = ''",
            name=op.f("ck_api_tokens_token_hash_hex"),
        ),
        sa.CheckConstraint("scope IN ('read', 'write')", name=op.f("ck_api_tokens_scope_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_owner"), "api_tokens", ["owner"], unique=False)

    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "length(sha256) = 64 AND ltrim(sha256, '0123456789abcdef') = ''",
            name=op.f("ck_blobs_sha256_hex"),
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_blobs_size_positive")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "presets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("architecture", sa.String(length=64), nullable=False),
        sa.Column("parameter_count", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=True),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("license", sa.String(length=64), nullable=True),
        sa.Column("visibility", sa.String(length=8), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("download_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "source_kind IN ('kaggle', 'hf', 'local', 'upload', 'registry', 'bundled')",
            name=op.f("ck_presets_source_kind_known"),
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'private')", name=op.f("ck_presets_visibility_known")
        ),
        sa.CheckConstraint("download_count >= 0", name=op.f("ck_presets_download_count_positive")),
        sa.CheckConstraint(
            "parameter_count IS NULL OR parameter_count >= 0",
            name=op.f("ck_presets_parameter_count_positive"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presets")),
        sa.UniqueConstraint("namespace", "name", name="uq_presets_namespace_name"),
    )
    op.create_index(op.f("ix_presets_architecture"), "presets", ["architecture"], unique=False)
    op.create_index(op.f("ix_presets_download_count"), "presets", ["download_count"], unique=False)
    op.create_index(op.f("ix_presets_name"), "presets", ["name"], unique=False)
    op.create_index(op.f("ix_presets_owner"), "presets", ["owner"], unique=False)
    op.create_index(
        op.f("ix_presets_parameter_count"), "presets", ["parameter_count"], unique=False
    )
    op.create_index(op.f("ix_presets_source_kind"), "presets", ["source_kind"], unique=False)
    op.create_index(op.f("ix_presets_updated_at"), "presets", ["updated_at"], unique=False)

    op.create_table(
        "preset_tags",
        sa.Column("preset_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["preset_id"],
            ["presets.id"],
            name=op.f("fk_preset_tags_preset_id_presets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("preset_id", "tag", name=op.f("pk_preset_tags")),
    )
    op.create_index(op.f("ix_preset_tags_tag"), "preset_tags", ["tag"], unique=False)

    op.create_table(
        "preset_words",
        sa.Column(
            "word",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("preset_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["preset_id"],
            ["presets.id"],
            name=op.f("fk_preset_words_preset_id_presets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("word", "preset_id", name=op.f("pk_preset_words")),
    )
    op.create_index(
        "ix_preset_words_preset_id_word", "preset_words", ["preset_id", "word"], unique=False
    )

    op.create_table(
        "revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("preset_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("uploader", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "length(digest) = 64 AND ltrim(digest, '0123456789abcdef') = ''",
            name=op.f("ck_revisions_digest_hex"),
        ),
        sa.ForeignKeyConstraint(
            ["preset_id"],
            ["presets.id"],
            name=op.f("fk_revisions_preset_id_presets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisions")),
        sa.UniqueConstraint("preset_id", "digest", name="uq_revisions_preset_id_digest"),
    )
    op.create_index(op.f("ix_revisions_digest"), "revisions", ["digest"], unique=False)
    op.create_index(op.f("ix_revisions_preset_id"), "revisions", ["preset_id"], unique=False)

    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("preset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["preset_id"],
            ["presets.id"],
            name=op.f("fk_aliases_preset_id_presets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_aliases_revision_id_revisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aliases")),
        sa.UniqueConstraint("preset_id", "name", name="uq_aliases_preset_id_name"),
    )
    op.create_index(op.f("ix_aliases_revision_id"), "aliases", ["revision_id"], unique=False)

    op.create_table(
        "revision_files",
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint("length(path) > 0", name=op.f("ck_revision_files_path_not_empty")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_revision_files_size_positive")),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_revision_files_revision_id_revisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["blobs.sha256"], name=op.f("fk_revision_files_sha256_blobs")
        ),
        sa.PrimaryKeyConstraint("revision_id", "path", name=op.f("pk_revision_files")),
    )
    op.create_index(op.f("ix_revision_files_sha256"), "revision_files", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_revision_files_sha256"), table_name="revision_files")

    op.drop_table("revision_files")
    op.drop_index(op.f("ix_aliases_revision_id"), table_name="aliases")

    op.drop_table("aliases")
    op.drop_index(op.f("ix_revisions_preset_id"), table_name="revisions")
    op.drop_index(op.f("ix_revisions_digest"), table_name="revisions")

    op.drop_table("revisions")
    op.drop_index("ix_preset_words_preset_id_word", table_name="preset_words")

    op.drop_table("preset_words")
    op.drop_index(op.f("ix_preset_tags_tag"), table_name="preset_tags")

    op.drop_table("preset_tags")
    op.drop_index(op.f("ix_presets_updated_at"), table_name="presets")
    op.drop_index(op.f("ix_presets_source_kind"), table_name="presets")
    op.drop_index(op.f("ix_presets_parameter_count"), table_name="presets")
    op.drop_index(op.f("ix_presets_owner"), table_name="presets")
    op.drop_index(op.f("ix_presets_name"), table_name="presets")
    op.drop_index(op.f("ix_presets_download_count"), table_name="presets")
    op.drop_index(op.f("ix_presets_architecture"), table_name="presets")

    op.drop_table("presets")
    op.drop_table("blobs")
    op.drop_index(op.f("ix_api_tokens_owner"), table_name="api_tokens")

    op.drop_table("api_tokens")
