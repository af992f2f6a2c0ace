"""The built-in presets every catalog has."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from registry.architectures import allowlist
from registry.catalog.database import Catalog
from registry.catalog.queries import find_preset, preset_detail, search_presets
from registry.catalog.service import delete_preset
from registry.preset.demo import demo_preset_dir
from registry.preset.manifest import read_manifest


def test_the_seed_presets_are_listed_unsynced(catalog: Catalog) -> None:
    from keras_hub.src.models.gpt2.gpt2_presets import backbone_presets

    with catalog.transaction() as session:
        for name, seed in backbone_presets.items():
            detail = preset_detail(session, name)
            assert detail is not None
            summary = detail
            assert summary.full_name == f"keras/{name}"
            assert summary.description == seed["metadata"]["description"]
            assert summary.parameter_count == seed["metadata"]["params"]
            assert summary.source == seed["kaggle_handle"]
            assert summary.source_kind == "kaggle"
            assert summary.architecture == "GPT2Backbone"
            assert not summary.synced and detail.revisions == ()


def test_the_demo_preset_has_its_revision_and_files(catalog: Catalog) -> None:
    manifest = read_manifest(demo_preset_dir())
    with catalog.transaction() as session:
        detail = preset_detail(session, "keras/gpt2_tiny_demo")
    assert detail is not None
    assert detail.latest_revision == manifest.revision_id
    (revision,) = detail.revisions
    assert revision.aliases == ("latest",)
    assert {(f.path, f.size, f.sha256) for f in revision.files} == {
        (f.path, f.size, f.sha256) for f in manifest.files
    }


def _every_preset(session: Session) -> list[object]:
    page = search_presets(session, per_page=100)
    return [
        p
        for n in range(1, page.pages + 1)
        for p in search_presets(session, page=n, per_page=100).items
    ]


def test_seeding_is_idempotent(database_url: str) -> None:
    first = Catalog.open(database_url)
    with first.transaction() as session:
        before = _every_preset(session)
    first.close()
    again = Catalog.open(database_url)
    with again.transaction() as session:
        after = _every_preset(session)
    again.close()
    assert after == before and len(after) == len(allowlist.builtin_presets()) + 1


def test_opening_a_current_catalog_writes_nothing(database_url: str) -> None:
    Catalog.open(database_url).close()
    writes: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        Catalog.open(database_url).close()
    finally:
        event.remove(Engine, "before_cursor_execute", note)
    assert writes == []


def test_a_deleted_builtin_is_seeded_again(database_url: str) -> None:
    catalog = Catalog.open(database_url)
    with catalog.transaction() as session:
        preset = find_preset(session, "gpt2_base_en")
        assert preset is not None
        delete_preset(session, preset)
    catalog.close()
    catalog = Catalog.open(database_url)
    with catalog.transaction() as session:
        assert find_preset(session, "gpt2_base_en") is not None
    catalog.close()


def test_seeding_follows_a_changed_table(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Catalog.open(database_url).close()
    changed = [
        dataclasses.replace(p, description="Updated description.", params=1)
        if p.name == "gpt2_base_en"
        else p
        for p in allowlist.builtin_presets()
    ]
    monkeypatch.setattr(allowlist, "builtin_presets", lambda: changed)
    catalog = Catalog.open(database_url)
    with catalog.transaction() as session:
        preset = find_preset(session, "gpt2_base_en")
        assert preset is not None
        assert (preset.description, preset.parameter_count) == (
            "Updated description.",
            1,
        )
        assert search_presets(session, "updated").items[0].name == "gpt2_base_en"
    catalog.close()


def test_bare_names_resolve_in_the_keras_namespace(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        bare = find_preset(session, "gpt2_medium_en")
        full = find_preset(session, "keras/gpt2_medium_en")
        assert bare is not None and bare is full
        assert find_preset(session, "other/gpt2_medium_en") is None
