"""Search, filters, sort, pagination and visibility, on both backends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from registry.architectures import allowlist
from registry.catalog import queries, search
from registry.catalog.database import Catalog
from registry.catalog.queries import SearchFilters, Viewer, find_preset, search_presets
from registry.catalog.service import (
    PresetSpec,
    create_preset,
    move_alias,
    record_download,
    record_revision,
)
from registry.preset.manifest import FileEntry, Manifest

ALICE = Viewer(owner="alice")
# Every catalog holds keras-hub's built-ins and the demo; the tests add 25 of their own.
BUILTINS = allowlist.builtin_presets()
PUBLIC = len(BUILTINS) + 1 + 25


def _spec(name: str, **fields: object) -> PresetSpec:
    base: dict[str, object] = {
        "namespace": "team",
        "name": name,
        "architecture": "GPT2Backbone",
        "description": "",
        "source_kind": "upload",
        "owner": "alice",
    }
    return PresetSpec(**{**base, **fields})  # type: ignore[arg-type]


@pytest.fixture()
def filled(catalog: Catalog) -> Catalog:
    with catalog.transaction() as session:
        for i in range(25):
            create_preset(
                session,
                _spec(
                    f"model_{i:02d}",
                    description=f"Fine-tuned on {'poetry' if i % 2 else 'legal contracts'}.",
                    parameter_count=1_000_000 * (i + 1),
                    tags=("even",) if i % 2 == 0 else ("odd",),
                    source_kind="hf" if i % 5 == 0 else "upload",
                ),
            )
        secret = create_preset(session, _spec("secret_poems", description="Private poetry."))
        secret.visibility = "private"
        bob = create_preset(session, _spec("bobs_poems", owner="bob", description="Bob's poetry."))
        bob.visibility = "private"
        popular = find_preset(session, "team/model_03", viewer=ALICE)
        assert popular is not None
        for _ in range(5):
            record_download(session, popular)
        session.flush()
        manifest = Manifest((FileEntry("config.json", 2, "0" * 64),))
        move_alias(session, popular, "latest", record_revision(session, popular, manifest)[0])
    return catalog


def test_free_text_over_name_description_and_tags(filled: Catalog) -> None:
    with filled.transaction() as session:
        assert (
            search_presets(session, "poetry", filters=SearchFilters(namespace="team")).total == 12
        )
        assert search_presets(session, "legal contracts").total == 13
        names = [p.name for p in search_presets(session, "medium webtext").items]
        assert names == ["gpt2_medium_en"]
        assert [p.name for p in search_presets(session, "model_07").items] == ["model_07"]
        assert search_presets(session, "odd legal").total == 0  # every word must match
        assert (
            search_presets(session, "summarization").items[0].name == "gpt2_base_en_cnn_dailymail"
        )
        # Operators and wildcards of either index are plain text here.
        assert search_presets(session, "'%_\"*").total == search_presets(session).total
        assert search_presets(session, 'poetry"* OR').total == 0
        assert (
            search_presets(session, 'poetry"*', filters=SearchFilters(namespace="team")).total == 12
        )


def test_filters(filled: Catalog) -> None:
    with filled.transaction() as session:

        def names(**filters: object) -> set[str]:
            page = search_presets(session, filters=SearchFilters(**filters), per_page=100)  # type: ignore[arg-type]
            return {p.name for p in page.items}

        assert names(namespace="team", tag="even") == {f"model_{i:02d}" for i in range(0, 25, 2)}
        assert names(source_kind="hf") == {f"model_{i:02d}" for i in range(0, 25, 5)}
        assert names(namespace="team", min_parameters=20_000_000, max_parameters=22_000_000) == {
            "model_19",
            "model_20",
            "model_21",
        }
        assert names(synced=True) == {"gpt2_tiny_demo", "model_03"}
        assert "gpt2_tiny_demo" not in names(synced=False)
        gpt2 = {p.name for p in BUILTINS if p.architecture == "GPT2Backbone"}
        assert names(architecture="GPT2Backbone") == {
            *gpt2,
            "gpt2_tiny_demo",
            *(f"model_{i:02d}" for i in range(25)),
        }
        assert names(architecture="NoSuchBackbone") == set()


def test_sorts(filled: Catalog) -> None:
    with filled.transaction() as session:

        def first(sort: str, descending: bool | None = None, namespace: str | None = None) -> str:
            filters = SearchFilters(namespace=namespace)
            page = search_presets(session, sort=sort, descending=descending, filters=filters)
            return page.items[0].name

        assert first("name", namespace="keras") == min(p.name for p in BUILTINS)
        assert first("name", descending=True, namespace="team") == "model_24"
        largest = min(BUILTINS, key=lambda p: (-p.params, p.name))  # ties by name
        assert first("parameters") == largest.name
        assert first("parameters", descending=False, namespace="keras") == "gpt2_tiny_demo"
        assert first("parameters", descending=False, namespace="team") == "model_00"
        assert first("downloads") == "model_03"
        assert first("updated") == "model_03"  # its revision came last
        with pytest.raises(ValueError, match="sort must be one of"):
            search_presets(session, sort="size")


def test_pagination_is_stable_and_complete(filled: Catalog) -> None:
    with filled.transaction() as session:
        for sort in ("name", "parameters", "downloads", "updated"):
            count = -(-PUBLIC // 4)
            pages = [
                search_presets(session, sort=sort, page=n, per_page=4) for n in range(1, count + 1)
            ]
            seen = [p.full_name for page in pages for p in page.items]
            assert len(seen) == len(set(seen)) == pages[0].total == PUBLIC
            assert pages[0].pages == count
            again = [
                p.full_name for p in search_presets(session, sort=sort, page=3, per_page=4).items
            ]
            assert again == [p.full_name for p in pages[2].items]
        with pytest.raises(ValueError, match="per_page"):
            search_presets(session, per_page=1000)


@pytest.mark.parametrize("query", ["poetry", "po", "model fine", "legal contracts", "gpt2 en"])
def test_both_text_plans_give_the_same_pages(
    filled: Catalog, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walking the sort order (many matches), sorting the matches read from the
    word index (few entries) and sorting the ids of a dense query's matches (few
    once filtered) are one search: same items, order, pages and counts, whatever
    the filters and the sort's direction (unknown sizes last both ways)."""
    sorts: list[tuple[str, bool | None]] = [("relevance", None)] + [
        (sort, descending)
        for sort in ("name", "parameters", "downloads", "updated")
        for descending in (False, True)
    ]
    cases = [
        (sort, descending, filters, viewer, page)
        for sort, descending in sorts
        for filters in (
            SearchFilters(),
            SearchFilters(namespace="team"),
            SearchFilters(tag="odd"),
            SearchFilters(min_parameters=3_000_000, max_parameters=20_000_000),
            SearchFilters(synced=False),
        )
        for viewer in (Viewer(), ALICE)
        for page in (1, 3)
    ]

    def pages(dense_above: int, few: int = queries.FEW_MATCHES) -> list[tuple[object, ...]]:
        monkeypatch.setattr(search, "DENSE_MATCHES", dense_above)
        monkeypatch.setattr(queries, "FEW_MATCHES", few)
        with filled.transaction(write=False) as session:
            found: list[tuple[object, ...]] = []
            for sort, descending, filters, viewer, page in cases:
                result = search_presets(
                    session,
                    query,
                    filters=filters,
                    sort=sort,
                    descending=descending,
                    page=page,
                    per_page=3,
                    viewer=viewer,
                )
                items = tuple(p.full_name for p in result.items)
                found.append((items, result.total, result.total_is_exact))
            return found

    sparse, walked, sorted_ids = pages(10**9), pages(0, few=-1), pages(0)
    assert walked == sparse
    assert sorted_ids == sparse
    assert any(items for items, _, _ in sparse)


def test_private_presets_only_for_their_owner(filled: Catalog) -> None:
    with filled.transaction() as session:
        anonymous = {p.name for p in search_presets(session, "poems").items}
        alice = {p.name for p in search_presets(session, "poems", viewer=ALICE).items}
        bob = {p.name for p in search_presets(session, "poems", viewer=Viewer("bob")).items}
        assert anonymous == set()
        assert alice == {"secret_poems"}
        assert bob == {"bobs_poems"}
        assert find_preset(session, "team/secret_poems") is None
        assert find_preset(session, "team/secret_poems", viewer=ALICE) is not None


def test_search_works_after_keras_loaded_its_own_sqlite(tmp_path: object) -> None:
    # TensorFlow brings a SQLite without FTS5 that shadows the system one; the
    # catalog must not depend on it (see registry.catalog.search).
    code = (
        "import keras, sys\n"
        "from registry.catalog.database import Catalog\n"
        "from registry.catalog.queries import search_presets\n"
        "catalog = Catalog.open(sys.argv[1])\n"
        "with catalog.transaction(write=False) as session:\n"
        "    print(search_presets(session, 'medium webtext').items[0].name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path}/catalog.db"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "gpt2_medium_en"
