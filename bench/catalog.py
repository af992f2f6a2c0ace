"""Catalog search latency with 100,000 synthetic presets, on SQLite and PostgreSQL.

    python bench/catalog.py [--presets 100000] [--queries 300] [--backends sqlite,postgresql]

Fills a fresh catalog per backend (SQLite in a temporary directory; PostgreSQL
in a schema of its own, dropped afterwards), then times `search_presets` for
text searches that each combine one word, one filter and one sort, as the web
catalog issues them. Prints a Markdown table of p50/p99 latency; `--json PATH`
also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, insert, text

from registry.catalog.database import Catalog
from registry.catalog.models import Preset, PresetTag, PresetWord, Revision
from registry.catalog.queries import SearchFilters, search_presets
from registry.catalog.search import indexed_words

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_P99_MS = 50.0
TAGS = ["gpt2", "text", "code", "chat", "summarization", "poetry", "legal", "medical", "en", "de"]
KINDS = ["kaggle", "hf", "local", "upload", "registry"]
SORTS = ["name", "parameters", "downloads", "updated"]


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    syllables = [
        "ka",
        "ro",
        "mi",
        "te",
        "su",
        "na",
        "lo",
        "vi",
        "be",
        "xu",
        "pe",
        "do",
        "gra",
        "shi",
    ]
    words = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)}
    return sorted(words)


def _rows(count: int, rng: random.Random, vocabulary: list[str]) -> Iterator[dict[str, Any]]:
    for i in range(count):
        picked = rng.sample(vocabulary, 8)
        yield {
            "id": i + 1000,
            "namespace": f"user{i % 997}",
            "name": f"{picked[0]}_{picked[1]}_{i}",
            "architecture": "GPT2Backbone",
            "parameter_count": rng.choice([124, 355, 774, 1558]) * 1_000_000 + i,
            "description": "GPT-2 fine-tuned on " + " ".join(picked[2:]) + ".",
            "source_kind": rng.choice(KINDS),
            "visibility": "private" if i % 50 == 0 else "public",
            "owner": f"user{i % 997}",
            "download_count": rng.randint(0, 100_000),
            "tags": rng.sample(TAGS, 2),
        }


def fill(catalog: Catalog, count: int, seed: int = 0) -> list[str]:
    """Insert `count` synthetic presets in bulk; return the vocabulary used."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        presets = [{k: v for k, v in row.items() if k != "tags"} for row in batch]
        tags = [{"preset_id": row["id"], "tag": tag} for row in batch for tag in row["tags"]]
        words = [
            {"preset_id": row["id"], "word": word}
            for row in batch
            for word in indexed_words(row["name"], row["description"], row["tags"])
        ]
        synced = [
            {"preset_id": row["id"], "digest": f"{row['id']:064x}", "message": ""}
            for row in batch
            if row["id"] % 10 == 0
        ]
        with catalog.engine.begin() as connection:
            connection.execute(insert(Preset), presets)
            connection.execute(insert(PresetTag), tags)
            connection.execute(insert(PresetWord), words)
            if synced:
                connection.execute(insert(Revision), synced)
        batch.clear()

    for row in _rows(count, rng, vocabulary):
        batch.append(row)
        if len(batch) == 5000:
            flush()
    if batch:
        flush()
    # Fresh statistics for the planner (and, on PostgreSQL, the visibility map that
    # index-only scans need), as autovacuum would leave a long-lived catalog.
    with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        is_postgres = catalog.engine.dialect.name == "postgresql"
        connection.exec_driver_sql("VACUUM ANALYZE" if is_postgres else "ANALYZE")
    return vocabulary


def _filters(rng: random.Random) -> SearchFilters:
    choice = rng.randrange(5)
    if choice == 0:
        return SearchFilters(tag=rng.choice(TAGS))
    if choice == 1:
        return SearchFilters(source_kind=rng.choice(KINDS))
    if choice == 2:
        return SearchFilters(min_parameters=300_000_000, max_parameters=800_000_000)
    if choice == 3:
        return SearchFilters(synced=rng.random() < 0.5)
    return SearchFilters(architecture="GPT2Backbone")


def measure(
    catalog: Catalog, vocabulary: list[str], queries: int, *, prefixes: bool, seed: int = 1
) -> dict[str, Any]:
    """Time `queries` searches of one word (or a 3-6 letter prefix), filter and sort."""
    rng = random.Random(seed)
    latencies: list[float] = []
    matched: list[int] = []
    for _ in range(queries + 20):
        word = rng.choice(vocabulary)
        if prefixes:  # as typed: short prefixes match a large part of the catalog
            word = word[: rng.randint(3, 6)]
        started = time.perf_counter()
        with catalog.transaction(write=False) as session:
            page = search_presets(
                session, word, filters=_filters(rng), sort=rng.choice(SORTS), per_page=20
            )
        latencies.append((time.perf_counter() - started) * 1000)
        matched.append(page.total)
    latencies = latencies[20:]  # warm-up
    ordered = sorted(latencies)
    return {
        "mix": "prefixes" if prefixes else "words",
        "queries": queries,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": ordered[-1],
        "median_matches": statistics.median(matched[20:]),
    }


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/catalog.db"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema},public')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(backend: str, presets: int, queries: int) -> list[dict[str, Any]]:
    with _database(backend) as url:
        catalog = Catalog.open(url)
        started = time.perf_counter()
        vocabulary = fill(catalog, presets)
        fill_seconds = time.perf_counter() - started
        results = [
            {
                "backend": backend,
                "presets": presets,
                "fill_s": fill_seconds,
                **measure(catalog, vocabulary, queries, prefixes=prefixes),
            }
            for prefixes in (False, True)
        ]
        catalog.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = [r for b in args.backends.split(",") for r in run(b, args.presets, args.queries)]
    print(
        "| backend | presets | fill (s) | query words | queries | median matches "
        f"| p50 (ms) | p99 (ms) | max (ms) | p99 <= {TARGET_P99_MS:.0f} ms |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        verdict = "yes" if r["p99_ms"] <= TARGET_P99_MS else "no"
        print(
            f"| {r['backend']} | {r['presets']:,} | {r['fill_s']:.1f} | {r['mix']} "
            f"| {r['queries']} | {r['median_matches']:,.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {verdict} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
