"""Writes: uniqueness under races, atomic revisions, aliases, tokens, names."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from registry.catalog.database import Catalog
from registry.catalog.models import ApiToken, Blob, Revision, RevisionFile
from registry.catalog.queries import Viewer, find_preset, preset_detail
from registry.catalog.service import (
    PresetSpec,
    authenticate,
    create_alias,
    create_preset,
    create_token,
    move_alias,
    record_revision,
    record_token_use,
    revoke_token,
    token_use_is_stale,
)
from registry.errors import AliasExistsError, CatalogError, InvalidNameError, PresetExistsError
from registry.preset.demo import demo_preset_dir
from registry.preset.manifest import FileEntry, Manifest, build_manifest

SPEC = PresetSpec(namespace="team", name="shared", architecture="GPT2Backbone", owner="alice")
MANIFEST = Manifest(
    (
        FileEntry("config.json", 10, "a" * 64),
        FileEntry("model.weights.h5", 20, "b" * 64),
    )
)


def _race(catalog: Catalog, work: Callable[[object], object], writers: int = 4) -> list[object]:
    """Run `work(session)` in `writers` threads at once, each in its own transaction."""
    barrier = threading.Barrier(writers)
    outcomes: list[object] = []

    def writer() -> None:
        barrier.wait()
        try:
            with catalog.transaction() as session:
                outcomes.append(work(session))
        except Exception as error:
            outcomes.append(error)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_duplicate_preset_is_a_clean_error(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        create_preset(session, SPEC)
    with catalog.transaction() as session:
        with pytest.raises(PresetExistsError, match="team/shared already exists"):
            create_preset(session, SPEC)
        # The savepoint kept the transaction usable.
        assert find_preset(session, "team/shared") is not None


def test_racing_creators_leave_one_preset(catalog: Catalog) -> None:
    outcomes = _race(catalog, lambda session: create_preset(session, SPEC).id)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(outcomes) == 4 and len(errors) == 3
    assert all(isinstance(e, PresetExistsError) for e in errors), errors
    with catalog.transaction() as session:
        assert find_preset(session, "team/shared") is not None


def test_racing_alias_creators_leave_one_alias(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        preset = create_preset(session, SPEC)
        session.flush()
        revision_id = record_revision(session, preset, MANIFEST)[0].id

    def add_alias(session: object) -> int:
        preset = find_preset(session, "team/shared", viewer=Viewer("alice"))  # type: ignore[arg-type]
        revision = session.get(Revision, revision_id)  # type: ignore[attr-defined]
        return create_alias(session, preset, "stable", revision).id  # type: ignore[arg-type]

    outcomes = _race(catalog, add_alias)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 3 and all(isinstance(e, AliasExistsError) for e in errors), errors


def test_revision_and_files_land_together_or_not_at_all(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        preset_id = create_preset(session, SPEC).id
    broken = Manifest((FileEntry("config.json", 10, "c" * 64), FileEntry("bad", 1, "NOT-HEX")))
    with pytest.raises(IntegrityError), catalog.transaction() as session:
        preset = find_preset(session, "team/shared", viewer=Viewer("alice"))
        assert preset is not None
        record_revision(session, preset, broken)
    with catalog.transaction() as session:
        revisions = (
            select(func.count()).select_from(Revision).where(Revision.preset_id == preset_id)
        )
        assert session.scalar(revisions) == 0
        demo_files = len(build_manifest(demo_preset_dir()).files)
        assert session.scalar(select(func.count()).select_from(RevisionFile)) == demo_files
        assert session.get(Blob, "c" * 64) is None


def test_revisions_are_content_addressed_and_idempotent(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        preset = create_preset(session, SPEC)
        session.flush()
        first = record_revision(session, preset, MANIFEST, uploader="alice", message="v1")[0]
        session.flush()
        again = record_revision(session, preset, MANIFEST, uploader="alice", message="v1 again")[0]
        assert again.id == first.id and first.digest == MANIFEST.revision_id
        move_alias(session, preset, "latest", first)
    with catalog.transaction() as session:
        detail = preset_detail(session, "team/shared")
        assert detail is not None
        assert [r.digest for r in detail.revisions] == [MANIFEST.revision_id]
        assert detail.revisions[0].aliases == ("latest",)
        assert [f.path for f in detail.revisions[0].files] == [
            "config.json",
            "model.weights.h5",
        ]


def test_moving_latest(catalog: Catalog) -> None:
    newer = Manifest((FileEntry("config.json", 11, "d" * 64),))
    with catalog.transaction() as session:
        preset = create_preset(session, SPEC)
        session.flush()
        move_alias(session, preset, "latest", record_revision(session, preset, MANIFEST)[0])
        move_alias(session, preset, "latest", record_revision(session, preset, newer)[0])
    with catalog.transaction() as session:
        detail = preset_detail(session, "team/shared")
        assert detail is not None and detail.latest_revision == newer.revision_id
        assert [r.aliases for r in detail.revisions] == [("latest",), ()]


def test_token_use_is_stamped_at_most_once_a_minute(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        secret, token = create_token(session, owner="alice", scope="read")

    def stored() -> ApiToken:
        with catalog.transaction(write=False) as session:
            found = authenticate(session, secret)
        assert found is not None
        return found

    assert stored().last_used_at is None and token_use_is_stale(stored())
    with catalog.transaction() as session:
        record_token_use(session, token.id)
    first = stored().last_used_at
    assert first is not None and not token_use_is_stale(stored())
    with catalog.transaction() as session:
        record_token_use(session, token.id)  # within the minute: kept
    assert stored().last_used_at == first
    with catalog.transaction() as session:
        session.execute(update(ApiToken).values(last_used_at=first - dt.timedelta(minutes=5)))
    assert token_use_is_stale(stored())
    with catalog.transaction() as session:
        record_token_use(session, token.id)
    restamped = stored().last_used_at
    assert restamped is not None and restamped >= first
    assert not token_use_is_stale(stored())


def test_tokens_store_only_a_hash(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        secret, token = create_token(session, owner="alice", scope="write", name="ci")
    assert secret.startswith("kpr_") and len(secret) > 40
    with catalog.transaction() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert secret not in (stored.token_hash, stored.name)
        found = authenticate(session, secret)
        assert found is not None and found.owner == "alice" and found.scope == "write"
        assert authenticate(session, secret + "x") is None
        assert revoke_token(session, token.id, owner="bob") is False
        assert revoke_token(session, token.id, owner="alice") is True
        assert authenticate(session, secret) is None


@pytest.mark.parametrize(
    "name", ["", "a/b", "..", "a..b", "-lead", "x" * 129, "nul\x00", "sp ace", "ünï"]
)
def test_invalid_names_are_refused(catalog: Catalog, name: str) -> None:
    with (
        catalog.transaction() as session,
        pytest.raises(InvalidNameError, match="not a valid name"),
    ):
        create_preset(
            session,
            PresetSpec(namespace="team", name=name, architecture="GPT2Backbone"),
        )


def test_invalid_fields_are_refused(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        with pytest.raises(InvalidNameError, match="visibility"):
            create_preset(session, PresetSpec("team", "x", "GPT2Backbone", visibility="secret"))
        with pytest.raises(InvalidNameError, match="tag"):
            create_preset(session, PresetSpec("team", "x", "GPT2Backbone", tags=("Bad Tag",)))
        with pytest.raises(InvalidNameError, match="scope"):
            create_token(session, owner="alice", scope="admin")


def test_revisions_are_immutable(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        preset = create_preset(session, SPEC)
        session.flush()
        revision = record_revision(session, preset, MANIFEST, message="v1")[0]
    with pytest.raises(CatalogError, match="immutable"), catalog.transaction() as session:
        stored = session.get(Revision, revision.id)
        assert stored is not None
        stored.message = "rewritten"
    with pytest.raises(CatalogError, match="immutable"), catalog.transaction() as session:
        file = session.scalars(
            select(RevisionFile).where(RevisionFile.revision_id == revision.id)
        ).first()
        assert file is not None
        file.sha256 = "e" * 64
    with catalog.transaction() as session:
        detail = preset_detail(session, "team/shared", viewer=Viewer("alice"))
        assert detail is not None and detail.revisions[0].message == "v1"
