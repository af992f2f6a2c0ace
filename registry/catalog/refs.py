"""Branches and tags: what the Hub's protocol calls a preset's aliases.

An alias is a branch (commits move it) or a tag (it stays where it was put). The
Hub's default branch `main` is the alias `latest`; both names work wherever a
ref is read. Functions take a session and never commit.

```python
create_ref(session, preset, "stable", revision, kind="tag")
[ref.name for ref in refs_of(session, preset)]   # ["main", "stable"]
```
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry.catalog.generation import mark_changed
from registry.catalog.models import Alias, Preset, Revision
from registry.catalog.service import create_alias
from registry.errors import InvalidNameError, RevisionNotFoundError

MAIN = "main"
LATEST = "latest"


def alias_name(ref: str) -> str:
    """The alias a Hub ref names (`main` is `latest`)."""
    return LATEST if ref == MAIN else ref


def ref_name(alias: str) -> str:
    """The Hub's name of an alias (`latest` is `main`)."""
    return MAIN if alias == LATEST else alias


@dataclass(frozen=True)
class Ref:
    """A branch or tag, by its Hub name, and the revision it points at."""

    name: str
    kind: str
    digest: str


def refs_of(session: Session, preset: Preset) -> list[Ref]:
    """The preset's branches (`main` first) and tags, each by name."""
    rows = session.execute(
        select(Alias.name, Alias.kind, Revision.digest)
        .join(Revision, Alias.revision_id == Revision.id)
        .where(Alias.preset_id == preset.id)
    )
    refs = [Ref(ref_name(name), kind, digest) for name, kind, digest in rows]
    return sorted(refs, key=lambda ref: (ref.kind, ref.name != MAIN, ref.name))


def find_alias(session: Session, preset: Preset, ref: str) -> Alias | None:
    """The alias a Hub ref names, or None."""
    return session.scalar(
        select(Alias).where(Alias.preset_id == preset.id, Alias.name == alias_name(ref))
    )


def create_ref(
    session: Session, preset: Preset, ref: str, revision: Revision, *, kind: str
) -> Alias:
    """A new branch or tag at `revision`.

    Raises:
        AliasExistsError: a branch or tag of this name exists.
        InvalidNameError: the name breaks the aliases' rule.
    """
    return create_alias(session, preset, alias_name(ref), revision, kind=kind)


def delete_ref(session: Session, preset: Preset, ref: str, *, kind: str) -> None:
    """Delete a branch or tag (never `main`).

    Raises:
        RevisionNotFoundError: the preset has no such branch (or tag).
        InvalidNameError: `ref` is `main`.
    """
    alias = find_alias(session, preset, ref)
    if alias is None or alias.kind != kind:
        raise RevisionNotFoundError(
            f"{preset.namespace}/{preset.name} has no {kind} {ref!r}; `list_repo_refs` lists them."
        )
    if alias.name == LATEST:
        raise InvalidNameError(
            f"{MAIN} is the default branch of {preset.namespace}/{preset.name}; it cannot be "
            "deleted (delete the repository instead)."
        )
    session.execute(delete(Alias).where(Alias.id == alias.id))
    session.expire(preset, ["aliases"])
    mark_changed(session)
