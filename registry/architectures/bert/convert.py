"""Hugging Face transformers BERT checkpoints -> `BertBackbone`, without Keras.

`arguments` reads every dimension from the tensor shapes (only the head count
and the activation come from `config.json`); `table` maps each tensor of a
`BertModel` onto keras-hub's datasets, as keras-hub's `convert_bert.py` does.
Task models (`BertForMaskedLM`, `BertForSequenceClassification`, ...) save the
encoder under `bert.`; their heads (`cls.*`, `classifier.*`, `qa_outputs.*`)
are ignored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.architectures.bert.weights import (
    DEFAULTS,
    EMBEDDINGS_LAYER_NORM,
    POOLED_DENSE,
    POSITION_EMBEDDING,
    SEGMENT_EMBEDDING,
    TOKEN_EMBEDDING,
    encoder_block,
)
from registry.architectures.spec import Shapes, TensorRow, linear_kernel
from registry.architectures.transformers_checkpoint import (
    check_declared_sizes,
    is_contiguous,
    layer_indices,
    unsupported,
)
from registry.errors import PresetFormatError, WeightsMismatchError

MODEL_TYPES: tuple[str, ...] = ("bert",)
# BertForMaskedLM, BertForSequenceClassification, ... save the encoder as `bert.*`.
PREFIXES: tuple[str, ...] = ("bert.",)

# transformers' `hidden_act` -> BertBackbone's `hidden_activation`.
HIDDEN_ACTIVATIONS = {
    "gelu": "gelu",  # exact (erf)
    "gelu_new": "gelu_approximate",  # tanh approximation, as keras-hub computes
    "gelu_pytorch_tanh": "gelu_approximate",
}
# keras-hub's BertBackbone fixes its layer norms' epsilon.
LAYER_NORM_EPSILON = 1e-12
# Task heads and buffers (`position_ids`, `token_type_ids`) hold no backbone weight.
IGNORED = r"(cls|classifier|qa_outputs)\..*|embeddings\.(position_ids|token_type_ids)"
_LAYER_KEY = re.compile(r"encoder\.layer\.(\d+)\.")
# The tensors whose shapes give the backbone's dimensions.
_SIZED_BY = (
    "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
    "encoder.layer.0.intermediate.dense.weight",
)
_CHECKPOINT = "It is not a BERT checkpoint transformers wrote; re-save it with `save_pretrained`."


_refuse = functools.partial(
    unsupported,
    backbone="BertBackbone",
    fix="Only standard BERT checkpoints convert: absolute positions, GELU, epsilon 1e-12, "
    "an encoder without cross-attention.",
)


def _check_supported(path: Path, hf_config: Mapping[str, Any]) -> None:
    activation = hf_config.get("hidden_act", "gelu")
    if not isinstance(activation, str) or activation not in HIDDEN_ACTIVATIONS:
        raise _refuse(path, "hidden_act", activation, f"it computes {sorted(HIDDEN_ACTIVATIONS)}")
    position_type = hf_config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise _refuse(path, "position_embedding_type", position_type, "its positions are absolute")
    epsilon = hf_config.get("layer_norm_eps", LAYER_NORM_EPSILON)
    if epsilon != LAYER_NORM_EPSILON:
        raise _refuse(path, "layer_norm_eps", epsilon, "its layer norms use 1e-12, as keras-hub's")
    for field in ("is_decoder", "add_cross_attention"):
        if hf_config.get(field, False):
            raise _refuse(path, field, hf_config[field], "it is a bidirectional encoder only")


def _check_tensors(path: Path, shapes: Shapes) -> None:
    for key in _SIZED_BY:
        if key not in shapes:
            raise WeightsMismatchError(
                path, f"belongs to a checkpoint without `{key}`.", _CHECKPOINT
            )
    if "pooler.dense.weight" not in shapes:
        # BertForMaskedLM saves no pooler (add_pooling_layer=False); BertBackbone's
        # pooled output would be made up, so refuse rather than fill in zeros.
        raise PresetFormatError(
            path,
            "belongs to a checkpoint without a pooler (`pooler.dense.*`), as transformers saves "
            "models built with add_pooling_layer=False (BertForMaskedLM); BertBackbone "
            "computes a pooled output and has no weights to compute it with.",
            "Use a checkpoint saved from BertModel, BertForPreTraining or "
            "BertForSequenceClassification.",
        )


def _num_layers(path: Path, shapes: Shapes) -> int:
    layers = layer_indices(shapes, _LAYER_KEY)
    if not is_contiguous(layers):
        raise WeightsMismatchError(
            path, f"has missing or non-contiguous encoder layers {sorted(layers)}.", _CHECKPOINT
        )
    return len(layers)


def arguments(config_path: Path, hf_config: Mapping[str, Any], shapes: Shapes) -> dict[str, Any]:
    """BertBackbone's constructor arguments for a transformers BERT checkpoint.

    Args:
        config_path: the checkpoint's `config.json`, named in errors.
        hf_config: its contents.
        shapes: the shape of every tensor, keys without the `bert.` prefix.

    Raises:
        PresetFormatError: the checkpoint is a BERT variant BertBackbone does not
            implement, or has no pooler.
        WeightsMismatchError: the config and the tensors disagree.
    """
    _check_supported(config_path, hf_config)
    _check_tensors(config_path, shapes)
    vocabulary_size, hidden_dim = shapes["embeddings.word_embeddings.weight"]
    num_layers = _num_layers(config_path, shapes)
    intermediate_dim = shapes["encoder.layer.0.intermediate.dense.weight"][0]
    max_sequence_length = shapes["embeddings.position_embeddings.weight"][0]
    num_segments = shapes["embeddings.token_type_embeddings.weight"][0]
    check_declared_sizes(
        config_path,
        hf_config,
        vocabulary_size,
        hidden_dim,
        num_layers,
        intermediate_dim,
        max_position_embeddings=max_sequence_length,
        type_vocab_size=num_segments,
    )
    converted = {
        "vocabulary_size": vocabulary_size,
        "num_layers": num_layers,
        "num_heads": hf_config.get("num_attention_heads", 12),  # BertConfig's default
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "dropout": hf_config.get("hidden_dropout_prob", 0.1),
        "max_sequence_length": max_sequence_length,
        "num_segments": num_segments,
    }
    activation = HIDDEN_ACTIVATIONS[hf_config.get("hidden_act", "gelu")]
    if activation != "gelu_approximate":  # keras-hub's default stays implicit
        converted["hidden_activation"] = activation
    return converted


def _layer_norm(key: str, group: str, hidden: int) -> list[TensorRow]:
    return [
        TensorRow(f"{key}.weight", (hidden,), (f"{group}/vars/0",)),
        TensorRow(f"{key}.bias", (hidden,), (f"{group}/vars/1",)),
    ]


def _dense(key: str, group: str, inputs: int, outputs: int) -> list[TensorRow]:
    # A torch Linear weight is (out, in); the loader reshapes the transposed
    # (in, out) to the variable's shape, e.g. (hidden, heads, head_dim).
    return [
        linear_kernel(key, (outputs, inputs), group),
        TensorRow(f"{key}.bias", (outputs,), (f"{group}/vars/1",)),
    ]


def _block_rows(index: int, hidden: int, intermediate: int) -> list[TensorRow]:
    key, block = f"encoder.layer.{index}", encoder_block(index)
    attention = f"{block}/_self_attention_layer"
    return [
        *_dense(f"{key}.attention.self.query", f"{attention}/query_dense", hidden, hidden),
        *_dense(f"{key}.attention.self.key", f"{attention}/key_dense", hidden, hidden),
        *_dense(f"{key}.attention.self.value", f"{attention}/value_dense", hidden, hidden),
        *_dense(f"{key}.attention.output.dense", f"{attention}/output_dense", hidden, hidden),
        *_layer_norm(
            f"{key}.attention.output.LayerNorm", f"{block}/_self_attention_layer_norm", hidden
        ),
        *_dense(
            f"{key}.intermediate.dense",
            f"{block}/_feedforward_intermediate_dense",
            hidden,
            intermediate,
        ),
        *_dense(f"{key}.output.dense", f"{block}/_feedforward_output_dense", intermediate, hidden),
        *_layer_norm(f"{key}.output.LayerNorm", f"{block}/_feedforward_layer_norm", hidden),
    ]


def table(arguments: Mapping[str, Any]) -> list[TensorRow]:
    """Every tensor of a transformers BertModel (without `bert.`) and the datasets it fills."""
    merged = {**DEFAULTS, **arguments}
    hidden = merged["hidden_dim"]
    rows = [
        TensorRow(
            "embeddings.word_embeddings.weight",
            (merged["vocabulary_size"], hidden),
            (f"{TOKEN_EMBEDDING}/vars/0",),
        ),
        TensorRow(
            "embeddings.position_embeddings.weight",
            (merged["max_sequence_length"], hidden),
            (f"{POSITION_EMBEDDING}/vars/0",),
        ),
        TensorRow(
            "embeddings.token_type_embeddings.weight",
            (merged["num_segments"], hidden),
            (f"{SEGMENT_EMBEDDING}/vars/0",),
        ),
        *_layer_norm("embeddings.LayerNorm", EMBEDDINGS_LAYER_NORM, hidden),
    ]
    for index in range(merged["num_layers"]):
        rows += _block_rows(index, hidden, merged["intermediate_dim"])
    rows += _dense("pooler.dense", POOLED_DENSE, hidden, hidden)
    return rows
