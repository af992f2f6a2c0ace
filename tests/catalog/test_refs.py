"""Branches, tags and the log of alias moves (the Hub's history), on both backends."""

from __future__ import annotations

import pytest

from registry.catalog.database import Catalog
from registry.catalog.history import history
from registry.catalog.queries import EVERYONE, find_preset
from registry.catalog.refs import Ref, create_ref, delete_ref, refs_of
from registry.catalog.service import PresetSpec, create_preset, move_alias, record_revision
from registry.errors import AliasExistsError, InvalidNameError, RevisionNotFoundError
from registry.preset.manifest import FileEntry, Manifest

SPEC = PresetSpec(namespace="alice", name="tiny", architecture="GPT2Backbone", owner="alice")
A, B = (Manifest((FileEntry("config.json", 1, c * 64),)) for c in "ab")


def test_moves_are_logged_and_walked_back(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        preset = create_preset(session, SPEC)
        session.flush()
        first, second = (record_revision(session, preset, m)[0] for m in (A, B))
        session.flush()
        assert move_alias(session, preset, "latest", first, author="alice", message="one")
        assert not move_alias(session, preset, "latest", first)  # no move, nothing logged
        assert move_alias(session, preset, "latest", second, author="alice", message="two\n\nbody")
        assert move_alias(session, preset, "latest", first, author="bob", message="revert")
    with catalog.transaction(write=False) as session:
        preset = find_preset(session, "alice/tiny", viewer=EVERYONE)
        assert preset is not None
        steps = history(session, preset, A.revision_id)
        walked = [(s.digest, s.parent, s.author, s.title, s.body) for s in steps]
        second_steps = history(session, preset, B.revision_id)
    assert walked == [
        (A.revision_id, B.revision_id, "bob", "revert", ""),
        (B.revision_id, A.revision_id, "alice", "two", "body"),
        (A.revision_id, None, "alice", "one", ""),
    ]
    assert [s.digest for s in second_steps] == [B.revision_id, A.revision_id]


def test_branches_and_tags(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        preset = create_preset(session, SPEC)
        session.flush()
        first, second = (record_revision(session, preset, m)[0] for m in (A, B))
        session.flush()
        move_alias(session, preset, "latest", second)
        create_ref(session, preset, "feature/x", first, kind="branch")
        create_ref(session, preset, "v1", first, kind="tag")
        with pytest.raises(AliasExistsError):
            create_ref(session, preset, "main", first, kind="branch")  # main is latest
        with pytest.raises(InvalidNameError):
            create_ref(session, preset, "a//b", first, kind="branch")
        assert refs_of(session, preset) == [
            Ref("main", "branch", B.revision_id),
            Ref("feature/x", "branch", A.revision_id),
            Ref("v1", "tag", A.revision_id),
        ]
        with pytest.raises(RevisionNotFoundError):
            delete_ref(session, preset, "v1", kind="branch")
        with pytest.raises(InvalidNameError, match="default branch"):
            delete_ref(session, preset, "main", kind="branch")
        delete_ref(session, preset, "v1", kind="tag")
        assert [ref.name for ref in refs_of(session, preset)] == ["main", "feature/x"]
