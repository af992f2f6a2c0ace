"""The fingerprint of the built-in presets last seeded, so that opening a
catalog whose built-ins are current reads one row instead of rewriting them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_state") as batch:
        batch.add_column(sa.Column("seeded", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_state") as batch:
        batch.drop_column("seeded")
