"""What an architecture declares about itself, without importing Keras.

Each architecture folder (`gpt2/`, `bert/`, ...) has a `spec.py` whose `SPEC` is
an `ArchitectureSpec`: the names configs may give its class, its arguments, the
shape of every dataset of its `model.weights.h5` (keras-hub's names), its
built-in presets, and how a transformers checkpoint maps onto it. A server
validating an upload reads these tables and never builds a model; loaders,
validators, the catalog and the web pages find architectures only through
`registry.architectures.allowlist`, which collects every folder's `SPEC`.
Tests compare the tables with built models, so they cannot drift from the Keras
code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Shapes = dict[str, tuple[int, ...]]
# A checkpoint tensor -> the values of the variables it fills, in `targets` order;
# each value is then reshaped to its variable's shape.
Transform = Callable[[np.ndarray], list[np.ndarray]]

# Arguments every Keras model takes.
BASE_ARGUMENTS = frozenset({"name", "trainable", "dtype"})


def same(value: np.ndarray) -> list[np.ndarray]:
    """The tensor as it is (reshaped to its variable's shape by the loader)."""
    return [value]


def transposed(value: np.ndarray) -> list[np.ndarray]:
    """A torch `Linear` weight (out, in) as a Keras kernel (in, out)."""
    return [value.T]


@dataclass(frozen=True)
class BuiltinPreset:
    """A preset every catalog knows by name, synced from its Kaggle handle."""

    name: str
    architecture: str  # the backbone's class name
    description: str
    params: int
    kaggle_handle: str


@dataclass(frozen=True)
class TensorRow:
    """One tensor of a transformers checkpoint and the variables it fills."""

    key: str  # without the model prefix (`model.`, `bert.`, `transformer.`)
    shape: tuple[int, ...]  # its shape in the checkpoint
    targets: tuple[str, ...]  # datasets of `model.weights.h5` (keras-hub's names)
    transform: Transform = same


@dataclass(frozen=True)
class TransformersSpec:
    """How a transformers checkpoint of this architecture converts.

    `arguments(config_path, hf_config, shapes)` derives the backbone's arguments
    from the checkpoint's `config.json` and its tensor shapes (prefix removed),
    raising `registry.errors.PresetFormatError` for variants the backbone does
    not implement and `WeightsMismatchError` where config and tensors disagree.
    `table(arguments)` lists every tensor the checkpoint must hold.
    """

    model_types: tuple[str, ...]
    arguments: Callable[[Path, Mapping[str, Any], Shapes], dict[str, Any]]
    table: Callable[[Mapping[str, Any]], list[TensorRow]]
    # Key prefixes of task models (`LlamaForCausalLM` saves `model.*`), removed.
    prefixes: tuple[str, ...] = ()
    # Keys with no backbone weight (tied or task heads, buffers), after the prefix.
    ignored: str = r"$^"

    def is_ignored(self, key: str) -> bool:
        return re.fullmatch(self.ignored, key) is not None


@dataclass(frozen=True)
class TaskSpec:
    """A keras-hub task of this architecture with weights of its own (`task.weights.h5`).

    `h5_shapes(task_arguments, backbone_arguments)` lists the datasets of the
    task's own layers (a classifier's head), from `task.json`'s `config` and the
    backbone's arguments, raising ValueError naming a bad argument.
    """

    registered_names: tuple[str, ...]  # "keras_hub>BertTextClassifier"
    h5_shapes: Callable[[Mapping[str, Any], Mapping[str, Any]], Shapes]


@dataclass(frozen=True)
class ArchitectureSpec:
    """One allow-listed backbone class: its names, arguments, weights and presets."""

    class_name: str  # "GPT2Backbone"
    family: str  # "GPT-2", for people
    backbone_module: str  # the module of this package that defines the class
    # Every `registered_name` and `module` a config may give this class;
    # `save_to_preset` writes the first of each (keras-hub's own).
    registered_names: tuple[str, ...]
    config_modules: tuple[str, ...]
    # Raise ValueError (naming the argument) unless the arguments build a model.
    check_arguments: Callable[[Mapping[str, Any]], None]
    h5_shapes: Callable[[Mapping[str, Any]], Shapes]
    presets: tuple[BuiltinPreset, ...] = ()
    transformers: TransformersSpec | None = None
    tasks: tuple[TaskSpec, ...] = ()
    # The constructor's inputs, in the order a snippet shows them.
    inputs: tuple[str, ...] = ("token_ids", "padding_mask")
    tags: tuple[str, ...] = ()

    def parameter_count(self, arguments: Mapping[str, Any]) -> int:
        return sum(math.prod(shape) for shape in self.h5_shapes(arguments).values())

    def task(self, registered_name: object) -> TaskSpec | None:
        """The task with weights of its own that `registered_name` names, if known."""
        return next((t for t in self.tasks if registered_name in t.registered_names), None)


# === Argument checks every architecture shares ===


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


def probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def merged_arguments(
    arguments: Mapping[str, Any], required: tuple[str, ...], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """`arguments` over `defaults`, refusing unknown and missing ones (ValueError)."""
    merged = {**defaults, **arguments}
    unknown = sorted(set(merged) - set(required) - set(defaults) - BASE_ARGUMENTS)
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown}")
    missing = [name for name in required if name not in merged]
    if missing:
        raise ValueError(f"missing required argument(s) {missing}")
    return merged
