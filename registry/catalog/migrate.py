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
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    inspect,
    text,
)

from registry.errors import CatalogSchemaError

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in migrations/versions (a test keeps the two equal). Known
# here so that opening an up-to-date catalog does not import Alembic.
SCHEMA_HEAD = "0006"

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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def head_revision() -> str:
    """The newest migration, as Alembic reads it from `migrations/versions`."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise CatalogSchemaError("The migrations directory holds no migration.")
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.scalar(text("SELECT version_num FROM alembic_version"))


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
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, operation)(config, target)


def _create_empty(engine: Engine) -> bool:
    """Create the head schema at once in an empty database, as Alembic's
    cookbook suggests ("building an up to date database from scratch"): the
    models' tables, the rows the migrations insert, and the version stamp, in
    one transaction. Running every migration instead costs 0.1-0.2 s more
    (importing Alembic alone takes 0.1 s) on each new home. A test keeps the
    two schemas identical. False if the database is not empty.
    """
    from registry.catalog.models import Base, CatalogState

    with _migration_lock(engine), engine.begin() as connection:
        if inspect(connection).get_table_names():
            return False  # another process created it first, or foreign tables
        Base.metadata.create_all(connection)
        connection.execute(insert(CatalogState).values(id=1, generation=0))
        version = Table(
            "alembic_version",
            MetaData(),
            Column("version_num", String(32), nullable=False),
            PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
        )
        version.create(connection)
        connection.execute(insert(version).values(version_num=SCHEMA_HEAD))
    return True


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
    current = current_revision(engine)
    if current == SCHEMA_HEAD:
        return
    if current is None and _create_empty(engine):
        return
    from alembic.script import ScriptDirectory

    head = head_revision()
    scripts = ScriptDirectory.from_config(alembic_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise CatalogSchemaError(
            f"The catalog database {engine.url.render_as_string(hide_password=True)} is at "
            f"migration {current}, which this release does not know (its newest is {head}). "
            "Upgrade the registry package, or point REGISTRY_DB_URL at another database."
        )
    upgrade(engine)
