"""What every transformers converter checks of a checkpoint, without Keras.

A converter reads a backbone's arguments from a checkpoint's `config.json` and
from its tensor shapes; where the two disagree, the checkpoint is refused
rather than converted into a model its config does not describe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.architectures.spec import Shapes
from registry.errors import PresetFormatError, WeightsMismatchError


def unsupported(
    path: Path, field: str, value: Any, why: str, *, backbone: str, fix: str
) -> PresetFormatError:
    """The error for a config field asking for what `backbone` does not compute.

    Args:
        path: the checkpoint's `config.json`.
        field: the field, set to `value`.
        why: what the backbone computes instead ("its positions are absolute").
        backbone: the backbone's class name.
        fix: what the user can do about it.
    """
    return PresetFormatError(
        path, f"sets {field}={value!r}, which {backbone} does not implement ({why}).", fix
    )


def check_declared(path: Path, hf_config: Mapping[str, Any], found: Mapping[str, Any]) -> None:
    """Refuse a config whose fields disagree with the sizes the tensors show.

    Args:
        path: the checkpoint's `config.json`, named in the error.
        hf_config: its contents.
        found: each config field with the value the tensors show, e.g.
            `{"vocab_size": 50257}`; a field the config leaves out is not checked.

    Raises:
        WeightsMismatchError: the config declares another value.
    """
    for field, value in found.items():
        declared = hf_config.get(field)
        if declared is not None and declared != value:
            raise WeightsMismatchError(
                path,
                f"declares {field}={declared!r}, but the weights have {value}.",
                "The config and weights come from different models; keep them together.",
            )


def check_declared_sizes(
    path: Path,
    hf_config: Mapping[str, Any],
    vocabulary: int,
    hidden: int,
    layers: int,
    intermediate: int,
    **more: int,
) -> None:
    """`check_declared` of the four sizes BERT's, Llama's and Gemma's configs name alike.

    They are `vocab_size`, `hidden_size`, `num_hidden_layers` and
    `intermediate_size`; `more` are other fields and their sizes, checked after.
    """
    sizes = {
        "vocab_size": vocabulary,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": intermediate,
    }
    check_declared(path, hf_config, sizes | more)


def layer_indices(shapes: Shapes, layer_key: re.Pattern[str]) -> set[int]:
    """The layer numbers of the tensors, read by `layer_key`'s first group."""
    return {int(match.group(1)) for key in shapes if (match := layer_key.match(key))}


def is_contiguous(layers: set[int]) -> bool:
    """Whether `layers` are 0, 1, ..., n - 1 for some n > 0."""
    return bool(layers) and layers == set(range(len(layers)))
