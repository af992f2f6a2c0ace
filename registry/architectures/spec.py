"""What an architecture declares about itself, without importing Keras.

Each architecture folder (`gpt2/`, `bert/`, ...) has a `spec.py` whose `SPEC` is
an `ArchitectureSpec`: the names configs may give its class, its arguments, the
shape of every dataset of its `model.weights.h5` (keras-hub's names), its
built-in presets, how a transformers checkpoint maps onto it, and its
tokenizers; the folders share one layout (`weights.py`, `convert.py`,
`presets.py`, `tokenizer.py`), from which `keras_hub_spec` assembles it. A
server validating an upload reads these tables and never builds a model;
loaders, validators, the catalog and the web pages find architectures only
through `registry.architectures.allowlist`, which collects every folder's `SPEC`.
Tests compare the tables with built models, so they cannot drift from the Keras
code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Shapes = dict[str, tuple[int, ...]]
# A checkpoint tensor -> the values of the variables it fills, in `targets` order;
# each value is then reshaped to its variable's shape.
Transform = Callable[[np.ndarray], list[np.ndarray]]

# keras-hub's package names: keras-nlp is what it was called before.
KERAS_HUB_PACKAGES = ("keras_hub", "keras_nlp")


def layer_group(layer: str, index: int) -> str:
    """The group in `model.weights.h5` of the `index`-th layer Keras names `layer`.

    Keras names the layers of one class `layer`, `layer_1`, `layer_2`, ...
    """
    return f"layers/{layer}" + (f"_{index}" if index else "")


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
    # The built-in preset this one was fine-tuned from (a bare name), where
    # keras-hub's description says so.
    base_model: str | None = None


def kaggle_preset(
    architecture: str,
    name: str,
    kaggle_model: str,
    version: int,
    params: int,
    description: str,
    *,
    owner: str = "keras",
    base_model: str | None = None,
) -> BuiltinPreset:
    """A keras-hub preset published as `kaggle://<owner>/<kaggle_model>/keras/<name>/<version>`
    (fine-tuned from the built-in preset `base_model`, if given)."""
    return BuiltinPreset(
        name=name,
        architecture=architecture,
        description=description,
        params=params,
        kaggle_handle=f"kaggle://{owner}/{kaggle_model}/keras/{name}/{version}",
        base_model=base_model,
    )


@dataclass(frozen=True)
class TensorRow:
    """One tensor of a transformers checkpoint and the variables it fills."""

    key: str  # without the model prefix (`model.`, `bert.`, `transformer.`)
    shape: tuple[int, ...]  # its shape in the checkpoint
    targets: tuple[str, ...]  # datasets of `model.weights.h5` (keras-hub's names)
    transform: Transform = same


def linear_kernel(key: str, shape: tuple[int, int], layer: str) -> TensorRow:
    """A torch `Linear` weight `{key}.weight`, `shape` (out, in), as the kernel of `layer`."""
    return TensorRow(f"{key}.weight", shape, (f"{layer}/vars/0",), transposed)


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
class TokenizerSpec:
    """A keras-hub tokenizer class of this architecture, and this registry's class of the name.

    A preset's `tokenizer.json` names keras-hub's class; the registry builds its
    own class of the same name, defined in `module` (the folder's `tokenizer.py`),
    which imports no Keras.
    """

    class_name: str  # "GPT2Tokenizer"
    module: str  # registry.architectures.gpt2.tokenizer
    # Every `registered_name` and `module` a `tokenizer.json` may give the class;
    # `save_to_preset` writes the first of each (keras-hub's own).
    registered_names: tuple[str, ...]
    config_modules: tuple[str, ...]


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
    tokenizers: tuple[TokenizerSpec, ...] = ()

    def parameter_count(self, arguments: Mapping[str, Any]) -> int:
        return sum(math.prod(shape) for shape in self.h5_shapes(arguments).values())

    def task(self, registered_name: object) -> TaskSpec | None:
        """The task with weights of its own that `registered_name` names, if known."""
        return next((t for t in self.tasks if registered_name in t.registered_names), None)


# === An architecture folder's layout ===


class WeightsModule(Protocol):
    """An architecture's `weights.py`: its arguments and its datasets, without Keras."""

    def check_arguments(self, arguments: Mapping[str, Any], /) -> None: ...

    def h5_shapes(self, arguments: Mapping[str, Any], /) -> Shapes: ...


class ConvertModule(Protocol):
    """An architecture's `convert.py`: which transformers checkpoints convert, and how.

    Its constants are `TransformersSpec`'s fields of the same names.
    """

    MODEL_TYPES: tuple[str, ...]
    PREFIXES: tuple[str, ...]
    IGNORED: str

    def arguments(
        self, config_path: Path, hf_config: Mapping[str, Any], shapes: Shapes, /
    ) -> dict[str, Any]: ...

    def table(self, arguments: Mapping[str, Any], /) -> list[TensorRow]: ...


def keras_hub_spec(
    package: str,
    family: str,
    keras_hub_classes: Mapping[str, str],
    *,
    weights: WeightsModule,
    convert: ConvertModule | None = None,
    legacy_modules: tuple[str, ...] = (),
    tokenizers: Mapping[str, str] | None = None,
    **fields: Any,
) -> ArchitectureSpec:
    """The spec of the backbone in `package`'s `backbone.py`, a class keras-hub defines too.

    keras-hub registers its class as `keras_hub>Name` (`keras_nlp>Name` before
    its rename) in the module `keras_hub.src.models.<module>`; this registry's
    configs name the first class `registry>Name`, in `<package>.backbone`.

    Args:
        package: the architecture's folder (`registry.architectures.gpt2`).
        family: the architecture's name for people ("GPT-2").
        keras_hub_classes: keras-hub's classes this backbone builds, its own
            first, each with its module under `keras_hub.src.models`
            (`{"GPT2Backbone": "gpt2.gpt2_backbone"}`).
        weights: the folder's `weights` module.
        convert: the folder's `convert` module, if transformers checkpoints convert.
        legacy_modules: modules this registry wrote into configs before.
        tokenizers: keras-hub's tokenizer classes of the architecture, each
            with its module under `keras_hub.src.models`
            (`{"GPT2Tokenizer": "gpt2.gpt2_tokenizer"}`); the folder's
            `tokenizer.py` defines a class of each name.
        **fields: `ArchitectureSpec`'s other fields (`presets`, `tasks`, `inputs`, `tags`).
    """
    backbone_module = f"{package}.backbone"
    (class_name, module), *aliases = keras_hub_classes.items()
    registered = [f"{hub}>{class_name}" for hub in KERAS_HUB_PACKAGES] + [f"registry>{class_name}"]
    modules = [f"{hub}.src.models.{module}" for hub in KERAS_HUB_PACKAGES] + [backbone_module]
    for alias, alias_module in aliases:
        registered += [f"{hub}>{alias}" for hub in KERAS_HUB_PACKAGES]
        modules += [f"{hub}.src.models.{alias_module}" for hub in KERAS_HUB_PACKAGES]
    transformers = None
    if convert is not None:
        transformers = TransformersSpec(
            model_types=convert.MODEL_TYPES,
            arguments=convert.arguments,
            table=convert.table,
            prefixes=convert.PREFIXES,
            ignored=convert.IGNORED,
        )
    return ArchitectureSpec(
        class_name=class_name,
        family=family,
        backbone_module=backbone_module,
        registered_names=tuple(registered),
        config_modules=(*modules, *legacy_modules),
        check_arguments=weights.check_arguments,
        h5_shapes=weights.h5_shapes,
        transformers=transformers,
        tokenizers=tuple(
            keras_hub_tokenizer(package, name, module)
            for name, module in (tokenizers or {}).items()
        ),
        **fields,
    )


def keras_hub_tokenizer(package: str, class_name: str, module: str) -> TokenizerSpec:
    """The spec of keras-hub's tokenizer `class_name` (in `keras_hub.src.models.<module>`),
    which `package`'s `tokenizer.py` defines too."""
    return TokenizerSpec(
        class_name=class_name,
        module=f"{package}.tokenizer",
        registered_names=tuple(f"{hub}>{class_name}" for hub in KERAS_HUB_PACKAGES),
        config_modules=tuple(f"{hub}.src.models.{module}" for hub in KERAS_HUB_PACKAGES),
    )
