"""Schema migrations: Alembic, driven from code with the project's settings.

The server and the embedded client call `ensure_schema`, which upgrades an
empty or older database to head under a lock (a file lock beside a SQLite
database, an advisory lock on PostgreSQL), and refuses a database that is newer
than this code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from registry.errors import CatalogSchemaError

# Any constant: the advisory lock key PostgreSQL migrations serialize on.
_PG_LOCK_KEY = 0x6B707265  # "kpre"


def migrations_dir() -> Path:
    """`migrations/`: inside the package when installed, beside it in a checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise CatalogSchemaError(
        f"The migrations directory was not found beside {package}. Reinstall the package."
    )


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise CatalogSchemaError("The migrations directory holds no migration.")
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite" and engine.url.database not in (
        None,
        "",
        ":memory:",
    ):
        from filelock import FileLock

        with FileLock(f"{engine.url.database}.migrate.lock"):
            yield
    elif engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                connection.commit()
    else:
        yield


def _run(engine: Engine, operation: str, target: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, operation)(config, target)


def upgrade(engine: Engine, target: str = "head") -> None:
    """Apply migrations up to `target`."""
    with _migration_lock(engine):
        _run(engine, "upgrade", target)


def downgrade(engine: Engine, target: str) -> None:
    """Revert migrations down to `target` (`base` empties the database)."""
    with _migration_lock(engine):
        _run(engine, "downgrade", target)


def ensure_schema(engine: Engine) -> None:
    """Upgrade the database to head if it is behind; refuse one that is ahead.

    Raises:
        CatalogSchemaError: the database was migrated by a newer release.
    """
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    if current is not None and current not in known:
        raise CatalogSchemaError(
            f"The catalog database {engine.url.render_as_string(hide_password=True)} is at "
            f"migration {current}, which this release does not know (its newest is {head}). "
            "Upgrade the registry package, or point REGISTRY_DB_URL at another database."
        )
    upgrade(engine)
