"""Search answered from memory: each server process's index of the catalog.

A search the server has not seen costs milliseconds of SQL (README "Web
performance"), where the question is a few set operations over the catalog's
presets. `Snapshot` holds what a search reads, as numpy columns with one entry
(a slot) per preset: each word's presets (the word index, made by the function
that fills `preset_words`), every filter's column, each sort order as ranks,
and the fields a page shows. A search starts from the rarest word's presets,
keeps those each filter admits, and picks the page by partial sort of their
ranks: about 0.1 ms at 100,000 presets. A snapshot is read in one transaction,
tagged with the catalog's generation read first, and gives the pages
`search_presets` gives (tests compare the two on both backends, query by query).

`MemoryIndex` keeps one snapshot per process. It answers only while its
snapshot is as new as the generation the caller read, and rebuilds in a
background thread when the catalog moves (1.7 s at 100,000 presets); callers
ask the database meanwhile, so a change shows exactly as soon as it does
without the index. A snapshot older than `max_age_s` answers while download
counts, which move no generation, are read again (the response cache holds
them as long).

Names and words sort by code point, as SQLite and a PostgreSQL database of C
collation order them. A PostgreSQL database that orders text otherwise (a libc
locale such as en_US.UTF-8, or ICU) sorts names differently, so on it the index
stays off (`text_order_differs`) and the database answers every search.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import logging
import sys
import threading
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry.catalog.database import Catalog
from registry.catalog.generation import generation as read_generation
from registry.catalog.models import Preset, PresetTag, Revision
from registry.catalog.queries import (
    COUNT_LIMIT,
    SUMMARY_ROWS,
    Viewer,
    check_page,
    qualified_base_model,
)
from registry.catalog.search import TOP, indexed_words, words
from registry.records import SORT_KEYS, SearchFilters, SearchPage

log = logging.getLogger(__name__)

# The sorts and their natural direction (`queries._order`): names ascend, the others descend.
_DEFAULT_DESCENDING = {"name": False, "parameters": True, "downloads": True, "updated": True}


class _Codes:
    """A column of repeated values (or None) as one small integer per preset."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.values: list[Any] = []
        self._codes = array("i")

    def extend(self, values: Sequence[Any]) -> None:
        index = self.index
        for value in values:
            if value not in index:
                index[value] = len(self.values)
                self.values.append(value)
        self._codes.extend([index[value] for value in values])

    def done(self) -> _Codes:
        self.codes = np.frombuffer(self._codes, dtype=np.int32)
        return self

    def take(self, slots: np.ndarray) -> list[Any]:
        values = self.values
        return [values[code] for code in self.codes[slots].tolist()]


class _Postings:
    """Keys (words or tags) in code-point order, each with the presets holding
    it, laid end to end: the presets of every key in a range are one slice.
    Built from a `_PostingsBuilder`; the largest transient is one int64 per
    entry, sorted in place (an argsort would need three such arrays)."""

    def __init__(self, built: _PostingsBuilder) -> None:
        keys = list(built.codes)
        built.codes = {}
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.keys = [keys[code] for code in order]
        del keys
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order), dtype=np.int64)
        del order
        counts = np.frombuffer(built.counts, dtype=np.int32)
        # One int64 per entry: its key's position in the high half, its preset below.
        entries = position[np.frombuffer(built.key_codes, dtype=np.int32)]
        built.key_codes = array("i")
        self.starts = np.concatenate(
            ([0], np.cumsum(np.bincount(entries, minlength=len(position))))
        )
        entries <<= 32
        entries |= np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        entries.sort()
        entries &= 0xFFFFFFFF
        self.slots = entries.astype(np.int32)

    def slice(self, low: str, high: str) -> np.ndarray:
        """The presets of the keys in [low, high), with repeats."""
        first = bisect.bisect_left(self.keys, low)
        last = bisect.bisect_left(self.keys, high, first)
        return self.slots[self.starts[first] : self.starts[last]]


class _PostingsBuilder:
    """Collects each preset's keys, preset after preset."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.key_codes = array("i")
        self.counts = array("i")

    def add(self, keys: Sequence[str]) -> None:
        """The keys of the next preset."""
        codes = self.codes
        self.key_codes.extend([codes.setdefault(key, len(codes)) for key in keys])
        self.counts.append(len(keys))

    def done(self) -> _Postings:
        return _Postings(self)


def _ranks(*keys: np.ndarray) -> np.ndarray:
    """Each preset's position in the order of `keys` (the first most significant)."""
    order = np.lexsort(keys[::-1])
    ranks = np.empty(len(order), dtype=np.int32)
    ranks[order] = np.arange(len(order), dtype=np.int32)
    return ranks


def _download_ranks(counts: np.ndarray, ties: np.ndarray) -> dict[tuple[str, bool], np.ndarray]:
    return {("downloads", False): _ranks(counts, ties), ("downloads", True): _ranks(-counts, ties)}


def _string_ranks(values: Sequence[str]) -> np.ndarray:
    """Each value's position among the distinct values, in code-point order."""
    position = {value: i for i, value in enumerate(sorted(set(values)))}
    return np.fromiter((position[v] for v in values), dtype=np.int64, count=len(values))


_CODE_POINT_LOCALES = {"c", "posix", "c.utf-8", "c.utf8"}


class TextOrderError(Exception):
    """The database orders text otherwise than by code point."""


def text_order_differs(session: Session) -> str | None:
    """Why the database orders names otherwise than by code point, or None if
    it does not: SQLite compares bytes; PostgreSQL does for a database of C
    locale (libc's C, POSIX or C.UTF-8)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    database = (
        session.execute(text("SELECT * FROM pg_database WHERE datname = current_database()"))
        .mappings()
        .one()
    )
    provider = database.get("datlocprovider", "c")  # PostgreSQL 15 and later
    if provider == "c" and str(database["datcollate"]).lower() in _CODE_POINT_LOCALES:
        return None
    locale = database["datcollate"] if provider == "c" else f"provider {provider!r}"
    return (
        f"the catalog's PostgreSQL database orders text by its locale ({locale}), not by code point"
    )


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_NAIVE_EPOCH = _EPOCH.replace(tzinfo=None)
_MICROSECOND = dt.timedelta(microseconds=1)


def _microseconds(moment: dt.datetime) -> int:
    """A stored time as a number that orders as the database orders it (naive
    times, as SQLite returns them, are UTC as they were written)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


class _Times:
    """A column of times as microseconds since 1970 (to sort by), given back as
    the database gave them: naive, or in the zone of the first (PostgreSQL's
    session zone). Not as objects: 100,000 presets' would hold 10 MB more."""

    def __init__(self) -> None:
        self._values = array("q")
        self.zone: dt.tzinfo | None = None

    def extend(self, moments: Sequence[dt.datetime]) -> None:
        if not self._values and moments:
            self.zone = moments[0].tzinfo
        self._values.extend([_microseconds(moment) for moment in moments])

    def done(self) -> _Times:
        self.values = np.frombuffer(self._values, dtype=np.int64)
        return self

    def take(self, slots: np.ndarray) -> list[dt.datetime]:
        micros = self.values[slots].tolist()
        if self.zone is None:
            return [_NAIVE_EPOCH + dt.timedelta(microseconds=m) for m in micros]
        return [(_EPOCH + dt.timedelta(microseconds=m)).astimezone(self.zone) for m in micros]


@dataclass(frozen=True)
class Snapshot:
    """The catalog as search reads it, at one generation; see the module's note.
    One entry (a slot) per preset, held as columns: a Python object per preset
    only for its name, description and source."""

    generation: int
    built_at: float
    ids: np.ndarray
    names: list[str]
    descriptions: list[str]
    sources: list[str | None]
    namespace: _Codes
    architecture: _Codes
    source_kind: _Codes
    license: _Codes
    owner: _Codes
    base_model: _Codes
    tags: _Codes  # each preset's sorted tags, as one tuple
    public: np.ndarray
    parameters: np.ndarray  # 0 where unknown
    known_parameters: np.ndarray
    downloads: np.ndarray
    created: _Times
    updated: _Times
    latest: dict[int, str]  # slot -> the digest its `latest` alias names
    synced: np.ndarray
    words: _Postings
    tag_index: _Postings
    by_name: np.ndarray  # ranks of (name, namespace, id)
    by_ties: np.ndarray  # ranks of (namespace, name, id): every other sort's ties
    names_in_order: list[str]  # the names, in that order
    ranks: dict[tuple[str, bool], np.ndarray]  # (sort, descending) -> ranks

    @classmethod
    def read(cls, session: Session, previous: Snapshot | None = None) -> Snapshot:
        """Read the whole catalog's search fields in `session`'s transaction,
        streaming rows (a server-side cursor on PostgreSQL). If the catalog is
        still at `previous`'s generation, only download counts are read again."""
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot of the database for every statement below.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        differs = text_order_differs(session)
        if differs is not None:
            raise TextOrderError(differs)
        current = read_generation(session)
        connection = session.connection()
        stream = {"yield_per": 5000}
        if previous is not None and previous.generation == current:
            counts = connection.execute(
                select(Preset.id, Preset.download_count).order_by(Preset.id),
                execution_options=stream,
            ).all()
            if [preset_id for preset_id, _ in counts] == previous.ids.tolist():
                return previous._with_downloads(np.array([n for _, n in counts], dtype=np.int64))
        tags: dict[int, tuple[str, ...]] = {}
        for preset_id, tag in connection.execute(
            select(PresetTag.preset_id, PresetTag.tag), execution_options=stream
        ):
            tags[preset_id] = (*tags.get(preset_id, ()), sys.intern(tag))
        synced = set(connection.scalars(select(Revision.preset_id).distinct()))
        rows = connection.execute(SUMMARY_ROWS.order_by(Preset.id), execution_options=stream)
        chunks = (
            dict(zip(rows.keys(), zip(*chunk, strict=True), strict=True))
            for chunk in rows.partitions()
        )
        return cls._from_columns(current, chunks, tags, synced)

    @classmethod
    def _from_columns(
        cls,
        current: int,
        chunks: Iterable[dict[str, Sequence[Any]]],
        tags: dict[int, tuple[str, ...]],
        synced: set[int],
    ) -> Snapshot:
        """A snapshot of the presets in `chunks` (each a batch of rows of
        `SUMMARY_ROWS` as columns, in id order): column by column, as a row at a
        time costs twice as long."""
        ids, parameters, unknown = array("q"), array("q"), array("b")
        downloads, public, has_revision = array("q"), array("b"), array("b")
        names: list[str] = []
        descriptions: list[str] = []
        sources: list[str | None] = []
        namespace, architecture, source_kind = _Codes(), _Codes(), _Codes()
        license, owner, base_model, tag_sets = _Codes(), _Codes(), _Codes(), _Codes()
        created, updated = _Times(), _Times()
        latest: dict[int, str] = {}
        words, tag_index = _PostingsBuilder(), _PostingsBuilder()
        for column in chunks:
            first = len(ids)
            ids.extend(column["id"])
            names.extend(column["name"])
            descriptions.extend(column["description"])
            sources.extend(column["source"])
            namespace.extend(column["namespace"])
            architecture.extend(column["architecture"])
            source_kind.extend(column["source_kind"])
            license.extend(column["license"])
            owner.extend(column["owner"])
            base_model.extend(column["base_model"])
            own_tags = [tuple(sorted(tags.pop(i, ()))) for i in column["id"]]
            tag_sets.extend(own_tags)
            for name, description, preset_tags in zip(
                column["name"], column["description"], own_tags, strict=True
            ):
                tag_index.add(preset_tags)
                words.add(indexed_words(name, description, list(preset_tags)))
            stated = column["parameter_count"]
            parameters.extend([size or 0 for size in stated])
            unknown.extend([size is None for size in stated])
            downloads.extend(column["download_count"])
            public.extend([visibility == "public" for visibility in column["visibility"]])
            has_revision.extend([i in synced for i in column["id"]])
            created.extend(column["created_at"])
            updated.extend(column["updated_at"])
            digests = enumerate(column["digest"], start=first)
            latest.update((slot, digest) for slot, digest in digests if digest is not None)
        id_array = np.frombuffer(ids, dtype=np.int64)
        name_ranks, namespace_ranks = _string_ranks(names), _string_ranks(namespace.values)
        namespace.done()
        namespace_keys = namespace_ranks[namespace.codes]
        sizes = np.frombuffer(parameters, dtype=np.int64)
        unknown_sizes = np.frombuffer(unknown, dtype=np.int8)
        counts = np.frombuffer(downloads, dtype=np.int64)
        updated.done()
        # `queries._order`: the key, then namespace, name and id; unknown sizes last both ways.
        ties = _ranks(namespace_keys, name_ranks, id_array)
        ranks = {
            ("name", False): _ranks(name_ranks, namespace_keys, id_array),
            ("name", True): _ranks(-name_ranks, namespace_keys, id_array),
            ("parameters", False): _ranks(unknown_sizes, sizes, ties),
            ("parameters", True): _ranks(unknown_sizes, -sizes, ties),
            ("updated", False): _ranks(updated.values, ties),
            ("updated", True): _ranks(-updated.values, ties),
            **_download_ranks(counts, ties),
        }
        by_name = ranks[("name", False)]
        names_in_order: list[str] = [""] * len(names)
        for slot, rank in enumerate(by_name.tolist()):
            names_in_order[rank] = names[slot]
        return cls(
            generation=current,
            built_at=time.monotonic(),
            ids=id_array,
            names=names,
            descriptions=descriptions,
            sources=sources,
            namespace=namespace,
            architecture=architecture.done(),
            source_kind=source_kind.done(),
            license=license.done(),
            owner=owner.done(),
            base_model=base_model.done(),
            tags=tag_sets.done(),
            public=np.frombuffer(public, dtype=np.int8).astype(bool),
            parameters=sizes,
            known_parameters=unknown_sizes == 0,
            downloads=counts,
            created=created.done(),
            updated=updated,
            latest=latest,
            synced=np.frombuffer(has_revision, dtype=np.int8).astype(bool),
            words=words.done(),
            tag_index=tag_index.done(),
            by_name=by_name,
            by_ties=ties,
            names_in_order=names_in_order,
            ranks=ranks,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def _with_downloads(self, counts: np.ndarray) -> Snapshot:
        ranks = {**self.ranks, **_download_ranks(counts, self.by_ties)}
        return dataclasses.replace(self, built_at=time.monotonic(), downloads=counts, ranks=ranks)

    # === Search ===

    def _having(self, postings: _Postings, low: str, high: str) -> np.ndarray:
        """Per preset: whether it holds a key in [low, high)."""
        found = np.zeros(len(self), dtype=bool)
        found[postings.slice(low, high)] = True
        return found

    def _distinct(self, slots: np.ndarray) -> np.ndarray:
        """`slots` without repeats, ascending: by sorting when they are few, by
        a mask of the catalog when they are many."""
        if len(slots) * 16 < len(self):
            ordered = np.sort(slots)
            first = np.ones(len(ordered), dtype=bool)
            first[1:] = ordered[1:] != ordered[:-1]
            return ordered[first]
        holds = np.zeros(len(self), dtype=bool)
        holds[slots] = True
        return np.flatnonzero(holds)

    def _candidates(self, query_words: list[str]) -> np.ndarray | slice:
        """The presets holding every query word (ascending), or all of them
        (`slice(None)`) when there are no words: driven from the rarest word's
        presets, as the database's sparse plan is, so no step visits the catalog
        unless every word is common."""
        if not query_words:
            return slice(None)
        ranges = sorted((self.words.slice(w, w + TOP) for w in query_words), key=len)
        candidates = self._distinct(ranges[0])
        for others in ranges[1:]:
            holds = np.zeros(len(self), dtype=bool)
            holds[others] = True
            candidates = candidates[holds[candidates]]
        return candidates

    def _visible(self, at: np.ndarray | slice, viewer: Viewer) -> np.ndarray:
        """Per preset of `at`: visible to `viewer` (`queries._visible_to`)."""
        if viewer.sees_all:
            return np.ones(len(self.ids[at]), dtype=bool)
        keep = self.public[at].copy()
        if viewer.owner is not None:
            keep |= self.owner.codes[at] == self.owner.index.get(viewer.owner, -1)
        return keep

    def _kept(self, at: np.ndarray | slice, viewer: Viewer, filters: SearchFilters) -> np.ndarray:
        """Per preset of `at`: visible to `viewer` and meeting `filters`."""
        keep = self._visible(at, viewer)

        def equal(column: _Codes, value: Any) -> None:
            nonlocal keep
            keep &= column.codes[at] == column.index.get(value, -1)

        if filters.architecture is not None:
            equal(self.architecture, filters.architecture)
        if filters.min_parameters is not None:
            keep &= self.known_parameters[at] & (self.parameters[at] >= filters.min_parameters)
        if filters.max_parameters is not None:
            keep &= self.known_parameters[at] & (self.parameters[at] <= filters.max_parameters)
        if filters.source_kind is not None:
            equal(self.source_kind, filters.source_kind)
        if filters.namespace is not None:
            equal(self.namespace, filters.namespace)
        if filters.tag is not None:
            keep &= self._having(self.tag_index, filters.tag, filters.tag + "\0")[at]
        if filters.base_model is not None:
            equal(self.base_model, qualified_base_model(filters.base_model))
        if filters.synced is not None:
            keep &= self.synced[at] if filters.synced else ~self.synced[at]
        return keep

    def _keys(
        self, matched: np.ndarray, query_words: list[str], sort: str, descending: bool | None
    ) -> np.ndarray:
        """The sort keys of `matched` (all distinct, so the order is total)."""
        if sort != "relevance":
            direction = _DEFAULT_DESCENDING[sort] if descending is None else descending
            return self.ranks[(sort, direction)][matched]
        keys = self.by_name[matched]
        if not query_words:
            return keys
        # Names beginning with the first word first, then the others, each by
        # name (`queries.name_rank`): a range of the name order.
        low = bisect.bisect_left(self.names_in_order, query_words[0])
        high = bisect.bisect_left(self.names_in_order, query_words[0] + TOP, low)
        begins = (keys >= low) & (keys < high)
        return keys.astype(np.int64) + np.where(begins, 0, len(self))

    def search(
        self,
        query: str = "",
        *,
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        descending: bool | None = None,
        page: int = 1,
        per_page: int = 20,
        viewer: Viewer,
    ) -> SearchPage:
        """What `queries.search_presets` answers, read from memory."""
        check_page(page, per_page)
        if sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {SORT_KEYS}. Received: sort={sort!r}")
        query_words = words(query)
        candidates = self._candidates(query_words)
        kept = self._kept(candidates, viewer, filters or SearchFilters())
        matched = np.flatnonzero(kept) if isinstance(candidates, slice) else candidates[kept]
        keys = self._keys(matched, query_words, sort, descending)
        offset = (page - 1) * per_page
        wanted = offset + per_page
        if wanted < len(keys):
            first = np.argpartition(keys, wanted - 1)[:wanted]
            chosen = first[np.argsort(keys[first])]
        else:
            chosen = np.argsort(keys)
        total = len(matched)
        return SearchPage.model_validate({
            "items": self._summaries(matched[chosen[offset:wanted]]),
            "total": min(total, COUNT_LIMIT),
            "total_is_exact": total <= COUNT_LIMIT,
            "page": page,
            "per_page": per_page,
        })  # fmt: skip

    def _summaries(self, slots: np.ndarray) -> list[dict[str, Any]]:
        """The presets of `slots`, as `queries.summary_fields` makes them from rows:
        read column by column (a field at a time costs twice as much)."""
        sizes = self.parameters[slots].tolist()
        known = self.known_parameters[slots].tolist()
        picked = slots.tolist()
        columns = {
            "namespace": self.namespace.take(slots),
            "name": [self.names[slot] for slot in picked],
            "architecture": self.architecture.take(slots),
            "parameter_count": [size if k else None for size, k in zip(sizes, known, strict=True)],
            "description": [self.descriptions[slot] for slot in picked],
            "tags": self.tags.take(slots),
            "source": [self.sources[slot] for slot in picked],
            "source_kind": self.source_kind.take(slots),
            "license": self.license.take(slots),
            "private": (~self.public[slots]).tolist(),
            "owner": self.owner.take(slots),
            "downloads": self.downloads[slots].tolist(),
            "created_at": self.created.take(slots),
            "updated_at": self.updated.take(slots),
            "latest_revision": [self.latest.get(slot) for slot in picked],
            "base_model": self.base_model.take(slots),
        }
        return [
            dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)
        ]


class MemoryIndex:
    """A process's `Snapshot`, rebuilt in the background as the catalog moves.

    Example:
        ```python
        index = MemoryIndex(catalog)
        page = index.search(generation, "medium", viewer=ANONYMOUS)  # None: ask SQL
        ```
    """

    def __init__(self, catalog: Catalog, *, max_age_s: float = 60.0) -> None:
        self.catalog = catalog
        self.max_age_s = max_age_s
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._builder: threading.Thread | None = None
        self._closed = False
        self.off_because: str | None = None  # set when the catalog cannot be indexed
        self.builds = 0  # snapshots built: for tests and the server's metrics

    def snapshot(self, generation: int) -> Snapshot | None:
        """The snapshot, if it is as new as `generation`; else None, and a new
        one is on its way."""
        current = self._snapshot
        fresh = current is not None and current.generation >= generation
        if not fresh or (
            current is not None and time.monotonic() - current.built_at > self.max_age_s
        ):
            self.refresh()
        return current if fresh else None

    def search(self, generation: int, query: str = "", **options: Any) -> SearchPage | None:
        """`Snapshot.search` while the snapshot is current, else None."""
        current = self.snapshot(generation)
        return None if current is None else current.search(query, **options)

    def refresh(self) -> None:
        """Start building a new snapshot, unless one is being built."""
        with self._lock:
            if self._closed or self.off_because or (self._builder and self._builder.is_alive()):
                return
            self._builder = threading.Thread(
                target=self._build, name="catalog-memory-index", daemon=True
            )
            self._builder.start()

    def state(self) -> str:
        """`ready` once a snapshot was built (it may be behind the catalog), `off`
        if the catalog cannot be indexed (`off_because`), else `building`."""
        if self.off_because is not None:
            return "off"
        return "building" if self._snapshot is None else "ready"

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a build under way to end."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    def _build(self) -> None:
        try:
            with self.catalog.transaction(write=False) as session:
                built = Snapshot.read(session, self._snapshot)
        except TextOrderError as error:
            self.off_because = str(error)
            log.warning("The in-memory search index is off: %s; the database answers.", error)
            return
        except Exception:  # the database answers searches meanwhile; try again next time
            log.exception("Building the catalog's in-memory search index failed")
            return
        self._snapshot = built
        self.builds += 1

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._closed = True
        self.wait(timeout)
