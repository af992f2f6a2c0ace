"""Xet's hashes, checked against what hf_xet itself computed for the samples."""

from __future__ import annotations

import pytest

from registry.errors import XetFormatError
from registry.xet import hashes
from registry.xet.shard import FileInfo, XorbInfo
from registry.xet.xorb import Chunk
from tests.xet.recording_cas import Recording


def test_hash_strings_reverse_each_eight_bytes() -> None:
    raw = bytes(range(32))
    text = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert hashes.to_hex(raw) == text
    assert hashes.from_hex(text) == raw


@pytest.mark.parametrize("text", ["A" * 64, "0" * 63, "0" * 65, "g" * 64, "../" + "0" * 61])
def test_a_malformed_hash_string_is_refused(text: str) -> None:
    with pytest.raises(XetFormatError, match="not a Xet hash"):
        hashes.from_hex(text)


def test_the_tree_of_no_leaf_is_zeros_and_of_one_leaf_is_the_leaf() -> None:
    leaf = hashes.chunk_hash(b"only")
    assert hashes.merkle_root([]) == bytes(32)
    assert hashes.merkle_root([(leaf, 4)]) == leaf
    assert hashes.file_hash([]) == bytes(32)


def test_file_hashes_are_those_hf_xet_computed(
    recorded: Recording,
    parsed: tuple[list[FileInfo], list[XorbInfo]],
    scanned: dict[bytes, list[Chunk]],
) -> None:
    files, _ = parsed
    by_hash = {hashes.from_hex(meta.xet_info.hash): meta for meta in recorded.files.values()}
    assert len(files) == len(recorded.files) == 4
    for info in files:
        chunks = [c for t in info.terms for c in scanned[t.xorb][t.start : t.end]]
        assert hashes.file_hash([(c.hash, c.size) for c in chunks]) == info.hash
        assert info.hash in by_hash


def test_range_hashes_are_those_hf_xet_wrote(
    parsed: tuple[list[FileInfo], list[XorbInfo]], scanned: dict[bytes, list[Chunk]]
) -> None:
    files, _ = parsed
    for info in files:
        for term, check in zip(info.terms, info.range_hashes, strict=True):
            chunks = scanned[term.xorb][term.start : term.end]
            assert hashes.range_hash(c.hash for c in chunks) == check


def test_one_chunk_in_1024_is_offered_for_dedupe() -> None:
    eligible = bytes(24) + (5 * 1024).to_bytes(8, "little")
    assert hashes.is_dedupe_eligible(eligible)
    assert not hashes.is_dedupe_eligible(bytes(24) + (5 * 1024 + 1).to_bytes(8, "little"))
