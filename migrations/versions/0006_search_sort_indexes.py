"""PostgreSQL: an index per search sort and direction, in the order the search
asks for, so a search matching much of the catalog walks one to the page's end
(README "Search latency"). They replace the single-column sort indexes, which
are their leading columns. SQLite keeps its indexes: nothing changes there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME_TIES = ("namespace", "id")
_TIES = ("namespace", "name", "id")
# name -> columns, as registry/catalog/models.py declares them.
_SORT_INDEXES: dict[str, tuple[Any, ...]] = {
    "ix_presets_by_name": ("name", *_NAME_TIES),
    "ix_presets_by_name_desc": (sa.column("name").desc(), *_NAME_TIES),
    "ix_presets_by_parameters": ("parameter_count", *_TIES),
    "ix_presets_by_parameters_desc": (sa.column("parameter_count").desc().nulls_last(), *_TIES),
    "ix_presets_by_downloads": ("download_count", *_TIES),
    "ix_presets_by_downloads_desc": (sa.column("download_count").desc(), *_TIES),
    "ix_presets_by_updated": ("updated_at", *_TIES),
    "ix_presets_by_updated_desc": (sa.column("updated_at").desc(), *_TIES),
}
_SINGLE_COLUMN = {
    "ix_presets_parameter_count": "parameter_count",
    "ix_presets_download_count": "download_count",
    "ix_presets_updated_at": "updated_at",
    "ix_presets_name": "name",
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    for name, columns in _SORT_INDEXES.items():
        op.create_index(name, "presets", list(columns), unique=False)
    for name in _SINGLE_COLUMN:
        op.drop_index(name, table_name="presets")


def downgrade() -> None:
    if not _postgresql():
        return
    for name, column in _SINGLE_COLUMN.items():
        op.create_index(name, "presets", [column], unique=False)
    for name in _SORT_INDEXES:
        op.drop_index(name, table_name="presets")
