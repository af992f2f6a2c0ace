"""Generated hostile input, on a fixed budget (derandomized, so CI is repeatable):
JSON files, archives and h5 weights headers. Whatever Hypothesis builds, the
answer is acceptance or the registry's own refusal (`PresetFormatError` and its
subclasses), never another exception, and nothing lands outside the staging area.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from registry.errors import PresetFormatError
from registry.preset.format import MAX_JSON_DEPTH, check_json_file
from registry.preset.upload import Staging
from registry.preset.validate import Limits, check_h5_weights

BUDGET = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
scalars = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


@BUDGET
@given(value=json_values, extra=st.integers(0, 40))
def test_json_is_accepted_exactly_when_it_is_shallow_enough(
    tmp_path: Path, value: Any, extra: int
) -> None:
    nested = _nest(value, extra)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(nested), encoding="utf-8")
    if _depth(nested) <= MAX_JSON_DEPTH:
        check_json_file(path)
    else:
        with pytest.raises(PresetFormatError, match="nested more than"):
            check_json_file(path)


@BUDGET
@given(value=json_values, cut=st.integers(0, 200), flips=st.lists(st.integers(0, 255), max_size=4))
def test_damaged_json_is_refused_cleanly(
    tmp_path: Path, value: Any, cut: int, flips: list[int]
) -> None:
    body = bytearray(json.dumps({"k": value, "k2": [value]}).encode())
    del body[max(min(cut, len(body) - 1), 1) :]  # truncated
    for i, byte in enumerate(flips):  # and a few bytes changed
        body[(i * 7919) % len(body)] = byte
    path = tmp_path / "metadata.json"
    path.write_bytes(bytes(body))
    try:
        check_json_file(path)
    except PresetFormatError:
        return
    json.loads(bytes(body).decode("utf-8"))  # accepted only if Python reads it too


member_names = st.one_of(
    st.sampled_from(["config.json", "a/b.json", "../up.json", "/abs.json", "a/../../x.json",
                     "./c.json", "a//b.txt", "\\\\win.json", "dir/", "x" * 300, "nul\x00.json"]),
    st.text(alphabet="ab./\\-_", min_size=1, max_size=12),
)  # fmt: skip
kinds = st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo"])


def _tar(members: list[tuple[str, str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE,
                         "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE}[kind]  # fmt: skip
            info.linkname = "../../etc/passwd" if "link" in kind else ""
            info.size = len(data) if kind == "file" else 0
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return buffer.getvalue()


def _zip(members: list[tuple[str, str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a name twice: the point of the exercise
        for name, _, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


@BUDGET
@given(
    members=st.lists(st.tuples(member_names, kinds, st.binary(max_size=64)), max_size=6),
    as_zip=st.booleans(),
)
def test_generated_archives_unpack_inside_staging_or_are_refused(
    tmp_path: Path, members: list[tuple[str, str, bytes]], as_zip: bool
) -> None:
    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    archive = work / ("preset.zip" if as_zip else "preset.tar")
    try:
        archive.write_bytes(_zip(members) if as_zip else _tar(members))
    except (ValueError, UnicodeEncodeError):
        assume(False)  # the generator's own limits (a name tar or zip cannot hold)
    staging = Staging(work / "staging", Limits(max_files=8, max_file_bytes=1000))
    with contextlib.suppress(PresetFormatError):
        staging.unpack(archive)
    for path in work.rglob("*"):  # nothing outside the staging area, no link anywhere
        assert not path.is_symlink()
        assert path == archive or work / "staging" in (path, *path.parents)
    for entry in staging.entries.values():
        assert (work / "staging" / entry.path).resolve().is_relative_to(work / "staging")


datasets = st.dictionaries(
    st.text(alphabet="abcdefgh/_0123456789", min_size=1, max_size=12).filter(
        lambda name: not name.startswith("/") and "//" not in name and not name.endswith("/")
    ),
    st.tuples(
        st.lists(st.integers(0, 4), max_size=3),
        st.sampled_from(["float32", "float16", "int32", "bool", "S3"]),
    ),
    max_size=5,
)


@BUDGET
@given(found=datasets, wanted=datasets, cut=st.none() | st.integers(0, 4000))
def test_generated_h5_headers_are_accepted_only_when_they_match(
    tmp_path: Path, found: dict, wanted: dict, cut: int | None
) -> None:
    path = tmp_path / "model.weights.h5"
    path.unlink(missing_ok=True)
    try:
        with h5py.File(path, "w") as file:
            for name, (shape, dtype) in found.items():
                file.create_dataset(name, data=np.zeros(shape, dtype=dtype))
    except (ValueError, TypeError):
        assume(False)  # h5py refuses the name itself (a group and a dataset at once)
    whole = path.read_bytes()
    cut = cut if cut is not None and cut < len(whole) else None
    if cut is not None:
        path.write_bytes(whole[:cut])
    expected = {name: tuple(shape) for name, (shape, _) in wanted.items()}
    try:
        check_h5_weights(path, expected)
    except PresetFormatError:
        return
    assert cut is None
    assert {name: tuple(shape) for name, (shape, _) in found.items()} == expected
    assert all(np.dtype(dtype).kind == "f" for _, dtype in found.values())
