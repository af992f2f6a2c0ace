"""Hostile presets and uploads, built on copies of the reference fixtures.

Each attack is a function `(workdir, keras_preset, hf_preset) -> Upload`: the
bytes to send, and the directory or archive a Python user would point at.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from registry.preset.validate import Limits


@dataclass
class Upload:
    """One attack: how it travels (an archive body or multipart files) and where it lies."""

    body: bytes | None = None  # a raw archive body
    content_type: str = "application/gzip"
    files: list[tuple[str, tuple[str, bytes]]] | None = None  # multipart parts
    path: Path | None = None  # the directory or archive on disk, for the Python API
    limits: Limits = field(default_factory=Limits)
    name: str = "evil"


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


# === Configs ===


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


def pickle_file(work: Path, keras: Path, hf: Path) -> Upload:
    (hf / "pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n(S'id'\ntR.")
    return _directory(hf)


# === Weights ===


def h5_extra_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    with h5py.File(keras / "model.weights.h5", "a") as file:
        file.create_dataset("layers/payload/vars/0", shape=(64,), dtype="uint8")
    return _directory(keras)


def h5_mis_shaped_dataset(work: Path, keras: Path, hf: Path) -> Upload:
    with h5py.File(keras / "model.weights.h5", "a") as file:
        del file["layers/position_embedding/vars/0"]
        # Declares 64 GB: refused from its shape, never read or allocated.
        file.create_dataset("layers/position_embedding/vars/0", shape=(500_000_000, 32),
                            dtype="float32")  # fmt: skip
    return _directory(keras)


def h5_truncated(work: Path, keras: Path, hf: Path) -> Upload:
    weights = keras / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return _directory(keras)


def safetensors_truncated(work: Path, keras: Path, hf: Path) -> Upload:
    weights = hf / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return _directory(hf)


def _safetensors(header: dict, data: bytes, declared: int | None = None) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", declared or len(encoded)) + encoded + data


def safetensors_header_past_the_end(work: Path, keras: Path, hf: Path) -> Upload:
    (hf / "model.safetensors").write_bytes(_safetensors({}, b"", declared=1 << 40))
    return _directory(hf)


def safetensors_overlapping_offsets(work: Path, keras: Path, hf: Path) -> Upload:
    header = {
        "wte.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]},
        "wpe.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [32, 96]},
    }
    (hf / "model.safetensors").write_bytes(_safetensors(header, b"\0" * 96))
    return _directory(hf)


# === JSON ===


def non_utf8_json(work: Path, keras: Path, hf: Path) -> Upload:
    (keras / "config.json").write_bytes('{"class_name": "GPT2Backbone\xe9"}'.encode("latin-1"))
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
