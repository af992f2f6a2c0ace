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

from registry.architectures.spec import TensorRow
from registry.errors import PresetFormatError
from registry.preset.convert_hf import Checkpoint
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


# Datasets above this size are read straight into a TensorFlow variable's memory.
DIRECT_BYTES = 4 << 20


def variable_buffer(variable: Any) -> np.ndarray | None:
    """A TensorFlow variable's own memory, as a writable numpy array, or None.

    A freshly built variable's tensor is not shared (nothing has read it yet),
    so values written here become the variable's, with no second copy in
    memory. Slice-assign ops would avoid that copy too, but they switch the
    variable to copy-on-read for good, and every later forward pass would copy
    each large weight (0.5-3 GB per call at base shapes). None on other
    backends, or where TensorFlow would not hand out the buffer.
    """
    if keras.backend.backend() != "tensorflow" or not hasattr(variable.value, "handle"):
        return None
    tensor = variable.value.read_value()
    array = getattr(tensor, "_numpy", lambda: None)()  # EagerTensor.numpy() copies this
    if not isinstance(array, np.ndarray) or not array.flags.writeable:
        return None
    if not array.flags.c_contiguous or array.shape != tuple(variable.shape):
        return None
    return array


def _assign(variable: Any, dataset: h5py.Dataset) -> None:
    """Copy a dataset into a variable: straight into its memory where that is possible."""
    if dataset.nbytes > DIRECT_BYTES and dataset.attrs.get("dtype") != "bfloat16":
        target = variable_buffer(variable)
        if target is not None:
            dataset.read_direct(target)  # HDF5 converts float16/64 to the variable's dtype
            return
    variable.assign(_read_dataset(dataset))


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


def load_checkpoint(backbone: Any, checkpoint: Checkpoint, rows: list[TensorRow]) -> None:
    """Copy every tensor of `checkpoint` into `backbone`, each read once.

    The table's targets are datasets of keras-hub's `model.weights.h5`, found in
    the backbone through the same layout that reads and writes those files.
    """
    variables = {
        name: variable for entry in layout(backbone) for name, variable in entry.dataset_paths()
    }
    with checkpoint.reader() as read:
        for row in rows:
            values = row.transform(read(row.key))
            for target, value in zip(row.targets, values, strict=True):
                variable = variables[target]
                shaped = np.reshape(value, variable.shape)
                buffer = variable_buffer(variable)
                if buffer is not None:  # straight into the variable's memory, cast on the way
                    np.copyto(buffer, shaped, casting="unsafe")
                else:
                    variable.assign(shaped.astype(variable.dtype))
