"""Engines and transactions for the catalog, on SQLite or PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout, and with
SQLAlchemy driving transactions itself (the pysqlite driver's own handling
breaks savepoints and transactional DDL). Services take a `Session` and never
commit; `Catalog.transaction()` is the boundary that commits or rolls back.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from registry.catalog import migrate
from registry.catalog.generation import count_generation
from registry.config import Settings
from registry.errors import CatalogUnavailableError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _set_wal(cursor: Any) -> None:
    # Switching a new database to WAL needs its lock, and SQLite answers "database
    # is locked" at once, without the busy timeout, while another process holds
    # it (say, creating the schema): wait as the busy timeout would.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _set_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # Writers take the write lock at BEGIN (waiting up to the busy timeout):
        # a deferred transaction that reads first and writes later fails at once
        # with "database is locked" when another writer got in between.
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Catalog queries are small: starting parallel workers costs more than
        # they save (tens of milliseconds on a 2-core machine).
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        dbapi_connection.commit()


def make_engine(url: str) -> Engine:
    """An engine for `url`, creating the directory of a SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            directory = Path(parsed.database).expanduser().parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise CatalogUnavailableError(
                    f"Cannot open the catalog database {url}: cannot create {directory} "
                    f"({error.strerror}). Set REGISTRY_HOME or REGISTRY_DB_URL to a "
                    "writable place."
                ) from error
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    engine = create_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() == "postgresql":
        _configure_postgresql(engine)
    return engine


def check_connection(engine: Engine) -> None:
    """Connect once, turning a driver's failure into one clear error.

    Raises:
        CatalogUnavailableError: the database cannot be reached or opened.
    """
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        raise CatalogUnavailableError(
            f"Cannot open the catalog database "
            f"{engine.url.render_as_string(hide_password=True)}: {reason}. Check "
            "REGISTRY_DB_URL (or REGISTRY_HOME), and that the database server is running."
        ) from error


@dataclass(frozen=True)
class Migration:
    """What `upgrade` did: the database, and its migration before and after."""

    database: str  # the URL, without its password
    before: str | None
    after: str


def upgrade(url: str) -> Migration:
    """Bring the catalog database at `url` to this release's schema (`registry db upgrade`).

    Raises:
        CatalogUnavailableError: the database cannot be reached.
    """
    engine = make_engine(url)
    try:
        check_connection(engine)
        head = migrate.head_revision()
        before = migrate.current_revision(engine)
        if before != head:
            migrate.ensure_schema(engine)
        return Migration(engine.url.render_as_string(hide_password=True), before, head)
    finally:
        engine.dispose()


class Catalog:
    """The catalog database: an engine, its schema kept at head, and sessions.

    Example:
        ```python
        catalog = Catalog.open()  # REGISTRY_DB_URL, or SQLite under REGISTRY_HOME
        with catalog.transaction() as session:
            page = search_presets(session, "medium")
        ```
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        event.listen(self._sessions, "before_commit", count_generation)

    @classmethod
    def open(cls, url: str | None = None, *, upgrade: bool = True, seed: bool = True) -> Catalog:
        """Open the catalog at `url` (default: the settings'), migrated and seeded."""
        catalog = cls(make_engine(url or Settings.from_env().db_url))
        try:
            check_connection(catalog.engine)
            if upgrade:
                migrate.ensure_schema(catalog.engine)
            if seed:
                from registry.catalog.builtin import fingerprint, is_seeded, seed_builtins

                current = fingerprint()
                with catalog.transaction(write=False) as session:
                    seeded = is_seeded(session, current)
                if not seeded:
                    with catalog.transaction() as session:
                        seed_builtins(session, current)
        except BaseException:
            catalog.close()
            raise
        return catalog

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back on error.

        Pass `write=False` for read-only work: on SQLite it then does not wait
        for (or block) writers.
        """
        with self._sessions.begin() as session:
            if write:
                session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session

    def close(self) -> None:
        self.engine.dispose()
