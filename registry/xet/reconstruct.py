"""Registering an uploaded shard: check every file it lists against the xorbs
stored here, then rebuild each into the store as an ordinary blob (sha256).

Checks, all before a byte is rebuilt (a shard is read twice from its staged
file, one file's terms at a time):
- each term names a stored xorb and a chunk range inside it, of the size it states;
- each term's range hash matches the chunk hashes computed here when the xorb
  arrived: the uploader knows every chunk it references, not only a xorb's name;
- the file's Xet hash is the Merkle hash of those chunks;
- the files fit the upload limits (a small shard could otherwise name one
  range a million times);
- the xorbs listed in the xorb info section are stored, with the chunks stated.

Rebuilt files are staged and hashed while written, and moved into the blobs
only once every file is done, so a refused shard leaves nothing behind. A file
whose sha256 (given in the shard) is already a blob is not rebuilt again.
"""

from __future__ import annotations

import functools
import itertools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from registry.blobio import BlobWriter
from registry.bucket import PART_BYTES, PENDING_TAILS, BlobTee
from registry.errors import UploadTooLargeError, XetFormatError
from registry.resolver.store import Store
from registry.xet import hashes, shard, xorb
from registry.xet.cas import Offer, XorbStore
from registry.xet.shard import FileInfo, XorbInfo
from registry.xet.xorb import Chunk

ChunksOf = Callable[[bytes], tuple[Chunk, ...]]


@dataclass(frozen=True)
class RebuiltFile:
    """A file of a registered shard, now a blob of the store."""

    xet_hash: str
    sha256: str
    size: int


def _term_chunks(chunks_of: ChunksOf, info: FileInfo, index: int) -> tuple[Chunk, ...]:
    term = info.terms[index]
    stored = chunks_of(term.xorb)
    where = f"term {index} of file {hashes.to_hex(info.hash)}"
    if not 0 <= term.start < term.end <= len(stored):
        raise XetFormatError(
            f"The shard's {where} asks for chunks [{term.start}, {term.end}) of xorb "
            f"{hashes.to_hex(term.xorb)}, which has {len(stored)}."
        )
    chunks = stored[term.start : term.end]
    if sum(chunk.size for chunk in chunks) != term.size:
        raise XetFormatError(f"The shard's {where} states {term.size} bytes; its chunks differ.")
    if hashes.range_hash(chunk.hash for chunk in chunks) != info.range_hashes[index]:
        raise XetFormatError(
            f"The shard's {where} carries a range hash its chunks do not produce; "
            "the uploader must hold the data it references."
        )
    return chunks


def _check_file(chunks_of: ChunksOf, info: FileInfo) -> dict[bytes, Offer]:
    """Check one file; what to answer dedupe queries about its chunks with."""
    leaves: list[hashes.Leaf] = []
    holders: dict[bytes, bytes] = {}
    for index, term in enumerate(info.terms):
        chunks = _term_chunks(chunks_of, info, index)
        leaves.extend((chunk.hash, chunk.size) for chunk in chunks)
        # Clients ask about the first chunk of a file and about 1 chunk in 1024.
        asked = [c for c in chunks if hashes.is_dedupe_eligible(c.hash)]
        if index == 0:
            asked.append(chunks[0])
        holders.update((c.hash, term.xorb) for c in asked)
    if hashes.file_hash(leaves) != info.hash:
        raise XetFormatError(
            f"The shard's file {hashes.to_hex(info.hash)} does not hash to that name "
            "from the chunks it lists."
        )
    # The answer offers the chunk's xorb, then the file's other xorbs (as the Hub
    # answers with the shard that registered the chunk): a client holding the
    # file dedupes all of it from one answer, not only the xorbs it asked about.
    xorbs = tuple(dict.fromkeys(term.xorb for term in info.terms))
    return {
        chunk: (holder, *(x for x in xorbs if x != holder)) for chunk, holder in holders.items()
    }


def _check_xorb(chunks_of: ChunksOf, info: XorbInfo) -> None:
    stored = chunks_of(info.hash)
    starts = itertools.accumulate((chunk.size for chunk in stored), initial=0)
    ours = [(c.hash, start, c.size) for c, start in zip(stored, starts, strict=False)]
    if [tuple(chunk) for chunk in info.chunks] != ours:
        raise XetFormatError(
            f"The shard's xorb info for {hashes.to_hex(info.hash)} lists other chunks "
            "than the xorb uploaded under that hash holds."
        )


def _too_large(what: str, size: int, limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(
        "the shard",
        f"{what} would rebuild {size} bytes; this server accepts at most {limit}.",
        "Split the upload, or ask the server's operator to raise REGISTRY_MAX_FILE_BYTES "
        "or REGISTRY_MAX_UPLOAD_BYTES.",
    )


def check_shard(
    cas: XorbStore, path: Path, *, max_file_bytes: int, max_total_bytes: int
) -> dict[bytes, Offer]:
    """Check a staged shard (see the module's docstring); the xorbs to offer,
    by chunk, to dedupe queries once it is registered.

    Raises:
        XetFormatError: the shard is malformed or does not match the stored xorbs.
        UploadTooLargeError: a file, or all of them, would pass the limits.
    """
    chunks_of = functools.lru_cache(maxsize=32)(cas.chunks)
    dedupe: dict[bytes, Offer] = {}
    total = 0
    with open(path, "rb") as reader:
        footer = shard.read_header(reader)
        for info in shard.iter_files(reader):
            if info.size > max_file_bytes:
                raise _too_large(f"File {hashes.to_hex(info.hash)}", info.size, max_file_bytes)
            total += info.size
            if total > max_total_bytes:
                raise _too_large("Its files", total, max_total_bytes)
            dedupe.update(_check_file(chunks_of, info))
        for listed in shard.iter_xorbs(reader):
            _check_xorb(chunks_of, listed)
        shard.check_end(reader, footer)
    return dedupe


def _rebuild(cas: XorbStore, info: FileInfo, target: Path, tee: BlobTee | None) -> str:
    """Write a file's bytes to `target`, chunk by chunk, and to `tee` (the
    bucket's upload of its blob) if given; its sha256."""
    writer = BlobWriter(target)
    try:
        for term in info.terms:
            chunks = cas.chunks(term.xorb)[term.start : term.end]
            with cas.open(term.xorb) as reader:
                for data in xorb.read_chunks(reader, chunks):
                    writer.write(data)
                    if tee is not None:
                        tee.write(data)
        sha256 = writer.finish()
    finally:
        writer.close()
    if tee is not None:
        tee.close(sha256)
    if info.sha256 is not None and hashes.to_hex(info.sha256) != sha256:
        raise XetFormatError(
            f"File {hashes.to_hex(info.hash)} of the shard rebuilds to sha256 {sha256}, "
            f"not {hashes.to_hex(info.sha256)} as the shard states."
        )
    return sha256


def _tee(store: Store, sha256: str | None, size: int, tees: list[BlobTee]) -> BlobTee | None:
    """The bucket's upload of a file about to be rebuilt, streamed while it is
    (`registry.bucket.BlobTee`), for a large file whose sha256 the shard
    states: completed only once every file of the shard rebuilt to its name.
    None without a bucket, for a small or unnamed file (pushed after, as
    before), or past `PENDING_TAILS` files (each holds its last part in memory
    until then)."""
    if store.bucket is None or sha256 is None or size < PART_BYTES or len(tees) >= PENDING_TAILS:
        return None
    if any(t.announced == sha256 for t in tees):  # the same bytes twice in one shard
        return None
    tee = BlobTee(store.bucket, sha256)
    tees.append(tee)
    return tee


def register_shard(
    store: Store, path: Path, *, max_file_bytes: int, max_total_bytes: int
) -> tuple[RebuiltFile, ...]:
    """Check a staged shard, rebuild its files into `store`; what was stored.

    Raises:
        XetFormatError, UploadTooLargeError: see `check_shard`; nothing is stored.
    """
    cas = XorbStore(store)
    dedupe = check_shard(cas, path, max_file_bytes=max_file_bytes, max_total_bytes=max_total_bytes)
    staging = store.staging_dir("xet-shard")
    rebuilt: list[tuple[Path | None, RebuiltFile]] = []
    tees: list[BlobTee] = []
    try:
        with open(path, "rb") as reader:
            shard.read_header(reader)
            for number, info in enumerate(shard.iter_files(reader)):
                known = hashes.to_hex(info.sha256) if info.sha256 is not None else None
                if known is not None and store.has_blob(known):
                    staged, sha256 = None, known
                else:
                    staged = staging / str(number)
                    tee = _tee(store, known, info.size, tees)
                    sha256 = _rebuild(cas, info, staged, tee)
                rebuilt.append((staged, RebuiltFile(hashes.to_hex(info.hash), sha256, info.size)))
        for tee in tees:  # the objects exist once every file rebuilt to its name
            tee.settle()
        for staged, file in rebuilt:
            if staged is not None:  # into the bucket too, unless a tee carried it
                store.settle_staged(staged, file.sha256)
    except BaseException:
        for tee in tees:
            tee.discard()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    cas.remember(dedupe)
    return tuple(file for _, file in rebuilt)
