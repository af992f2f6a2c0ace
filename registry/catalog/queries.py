"""Reading the catalog: search with filters, sort and pagination; one preset.

Results are the frozen records of `registry.records`, not ORM rows, so callers
(the client, the CLI, the web pages, the JSON API) never lazy-load through a
closed session, and the API sends them as they are. Private
presets are visible only to their owner: the visibility rule lives in
`_visible_to` and every query applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    bindparam,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from registry.catalog.models import Alias, Preset, PresetTag, PresetWord, Revision
from registry.catalog.search import TextSearch, name_begins, name_rank, words
from registry.config import DEFAULT_NAMESPACE
from registry.preset.manifest import FileEntry, Manifest
from registry.records import (
    MAX_PER_PAGE,
    SORT_KEYS,
    PresetDetail,
    PresetSummary,
    RevisionInfo,
    SearchFilters,
    SearchPage,
)

# Counts stop here ("1,000+ presets"), as search engines' do: exact counts of
# broad queries would cost a visit to every match.
COUNT_LIMIT = 1000


@dataclass(frozen=True)
class Viewer:
    """Who is asking: anonymous (`owner=None`) or the owner of a token."""

    owner: str | None = None
    sees_all: bool = False  # the embedded catalog's own user


ANONYMOUS = Viewer()
EVERYONE = Viewer(sees_all=True)


def revision_manifest(revision: Revision) -> Manifest:
    """The manifest the catalog recorded for a revision."""
    return Manifest(tuple(FileEntry(f.path, f.size, f.sha256) for f in revision.files))


def _visible_to(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.sees_all:
        return true()
    if viewer.owner is None:
        return Preset.visibility == "public"
    return or_(Preset.visibility == "public", Preset.owner == viewer.owner)


def _latest_digest(preset: Preset) -> str | None:
    for alias in preset.aliases:
        if alias.name == "latest":
            return alias.revision.digest
    return None


def summary_fields(preset: Any, tags: list[str], latest_revision: str | None) -> dict[str, Any]:
    """A summary's fields from a preset's row (an ORM `Preset` or a row of its
    columns), its tags and the digest its `latest` alias names."""
    return dict(
        namespace=preset.namespace,
        name=preset.name,
        architecture=preset.architecture,
        parameter_count=preset.parameter_count,
        description=preset.description,
        tags=tuple(sorted(tags)),
        source=preset.source,
        source_kind=preset.source_kind,
        license=preset.license,
        private=preset.visibility == "private",
        owner=preset.owner,
        downloads=preset.download_count,
        created_at=preset.created_at,
        updated_at=preset.updated_at,
        latest_revision=latest_revision,
        base_model=preset.base_model,
    )


# What a page of results shows, read as plain rows by two statements built
# once: loading ORM objects with their tags, aliases and revisions, and building
# the statements anew for each page, cost most of a new search's Python time
# beside its SQL (README "Web performance").
_LATEST = aliased(Alias, name="latest")
_PAGE_IDS: BindParameter[int] = bindparam("ids", type_=Integer, expanding=True)
_SUMMARY_COLUMNS = (
    Preset.id, Preset.namespace, Preset.name, Preset.architecture, Preset.parameter_count,
    Preset.description, Preset.source, Preset.source_kind, Preset.license, Preset.visibility,
    Preset.owner, Preset.download_count, Preset.created_at, Preset.updated_at,
    Preset.base_model, Revision.digest,
)  # fmt: skip
SUMMARY_ROWS = (
    select(*_SUMMARY_COLUMNS)
    .outerjoin(_LATEST, (_LATEST.preset_id == Preset.id) & (_LATEST.name == "latest"))
    .outerjoin(Revision, Revision.id == _LATEST.revision_id)
)
_SUMMARY_ROWS = SUMMARY_ROWS.where(Preset.id.in_(_PAGE_IDS))
_SUMMARY_TAGS = select(PresetTag.preset_id, PresetTag.tag).where(PresetTag.preset_id.in_(_PAGE_IDS))


def _summaries(session: Session, ids: list[int]) -> tuple[PresetSummary, ...]:
    """The presets `ids` names, in that order."""
    if not ids:
        return ()
    found = {row.id: row for row in session.execute(_SUMMARY_ROWS, {"ids": ids})}
    tags: dict[int, list[str]] = {preset_id: [] for preset_id in ids}
    for preset_id, tag in session.execute(_SUMMARY_TAGS, {"ids": ids}):
        tags[preset_id].append(tag)
    return tuple(
        PresetSummary(**summary_fields(row, tags[row.id], row.digest))
        for row in (found[preset_id] for preset_id in ids)
    )


def qualified_base_model(base: str) -> str:
    """A base model filter's `namespace/name` (a bare name is in the default
    namespace, as bare names resolve)."""
    base = base.strip()
    return base if "/" in base else f"{DEFAULT_NAMESPACE}/{base}"


def _filtered(filters: SearchFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.architecture is not None:
        conditions.append(Preset.architecture == filters.architecture)
    if filters.min_parameters is not None:
        conditions.append(Preset.parameter_count >= filters.min_parameters)
    if filters.max_parameters is not None:
        conditions.append(Preset.parameter_count <= filters.max_parameters)
    if filters.source_kind is not None:
        conditions.append(Preset.source_kind == filters.source_kind)
    if filters.namespace is not None:
        conditions.append(Preset.namespace == filters.namespace)
    if filters.tag is not None:
        conditions.append(
            exists().where(PresetTag.preset_id == Preset.id, PresetTag.tag == filters.tag)
        )
    if filters.base_model is not None:
        conditions.append(Preset.base_model == qualified_base_model(filters.base_model))
    if filters.synced is not None:
        has_revision = exists().where(Revision.preset_id == Preset.id)
        conditions.append(has_revision if filters.synced else ~has_revision)
    return conditions


def _order(sort: str, descending: bool | None, rank: Any) -> list[Any]:
    columns: dict[str, tuple[Any, bool]] = {
        "name": (Preset.name, False),
        "parameters": (Preset.parameter_count, True),
        "downloads": (Preset.download_count, True),
        "updated": (Preset.updated_at, True),
    }
    if sort == "relevance":
        if rank is None:
            return [Preset.name, Preset.namespace, Preset.id]
        return [rank, Preset.name, Preset.namespace, Preset.id]
    if sort not in columns:
        raise ValueError(f"sort must be one of {SORT_KEYS}. Received: sort={sort!r}")
    column, default_descending = columns[sort]
    descend = default_descending if descending is None else descending
    key = column.desc() if descend else column.asc()
    if sort == "parameters":  # the only nullable sort column: unknown sizes last
        key = key.nulls_last()
    # The id makes the order total, so pages never overlap or skip rows.
    return [key, Preset.namespace, Preset.name, Preset.id]


def _by_relevance(
    session: Session, matches: Select[Any], first_word: str, offset: int, per_page: int
) -> list[int]:
    """A page of many matches by relevance: those whose name begins with the
    first word, then the others, each by name. Two walks of the name index that
    stop at the page's end, where ranking first would sort every match."""
    by_name = (Preset.name, Preset.namespace, Preset.id)
    wanted = offset + per_page
    begins = name_begins(Preset.name, first_word)
    ids = list(session.scalars(matches.where(begins).order_by(*by_name).limit(wanted)))
    if len(ids) < wanted:
        rest = matches.where(~begins).order_by(*by_name).limit(wanted - len(ids))
        ids += session.scalars(rest)
    return ids[offset:]


def _page(
    session: Session, statement: Select[Any], order: list[Any], offset: int, per_page: int
) -> list[int]:
    return list(session.scalars(statement.order_by(*order).limit(per_page).offset(offset)))


def _capped_count(session: Session, countable: Select[Any]) -> int:
    """How many rows `countable` selects, counting no further than COUNT_LIMIT + 1."""
    capped = select(func.count()).select_from(countable.limit(COUNT_LIMIT + 1).subquery())
    return session.scalar(capped) or 0


# A dense query (see `TextSearch`) with at most this many matches, once its
# filters are applied, is sorted from the matches' ids (COUNT_LIMIT: all of them
# are known once counted); above it, the sort column's index is walked.
FEW_MATCHES = COUNT_LIMIT


def _text_page(
    session: Session,
    query_words: list[str],
    conditions: list[ColumnElement[bool]],
    order: list[Any],
    sort: str,
    offset: int,
    per_page: int,
) -> tuple[list[int], int]:
    """A page of a text search and the capped count of its matches."""
    text = TextSearch.plan(session, PresetWord, query_words)
    statement = text.matches(conditions, Preset.id, PresetWord)
    countable = text.countable(conditions, Preset.id, PresetWord)
    if not text.dense:
        return _page(session, statement, order, offset, per_page), _capped_count(session, countable)
    # Many index entries, but the filters may keep few of them (a tag, synced
    # presets): then a walk of the sort order visits most of the catalog before
    # the page is full. So the matches are read first, up to the count's cap,
    # driven from the rarest word's range, and only a query with more walks.
    found = list(session.scalars(countable.limit(COUNT_LIMIT + 1)))
    if len(found) <= FEW_MATCHES:
        known = select(Preset.id).where(text.among(Preset.id, found))
        return _page(session, known, order, offset, per_page), len(found)
    if sort == "relevance":
        return _by_relevance(session, statement, query_words[0], offset, per_page), len(found)
    return _page(session, statement, order, offset, per_page), len(found)


def check_page(page: int, per_page: int) -> None:
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(
            f"page must be >= 1 and per_page in 1..{MAX_PER_PAGE}. "
            f"Received: page={page}, per_page={per_page}"
        )


def search_presets(
    session: Session,
    query: str = "",
    *,
    filters: SearchFilters | None = None,
    sort: str = "relevance",
    descending: bool | None = None,
    page: int = 1,
    per_page: int = 20,
    viewer: Viewer = ANONYMOUS,
) -> SearchPage:
    """Search the presets `viewer` may see.

    Args:
        query: free text over names, descriptions and tags; every word must match.
        filters: architecture, parameter range, source kind, tag, synced, namespace,
            base model (the presets fine-tuned from one).
        sort: relevance (the default; by name when there is no query), name,
            parameters, downloads or updated.
        descending: reverse the sort's natural direction (names ascend, the
            others descend by default).
        page, per_page: 1-based page number and page size (at most 100).
    """
    check_page(page, per_page)
    conditions = [_visible_to(viewer), *_filtered(filters or SearchFilters())]
    offset = (page - 1) * per_page
    query_words = words(query)
    if not query_words:
        listed = select(Preset.id).where(*conditions)
        ids = _page(session, listed, _order(sort, descending, None), offset, per_page)
        total = _capped_count(session, listed)
    else:
        order = _order(sort, descending, name_rank(Preset.name, query_words))
        ids, total = _text_page(session, query_words, conditions, order, sort, offset, per_page)
    return SearchPage(
        items=_summaries(session, ids),
        total=min(total, COUNT_LIMIT),
        total_is_exact=total <= COUNT_LIMIT,
        page=page,
        per_page=per_page,
    )


def find_preset(session: Session, name: str, *, viewer: Viewer = ANONYMOUS) -> Preset | None:
    """The preset called `namespace/name` (or bare `name` in the default namespace)."""
    namespace, _, bare = name.rpartition("/")
    statement = select(Preset).where(
        Preset.namespace == (namespace or DEFAULT_NAMESPACE),
        Preset.name == bare,
        _visible_to(viewer),
    )
    return session.scalar(statement)


def preset_detail(
    session: Session, name: str, *, viewer: Viewer = ANONYMOUS
) -> PresetDetail | None:
    """A preset with its revisions, their aliases and files; None if not visible."""
    preset = find_preset(session, name, viewer=viewer)
    if preset is None:
        return None
    aliases: dict[int, list[str]] = {}
    for alias in preset.aliases:
        aliases.setdefault(alias.revision_id, []).append(alias.name)
    revisions = tuple(
        RevisionInfo(
            digest=r.digest,
            created_at=r.created_at,
            uploader=r.uploader,
            message=r.message,
            aliases=tuple(sorted(aliases.get(r.id, []))),
            files=revision_manifest(r).files,
        )
        for r in sorted(preset.revisions, key=lambda r: (r.created_at, r.id), reverse=True)
    )
    fields = summary_fields(preset, [t.tag for t in preset.tags], _latest_digest(preset))
    return PresetDetail(**fields, revisions=revisions)
