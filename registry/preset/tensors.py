"""The tensors of a weights file, each with the sha256 of its bytes, and what
changed between two revisions of a preset.

A revision's manifest says which files changed; for a weights file
(`model.weights.h5`, `*.safetensors`) this says which tensors did: added,
removed, reshaped, retyped, or holding other values. Names, shapes and dtypes
come from the headers; a tensor's digest is the sha256 of its bytes as stored
(little-endian, as both formats store them), read straight from the file's
byte range where the format says where the bytes are, so nothing is
decompressed, unpickled or converted. No Keras.

Example:
    ```python
    before = tensor_index(Path("v1/model.weights.h5"))
    after = tensor_index(Path("v2/model.weights.h5"))
    diff = compare_tensors(before, after)
    [change.name for change in diff.changed]  # ['layers/layer_normalization/vars/0']
    ```
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from registry.errors import PresetFormatError
from registry.preset.atomic import write_atomically

WEIGHT_SUFFIXES = (".h5", ".safetensors")
Change = Literal["shape", "dtype", "values"]
# The safetensors format caps its JSON header at 100 MB.
_MAX_HEADER_BYTES = 100 << 20
_READ_BYTES = 4 << 20


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    sha256: str


@dataclass(frozen=True)
class TensorChange:
    name: str
    before: TensorInfo
    after: TensorInfo

    @property
    def what(self) -> Change:
        """ "shape", "dtype" or "values": the first of them that differs."""
        if self.before.shape != self.after.shape:
            return "shape"
        if self.before.dtype != self.after.dtype:
            return "dtype"
        return "values"


@dataclass(frozen=True)
class TensorDiff:
    added: dict[str, TensorInfo] = field(default_factory=dict)
    removed: dict[str, TensorInfo] = field(default_factory=dict)
    changed: list[TensorChange] = field(default_factory=list)
    unchanged: int = 0


def is_weights_file(path: str) -> bool:
    return path.endswith(WEIGHT_SUFFIXES)


def _hash_range(file: BinaryIO, start: int, length: int) -> str:
    digest = hashlib.sha256()
    file.seek(start)
    while length > 0:
        chunk = file.read(min(length, _READ_BYTES))
        if not chunk:
            raise EOFError("the file ends inside a tensor")
        digest.update(chunk)
        length -= len(chunk)
    return digest.hexdigest()


def _safetensors_index(path: Path) -> dict[str, TensorInfo]:
    size = path.stat().st_size
    with path.open("rb") as file:
        (header_bytes,) = struct.unpack("<Q", file.read(8) or b"\0" * 8)
        if not 0 < header_bytes <= min(_MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"its header claims {header_bytes} bytes")
        header = json.loads(file.read(header_bytes))
        data_start = 8 + header_bytes
        found = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            if not 0 <= begin <= end <= size - data_start:
                raise ValueError(f"tensor `{name}` lies outside the file")
            digest = _hash_range(file, data_start + begin, end - begin)
            found[name] = TensorInfo(str(entry["dtype"]), tuple(entry["shape"]), digest)
    return found


def _h5_index(path: Path) -> dict[str, TensorInfo]:
    import h5py

    found: dict[str, TensorInfo] = {}
    with h5py.File(path, "r") as h5, path.open("rb") as raw:

        def visit(name: str, dataset: Any) -> None:
            if not isinstance(dataset, h5py.Dataset):
                return
            dtype = str(dataset.attrs.get("dtype", dataset.dtype))
            offset = dataset.id.get_offset()
            if offset is not None:  # contiguous, unfiltered: its bytes lie in one range
                digest = _hash_range(raw, offset, dataset.id.get_storage_size())
            elif dataset.size == 0 or dataset.id.get_storage_size() == 0:
                digest = hashlib.sha256(b"").hexdigest()
            else:  # chunked: the values as HDF5 reads them
                digest = hashlib.sha256(dataset[()].tobytes()).hexdigest()
            found[name] = TensorInfo(dtype, tuple(dataset.shape), digest)

        h5.visititems(visit)
    return found


def tensor_index(path: Path) -> dict[str, TensorInfo]:
    """Every tensor of a `.h5` or `.safetensors` file: dtype, shape, sha256 of its bytes.

    Raises:
        PresetFormatError: the file is not a readable weights file of its kind.
    """
    try:
        if path.suffix == ".safetensors":
            return _safetensors_index(path)
        return _h5_index(path)
    except (OSError, ValueError, KeyError, TypeError, EOFError, struct.error) as error:
        raise PresetFormatError(
            path,
            f"cannot be read as a weights file ({error}).",
            "The file is damaged; run `registry verify --full` on the preset.",
        ) from error


def cached_tensor_index(path: Path, sha256: str, cache: Path) -> dict[str, TensorInfo]:
    """`tensor_index` of a verified file, kept in `cache` under the file's sha256
    (a file's tensors never change, so the index is computed once per content)."""
    entry = cache / f"{sha256}.json"
    try:
        saved = json.loads(entry.read_text())
        return {
            name: TensorInfo(info["dtype"], tuple(info["shape"]), info["sha256"])
            for name, info in saved.items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        pass
    index = tensor_index(path)
    text = json.dumps({name: asdict(info) for name, info in index.items()})
    with contextlib.suppress(OSError):  # a cache: another thread may be writing it too
        cache.mkdir(parents=True, exist_ok=True)
        write_atomically(entry, lambda temporary: temporary.write_text(text))
    return index


def compare_tensors(
    before: Mapping[str, TensorInfo], after: Mapping[str, TensorInfo]
) -> TensorDiff:
    """Which tensors `after` adds, removes and changes (by name) against `before`."""
    changed = [
        TensorChange(name, before[name], after[name])
        for name in sorted(before.keys() & after.keys())
        if before[name] != after[name]
    ]
    common = len(before.keys() & after.keys())
    return TensorDiff(
        added={name: after[name] for name in sorted(after.keys() - before.keys())},
        removed={name: before[name] for name in sorted(before.keys() - after.keys())},
        changed=changed,
        unchanged=common - len(changed),
    )
