"""The in-memory search index gives the database's pages, query by query, on
both backends; and a process's index answers only while it is current."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text

from registry.catalog.database import Catalog
from registry.catalog.generation import generation
from registry.catalog.memory import MemoryIndex, Snapshot, text_order_differs
from registry.catalog.queries import (
    EVERYONE,
    SearchFilters,
    Viewer,
    find_preset,
    search_presets,
)
from registry.catalog.service import (
    PresetSpec,
    create_preset,
    delete_preset,
    move_alias,
    record_download,
    record_revision,
)
from registry.preset.manifest import FileEntry, Manifest
from registry.records import SORT_KEYS

VOCABULARY = ["poetry", "poem", "legal", "contract", "gram", "grammar", "Gra", "code", "coder",
              "web", "webtext", "médium", "medium", "x1", "x10"]  # fmt: skip
NAME_WORDS = [word for word in VOCABULARY if word.isascii()]  # names are ASCII
TAGS = ["chat", "code", "legal", "tiny"]
OWNERS = ["alice", "bob", None]
VIEWERS = [Viewer(), Viewer(owner="alice"), Viewer(owner="bob"), EVERYONE]


@pytest.fixture()
def varied(catalog: Catalog) -> Catalog:
    """Presets whose names share prefixes, differ in case and tie on every sort
    key: sizes unknown or equal, equal download counts and update times."""
    rng = random.Random(7)
    manifest = Manifest((FileEntry("config.json", 2, "0" * 64),))
    tie = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    with catalog.transaction() as session:
        for i in range(90):
            picked = rng.sample(VOCABULARY, 3)
            first, second = rng.sample(NAME_WORDS, 2)
            owner = rng.choice(OWNERS)
            name = rng.choice([f"{first}_{i}", f"{first.upper()}-{second}", f"m{i % 7}"])
            spec = PresetSpec(
                namespace=rng.choice(["team", "zoo", "keras"]),
                name=f"{name}{i}" if rng.random() < 0.5 else f"{name}_{i}",
                architecture=rng.choice(["GPT2Backbone", "BertBackbone"]),
                description=" ".join(picked[1:]) + f" run {i % 4}.",
                parameter_count=rng.choice([None, 5_000_000, 124_000_000, 355_000_000]),
                source_kind=rng.choice(["hf", "upload", "kaggle"]),
                tags=tuple(rng.sample(TAGS, rng.randrange(3))),
                visibility="private" if owner and rng.random() < 0.2 else "public",
                owner=owner,
                base_model=rng.choice([None, "keras/gpt2_base_en", "team/poem_1"]),
            )
            preset = create_preset(session, spec)
            session.flush()
            for _ in range(rng.choice([0, 0, 1, 3])):
                record_download(session, preset)
            if rng.random() < 0.3:
                revision, _ = record_revision(session, preset, manifest)
                move_alias(session, preset, "latest", revision)
            if rng.random() < 0.3:
                preset.updated_at = tie
    return catalog


def _queries(rng: random.Random, count: int) -> list[dict[str, object]]:
    made = []
    for _ in range(count):
        choices = [
            rng.choice(VOCABULARY),
            rng.choice(VOCABULARY)[: rng.randint(1, 3)],  # a prefix
            rng.choice(["zzz", "poetryx", "-", "x1!"]),  # nothing, or no word at all
        ]
        text = " ".join(rng.choice(choices) for _ in range(rng.choice([0, 1, 1, 2])))
        filters = rng.choice([
            SearchFilters(),
            SearchFilters(tag=rng.choice(TAGS)),
            SearchFilters(architecture="BertBackbone"),
            SearchFilters(min_parameters=100_000_000),
            SearchFilters(max_parameters=200_000_000, source_kind="hf"),
            SearchFilters(namespace="zoo"),
            SearchFilters(synced=rng.random() < 0.5),
            SearchFilters(base_model="gpt2_base_en"),
            SearchFilters(tag="no-such-tag"),
        ])  # fmt: skip
        made.append(dict(
            query=text, filters=filters, sort=rng.choice(SORT_KEYS),
            descending=rng.choice([None, False, True]), page=rng.choice([1, 1, 2, 4]),
            per_page=rng.choice([1, 5, 20]), viewer=rng.choice(VIEWERS),
        ))  # fmt: skip
    return made


def test_same_pages_as_the_database(varied: Catalog) -> None:
    with varied.transaction(write=False) as session:
        snapshot = Snapshot.read(session)
        assert snapshot.generation == generation(session)
        for asked in _queries(random.Random(3), 600):
            expected = search_presets(session, **asked)  # type: ignore[arg-type]
            assert snapshot.search(**asked) == expected, asked  # type: ignore[arg-type]


def test_refuses_what_the_database_refuses(varied: Catalog) -> None:
    with varied.transaction(write=False) as session:
        snapshot = Snapshot.read(session)
    for bad in ({"page": 0}, {"per_page": 101}, {"sort": "stars"}):
        with pytest.raises(ValueError, match=r"must be one of|page must be"):
            snapshot.search("poem", viewer=Viewer(), **bad)  # type: ignore[arg-type]


def _index(catalog: Catalog, **options: float) -> tuple[MemoryIndex, int]:
    index = MemoryIndex(catalog, **options)
    with catalog.transaction(write=False) as session:
        current = generation(session)
    return index, current


def test_answers_only_while_current(varied: Catalog) -> None:
    index, current = _index(varied)
    try:
        assert index.search(current, "poem", viewer=Viewer()) is None  # nothing built yet
        index.wait()
        page = index.search(current, "poem", viewer=Viewer())
        assert page is not None and page.total > 0
        with varied.transaction() as session:
            doomed = page.items[0]
            found = find_preset(session, doomed.id, viewer=EVERYONE)
            assert found is not None
            delete_preset(session, found)
        with varied.transaction(write=False) as session:
            moved = generation(session)
        assert moved > current
        # Behind the catalog: no answer (the caller asks the database) until rebuilt.
        assert index.search(moved, "poem", viewer=Viewer()) is None
        index.wait()
        again = index.search(moved, "poem", viewer=Viewer())
        assert again is not None and doomed not in again.items
        assert again.total == page.total - 1
        # A caller that read an older generation gets the newer snapshot.
        assert index.search(current, "poem", viewer=Viewer()) == again
        assert index.builds == 2
    finally:
        index.close()


def test_downloads_catch_up_after_max_age(varied: Catalog) -> None:
    index, current = _index(varied, max_age_s=0.2)
    try:
        index.refresh()
        index.wait()
        before = index.search(current, sort="downloads", per_page=1, viewer=Viewer())
        assert before is not None
        top = before.items[0]
        with varied.transaction() as session:
            preset = find_preset(session, top.id)
            assert preset is not None
            for _ in range(3):
                record_download(session, preset)
        # Downloads move no generation: the old snapshot answers until it ages.
        still = index.search(current, sort="downloads", per_page=1, viewer=Viewer())
        assert still is not None and still.items[0].downloads == top.downloads
        time.sleep(0.3)
        old = index.snapshot(current)  # too old: starts a build
        index.wait()
        after = index.search(current, sort="downloads", per_page=1, viewer=Viewer())
        assert after is not None and after.items[0].downloads == top.downloads + 3
        # The catalog did not move: only the counts were read again.
        new = index.snapshot(current)
        assert old is not None and new is not None and new is not old
        assert new.words is old.words and new.generation == old.generation
        # And they sort as the database sorts them.
        with varied.transaction(write=False) as session:
            for descending in (False, True):
                options = dict(sort="downloads", descending=descending, per_page=30)
                expected = search_presets(session, viewer=Viewer(), **options)  # type: ignore[arg-type]
                assert new.search(viewer=Viewer(), **options) == expected  # type: ignore[arg-type]
    finally:
        index.close()


def test_a_failed_build_leaves_the_database_answering(
    varied: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> Snapshot:
        raise RuntimeError("disk on fire")

    index, current = _index(varied)
    monkeypatch.setattr(Snapshot, "read", staticmethod(broken))
    try:
        index.refresh()
        index.wait()
        assert index.search(current, "poem", viewer=Viewer()) is None
        assert index.builds == 0
    finally:
        index.close()


def test_an_empty_catalog(database_url: str) -> None:
    empty = Catalog.open(database_url, seed=False)
    try:
        with empty.transaction(write=False) as session:
            snapshot = Snapshot.read(session)
            for asked in _queries(random.Random(5), 20):
                expected = search_presets(session, **asked)  # type: ignore[arg-type]
                assert snapshot.search(**asked) == expected  # type: ignore[arg-type]
        assert len(snapshot) == 0
    finally:
        empty.close()


@pytest.fixture()
def icu_database(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL database ordering text by ICU's en-US rules (dropped after)."""
    name = f"test_icu_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            text(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_off_where_the_database_orders_text_by_locale(icu_database: str) -> None:
    catalog = Catalog.open(icu_database)
    try:
        with catalog.transaction() as session:
            for name in ("aB", "a_b"):
                create_preset(session, PresetSpec(namespace="team", name=name,
                              architecture="GPT2Backbone", source_kind="upload"))  # fmt: skip
        with catalog.transaction(write=False) as session:
            assert text_order_differs(session) is not None
            # Why: by code point "aB" comes first; this database puts "a_b" first.
            by_name = search_presets(session, filters=SearchFilters(namespace="team"), sort="name")
            assert [p.name for p in by_name.items] == ["a_b", "aB"]
        index, current = _index(catalog)
        index.refresh()
        index.wait()
        assert index.state() == "off" and "locale" in (index.off_because or "")
        assert index.search(current, viewer=Viewer()) is None  # the database answers
        index.refresh()
        assert index.builds == 0
        index.close()
    finally:
        catalog.close()


def test_code_point_databases_are_indexed(catalog: Catalog) -> None:
    with catalog.transaction(write=False) as session:
        assert text_order_differs(session) is None  # SQLite, and the C.UTF-8 test database
