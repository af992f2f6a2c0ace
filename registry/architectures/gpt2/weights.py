"""GPT-2's arguments and the datasets of its `model.weights.h5`, without Keras.

`h5_shapes` lists every dataset in keras-hub's naming; tests compare it with
the layout of built models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.architectures.arguments import merged_arguments
from registry.architectures.spec import Shapes, layer_group
from registry.architectures.transformer_weights import block_shapes

DEFAULTS = {"dropout": 0.1, "max_sequence_length": 1024}
REQUIRED = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim")


def check_arguments(arguments: Mapping[str, Any]) -> None:
    """Raise ValueError unless `arguments` describe a buildable GPT2Backbone."""
    merged = merged_arguments(arguments, REQUIRED, DEFAULTS)
    merged.positive_ints(*REQUIRED, "max_sequence_length")
    merged.divisible("hidden_dim", by="num_heads")
    merged.probability("dropout")


def decoder_block(index: int) -> str:
    """The group of decoder block `index` in `model.weights.h5`."""
    return layer_group("transformer_decoder", index)


def h5_shapes(arguments: Mapping[str, Any]) -> Shapes:
    """Every dataset of a GPT-2 `model.weights.h5`, in keras-hub's naming."""
    check_arguments(arguments)
    merged = {**DEFAULTS, **arguments}
    vocabulary, hidden = merged["vocabulary_size"], merged["hidden_dim"]
    heads, intermediate = merged["num_heads"], merged["intermediate_dim"]
    shapes: Shapes = {
        "layers/reversible_embedding/vars/0": (vocabulary, hidden),
        "layers/position_embedding/vars/0": (merged["max_sequence_length"], hidden),
    }
    for index in range(merged["num_layers"]):
        shapes |= block_shapes(decoder_block(index), hidden, heads, intermediate)
    shapes["layers/layer_normalization/vars/0"] = (hidden,)
    shapes["layers/layer_normalization/vars/1"] = (hidden,)
    return shapes
