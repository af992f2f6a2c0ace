"""The Hub's refs and history: aliases are branches or tags, and every move of
an alias is logged (the commit history `list_repo_commits` reads).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("aliases") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=8), server_default="branch", nullable=False)
        )
        batch.create_check_constraint(op.f("ck_aliases_kind_known"), "kind IN ('branch', 'tag')")
    op.create_table(
        "alias_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("preset_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["preset_id"],
            ["presets.id"],
            name=op.f("fk_alias_moves_preset_id_presets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["revisions.id"],
            name=op.f("fk_alias_moves_revision_id_revisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["revisions.id"],
            name=op.f("fk_alias_moves_parent_id_revisions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alias_moves")),
    )
    op.create_index(op.f("ix_alias_moves_preset_id"), "alias_moves", ["preset_id"], unique=False)
    op.create_index(
        op.f("ix_alias_moves_revision_id"), "alias_moves", ["revision_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alias_moves_revision_id"), table_name="alias_moves")
    op.drop_index(op.f("ix_alias_moves_preset_id"), table_name="alias_moves")
    op.drop_table("alias_moves")
    with op.batch_alter_table("aliases") as batch:
        batch.drop_constraint(op.f("ck_aliases_kind_known"), type_="check")
        batch.drop_column("kind")
