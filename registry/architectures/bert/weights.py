"""BERT's arguments and the datasets of its `model.weights.h5`, without Keras.

`h5_shapes` lists every dataset in keras-hub's naming; tests compare it with
the layout of built models and with keras-hub's own files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.architectures.arguments import merged_arguments, positive_int
from registry.architectures.spec import Shapes, layer_group
from registry.architectures.transformer_weights import block_shapes

# keras-hub computes GELU with the tanh approximation; "gelu" is the exact
# (erf) one that transformers' BERT checkpoints with `hidden_act: "gelu"` use.
HIDDEN_ACTIVATIONS = ("gelu_approximate", "gelu")
DEFAULTS = {
    "dropout": 0.1,
    "max_sequence_length": 512,
    "num_segments": 2,
    "hidden_activation": "gelu_approximate",
}
REQUIRED = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim")

# The top-level groups, named by Keras after each layer's class.
TOKEN_EMBEDDING = "layers/reversible_embedding"
POSITION_EMBEDDING = "layers/position_embedding"
SEGMENT_EMBEDDING = "layers/embedding"
EMBEDDINGS_LAYER_NORM = "layers/layer_normalization"
POOLED_DENSE = "layers/dense"


def check_arguments(arguments: Mapping[str, Any]) -> None:
    """Raise ValueError unless `arguments` describe a buildable BertBackbone."""
    merged = merged_arguments(arguments, REQUIRED, DEFAULTS)
    merged.positive_ints(*REQUIRED, "max_sequence_length", "num_segments")
    merged.divisible("hidden_dim", by="num_heads")
    merged.probability("dropout")
    if merged["hidden_activation"] not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"`hidden_activation` must be one of {list(HIDDEN_ACTIVATIONS)}. "
            f"Received: hidden_activation={merged['hidden_activation']!r}"
        )


def encoder_block(index: int) -> str:
    """The group of encoder block `index` in `model.weights.h5`."""
    return layer_group("transformer_encoder", index)


def h5_shapes(arguments: Mapping[str, Any]) -> Shapes:
    """Every dataset of a BERT `model.weights.h5`, in keras-hub's naming."""
    check_arguments(arguments)
    merged = {**DEFAULTS, **arguments}
    hidden = merged["hidden_dim"]
    shapes: Shapes = {
        f"{TOKEN_EMBEDDING}/vars/0": (merged["vocabulary_size"], hidden),
        f"{POSITION_EMBEDDING}/vars/0": (merged["max_sequence_length"], hidden),
        f"{SEGMENT_EMBEDDING}/vars/0": (merged["num_segments"], hidden),
        f"{EMBEDDINGS_LAYER_NORM}/vars/0": (hidden,),
        f"{EMBEDDINGS_LAYER_NORM}/vars/1": (hidden,),
    }
    for index in range(merged["num_layers"]):
        shapes |= block_shapes(
            encoder_block(index), hidden, merged["num_heads"], merged["intermediate_dim"]
        )
    shapes[f"{POOLED_DENSE}/vars/0"] = (hidden, hidden)
    shapes[f"{POOLED_DENSE}/vars/1"] = (hidden,)
    return shapes


# === Tasks with weights of their own (`task.weights.h5`) ===


def text_classifier_shapes(task: Mapping[str, Any], backbone: Mapping[str, Any]) -> Shapes:
    """`BertTextClassifier`'s head: a dense layer from the pooled output to the classes."""
    classes = positive_int("num_classes", task.get("num_classes"))
    hidden = backbone["hidden_dim"]
    return {"layers/dense/vars/0": (hidden, classes), "layers/dense/vars/1": (classes,)}


def masked_lm_shapes(task: Mapping[str, Any], backbone: Mapping[str, Any]) -> Shapes:
    """`BertMaskedLM`'s head: a dense layer, a layer norm, and an output bias per token."""
    hidden, vocabulary = backbone["hidden_dim"], backbone["vocabulary_size"]
    head = "layers/masked_lm_head"
    return {
        f"{head}/_intermediate_dense/vars/0": (hidden, hidden),
        f"{head}/_intermediate_dense/vars/1": (hidden,),
        f"{head}/_intermediate_layer_norm/vars/0": (hidden,),
        f"{head}/_intermediate_layer_norm/vars/1": (hidden,),
        f"{head}/vars/0": (vocabulary,),
    }
