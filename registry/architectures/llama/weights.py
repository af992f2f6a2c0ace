"""Llama's arguments and the datasets of its `model.weights.h5`, without Keras.

`check_arguments` refuses what `LlamaBackbone` cannot build; `h5_shapes` lists
every dataset in keras-hub's naming. Tests compare both with built models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.architectures.arguments import Arguments, merged_arguments
from registry.architectures.spec import Shapes, layer_group

REQUIRED = (
    "vocabulary_size",
    "num_layers",
    "num_query_heads",
    "hidden_dim",
    "intermediate_dim",
    "num_key_value_heads",
)
DEFAULTS: dict[str, Any] = {
    "rope_max_wavelength": 10000,
    "rope_position_scaling_factor": 1.0,
    "rope_frequency_adjustment_factor": None,
    "rope_low_freq_factor": None,
    "rope_high_freq_factor": None,
    "rope_pretraining_sequence_length": None,
    "layer_norm_epsilon": 1e-6,
    "dropout": 0,
    "tie_word_embeddings": False,
}
# Llama 3.1's frequency-dependent RoPE scaling: all four set, or none.
LLAMA31_ROPE = (
    "rope_frequency_adjustment_factor",
    "rope_low_freq_factor",
    "rope_high_freq_factor",
    "rope_pretraining_sequence_length",
)


def _check_heads(merged: Arguments) -> None:
    merged.divisible("hidden_dim", by="num_query_heads")
    merged.divisible("num_query_heads", by="num_key_value_heads")
    hidden, queries = merged["hidden_dim"], merged["num_query_heads"]
    if (hidden // queries) % 2 != 0:
        raise ValueError(
            "The head size `hidden_dim // num_query_heads` must be even for rotary "
            f"embeddings. Received: hidden_dim={hidden}, num_query_heads={queries}"
        )


def _check_rope(merged: Arguments) -> None:
    merged.positive_numbers("rope_max_wavelength")
    scaling = merged["rope_position_scaling_factor"]
    if isinstance(scaling, bool) or scaling != 1:
        # keras-hub 0.32 accepts it and ignores it; earlier releases divided the
        # positions by it. A preset setting it means different models to each.
        raise ValueError(
            "`rope_position_scaling_factor` other than 1.0 is not supported: keras-hub "
            "0.32 ignores it while earlier keras-hub releases scale positions by it. "
            f"Received: rope_position_scaling_factor={scaling!r}"
        )
    given = [name for name in LLAMA31_ROPE if merged[name] is not None]
    if given and len(given) != len(LLAMA31_ROPE):
        missing = sorted(set(LLAMA31_ROPE) - set(given))
        raise ValueError(
            f"Llama 3.1 rope scaling needs all of {list(LLAMA31_ROPE)} or none. "
            f"Received: {given} without {missing}"
        )
    if given:
        merged.positive_numbers(*LLAMA31_ROPE[:3])
        merged.positive_ints("rope_pretraining_sequence_length")


def check_arguments(arguments: Mapping[str, Any]) -> None:
    """Raise ValueError (naming the argument) unless `arguments` build a LlamaBackbone."""
    merged = merged_arguments(arguments, REQUIRED, DEFAULTS)
    merged.positive_ints(*REQUIRED)
    _check_heads(merged)
    _check_rope(merged)
    merged.positive_numbers("layer_norm_epsilon")
    merged.probability("dropout")
    tie = merged["tie_word_embeddings"]
    if not isinstance(tie, bool):
        raise ValueError(
            f"`tie_word_embeddings` must be a boolean. Received: tie_word_embeddings={tie!r}"
        )


# === Dataset names (keras-hub's) ===

EMBEDDING = "layers/reversible_embedding"
FINAL_NORM = "layers/llama_layer_norm"


def decoder_block(index: int) -> str:
    """The group of decoder block `index` in `model.weights.h5`."""
    return layer_group("llama_transformer_decoder", index)


def attention(index: int) -> str:
    """The group of decoder block `index`'s self-attention layer."""
    return f"{decoder_block(index)}/_self_attention_layer"


def h5_shapes(arguments: Mapping[str, Any]) -> Shapes:
    """Every dataset of a Llama `model.weights.h5`, in keras-hub's naming."""
    check_arguments(arguments)
    merged = {**DEFAULTS, **arguments}
    vocabulary, hidden = merged["vocabulary_size"], merged["hidden_dim"]
    queries, keys = merged["num_query_heads"], merged["num_key_value_heads"]
    intermediate = merged["intermediate_dim"]
    head_dim = hidden // queries
    shapes: Shapes = {f"{EMBEDDING}/vars/0": (vocabulary, hidden)}
    if not merged["tie_word_embeddings"]:
        shapes[f"{EMBEDDING}/vars/1"] = (hidden, vocabulary)
    for index in range(merged["num_layers"]):
        block, heads = decoder_block(index), attention(index)
        shapes |= {
            f"{heads}/_query_dense/vars/0": (hidden, queries, head_dim),
            f"{heads}/_key_dense/vars/0": (hidden, keys, head_dim),
            f"{heads}/_value_dense/vars/0": (hidden, keys, head_dim),
            f"{heads}/_output_dense/vars/0": (queries, head_dim, hidden),
            f"{block}/_self_attention_layernorm/vars/0": (hidden,),
            f"{block}/_feedforward_layernorm/vars/0": (hidden,),
            f"{block}/_feedforward_gate_dense/vars/0": (hidden, intermediate),
            f"{block}/_feedforward_intermediate_dense/vars/0": (hidden, intermediate),
            f"{block}/_feedforward_output_dense/vars/0": (intermediate, hidden),
        }
    shapes[f"{FINAL_NORM}/vars/0"] = (hidden,)
    return shapes
