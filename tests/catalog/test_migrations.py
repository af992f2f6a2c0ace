"""Migrations and models agree; up and down both work; settings pick the database."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from registry.architectures import allowlist
from registry.catalog import migrate
from registry.catalog.database import Catalog, make_engine
from registry.catalog.models import Base
from registry.config import Settings
from registry.errors import CatalogSchemaError
from tests.catalog.conftest import POSTGRES_URL, postgres_schema
from tests.conftest import REPO


def _created_on(dialect: str) -> Callable[..., bool]:
    """Alembic's filter for what the models create on `dialect`: it does not read
    an index's `ddl_if` (the PostgreSQL-only sort indexes)."""

    def include(item: object, name: str | None, kind: str, reflected: bool, *_: object) -> bool:
        condition = getattr(item, "_ddl_if", None) if kind == "index" and not reflected else None
        return condition is None or condition.dialect in (None, dialect)

    return include


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            opts = {"compare_type": True, "include_object": _created_on(engine.dialect.name)}
            context = MigrationContext.configure(connection, opts=opts)
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    assert _differences(database_url) == []


def _schema(url: str) -> dict[str, object]:
    """Everything the inspector sees of a database, and its version stamp."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        schema: dict[str, object] = {}
        for table in sorted(inspector.get_table_names()):
            schema[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in inspector.get_columns(table)
                ],
                "primary key": inspector.get_pk_constraint(table),
                "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
                "indexes": sorted(map(repr, inspector.get_indexes(table))),
                "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
                "checks": sorted(map(repr, inspector.get_check_constraints(table))),
            }
        with engine.connect() as connection:
            schema["rows"] = (
                connection.scalar(text("SELECT version_num FROM alembic_version")),
                list(connection.execute(text("SELECT id, generation FROM catalog_state"))),
            )
        return schema
    finally:
        engine.dispose()


def test_an_empty_database_is_created_as_the_migrations_would(
    database_url: str, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        if database_url.startswith("sqlite"):
            migrated_url = f"sqlite:///{tmp_path / 'migrated.db'}"
        else:
            migrated_url = stack.enter_context(postgres_schema(POSTGRES_URL))
        engine = make_engine(migrated_url)
        migrate.upgrade(engine)  # every migration, one by one
        engine.dispose()

        engine = make_engine(database_url)
        migrate.ensure_schema(engine)  # empty: created at once
        assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
        engine.dispose()

        assert _schema(database_url) == _schema(migrated_url)
        assert _differences(database_url) == []


def test_downgrade_to_base_then_upgrade(database_url: str) -> None:
    catalog = Catalog.open(database_url)
    assert migrate.current_revision(catalog.engine) == migrate.head_revision()
    migrate.downgrade(catalog.engine, "base")
    assert migrate.current_revision(catalog.engine) is None
    assert _tables(database_url) <= {"alembic_version"}
    migrate.upgrade(catalog.engine)
    catalog.close()
    assert _differences(database_url) == []
    reopened = Catalog.open(database_url)  # seeds the emptied catalog again
    with reopened.engine.connect() as connection:
        builtins = len(allowlist.builtin_presets()) + 1  # and the demo
        assert connection.scalar(text("SELECT count(*) FROM presets")) == builtins
    reopened.close()


def _preset_indexes(url: str) -> dict[str, tuple[list[object], dict[str, object]]]:
    engine = make_engine(url)
    try:
        return {
            str(index["name"]): (list(index["column_names"]), dict(index.get("column_sorting", {})))
            for index in inspect(engine).get_indexes("presets")
        }
    finally:
        engine.dispose()


def test_sort_indexes_migration_up_and_down(database_url: str) -> None:
    """0006 gives PostgreSQL an index per sort and direction in place of the
    single-column ones, and takes them back; SQLite's indexes stay as they were."""
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0005")
    before = _preset_indexes(database_url)
    migrate.upgrade(engine, "0006")
    after = _preset_indexes(database_url)
    ties = ["namespace", "name", "id"]
    if engine.dialect.name == "postgresql":
        assert after["ix_presets_by_name"] == (["name", "namespace", "id"], {})
        assert after["ix_presets_by_name_desc"] == (
            ["name", "namespace", "id"],
            {"name": ("desc",)},
        )
        assert after["ix_presets_by_parameters"] == (["parameter_count", *ties], {})
        assert after["ix_presets_by_parameters_desc"] == (
            ["parameter_count", *ties],
            {"parameter_count": ("desc", "nulls_last")},
        )
        for sort, column in (("downloads", "download_count"), ("updated", "updated_at")):
            assert after[f"ix_presets_by_{sort}"] == ([column, *ties], {})
            assert after[f"ix_presets_by_{sort}_desc"] == ([column, *ties], {column: ("desc",)})
        replaced = {f"ix_presets_{c}" for c in ("name", "parameter_count", "download_count")}
        assert replaced | {"ix_presets_updated_at"} == set(before) - set(after)
        assert len(after) == len(before) - 4 + 8
    else:
        assert after == before
    engine.dispose()
    assert _differences(database_url) == []
    engine = make_engine(database_url)
    migrate.downgrade(engine, "0005")
    assert _preset_indexes(database_url) == before
    assert migrate.current_revision(engine) == "0005"
    engine.dispose()


def test_a_newer_database_is_refused(database_url: str) -> None:
    catalog = Catalog.open(database_url)
    with catalog.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(
        CatalogSchemaError, match="migration f00d, which this release does not know"
    ):
        Catalog.open(database_url)
    catalog.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    with catalog.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    catalog.close()


def test_settings_choose_the_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env({"REGISTRY_HOME": str(home)})
    assert settings.db_url == f"sqlite:///{home / 'catalog.db'}"
    other = Settings.from_env({"REGISTRY_HOME": str(home), "REGISTRY_DB_URL": "sqlite:///x.db"})
    assert other.db_url == "sqlite:///x.db"
    assert Settings.from_env({}).home.is_absolute()


def test_db_upgrade_command(tmp_path: Path) -> None:
    registry = Path(sys.executable).parent / "registry"
    env = {**os.environ, "REGISTRY_HOME": str(tmp_path / "home")}
    env.pop("REGISTRY_DB_URL", None)
    result = subprocess.run(
        [str(registry), "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert migrate.head_revision() in result.stdout
    assert (tmp_path / "home" / "catalog.db").is_file()
    again = subprocess.run(
        [str(registry), "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert again.returncode == 0 and "already at" in again.stdout


def test_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    registry = Path(sys.executable).parent / "registry"
    env = {**os.environ, "REGISTRY_DB_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = subprocess.run(
        [str(registry), "db", "upgrade"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: Cannot open the catalog database postgresql")
    assert "REGISTRY_DB_URL" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConnectionError, match="Cannot open the catalog database"):
        Catalog.open(f"sqlite:///{tmp_path}/a-file/catalog.db")


def test_the_known_head_is_alembics() -> None:
    assert migrate.head_revision() == migrate.SCHEMA_HEAD


def test_processes_opening_a_new_catalog_at_once_all_succeed(
    database_url: str, tmp_path: Path
) -> None:
    # Each round: a new database, eight processes creating, migrating and seeding
    # it at once. SQLite's switch to WAL used to fail now and then ("database is
    # locked", without the busy timeout) while another process held the file.
    code = (
        "import sys; from registry.catalog.database import Catalog; "
        "Catalog.open(sys.argv[1]).close()"
    )
    for round in range(3):
        with contextlib.ExitStack() as stack:
            if database_url.startswith("sqlite"):
                url = f"sqlite:///{tmp_path / f'round-{round}.db'}"
            else:
                url = stack.enter_context(postgres_schema(POSTGRES_URL))
            processes = [
                subprocess.Popen(
                    [sys.executable, "-c", code, url], cwd=REPO, stderr=subprocess.PIPE, text=True
                )
                for _ in range(8)
            ]
            errors = [p.communicate(timeout=120)[1] for p in processes]
            assert [p.returncode for p in processes] == [0] * 8, errors
            assert _differences(url) == []
