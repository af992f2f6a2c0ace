"""`model.weights.h5` in Keras's layout, read and written without Keras's saver.

Keras stores each layer's own variables as `<path>/vars/<index>`. A model's
top-level layers are named after their class in snake case (`transformer_decoder`,
`transformer_decoder_1`, ...); layers inside a layer are named after the attribute
that holds them, which our composite layers list in `h5_children()`.

Reading compares every dataset's shape and dtype with the variable it fills
before reading a byte of it, refuses missing and unknown datasets, reads each
dataset exactly once, and assigns it into variables that were built without
random initialization.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from registry.errors import PresetFormatError
from registry.preset.validate import check_dataset_metadata, check_names, dataset_names

WEIGHTS_FILE = "model.weights.h5"


@dataclass(frozen=True)
class H5Entry:
    """One layer's group in the file: `<path>/vars`, holding its own variables."""

    path: str
    layer: keras.layers.Layer
    variables: tuple[keras.Variable, ...]

    def dataset_paths(self) -> Iterator[tuple[str, keras.Variable]]:
        for index, variable in enumerate(self.variables):
            yield _join(self.path, "vars", str(index)), variable


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _snake_case(name: str) -> str:
    # The rule Keras's saver applies to class names.
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _entries(path: str, layer: keras.layers.Layer) -> Iterator[H5Entry]:
    children: list[tuple[str, keras.layers.Layer]] = []
    if hasattr(layer, "h5_children"):
        children = layer.h5_children()
    own = () if children else tuple(layer.weights)
    yield H5Entry(path, layer, own)
    for attribute, child in children:
        yield from _entries(_join(path, attribute), child)


def layout(model: Any) -> list[H5Entry]:
    """Every group of `model`'s weights file, in Keras's naming."""
    entries = [H5Entry("", model, ())]
    used: dict[str, int] = {}
    for layer in model.h5_layout_root():
        name = _snake_case(type(layer).__name__)
        count = used.get(name, -1) + 1
        used[name] = count
        path = _join("layers", name if count == 0 else f"{name}_{count}")
        entries.extend(_entries(path, layer))
    return entries


def write_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Write `model`'s variables to `path` in Keras's `model.weights.h5` layout."""
    with h5py.File(path, "w") as file:
        for entry in layout(model):
            group = file.require_group(_join(entry.path, "vars"))
            group.attrs["name"] = entry.layer.name
            for index, variable in enumerate(entry.variables):
                value = keras.ops.convert_to_numpy(variable)
                dataset = group.create_dataset(str(index), data=value)
                if keras.backend.standardize_dtype(value.dtype) == "bfloat16":
                    dataset.attrs["dtype"] = "bfloat16"


def _read_dataset(dataset: h5py.Dataset) -> np.ndarray:
    value = dataset[()]
    if dataset.attrs.get("dtype") == "bfloat16":
        import ml_dtypes

        value = value.view(ml_dtypes.bfloat16)
    return np.asarray(value)


# Large datasets are copied into TensorFlow variables in slices of this size, so
# loading holds one slice in transit rather than a second copy of the tensor.
SLICE_BYTES = 4 << 20


def _assign(variable: Any, dataset: h5py.Dataset) -> None:
    """Copy a dataset into a variable, in slices on TensorFlow for large ones."""
    sliceable = (
        keras.backend.backend() == "tensorflow"
        and dataset.nbytes > SLICE_BYTES
        and dataset.attrs.get("dtype") != "bfloat16"
        and hasattr(variable.value, "handle")
    )
    if not sliceable:
        variable.assign(_read_dataset(dataset))
        return
    import tensorflow as tf

    # The raw op writes through the variable's handle. `tf.Variable[a:b].assign`
    # would first read the variable, and that read's reference makes TensorFlow
    # copy the whole buffer on every slice (copy-on-write).
    handle = variable.value.handle
    rank = len(dataset.shape)
    rows = max(1, SLICE_BYTES // (dataset.nbytes // dataset.shape[0]))
    for start in range(0, dataset.shape[0], rows):
        block = dataset[start : start + rows].astype(variable.dtype, copy=False)
        stop = start + block.shape[0]
        tf.raw_ops.ResourceStridedSliceAssign(
            ref=handle,
            begin=[start] + [0] * (rank - 1),
            end=[stop, *dataset.shape[1:]],
            strides=[1] * rank,
            value=block,
        )


def read_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Fill `model`'s variables from a `model.weights.h5` file.

    Raises:
        PresetFormatError: the file is not a readable HDF5 file (e.g. truncated).
        WeightsMismatchError: datasets are missing, unknown, mis-shaped or not
            floating point.
    """
    file_path = Path(path)
    targets = {
        name: variable for entry in layout(model) for name, variable in entry.dataset_paths()
    }
    try:
        with h5py.File(file_path, "r") as file:
            check_names(file_path, set(targets), dataset_names(file), "dataset(s)")
            for name, variable in targets.items():
                dataset = file[name]
                check_dataset_metadata(
                    file_path, name, dataset, tuple(variable.shape), variable.path
                )
                _assign(variable, dataset)
    except OSError as error:
        raise PresetFormatError(
            file_path,
            f"cannot be read as HDF5 ({error}).",
            "The file is truncated or corrupted; fetch or save the preset again.",
        ) from error
