"""Search, filters, sort, pagination and visibility, on both backends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from registry.catalog.database import Catalog
from registry.catalog.queries import SearchFilters, Viewer, find_preset, search_presets
from registry.catalog.service import (
    PresetSpec,
    create_preset,
    create_revision,
    move_alias,
    record_download,
)
from registry.preset.manifest import FileEntry, Manifest

ALICE = Viewer(owner="alice")


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
        move_alias(session, popular, "latest", create_revision(session, popular, manifest))
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
        assert names(min_parameters=20_000_000, max_parameters=22_000_000) == {
            "model_19",
            "model_20",
            "model_21",
        }
        assert names(synced=True) == {"gpt2_tiny_demo", "model_03"}
        assert "gpt2_tiny_demo" not in names(synced=False)
        assert len(names(architecture="GPT2Backbone")) == 31
        assert names(architecture="BertBackbone") == set()


def test_sorts(filled: Catalog) -> None:
    with filled.transaction() as session:

        def first(sort: str, descending: bool | None = None) -> str:
            return search_presets(session, sort=sort, descending=descending).items[0].name

        assert first("name") == "gpt2_base_en"
        assert first("name", descending=True) == "model_24"
        assert first("parameters") == "gpt2_extra_large_en"
        assert first("parameters", descending=False) == "gpt2_tiny_demo"
        assert first("downloads") == "model_03"
        assert first("updated") == "model_03"  # its revision came last
        with pytest.raises(ValueError, match="sort must be one of"):
            search_presets(session, sort="size")


def test_pagination_is_stable_and_complete(filled: Catalog) -> None:
    with filled.transaction() as session:
        for sort in ("name", "parameters", "downloads", "updated"):
            pages = [search_presets(session, sort=sort, page=n, per_page=4) for n in range(1, 9)]
            seen = [p.full_name for page in pages for p in page.items]
            assert len(seen) == len(set(seen)) == pages[0].total == 31
            assert pages[0].pages == 8
            again = [
                p.full_name for p in search_presets(session, sort=sort, page=3, per_page=4).items
            ]
            assert again == [p.full_name for p in pages[2].items]
        with pytest.raises(ValueError, match="per_page"):
            search_presets(session, per_page=1000)


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
        "    print(search_presets(session, 'medium').items[0].name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path}/catalog.db"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "gpt2_medium_en"
