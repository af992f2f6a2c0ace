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
from typing import Any

from sqlalchemy import ColumnElement, and_, case, intersect, select
from sqlalchemy.sql import Select

MAX_WORD_LENGTH = 64
# Above every code point: `word < prefix + _TOP` bounds a prefix range.
_TOP = "\U0010ffff"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """The distinct lowercase words of `text`, in order of first appearance."""
    found = (word.lower()[:MAX_WORD_LENGTH] for word in _WORD.findall(text))
    return list(dict.fromkeys(found))


def indexed_words(name: str, description: str, tags: list[str]) -> list[str]:
    """The words a preset is found by."""
    return words(" ".join([name, description, *tags]))


def _prefix(word_table: Any, word: str) -> ColumnElement[bool]:
    return and_(word_table.word >= word, word_table.word < word + _TOP)


def apply_text_search(
    statement: Select[Any], preset_id: Any, word_table: Any, query_words: list[str], dialect: str
) -> Select[Any]:
    """Restrict `statement` to presets matching every query word.

    The matching ids come from the word index alone: one range scan per word,
    intersected. On PostgreSQL they are materialized before the join; as a
    plain semi-join the planner may walk the sort column's index hoping to
    fill a page early, and visit most of the catalog when matches are rare.
    SQLite builds its own ephemeral index for `IN (subquery)` and does best so.
    """
    per_word = [select(word_table.preset_id).where(_prefix(word_table, w)) for w in query_words]
    if dialect != "postgresql":
        ids = intersect(*per_word) if len(per_word) > 1 else per_word[0]
        return statement.where(preset_id.in_(ids))
    distinct_ids = intersect(*per_word) if len(per_word) > 1 else per_word[0].distinct()
    matches = distinct_ids.cte("text_matches").prefix_with("MATERIALIZED")
    return statement.join(matches, matches.c.preset_id == preset_id)


def name_rank(preset_name: Any, query_words: list[str]) -> ColumnElement[Any]:
    """0 for presets whose name begins with the first query word, else 1."""
    pattern = f"{_escape_like(query_words[0])}%"
    return case((preset_name.like(pattern, escape="\\"), 0), else_=1)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
