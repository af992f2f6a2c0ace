"""Every catalog test runs on SQLite and on the real PostgreSQL server.

Each PostgreSQL test gets a schema of its own (dropped afterwards), so runs
never collide. PostgreSQL tests skip when no server answers, except in CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from registry.catalog.database import Catalog

POSTGRES_URL = os.environ.get(
    "REGISTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
    except OperationalError as error:
        return str(error).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL, but {POSTGRES_URL} is unreachable: {problem}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL}: {problem}")
    return POSTGRES_URL


@contextmanager
def postgres_schema(server: str, prefix: str = "test") -> Iterator[str]:
    """A database URL whose search path is a fresh schema on `server`, dropped after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in server else "?"
    try:
        yield f"{server}{separator}options={quote(f'-csearch_path={schema},public')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture()
def catalog(database_url: str) -> Iterator[Catalog]:
    """A migrated, seeded catalog."""
    catalog = Catalog.open(database_url)
    yield catalog
    catalog.close()
