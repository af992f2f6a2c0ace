"""Free-text search over presets: a word index that works the same everywhere.

Each preset's name, description and tags are split into words (letters and
digits; everything else separates) and stored in `preset_words`, one row per
distinct word, maintained by the service that writes the preset. A query
matches a preset when every query word begins some word of the preset
(`"medium web"` finds "24-layer ... Trained on WebText", `gpt2_medium_en`).
Each lookup is a range scan of a B-tree index, on SQLite and PostgreSQL alike.

Why not SQLite FTS5: TensorFlow loads its own SQLite, built without FTS5, with
global symbols; in any process that imported Keras first, `sqlite3` then runs
that copy, and an FTS5 table (and every trigger writing to it) fails with
"no such module: fts5". A plain table and index cannot break that way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

MAX_WORD_LENGTH = 64
# Above every code point: `word < prefix + TOP` bounds a prefix range.
TOP = "\U0010ffff"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """The distinct lowercase words of `text`, in order of first appearance."""
    found = (word.lower()[:MAX_WORD_LENGTH] for word in _WORD.findall(text))
    return list(dict.fromkeys(found))


def indexed_words(name: str, description: str, tags: list[str]) -> list[str]:
    """The words a preset is found by."""
    return words(" ".join([name, description, *tags]))


def _prefix(word_table: Any, word: str) -> ColumnElement[bool]:
    return and_(word_table.word >= word, word_table.word < word + TOP)


# Above this many index entries for its rarest word, a query's matches are a
# large part of the catalog (a short prefix: "gra" begins words of half of it):
# walking the sort order and testing each preset fills a page long before
# reading and sorting every match would.
DENSE_MATCHES = 2000


def _range_size(session: Session, word_table: Any, word: str, cap: int) -> int:
    """How many index entries begin with `word`, counting no further than `cap`."""
    entries = select(word_table.preset_id).where(_prefix(word_table, word)).limit(cap)
    return session.scalar(select(func.count()).select_from(entries.subquery())) or 0


@dataclass(frozen=True)
class TextSearch:
    """How one query's words select presets, planned from the word index.

    The plan depends on how many entries begin with the rarest word, counted in
    the index up to `DENSE_MATCHES` (an index-only scan that stops there):
    - sparse: that word's matches are read from the index (one range scan),
      every other word is tested per match, and the small set is sorted. On
      PostgreSQL the set is materialized before the join; as a plain semi-join
      the planner may walk the sort column's index hoping to fill a page early,
      and visit most of the catalog when matches are rare.
    - dense: every word is a correlated EXISTS on the (preset_id, word) index,
      so the database walks the sort column's index and stops at the page's
      end; the capped count is driven from the rarest word's range instead,
      each entry joined to its preset by primary key. On SQLite the filters are
      made opaque to the planner (wrapped in `coalesce`), which otherwise picks
      a filter's index (a parameter range, say) and sorts half the catalog. On
      PostgreSQL each EXISTS is fenced (`OFFSET 0`): its planner's estimate of
      a 4-6 letter prefix's range is far from what it holds (3 entries for
      4,029), so it would read and sort every match; fenced, the walk of the
      index of that sort and direction (migration 0006) is the cheaper plan.
    The search (`queries._text_page`) counts a dense query's matches first and
    walks only when there are more than `queries.FEW_MATCHES`: fewer are
    sorted from their ids, since a walk would visit most of the catalog.
    """

    words: tuple[str, ...]
    rarest: str
    dense: bool
    dialect: str

    @classmethod
    def plan(cls, session: Session, word_table: Any, query_words: list[str]) -> TextSearch:
        sizes = {w: _range_size(session, word_table, w, DENSE_MATCHES + 1) for w in query_words}
        rarest = min(query_words, key=sizes.__getitem__)
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            # psycopg prepares a statement on its fifth run, and PostgreSQL may
            # then reuse a generic plan, made without the words: one that suits
            # no prefix (a capped count walking the catalog, 7x slower). Plan
            # each statement of this transaction for its own values.
            session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        return cls(tuple(query_words), rarest, sizes[rarest] > DENSE_MATCHES, dialect)

    def _each_has(self, words: Iterable[str], preset_id: Any, word_table: Any) -> list[Any]:
        tested = aliased(word_table)
        if not (self.dense and self.dialect == "postgresql"):
            return [
                exists().where(tested.preset_id == preset_id, _prefix(tested, w)) for w in words
            ]
        # OFFSET 0 keeps each EXISTS a probe of the (preset_id, word) index per
        # preset: PostgreSQL neither turns it into a join nor hashes the whole
        # range, and its estimate (a default fraction, not the range's) lets the
        # walk of the sort's index win over reading every match and sorting.
        return [
            select(tested.preset_id)
            .where(tested.preset_id == preset_id, _prefix(tested, w))
            .offset(0)
            .exists()
            for w in words
        ]

    def _filters(self, conditions: list[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
        if not (self.dense and self.dialect == "sqlite" and conditions):
            return conditions
        return [func.coalesce(and_(*conditions), false())]

    def matches(
        self, conditions: list[ColumnElement[bool]], preset_id: Any, word_table: Any
    ) -> Select[Any]:
        """The ids of presets meeting `conditions` and every word, unordered."""
        statement = select(preset_id).where(*self._filters(conditions))
        if self.dense:
            return statement.where(*self._each_has(self.words, preset_id, word_table))
        others = self._each_has([w for w in self.words if w != self.rarest], preset_id, word_table)
        driver = select(word_table.preset_id).where(_prefix(word_table, self.rarest))
        if self.dialect != "postgresql":
            return statement.where(preset_id.in_(driver), *others)
        matches = driver.distinct().cte("text_matches").prefix_with("MATERIALIZED")
        return statement.join(matches, matches.c.preset_id == preset_id).where(*others)

    def countable(
        self, conditions: list[ColumnElement[bool]], preset_id: Any, word_table: Any
    ) -> Select[Any]:
        """The same ids, in the order cheapest to count a capped number of."""
        if not self.dense:
            return self.matches(conditions, preset_id, word_table)
        others = self._each_has([w for w in self.words if w != self.rarest], preset_id, word_table)
        return (
            select(word_table.preset_id)
            .distinct()
            .where(
                _prefix(word_table, self.rarest),
                word_table.preset_id == preset_id,
                *self._filters(conditions),
                *others,
            )
        )

    def among(self, preset_id: Any, ids: list[int]) -> ColumnElement[bool]:
        """`preset_id` is one of `ids` (up to a thousand): on PostgreSQL one array
        parameter, where an IN list would be a new statement, a thousand
        parameters long, for every count of ids."""
        if self.dialect != "postgresql":
            return preset_id.in_(ids)
        return preset_id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(Integer)))


def name_begins(preset_name: Any, word: str) -> ColumnElement[bool]:
    """The preset's name begins with `word` (a range of the name index)."""
    return and_(preset_name >= word, preset_name < word + TOP)


def name_rank(preset_name: Any, query_words: list[str]) -> ColumnElement[Any]:
    """0 for presets whose name begins with the first query word, else 1."""
    return case((name_begins(preset_name, query_words[0]), 0), else_=1)
