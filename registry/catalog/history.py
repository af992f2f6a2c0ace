"""A revision's history, read from the log of alias moves (`AliasMove`).

Each move records the revision an alias moved to and the one it left (its
parent). The history of a revision walks back through parents, taking at each
step the newest move that reached that revision before the step after it was
made: the log's ids only decrease, so the walk ends even when a revision comes
back (a revert). A revision no move reached (recorded before the log existed,
or only by digest) ends the walk as one commit of its own.

Commit ids are content ids: identical content committed twice is the same id,
and a revert shows the reverted-to id again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.catalog.models import AliasMove, Preset, Revision


@dataclass(frozen=True)
class Commit:
    """One step of a history: the revision reached, from which, by whom, why."""

    digest: str
    parent: str | None
    author: str | None
    message: str
    created_at: dt.datetime

    @property
    def title(self) -> str:
        """The message's first line (git's subject)."""
        return self.message.strip().split("\n", 1)[0]

    @property
    def body(self) -> str:
        """The message after its first line."""
        parts = self.message.strip().split("\n", 1)
        return parts[1].strip() if len(parts) > 1 else ""


def history(session: Session, preset: Preset, digest: str, *, limit: int = 10_000) -> list[Commit]:
    """The commits leading to revision `digest` of `preset`, newest first."""
    revisions = {
        row.id: row
        for row in session.scalars(select(Revision).where(Revision.preset_id == preset.id))
    }
    moves: dict[int, list[AliasMove]] = {}
    for row in session.scalars(
        select(AliasMove).where(AliasMove.preset_id == preset.id).order_by(AliasMove.id.desc())
    ):
        moves.setdefault(row.revision_id, []).append(row)
    current = next((r.id for r in revisions.values() if r.digest == digest), None)
    commits: list[Commit] = []
    cursor: int | None = None
    while current is not None and len(commits) < limit:
        revision = revisions[current]
        move = next((m for m in moves.get(current, ()) if cursor is None or m.id < cursor), None)
        if move is None:  # nothing logged leads here: the revision stands alone
            commits.append(_commit(revision, None, revision.uploader, revision.message, revision))
            break
        parent = revisions.get(move.parent_id) if move.parent_id is not None else None
        commits.append(_commit(revision, parent, move.author, move.message, move))
        cursor, current = move.id, (parent.id if parent else None)
    return commits


def _commit(
    revision: Revision,
    parent: Revision | None,
    author: str | None,
    message: str,
    when: Revision | AliasMove,
) -> Commit:
    return Commit(
        digest=revision.digest,
        parent=parent.digest if parent is not None else None,
        author=author,
        message=message,
        created_at=when.created_at,
    )
