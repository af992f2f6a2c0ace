"""Fixtures of the Xet format tests: files chosen so hf_xet uses each chunk
compression (random bytes: none, text: LZ4, float32 weights: ByteGrouping4 +
LZ4), and what hf_xet sent when it uploaded them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from registry.xet import hashes, shard, xorb
from registry.xet.shard import FileInfo, XorbInfo
from registry.xet.xorb import Chunk
from tests.xet.recording_cas import Recording, record_upload


def write_samples(directory: Path) -> dict[str, Path]:
    """Sample files in `directory`, by name."""
    rng = np.random.default_rng(17)
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        "random.bin": rng.bytes(300_000),
        "text.txt": b"".join(b"line %07d of a repetitive text\n" % i for i in range(40_000)),
        "weights.bin": rng.standard_normal(300_000).astype(np.float32).tobytes(),
        "small.txt": b"hello, xet\n" * 10,
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = directory / name
        paths[name].write_bytes(data)
    return paths


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_samples(tmp_path_factory.mktemp("xet-samples"))


@pytest.fixture(scope="session")
def recorded(samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """What hf_xet sent to upload the samples (one upload, a fresh cache)."""
    return record_upload(list(samples.values()), tmp_path_factory.mktemp("xet-cache"))


@pytest.fixture(scope="session")
def scanned(recorded: Recording) -> dict[bytes, list[Chunk]]:
    """The chunks of every recorded xorb, by xorb hash."""
    found = {}
    for name, body in recorded.xorbs.items():
        digest = hashes.from_hex(name)
        found[digest] = xorb.scan(io.BytesIO(body), len(body), digest)
    return found


@pytest.fixture(scope="session")
def parsed(recorded: Recording) -> tuple[list[FileInfo], list[XorbInfo]]:
    """The files and xorbs of the recorded upload's one shard."""
    (body,) = recorded.shards
    reader = io.BytesIO(body)
    assert shard.read_header(reader) == 0  # uploads carry no footer
    return list(shard.iter_files(reader)), list(shard.iter_xorbs(reader))
