"""Hostile presets and uploads, built on copies of the reference fixtures.

Each attack is a function `(workdir, keras_preset, hf_preset) -> Upload`: the
bytes to send, and the directory or archive a Python user would point at.
`keras_preset` and `hf_preset` are writable copies of one architecture's
reference fixtures (`tests/reference/keras_hub_tiny_<folder>` and
`hf_tiny_<folder>`); the attacks on configs, JSON and weights work on any
architecture's, finding the datasets and tensors they change in the files
themselves (or in the architecture's own table), so a new architecture folder
with its two fixtures is attacked without editing this module.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from safetensors.numpy import load_file, save_file

from registry.architectures import allowlist
from registry.architectures.spec import ArchitectureSpec
from registry.preset import convert_hf
from registry.preset.validate import Limits, inspect_checkpoint
from tests.conftest import FIXTURES


@dataclass(frozen=True)
class Architecture:
    """One allow-listed architecture and its reference fixtures."""

    name: str  # its folder under registry/architectures/
    spec: ArchitectureSpec

    @property
    def keras_fixture(self) -> Path:
        return FIXTURES / f"keras_hub_tiny_{self.name}"

    @property
    def hf_fixture(self) -> Path | None:
        """transformers' checkpoint, for architectures that convert one."""
        if self.spec.transformers is None:
            return None
        return FIXTURES / f"hf_tiny_{self.name}"


# Every architecture of the allow-list, by folder (`registry.architectures.gpt2.backbone`).
ARCHITECTURES = [
    Architecture(spec.backbone_module.split(".")[2], spec) for spec in allowlist.specs().values()
]


@dataclass
class Upload:
    """One attack: how it travels (an archive body or multipart files) and where it lies."""

    body: bytes | None = None  # a raw archive body
    content_type: str = "application/gzip"
    files: list[tuple[str, tuple[str, bytes]]] | None = None  # multipart parts
    path: Path | None = None  # the directory or archive on disk, for the Python API
    limits: Limits = field(default_factory=Limits)
    name: str = "evil"


Attack = Callable[[Path, Path, Path], Upload]
# Unpickling this runs `os.system("id")`; nothing here ever unpickles it.
_PICKLE = b"\x80\x04cos\nsystem\n(S'id'\ntR."


def _tar(members: dict[str, bytes], *, extra: Callable[[tarfile.TarFile], None] | None = None,
         mode: str = "w:gz") -> bytes:  # fmt: skip
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(bundle)
    return buffer.getvalue()


def _files_of(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _directory(directory: Path, **extra: object) -> Upload:
    """An attack that lives in a preset directory: sent as a .tar.gz of it."""
    body = _tar(_files_of(directory))
    return Upload(body=body, path=directory, **extra)  # type: ignore[arg-type]


def _archive(workdir: Path, body: bytes, suffix: str = ".tar.gz", **extra: object) -> Upload:
    path = workdir / f"attack{suffix}"
    path.write_bytes(body)
    kind = {".zip": "application/zip", ".tar": "application/x-tar"}.get(suffix, "application/gzip")
    return Upload(body=body, content_type=kind, path=path, **extra)  # type: ignore[arg-type]


def _config(preset: Path, change: Callable[[dict], None]) -> Path:
    path = preset / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    return preset


# === Paths ===


def traversal_in_tar(work: Path, keras: Path, hf: Path) -> Upload:
    return _archive(work, _tar({**_files_of(keras), "../evil.json": b"{}"}))


def traversal_in_zip(work: Path, keras: Path, hf: Path) -> Upload:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in _files_of(keras).items():
            bundle.writestr(name, data)
        bundle.writestr("assets/../../evil.json", b"{}")
    return _archive(work, buffer.getvalue(), ".zip")


def traversal_in_multipart(work: Path, keras: Path, hf: Path) -> Upload:
    parts = [("files", (name, data)) for name, data in _files_of(keras).items()]
    return Upload(files=[*parts, ("files", ("../../evil.json", b"{}"))])


def absolute_path_in_tar(work: Path, keras: Path, hf: Path) -> Upload:
    return _archive(work, _tar({**_files_of(keras), "/tmp/evil.json": b"{}"}))


def absolute_path_in_multipart(work: Path, keras: Path, hf: Path) -> Upload:
    parts = [("files", (name, data)) for name, data in _files_of(keras).items()]
    return Upload(files=[*parts, ("files", ("/etc/evil.json", b"{}"))])


def _special_member(kind: bytes, linkname: str = "") -> Callable[[tarfile.TarFile], None]:
    def add(bundle: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("tokenizer.json")
        info.type = kind
        info.linkname = linkname
        bundle.addfile(info)

    return add


def symlink_in_tar(work: Path, keras: Path, hf: Path) -> Upload:
    files = {k: v for k, v in _files_of(keras).items() if k != "tokenizer.json"}
    return _archive(work, _tar(files, extra=_special_member(tarfile.SYMTYPE, "/etc/passwd")))


def hardlink_in_tar(work: Path, keras: Path, hf: Path) -> Upload:
    files = {k: v for k, v in _files_of(keras).items() if k != "tokenizer.json"}
    return _archive(work, _tar(files, extra=_special_member(tarfile.LNKTYPE, "/etc/passwd")))


def device_in_tar(work: Path, keras: Path, hf: Path) -> Upload:
    files = {k: v for k, v in _files_of(keras).items() if k != "tokenizer.json"}
    return _archive(work, _tar(files, extra=_special_member(tarfile.CHRTYPE)))


def symlink_in_zip(work: Path, keras: Path, hf: Path) -> Upload:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in _files_of(keras).items():
            if name != "tokenizer.json":
                bundle.writestr(name, data)
        link = zipfile.ZipInfo("tokenizer.json")
        link.external_attr = 0o120777 << 16  # a symbolic link
        bundle.writestr(link, "/etc/passwd")
    return _archive(work, buffer.getvalue(), ".zip")


# === Sizes ===


def zip_bomb(work: Path, keras: Path, hf: Path) -> Upload:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in _files_of(keras).items():
            bundle.writestr(name, data)
        bundle.writestr("README.md", b"\0" * (64 << 20))
    return _archive(work, buffer.getvalue(), ".zip")


def tar_bomb(work: Path, keras: Path, hf: Path) -> Upload:
    return _archive(work, _tar({**_files_of(keras), "README.md": b"\0" * (64 << 20)}))


def oversize_file(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(keras, limits=Limits(max_file_bytes=100_000))


def oversize_upload(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(keras, limits=Limits(max_upload_bytes=150_000))


def too_many_files(work: Path, keras: Path, hf: Path) -> Upload:
    for index in range(10):
        (keras / "assets" / f"extra_{index}.txt").write_text("x")
    return _directory(keras, limits=Limits(max_files=8))


# === Keras configs ===


def config_naming_os(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(_config(keras, lambda c: c.update(class_name="system", module="os",
                                                        registered_name="os>system")))  # fmt: skip


def config_naming_subprocess(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(_config(keras, lambda c: c.update(module="subprocess")))


def config_naming_builtins(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(_config(keras, lambda c: c.update(registered_name="builtins>eval")))


def config_naming_an_unknown_class(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(_config(keras, lambda c: c.update(class_name="MyBackbone",
                                                        registered_name=None)))  # fmt: skip


def lambda_layer(work: Path, keras: Path, hf: Path) -> Upload:
    layer = {"class_name": "Lambda", "config": {"function": "os.system('id')"}}
    return _directory(_config(keras, lambda c: c["config"].update(head=layer)))


def dunder_key(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(_config(keras, lambda c: c.update(__reduce__=["os.system", ["id"]])))


def config_declaring_a_huge_model(work: Path, keras: Path, hf: Path) -> Upload:
    # A billion-token vocabulary over the fixture's small weights file: refused by
    # comparing the file's shapes with the config's, never by building the model.
    return _directory(_config(keras, lambda c: c["config"].update(vocabulary_size=10**9)))


def pickle_beside_h5(work: Path, keras: Path, hf: Path) -> Upload:
    (keras / "model.pt").write_bytes(_PICKLE)
    return _directory(keras)


def keras_config_with_weights_of(other: Architecture) -> Attack:
    """A config of this architecture over `other`'s `model.weights.h5`."""

    def attack(work: Path, keras: Path, hf: Path) -> Upload:
        shutil.copyfile(other.keras_fixture / "model.weights.h5", keras / "model.weights.h5")
        return _directory(keras)

    attack.__name__ = f"keras_config_with_{other.name}_weights"
    return attack


# === transformers configs ===


def pickle_beside_safetensors(work: Path, keras: Path, hf: Path) -> Upload:
    (hf / "pytorch_model.bin").write_bytes(_PICKLE)
    return _directory(hf)


def pickle_instead_of_safetensors(work: Path, keras: Path, hf: Path) -> Upload:
    (hf / "model.safetensors").unlink()
    (hf / "pytorch_model.bin").write_bytes(_PICKLE)
    return _directory(hf)


def hf_config_dunder_key(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(_config(hf, lambda c: c.update(__class__="os.system")))


def hf_config_lambda_layer(work: Path, keras: Path, hf: Path) -> Upload:
    layer = {"class_name": "Lambda", "config": {"function": "os.system('id')"}}
    return _directory(_config(hf, lambda c: c.update(quantization_config=layer)))


def hf_config_unknown_model_type(work: Path, keras: Path, hf: Path) -> Upload:
    return _directory(_config(hf, lambda c: c.update(model_type="evil")))


def hf_config_with_tensors_of(other: Architecture) -> Attack:
    """A transformers config of this architecture (its `model_type`) over `other`'s tensors."""

    def attack(work: Path, keras: Path, hf: Path) -> Upload:
        assert other.hf_fixture is not None
        shutil.copyfile(other.hf_fixture / "model.safetensors", hf / "model.safetensors")
        return _directory(hf)

    attack.__name__ = f"hf_config_with_{other.name}_tensors"
    return attack


# === model.weights.h5 ===


def _h5_datasets(file: h5py.File) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    file.visititems(lambda _, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return sorted(found, key=lambda dataset: dataset.name)


# Which dataset an attack replaces (the first by name, or the largest), and
# what it puts in its place: `create(file, name, shape, dtype)`.
Pick = Callable[[list[h5py.Dataset]], h5py.Dataset]
Create = Callable[[h5py.File, str, tuple[int, ...], np.dtype], None]
_FIRST: Pick = lambda datasets: datasets[0]  # noqa: E731
_LARGEST: Pick = lambda datasets: max(datasets, key=lambda dataset: dataset.nbytes)  # noqa: E731


def _replace_dataset(keras: Path, pick: Pick, create: Create) -> Upload:
    """Delete one dataset of the keras-hub preset and `create` another in its place."""
    with h5py.File(keras / "model.weights.h5", "a") as file:
        dataset = pick(_h5_datasets(file))
        name, shape, dtype = dataset.name, dataset.shape, dataset.dtype
        del file[name]
        create(file, name, shape, dtype)
    return _directory(keras)


def h5_extra_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    with h5py.File(keras / "model.weights.h5", "a") as file:
        file.create_dataset("layers/payload/vars/0", shape=(64,), dtype="uint8")
    return _directory(keras)


def h5_missing_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    with h5py.File(keras / "model.weights.h5", "a") as file:
        del file[_h5_datasets(file)[-1].name]
    return _directory(keras)


def h5_mis_shaped_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    # Declares 64 GB in a file that stays small: refused from its shape, never
    # read or allocated (the tests fail any read of a dataset this large).
    return _replace_dataset(keras, _FIRST, lambda file, name, shape, dtype: file.create_dataset(
        name, shape=(500_000_000, 32), dtype="float32"))  # fmt: skip


def h5_non_float_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    return _replace_dataset(keras, _FIRST, lambda file, name, shape, dtype: file.create_dataset(
        name, shape=shape, dtype="int32"))  # fmt: skip


def h5_external_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    # The dataset's bytes live in another file of whichever machine loads it.
    def create(file: h5py.File, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        secret = work / "secret.bin"
        secret.write_bytes(b"secret" * 100_000)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        file.create_dataset(name, shape=shape, dtype=dtype, external=[(str(secret), 0, nbytes)])

    return _replace_dataset(keras, _FIRST, create)


def h5_virtual_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    # A virtual dataset maps another HDF5 file of the loading machine.
    def create(file: h5py.File, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        with h5py.File(work / "source.h5", "w") as source:
            source.create_dataset("secret", data=np.ones(shape, dtype))
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(str(work / "source.h5"), "secret", shape=shape)
        file.create_virtual_dataset(name, layout)

    return _replace_dataset(keras, _FIRST, create)


@functools.cache
def _deflated_zeros(mebibytes: int) -> bytes:
    packer = zlib.compressobj(9)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(mebibytes)), packer.flush()])


def h5_compressed_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    # The right shape and dtype, but one gzip chunk that inflates to 256 MiB:
    # HDF5 inflates a chunk to whatever it holds, whatever the dataset's shape.
    def create(file: h5py.File, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        dataset = file.create_dataset(name, shape=shape, dtype=dtype, chunks=shape,
                                      compression="gzip")  # fmt: skip
        dataset.id.write_direct_chunk((0,) * len(shape), _deflated_zeros(256), 0)

    return _replace_dataset(keras, _LARGEST, create)


def h5_truncated(work: Path, keras: Path, hf: Path) -> Upload:
    weights = keras / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return _directory(keras)


# === model.safetensors ===


def _safetensors(header: dict, data: bytes, declared: int | None = None) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", declared or len(encoded)) + encoded + data


def _read_safetensors(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def _by_offset(header: dict) -> list[str]:
    return sorted((k for k in header if k != "__metadata__"),
                  key=lambda k: header[k]["data_offsets"][0])  # fmt: skip


def _last_tensor(hf: Path) -> str:
    """The stored name of the last tensor the architecture's conversion table lists."""
    config = json.loads((hf / "config.json").read_text())
    spec = convert_hf.transformers_spec(hf / "config.json", config)
    checkpoint, _, rows = inspect_checkpoint(hf, config, spec)
    return checkpoint.stored[rows[-1].key]


def _edit_tensors(hf: Path, change: Callable[[dict[str, np.ndarray], str], None]) -> Upload:
    """Rewrite `model.safetensors` (a valid file) through `change(tensors, last)`."""
    path, last = hf / "model.safetensors", _last_tensor(hf)
    tensors = load_file(path)
    change(tensors, last)
    save_file(tensors, path, metadata={"format": "pt"})
    return _directory(hf)


def safetensors_truncated(work: Path, keras: Path, hf: Path) -> Upload:
    weights = hf / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return _directory(hf)


def safetensors_header_past_the_end(work: Path, keras: Path, hf: Path) -> Upload:
    (hf / "model.safetensors").write_bytes(_safetensors({}, b"", declared=1 << 40))
    return _directory(hf)


def safetensors_overlapping_offsets(work: Path, keras: Path, hf: Path) -> Upload:
    # The checkpoint's own header, its second tensor moved to overlap the first.
    header, data = _read_safetensors(hf / "model.safetensors")
    first, second = _by_offset(header)[:2]
    start, end = header[second]["data_offsets"]
    shift = header[first]["data_offsets"][0] - start + 4
    header[second]["data_offsets"] = [start + shift, end + shift]
    (hf / "model.safetensors").write_bytes(_safetensors(header, data))
    return _directory(hf)


def safetensors_offsets_past_the_end(work: Path, keras: Path, hf: Path) -> Upload:
    # The last tensor's bytes declared 64 GB past the end of the file.
    header, data = _read_safetensors(hf / "model.safetensors")
    last = _by_offset(header)[-1]
    header[last]["data_offsets"] = [offset + (64 << 30) for offset in header[last]["data_offsets"]]
    (hf / "model.safetensors").write_bytes(_safetensors(header, data))
    return _directory(hf)


def safetensors_extra_tensor(work: Path, keras: Path, hf: Path) -> Upload:
    return _edit_tensors(hf, lambda t, last: t.update({"payload.weight": np.zeros(4, "float32")}))


def safetensors_missing_tensor(work: Path, keras: Path, hf: Path) -> Upload:
    return _edit_tensors(hf, lambda t, last: t.pop(last))


def safetensors_mis_shaped_tensor(work: Path, keras: Path, hf: Path) -> Upload:
    def grow(tensors: dict[str, np.ndarray], last: str) -> None:
        shape = tensors[last].shape
        tensors[last] = np.zeros((shape[0] + 1, *shape[1:]), tensors[last].dtype)

    return _edit_tensors(hf, grow)


def safetensors_non_float_tensor(work: Path, keras: Path, hf: Path) -> Upload:
    return _edit_tensors(hf, lambda t, last: t.update({last: t[last].astype("int32")}))


# === JSON ===


def non_utf8_json(work: Path, keras: Path, hf: Path) -> Upload:
    # The architecture's own config, its class name ending in a Latin-1 byte.
    text = (keras / "config.json").read_text().replace('Backbone"', 'Backbone\xe9"')
    (keras / "config.json").write_bytes(text.encode("latin-1"))
    return _directory(keras)


def deeply_nested_json(work: Path, keras: Path, hf: Path) -> Upload:
    text = (keras / "config.json").read_text()
    deep = "[" * 10_000 + "]" * 10_000
    (keras / "config.json").write_text(text.rstrip().removesuffix("}") + f', "deep": {deep}}}')
    return _directory(keras)


def duplicate_json_keys(work: Path, keras: Path, hf: Path) -> Upload:
    text = (keras / "config.json").read_text()
    twice = text.replace('"class_name"', '"class_name": "Lambda", "class_name"', 1)
    (keras / "config.json").write_text(twice)
    return _directory(keras)


# Every other JSON file of a preset is held to the same rules as config.json.


def deeply_nested_metadata(work: Path, keras: Path, hf: Path) -> Upload:
    (keras / "metadata.json").write_text("[" * 10_000 + "]" * 10_000)
    return _directory(keras)


def duplicate_keys_in_tokenizer_json(work: Path, keras: Path, hf: Path) -> Upload:
    tokenizer = keras / "tokenizer.json"
    text = tokenizer.read_text() if tokenizer.is_file() else '{"module": "keras_hub"}'
    tokenizer.write_text(text.replace("{", '{"twice": 1, "twice": 2, ', 1))
    return _directory(keras)


def non_utf8_vocabulary(work: Path, keras: Path, hf: Path) -> Upload:
    (keras / "assets" / "tokenizer").mkdir(parents=True, exist_ok=True)
    (keras / "assets" / "tokenizer" / "vocabulary.json").write_bytes(b'{"caf\xe9": 0}')
    return _directory(keras)


def deeply_nested_hf_tokenizer(work: Path, keras: Path, hf: Path) -> Upload:
    (hf / "tokenizer.json").write_text('{"model": ' + "[" * 40 + "]" * 40 + "}")
    return _directory(hf)
