"""Checking a preset someone else wrote, before it is stored or served.

Everything here reads metadata only and never imports Keras: the config is
parsed as data, the architecture comes from the allow-list
(`registry.architectures.allowlist`), and every weight tensor's declared name, shape
and dtype is compared with what the config implies before any tensor is read.
A server validates a multi-GB upload this way in memory that stays small.

Limits (per file, per upload, file count) are enforced by the writers while
bytes stream in (`Limits.admit`), not after the fact.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from registry.architectures.spec import ArchitectureSpec, TensorRow
from registry.errors import (
    PresetFormatError,
    UnsafePresetError,
    UploadTooLargeError,
    WeightsMismatchError,
)
from registry.preset import convert_hf
from registry.preset import format as preset_format
from registry.preset.manifest import MANIFEST_FILE

WEIGHTS_H5 = "model.weights.h5"
# A keras-hub task's own weights (a classifier's head), described by task.json.
TASK_WEIGHTS_H5 = "task.weights.h5"
TASK_CONFIG = "task.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
_SHARD = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")
# Plain-text or JSON files a preset may carry besides its weights.
_DATA_SUFFIXES = frozenset({".json", ".txt", ".md", ".model", ".vocab", ".spm"})
_DATA_NAMES = frozenset({".gitattributes", "LICENSE", "NOTICE"})
_MAX_PATH_BYTES = 512
_MAX_DEPTH = 8
_FLOAT_KINDS = frozenset("f")

_GIB = 1 << 30


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        parsed = int(value)
    except ValueError as error:
        raise ValueError(f"{name}={value!r} is not a whole number of bytes or files.") from error
    if parsed <= 0:
        raise ValueError(f"{name}={value!r} must be positive.")
    return parsed


@dataclass(frozen=True)
class Limits:
    """How big an upload may be. Each can be set by an environment variable.

    | field | variable | default |
    |---|---|---|
    | `max_file_bytes` | `REGISTRY_MAX_FILE_BYTES` | 8 GiB |
    | `max_upload_bytes` | `REGISTRY_MAX_UPLOAD_BYTES` | 16 GiB |
    | `max_files` | `REGISTRY_MAX_FILES` | 256 |
    | `max_ratio` (archive expansion) | `REGISTRY_MAX_ARCHIVE_RATIO` | 200 |
    """

    max_file_bytes: int = 8 * _GIB
    max_upload_bytes: int = 16 * _GIB
    max_files: int = 256
    max_ratio: int = 200

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_file_bytes=_env_int("REGISTRY_MAX_FILE_BYTES", cls.max_file_bytes),
            max_upload_bytes=_env_int("REGISTRY_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            max_files=_env_int("REGISTRY_MAX_FILES", cls.max_files),
            max_ratio=_env_int("REGISTRY_MAX_ARCHIVE_RATIO", cls.max_ratio),
        )


class UploadBudget:
    """Running totals of one upload, checked as every chunk arrives."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.files = 0
        self.total = 0

    def start_file(self, name: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise UploadTooLargeError(
                name,
                f"is file number {self.files}; an upload holds at most "
                f"{self.limits.max_files} files.",
                "A preset is a config, its weights and a few small files; "
                "raise REGISTRY_MAX_FILES on the server if you need more.",
            )

    def admit(self, name: str, file_bytes: int, chunk: int) -> None:
        """Account for `chunk` more bytes of `name`, which now holds `file_bytes`."""
        self.total += chunk
        if file_bytes > self.limits.max_file_bytes:
            raise UploadTooLargeError(
                name,
                f"is larger than the {self.limits.max_file_bytes}-byte limit per file.",
                "Raise REGISTRY_MAX_FILE_BYTES on the server to accept larger weights.",
            )
        if self.total > self.limits.max_upload_bytes:
            raise UploadTooLargeError(
                name,
                f"takes the upload past its {self.limits.max_upload_bytes}-byte limit.",
                "Raise REGISTRY_MAX_UPLOAD_BYTES on the server to accept larger presets.",
            )


def safe_relative_path(name: str) -> PurePosixPath:
    """A member name of an upload or archive as a path inside the preset.

    Raises:
        UnsafePresetError: absolute, escaping (`..`), empty, overlong or
            control-character names.
    """
    text = name.replace("\\", "/")
    problem = None
    if not text or "\x00" in text or any(ord(c) < 32 for c in text):
        problem = "is empty or holds control characters"
    elif text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        problem = "is an absolute path"
    elif len(text.encode()) > _MAX_PATH_BYTES:
        problem = f"is longer than {_MAX_PATH_BYTES} bytes"
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if problem is None and (".." in parts or not parts):
        problem = "leaves the preset directory (`..`)"
    if problem is None and len(parts) > _MAX_DEPTH:
        problem = f"is nested deeper than {_MAX_DEPTH} directories"
    if problem is not None:
        raise UnsafePresetError(
            repr(name)[:200],
            f"{problem}; a preset's files stay inside its directory.",
            "Upload the preset directory's own files with relative paths.",
        )
    return PurePosixPath(*parts)


def check_file_name(path: PurePosixPath) -> None:
    """Refuse files that are no part of a preset, pickles first.

    Raises:
        UnsafePresetError: a pickle checkpoint, or a file type presets never hold.
    """
    name = path.name
    if path.suffix in preset_format.PICKLE_SUFFIXES:
        raise UnsafePresetError(
            str(path),
            "is a pickle checkpoint; opening a pickle can run arbitrary code, so it is refused.",
            "Convert it to safetensors (in transformers: "
            "`model.save_pretrained(dir, safe_serialization=True)`) and upload that.",
        )
    allowed = (
        name in (WEIGHTS_H5, TASK_WEIGHTS_H5, SAFETENSORS)
        or bool(_SHARD.match(name))
        or path.suffix in _DATA_SUFFIXES
        or name in _DATA_NAMES
    )
    if not allowed:
        raise UnsafePresetError(
            str(path),
            "is not a file a preset holds.",
            f"A preset holds config.json, {WEIGHTS_H5} or {SAFETENSORS} (+ shards), "
            f"{TASK_WEIGHTS_H5}, JSON, text and Markdown files (tokenizer, assets, "
            "README.md); remove the rest.",
        )


# === Weights, by their metadata ===


def check_dataset_storage(file_path: Path, name: str, dataset: Any) -> None:
    """Refuse an h5 dataset whose bytes are not plainly in the file.

    Keras writes every dataset uncompressed, inside the file. An external or
    virtual dataset reads other files of whichever machine loads the preset
    (`/etc/passwd` into an embedding); a compressed one inflates to whatever its
    chunks decompress to, which HDF5 does not bound by the dataset's shape (a
    1 MB file can make a 36 KB dataset allocate 1 GB).
    """
    problem = None
    if dataset.external or dataset.is_virtual:
        problem = "stores its data in other files, which loading would read."
    elif dataset.id.get_create_plist().get_nfilters():
        problem = "is compressed or filtered; its chunks may inflate to any size when read."
    if problem is not None:
        raise UnsafePresetError(
            file_path,
            f"dataset `{name}` {problem}",
            "Re-save the preset with `save_to_preset()`, which writes plain datasets.",
        )


def check_dataset_metadata(
    file_path: Path, name: str, dataset: Any, expected: tuple[int, ...], what: str
) -> None:
    """Compare one h5 dataset's declared shape, dtype and storage with the expected ones."""
    check_dataset_storage(file_path, name, dataset)
    if tuple(dataset.shape) != expected:
        raise WeightsMismatchError(
            file_path,
            f"dataset `{name}` has shape {tuple(dataset.shape)}, but the config "
            f"implies {expected} for `{what}`.",
            "The weights were saved for a different config; use the config.json "
            "that was saved with them.",
        )
    is_bfloat16 = dataset.attrs.get("dtype") == "bfloat16" and dataset.dtype.itemsize == 2
    if dataset.dtype.kind not in _FLOAT_KINDS and not is_bfloat16:
        raise WeightsMismatchError(
            file_path,
            f"dataset `{name}` holds {dataset.dtype}, not floating-point numbers.",
            "Re-save the preset with `save_to_preset()`.",
        )


def check_names(file_path: Path, expected: set[str], present: set[str], kind: str) -> None:
    missing = sorted(expected - present)
    unknown = sorted(present - expected)
    if missing:
        raise WeightsMismatchError(
            file_path,
            f"{len(missing)} weight(s) the config needs are missing, first `{missing[0]}`.",
            "The file is incomplete or was saved for another architecture; "
            "re-save the preset with `save_to_preset()`.",
        )
    if unknown:
        raise WeightsMismatchError(
            file_path,
            f"{len(unknown)} {kind} match no weight of the model, first `{unknown[0]}`.",
            "The file was saved for a different config or architecture; use the "
            "config.json that was saved with it.",
        )


def dataset_names(file: Any) -> set[str]:
    import h5py

    found: set[str] = set()

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.add(name)

    file.visititems(visit)
    return found


def _optimizer_datasets(
    path: Path, present: set[str], expected: Mapping[str, tuple[int, ...]]
) -> set[str]:
    """The optimizer state Keras saves with a compiled task, checked from headers:
    scalars (step count, learning rate) and slots shaped like the task's weights."""
    found = {name for name in present if name.startswith("optimizer/vars/")}
    if len(found) > 2 * len(expected) + 8:
        raise WeightsMismatchError(
            path,
            f"holds {len(found)} optimizer datasets for {len(expected)} weights.",
            "Save the task again with keras-hub's `save_to_preset()`.",
        )
    return found


def _check_optimizer_dataset(
    path: Path, name: str, dataset: Any, shapes: set[tuple[int, ...]]
) -> None:
    if tuple(dataset.shape) not in shapes | {()} or dataset.dtype.kind not in "fiu":
        raise WeightsMismatchError(
            path,
            f"optimizer dataset `{name}` holds {dataset.dtype} of shape {tuple(dataset.shape)}, "
            "which is no optimizer state of this task.",
            "Save the task again with keras-hub's `save_to_preset()`.",
        )


def check_h5_weights(
    path: Path, expected: Mapping[str, tuple[int, ...]], *, optimizer: bool = False
) -> None:
    """Check a `.weights.h5` file against the expected datasets, reading no tensor.

    With `optimizer`, the optimizer state Keras saves beside a compiled task's
    weights is accepted too (checked from its headers the same way).
    """
    import h5py

    file_size = path.stat().st_size
    try:
        with h5py.File(path, "r") as file:
            present = dataset_names(file)
            extra = _optimizer_datasets(path, present, expected) if optimizer else set()
            check_names(path, set(expected), present - extra, "dataset(s)")
            checks = [(name, shape) for name, shape in expected.items()]
            for name in sorted(extra):
                _check_optimizer_dataset(path, name, file[name], set(expected.values()))
                checks.append((name, tuple(file[name].shape)))
            for name, shape in checks:
                dataset = file[name]
                if not name.startswith("optimizer/"):
                    check_dataset_metadata(path, name, dataset, shape, name)
                offset = dataset.id.get_offset()  # None unless stored contiguously
                if offset is not None and offset + dataset.nbytes > file_size:
                    raise WeightsMismatchError(
                        path,
                        f"dataset `{name}` ends at byte {offset + dataset.nbytes}, past "
                        f"the end of the {file_size}-byte file.",
                        "The file is truncated; fetch or save the preset again.",
                    )
    except OSError as error:
        raise PresetFormatError(
            path,
            f"cannot be read as HDF5 ({error}).",
            "The file is truncated or corrupted; fetch or save the preset again.",
        ) from error


def check_task_weights(directory: Path, spec: ArchitectureSpec, arguments: dict[str, Any]) -> None:
    """Check `task.weights.h5`, if the preset has one, against what `task.json` declares.

    keras-hub's task presets (a classifier fine-tuned from a backbone) keep the
    task's own layers there; the backbone loads from such a preset unchanged.

    Raises:
        PresetFileMissingError: there is no `task.json` to describe the weights.
        UnsafePresetError: `task.json` names a task this architecture has no
            weights table for.
        PresetFormatError, WeightsMismatchError: as for the backbone's weights.
    """
    weights = directory / TASK_WEIGHTS_H5
    if not weights.is_file():
        return
    task_path = directory / TASK_CONFIG
    task = preset_format.read_json(task_path)
    task_spec = spec.task(task.get("registered_name"))
    if task_spec is None:
        known = sorted(name for t in spec.tasks for name in t.registered_names)
        raise UnsafePresetError(
            task_path,
            f"names the task registered_name={task.get('registered_name')!r}, whose weights "
            f"this registry cannot check for a {spec.class_name}.",
            f"Known tasks with weights: {known or 'none'}; or remove {TASK_WEIGHTS_H5} "
            "to keep the backbone.",
        )
    task_arguments = task.get("config")
    try:
        if not isinstance(task_arguments, dict):
            raise ValueError("it has no `config` object")
        expected = task_spec.h5_shapes(task_arguments, {**arguments})
    except (TypeError, ValueError) as error:
        raise PresetFormatError(
            task_path,
            f"does not describe a valid task: {error}",
            "Save the task again with keras-hub's `save_to_preset()`.",
        ) from error
    check_h5_weights(weights, expected, optimizer=True)


# === Whole presets ===
# === Whole presets ===


@dataclass(frozen=True)
class PresetFacts:
    """What validation learned about a preset."""

    architecture: str
    parameter_count: int
    kind: preset_format.PresetKind
    arguments: dict[str, Any]


def checked_arguments(spec: ArchitectureSpec, config_path: Path, arguments: dict[str, Any]) -> None:
    try:
        spec.check_arguments(arguments)
        spec.h5_shapes(arguments)
    except (TypeError, ValueError) as error:
        raise PresetFormatError(
            config_path,
            f"does not describe a valid {spec.class_name}: {error}",
            "Fix the config, or re-save the preset with `save_to_preset()`.",
        ) from error


def _inspect_keras(directory: Path, config: dict[str, Any]) -> PresetFacts:
    config_path = directory / preset_format.CONFIG_FILE
    spec = preset_format.architecture_spec(config_path, config)
    arguments = preset_format.backbone_arguments(config_path, config)
    checked_arguments(spec, config_path, arguments)
    weights = directory / WEIGHTS_H5
    if not weights.is_file():
        preset_format.refuse_pickles(directory, found_safe_weights=False)
        raise PresetFormatError(
            weights, "does not exist.", "Upload the preset with its weights file."
        )
    expected = spec.h5_shapes(arguments)
    check_h5_weights(weights, expected)
    check_task_weights(directory, spec, arguments)
    count = sum(math.prod(shape) for shape in expected.values())
    return PresetFacts(spec.class_name, count, preset_format.PresetKind.KERAS, arguments)


def inspect_checkpoint(
    directory: Path, config: dict[str, Any], spec: ArchitectureSpec
) -> tuple[convert_hf.Checkpoint, dict[str, Any], list[TensorRow]]:
    """A transformers checkpoint's tensors, the backbone arguments they imply, and
    the conversion table, checked against each other from the headers alone."""
    checkpoint = convert_hf.open_checkpoint(directory, spec.transformers)  # type: ignore[arg-type]
    arguments = convert_hf.backbone_arguments(directory, config, spec, checkpoint)
    checked_arguments(spec, directory / preset_format.CONFIG_FILE, arguments)
    rows = spec.transformers.table(arguments)  # type: ignore[union-attr]
    convert_hf.check_tensors(checkpoint, spec.transformers, rows)  # type: ignore[arg-type]
    return checkpoint, arguments, rows


def _inspect_transformers(directory: Path, config: dict[str, Any]) -> PresetFacts:
    spec = convert_hf.transformers_spec(directory / preset_format.CONFIG_FILE, config)
    _, arguments, _ = inspect_checkpoint(directory, config, spec)
    count = spec.parameter_count(arguments)
    return PresetFacts(spec.class_name, count, preset_format.PresetKind.TRANSFORMERS, arguments)


def check_preset_files(directory: Path, *, check_json: bool = True) -> None:
    """Refuse a directory holding links or files no preset holds (pickles first),
    then any JSON file that breaks the JSON rules (`format.check_json_files`).

    Loading, syncing and uploading all pass through this before any file is read;
    a store tree whose JSON was checked when it came in skips the second part.
    """
    for path in sorted(directory.rglob("*")):
        relative = PurePosixPath(path.relative_to(directory).as_posix())
        if path.is_symlink():
            raise UnsafePresetError(
                path, "is a symbolic link; presets are plain files.", "Copy the file itself."
            )
        if path.is_file() and str(relative) != MANIFEST_FILE:
            check_file_name(relative)
    if check_json:
        preset_format.check_json_files(directory)


def architecture_of(directory: Path) -> str:
    """The allow-listed architecture a preset directory holds, from its config alone.

    Raises:
        UnsafePresetError: a Keras config names a class outside the allow-list.
        PresetFormatError: a transformers config of a model type none converts.
    """
    kind, config = preset_format.detect_kind(directory)
    config_path = directory / preset_format.CONFIG_FILE
    if kind is preset_format.PresetKind.KERAS:
        return preset_format.architecture_spec(config_path, config).class_name
    return convert_hf.transformers_spec(config_path, config).class_name


def architecture_arguments(directory: Path) -> dict[str, Any]:
    """The backbone arguments a transformers checkpoint converts to (headers only)."""
    _, config = preset_format.detect_kind(directory)
    spec = convert_hf.transformers_spec(directory / preset_format.CONFIG_FILE, config)
    return inspect_checkpoint(directory, config, spec)[1]


def inspect_preset(directory: Path) -> PresetFacts:
    """Validate a preset directory as data; return its architecture and size.

    Raises:
        UnsafePresetError: a file no preset holds (pickles first), a symbolic
            link, or a config naming a class outside the allow-list.
        PresetFormatError: a malformed config or weights file.
        WeightsMismatchError: weights that do not fit the config.
    """
    check_preset_files(directory)
    kind, config = preset_format.detect_kind(directory)
    if kind is preset_format.PresetKind.KERAS:
        return _inspect_keras(directory, config)
    return _inspect_transformers(directory, config)
