"""Alembic's environment: the project's settings choose the database.

Run through `registry db upgrade` (or `registry.catalog.migrate`), which passes
an open connection; run by the `alembic` command, it reads `REGISTRY_DB_URL`
through `registry.config.Settings`.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from registry.catalog.models import Base
from registry.config import Settings

target_metadata = Base.metadata


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(Settings.from_env().db_url)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit(
        "Offline (SQL script) migrations are not supported; run `registry db upgrade`."
    )
run_migrations_online()
