"""The catalog's generation: a counter every committed, visible change moves.

Writers call `mark_changed(session)`; the last statement before that
transaction commits increments the counter (`count_generation`, installed by
`Catalog`). Readers such as the server's response cache compare generations to
know whether what they rendered is still current.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.catalog.models import CatalogState

CHANGED = "catalog_changed"


def mark_changed(session: Session) -> None:
    """Note that this transaction changes what readers see (see `generation`)."""
    session.info[CHANGED] = True


def count_generation(session: Session) -> None:
    """`before_commit` hook: move the counter if the transaction changed anything."""
    # Last statement before COMMIT, so writers never wait on it while holding
    # other locks: concurrent writers take it in commit order.
    if session.info.pop(CHANGED, False):
        session.execute(update(CatalogState).values(generation=CatalogState.generation + 1))


def generation(session: Session) -> int:
    """The catalog's generation: it grows with every committed visible change."""
    return int(session.scalar(select(CatalogState.generation)) or 0)
