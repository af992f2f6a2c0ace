"""Hugging Face transformers checkpoints, converted on load through each architecture's table.

The architecture comes from `config.json`'s `model_type` (the allow-list's
`TransformersSpec`); its `arguments` derive the backbone's arguments from the
config and the tensor shapes, and its `table` lists every tensor with the
datasets of keras-hub's `model.weights.h5` it fills. This module reads
safetensors only (pickles are refused), checks every tensor's name, shape and
dtype from the headers before any tensor is read, and copies each tensor once
into the built backbone. Checkpoints in bfloat16 or float16 load into whatever
dtype the backbone was built with.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from registry.architectures import allowlist
from registry.architectures.spec import ArchitectureSpec, TensorRow, TransformersSpec
from registry.errors import (
    PresetFileMissingError,
    PresetFormatError,
    WeightsMismatchError,
)
from registry.preset.format import CONFIG_FILE, read_json, refuse_pickles

if TYPE_CHECKING:
    pass

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
_FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
# Older checkpoints (BERT's own, from TensorFlow) name layer-norm weights as
# TensorFlow did; transformers renames them on load, and so does this module.
_LEGACY_NAMES = re.compile(r"(?<=LayerNorm\.)(gamma|beta)$")
_RENAMED = {"gamma": "weight", "beta": "bias"}


@dataclass(frozen=True)
class Checkpoint:
    """The tensors of a safetensors checkpoint: which file holds each, its shape and dtype.

    Keys are stored without the task model's prefix (`model.`, `bert.`,
    `transformer.`); `stored` gives each key's name in the file.
    """

    directory: Path
    files: dict[str, Path]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    stored: dict[str, str]

    @contextlib.contextmanager
    def reader(self) -> Iterator[Callable[[str], np.ndarray]]:
        """Open each weight file once; yield a function reading one tensor."""
        from safetensors import SafetensorError, safe_open

        with contextlib.ExitStack() as stack:
            handles = {
                path: stack.enter_context(safe_open(path, framework="numpy"))
                for path in set(self.files.values())
            }

            def read(key: str) -> np.ndarray:
                path, name = self.files[key], self.stored[key]
                try:
                    if self.dtypes[key] == "BF16":  # numpy has no bfloat16 of its own
                        return _read_bfloat16(path, name)
                    return np.asarray(handles[path].get_tensor(name))
                except (SafetensorError, OSError, ValueError, TypeError) as error:
                    raise PresetFormatError(
                        path,
                        f"cannot read tensor `{name}` ({error}).",
                        "The file is truncated or corrupted; fetch it again.",
                    ) from error

            yield read


def _read_bfloat16(path: Path, name: str) -> np.ndarray:
    """One bfloat16 tensor, read by the offsets in the (already validated) header."""
    import ml_dtypes

    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        entry = json.loads(file.read(length))[name]
        start, end = entry["data_offsets"]
        file.seek(8 + length + start)
        data = file.read(end - start)
    if len(data) != end - start:
        raise ValueError("the tensor's bytes end past the end of the file")
    return np.frombuffer(data, dtype=ml_dtypes.bfloat16).reshape(entry["shape"])


def transformers_spec(path: Path, hf_config: Mapping[str, Any]) -> ArchitectureSpec:
    """The allowed architecture a transformers `config.json`'s `model_type` converts to.

    Raises:
        PresetFormatError: no allowed architecture converts this model type.
    """
    model_type = hf_config.get("model_type")
    spec = allowlist.spec_for_model_type(model_type)
    if spec is None:
        supported = ", ".join(repr(t) for t in allowlist.transformers_model_types())
        raise PresetFormatError(
            path,
            f"has model_type={model_type!r}, which no allowed architecture converts "
            f"(model types that do: {supported}).",
            "Use a checkpoint of one of those model types, or a Keras preset of an "
            "allowed architecture.",
        )
    return spec


def _weight_files(directory: Path) -> list[Path]:
    index = directory / SAFETENSORS_INDEX_FILE
    if (directory / SAFETENSORS_FILE).is_file():
        return [directory / SAFETENSORS_FILE]
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict):
            raise PresetFormatError(index, "has no `weight_map` object.", "Fix the file.")
        names = sorted({str(name) for name in weight_map.values()})
        if any(Path(name).name != name for name in names):
            raise PresetFormatError(
                index, "names weight files outside the checkpoint directory.", "Fix it."
            )
        return [directory / name for name in names]
    refuse_pickles(directory, found_safe_weights=False)
    raise PresetFileMissingError(
        directory / SAFETENSORS_FILE,
        "does not exist, and neither does a sharded index.",
        "Save the checkpoint with transformers' `save_pretrained()` (safetensors).",
    )


def _tensor_headers(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise PresetFileMissingError(path, "does not exist.", "Fetch the checkpoint again.")
    try:
        with safe_open(path, framework="numpy") as file:
            return {
                key: (tuple(file.get_slice(key).get_shape()), file.get_slice(key).get_dtype())
                for key in file.keys()  # noqa: SIM118
            }
    except (SafetensorError, OSError, ValueError) as error:
        raise PresetFormatError(
            path,
            f"is not a readable safetensors file ({error}).",
            "The file is truncated or corrupted; fetch the checkpoint again.",
        ) from error


def open_checkpoint(directory: Path, spec: TransformersSpec) -> Checkpoint:
    """Index the tensors of a transformers checkpoint, reading only headers.

    A task model's prefix (`LlamaForCausalLM` saves `model.*`) is removed from
    the keys that carry it.
    """
    files: dict[str, Path] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    stored: dict[str, str] = {}
    for path in _weight_files(directory):
        for name, (shape, dtype) in _tensor_headers(path).items():
            key = next((name.removeprefix(p) for p in spec.prefixes if name.startswith(p)), name)
            key = _LEGACY_NAMES.sub(lambda m: _RENAMED[m.group(1)], key)
            files[key], shapes[key], dtypes[key], stored[key] = path, shape, dtype, name
    return Checkpoint(directory, files, shapes, dtypes, stored)


def check_tensors(checkpoint: Checkpoint, spec: TransformersSpec, rows: list[TensorRow]) -> None:
    """Compare the checkpoint's tensors with the table: names, shapes, dtypes.

    Raises:
        WeightsMismatchError: a tensor is missing, unknown, mis-shaped or not
            floating point.
    """
    where = checkpoint.directory / SAFETENSORS_FILE
    expected = {row.key: row.shape for row in rows}
    # A tensor the table lists counts even where `ignored` would match it (a
    # Llama's untied `lm_head.weight`).
    present = {key for key in checkpoint.shapes if key in expected or not spec.is_ignored(key)}
    missing = sorted(set(expected) - present)
    unknown = sorted(present - set(expected))
    if missing or unknown:
        problem = f"lacks `{missing[0]}`" if missing else f"has unknown `{unknown[0]}`"
        raise WeightsMismatchError(
            where,
            f"{problem} ({len(missing)} missing, {len(unknown)} unknown tensors).",
            "It is not a checkpoint transformers wrote for this config; re-save it.",
        )
    for key, shape in expected.items():
        if checkpoint.shapes[key] != shape:
            raise WeightsMismatchError(
                checkpoint.files[key],
                f"tensor `{checkpoint.stored[key]}` has shape {checkpoint.shapes[key]}, "
                f"which does not fit {shape}, what the config implies.",
                "The config and weights come from different models; keep them together.",
            )
        if checkpoint.dtypes[key] not in _FLOAT_DTYPES:
            raise WeightsMismatchError(
                checkpoint.files[key],
                f"tensor `{checkpoint.stored[key]}` holds {checkpoint.dtypes[key]}, "
                "not floating-point numbers.",
                "Save the checkpoint again with transformers' `save_pretrained()`.",
            )


def backbone_arguments(
    directory: Path, hf_config: Mapping[str, Any], spec: ArchitectureSpec, checkpoint: Checkpoint
) -> dict[str, Any]:
    """The backbone's constructor arguments for a transformers checkpoint."""
    if spec.transformers is None:  # transformers_spec only returns specs that convert
        raise PresetFormatError(directory, "does not convert.", "Use a Keras preset.")
    return spec.transformers.arguments(directory / CONFIG_FILE, hf_config, checkpoint.shapes)
