"""Trust and lineage: signatures of revisions, registered signing keys, and a
preset's base model.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HEX = "length({0}) = 64 AND ltrim({0}, '0123456789abcdef') = ''"


def upgrade() -> None:
    with op.batch_alter_table("presets") as batch:
        batch.add_column(sa.Column("base_model", sa.String(length=256), nullable=True))
        batch.create_index(op.f("ix_presets_base_model"), ["base_model"], unique=False)
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(_HEX.format("fingerprint"), name=op.f("ck_signatures_fingerprint_hex")),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_signatures_revision_id_revisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatures")),
        sa.UniqueConstraint(
            "revision_id", "fingerprint", name="uq_signatures_revision_id_fingerprint"
        ),
    )
    op.create_index(op.f("ix_signatures_revision_id"), "signatures", ["revision_id"])
    op.create_index(op.f("ix_signatures_fingerprint"), "signatures", ["fingerprint"])
    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            _HEX.format("fingerprint"), name=op.f("ck_signing_keys_fingerprint_hex")
        ),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_signing_keys")),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_index(op.f("ix_signatures_fingerprint"), table_name="signatures")
    op.drop_index(op.f("ix_signatures_revision_id"), table_name="signatures")
    op.drop_table("signatures")
    with op.batch_alter_table("presets") as batch:
        batch.drop_index(op.f("ix_presets_base_model"))
        batch.drop_column("base_model")
