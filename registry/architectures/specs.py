"""What each allowed architecture's weights look like, without importing Keras.

A server validating an upload must not build a 1.4 GB model to learn which
tensors the preset should hold: each architecture states, from its constructor
arguments alone, the shape of every dataset of its `model.weights.h5` and of
every tensor of a transformers checkpoint. Tests compare these tables with the
layout of built models, so they cannot drift from the Keras code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class ArchitectureSpec:
    """One allow-listed class: the names configs may give it, and its weights."""

    class_name: str
    registered_names: tuple[str, ...]
    config_modules: tuple[str, ...]
    check_arguments: Callable[[Mapping[str, Any]], None]
    h5_shapes: Callable[[Mapping[str, Any]], Shapes]
    transformers_shapes: Callable[[Mapping[str, Any]], Shapes] | None = None

    def parameter_count(self, arguments: Mapping[str, Any]) -> int:
        return sum(math.prod(shape) for shape in self.h5_shapes(arguments).values())


# === GPT-2 ===

# Arguments every Keras model takes.
_BASE_ARGUMENTS = frozenset({"name", "trainable", "dtype"})
_GPT2_DEFAULTS = {"dropout": 0.1, "max_sequence_length": 1024}
_GPT2_REQUIRED = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


def check_gpt2_arguments(arguments: Mapping[str, Any]) -> None:
    """Raise ValueError unless `arguments` describe a buildable GPT2Backbone."""
    merged = {**_GPT2_DEFAULTS, **arguments}
    unknown = sorted(set(merged) - set(_GPT2_REQUIRED) - set(_GPT2_DEFAULTS) - _BASE_ARGUMENTS)
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown}")
    missing = [name for name in _GPT2_REQUIRED if name not in merged]
    if missing:
        raise ValueError(f"missing required argument(s) {missing}")
    for name in (*_GPT2_REQUIRED, "max_sequence_length"):
        _positive_int(name, merged[name])
    if merged["hidden_dim"] % merged["num_heads"] != 0:
        raise ValueError(
            "`hidden_dim` must be divisible by `num_heads`. Received: "
            f"hidden_dim={merged['hidden_dim']}, num_heads={merged['num_heads']}"
        )
    dropout = merged["dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be a float in [0, 1). Received: dropout={dropout!r}")


def _gpt2_dims(arguments: Mapping[str, Any]) -> tuple[int, int, int, int, int, int, int]:
    check_gpt2_arguments(arguments)
    merged = {**_GPT2_DEFAULTS, **arguments}
    hidden, heads = merged["hidden_dim"], merged["num_heads"]
    return (
        merged["vocabulary_size"],
        merged["num_layers"],
        heads,
        hidden,
        merged["intermediate_dim"],
        merged["max_sequence_length"],
        hidden // heads,
    )


def gpt2_h5_shapes(arguments: Mapping[str, Any]) -> Shapes:
    """Every dataset of a GPT-2 `model.weights.h5`, in keras-hub's naming."""
    vocabulary, layers, heads, hidden, intermediate, positions, head_dim = _gpt2_dims(arguments)
    shapes: Shapes = {
        "layers/reversible_embedding/vars/0": (vocabulary, hidden),
        "layers/position_embedding/vars/0": (positions, hidden),
    }
    for index in range(layers):
        block = "layers/transformer_decoder" + (f"_{index}" if index else "")
        attention = f"{block}/_self_attention_layer"
        for name in ("query_dense", "key_dense", "value_dense"):
            shapes[f"{attention}/{name}/vars/0"] = (hidden, heads, head_dim)
            shapes[f"{attention}/{name}/vars/1"] = (heads, head_dim)
        shapes[f"{attention}/output_dense/vars/0"] = (heads, head_dim, hidden)
        shapes[f"{attention}/output_dense/vars/1"] = (hidden,)
        for norm in ("_self_attention_layer_norm", "_feedforward_layer_norm"):
            shapes[f"{block}/{norm}/vars/0"] = (hidden,)
            shapes[f"{block}/{norm}/vars/1"] = (hidden,)
        shapes[f"{block}/_feedforward_intermediate_dense/vars/0"] = (hidden, intermediate)
        shapes[f"{block}/_feedforward_intermediate_dense/vars/1"] = (intermediate,)
        shapes[f"{block}/_feedforward_output_dense/vars/0"] = (intermediate, hidden)
        shapes[f"{block}/_feedforward_output_dense/vars/1"] = (hidden,)
    shapes["layers/layer_normalization/vars/0"] = (hidden,)
    shapes["layers/layer_normalization/vars/1"] = (hidden,)
    return shapes


def gpt2_transformers_shapes(arguments: Mapping[str, Any]) -> Shapes:
    """Every tensor of a transformers GPT2Model checkpoint (without `transformer.`)."""
    vocabulary, layers, _, hidden, intermediate, positions, _ = _gpt2_dims(arguments)
    shapes: Shapes = {
        "wte.weight": (vocabulary, hidden),
        "wpe.weight": (positions, hidden),
        "ln_f.weight": (hidden,),
        "ln_f.bias": (hidden,),
    }
    for i in range(layers):
        shapes |= {
            f"h.{i}.ln_1.weight": (hidden,),
            f"h.{i}.ln_1.bias": (hidden,),
            f"h.{i}.attn.c_attn.weight": (hidden, 3 * hidden),
            f"h.{i}.attn.c_attn.bias": (3 * hidden,),
            f"h.{i}.attn.c_proj.weight": (hidden, hidden),
            f"h.{i}.attn.c_proj.bias": (hidden,),
            f"h.{i}.ln_2.weight": (hidden,),
            f"h.{i}.ln_2.bias": (hidden,),
            f"h.{i}.mlp.c_fc.weight": (hidden, intermediate),
            f"h.{i}.mlp.c_fc.bias": (intermediate,),
            f"h.{i}.mlp.c_proj.weight": (intermediate, hidden),
            f"h.{i}.mlp.c_proj.bias": (hidden,),
        }
    return shapes


GPT2 = ArchitectureSpec(
    class_name="GPT2Backbone",
    registered_names=("keras_hub>GPT2Backbone", "keras_nlp>GPT2Backbone", "registry>GPT2Backbone"),
    config_modules=(
        "keras_hub.src.models.gpt2.gpt2_backbone",
        "keras_nlp.src.models.gpt2.gpt2_backbone",
        "registry.architectures.gpt2",
    ),
    check_arguments=check_gpt2_arguments,
    h5_shapes=gpt2_h5_shapes,
    transformers_shapes=gpt2_transformers_shapes,
)

SPECS: dict[str, ArchitectureSpec] = {GPT2.class_name: GPT2}
