"""Hugging Face transformers Gemma and Gemma 2 checkpoints -> `GemmaBackbone`, as one table.

Dimensions come from the tensor shapes (the head counts and `head_dim` from
`config.json`); every other field must describe what `GemmaBackbone` computes,
or the checkpoint is refused rather than converted into a model that would
answer differently. The table maps each transformers key onto the datasets of
keras-hub's `model.weights.h5`, as keras-hub's `convert_gemma.py` does: query,
key and value projections become per-head kernels `(heads, hidden, head_dim)`,
the output projection `(heads, head_dim, hidden)`, and the MLP's `gate_proj`,
`up_proj` and `down_proj` the `ffw_gating`, `ffw_gating_2` and `ffw_linear`
kernels.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from registry.architectures.gemma.weights import (
    DEFAULTS,
    EMBEDDING,
    FINAL_NORM,
    check_arguments,
    decoder_block,
)
from registry.architectures.spec import Shapes, TensorRow, linear_kernel
from registry.architectures.transformers_checkpoint import (
    check_declared,
    check_declared_sizes,
    is_contiguous,
    layer_indices,
    unsupported,
)
from registry.errors import PresetFormatError, WeightsMismatchError

MODEL_TYPES: tuple[str, ...] = ("gemma", "gemma2")
PREFIXES: tuple[str, ...] = ("model.",)
# The causal LM's head, tied to the embedding (`arguments` checks its shape),
# and the rotary frequencies older releases saved as buffers.
IGNORED = r"lm_head\.weight|layers\.\d+\.self_attn\.rotary_emb\.inv_freq"
_LAYER_KEY = re.compile(r"^layers\.(\d+)\.")
# transformers' Gemma reads `hidden_act` and turns the original releases' "gelu"
# into the tanh approximation; Gemma 2 reads `hidden_activation` as it is.
_TANH_GELUS = {
    "gemma": ("hidden_act", frozenset({"gelu", "gelu_pytorch_tanh", "gelu_new"})),
    "gemma2": ("hidden_activation", frozenset({"gelu_pytorch_tanh", "gelu_new"})),
}
# keras-hub's decoder blocks normalize with epsilon 1e-6 whatever the config says.
_EPSILON = 1e-6
_ROPE_THETA = 10_000.0
# transformers' defaults for Gemma 2 fields a `config.json` may leave out.
_GEMMA2_DEFAULTS: dict[str, Any] = {
    "query_pre_attn_scalar": 256,
    "sliding_window": 4096,
    "final_logit_softcapping": 30.0,
    "attn_logit_softcapping": 50.0,
}


_refuse = functools.partial(
    unsupported,
    backbone="GemmaBackbone",
    fix="Only Gemma and Gemma 2 checkpoints as Google published them can be converted.",
)


def _check_rope(path: Path, hf_config: Mapping[str, Any]) -> None:
    parameters = hf_config.get("rope_parameters") or {}
    if not isinstance(parameters, Mapping):
        raise _refuse(path, "rope_parameters", parameters, "it is not an object")
    theta = parameters.get("rope_theta", hf_config.get("rope_theta", _ROPE_THETA))
    if theta != _ROPE_THETA:
        raise _refuse(path, "rope_theta", theta, "rotary embeddings use wavelength 10000")
    rope_type = parameters.get("rope_type", "default")
    if rope_type != "default" or hf_config.get("rope_scaling") is not None:
        raise _refuse(path, "rope_type", rope_type, "rotary embeddings are not scaled")


def _check_supported(path: Path, hf_config: Mapping[str, Any], model_type: str) -> None:
    field, accepted = _TANH_GELUS[model_type]
    activation = hf_config.get(field, "gelu_pytorch_tanh")
    if activation not in accepted:
        raise _refuse(path, field, activation, "its MLP gates with the tanh-approximated GELU")
    epsilon = hf_config.get("rms_norm_eps", _EPSILON)
    if epsilon != _EPSILON:
        raise _refuse(path, "rms_norm_eps", epsilon, "its decoder blocks normalize with 1e-6")
    for field, why in (
        ("attention_bias", "its projections have no biases"),
        ("use_bidirectional_attention", "its attention is causal"),
    ):
        if hf_config.get(field):
            raise _refuse(path, field, hf_config[field], why)
    if hf_config.get("tie_word_embeddings", True) is not True:
        raise _refuse(
            path,
            "tie_word_embeddings",
            hf_config["tie_word_embeddings"],
            "its language-model head is the token embedding",
        )
    _check_rope(path, hf_config)


def _shape(path: Path, shapes: Shapes, key: str) -> tuple[int, ...]:
    if key not in shapes:
        raise WeightsMismatchError(
            path.parent,
            f"has no `{key}` tensor, so it is not a Gemma checkpoint.",
            "Point at the directory of a transformers GemmaForCausalLM, GemmaModel "
            "or Gemma2ForCausalLM.",
        )
    return shapes[key]


def _num_layers(path: Path, shapes: Shapes) -> int:
    layers = layer_indices(shapes, _LAYER_KEY)
    if not is_contiguous(layers):
        raise WeightsMismatchError(
            path.parent,
            "has missing or non-contiguous decoder layers.",
            "Save the checkpoint again with transformers' `save_pretrained()`.",
        )
    return len(layers)


def _attention_dimensions(
    path: Path, hf_config: Mapping[str, Any], shapes: Shapes
) -> tuple[int, int, int]:
    """Query heads, key/value heads and head_dim, checked against the projections."""
    heads = hf_config.get("num_attention_heads")
    if isinstance(heads, bool) or not isinstance(heads, int) or heads <= 0:
        raise PresetFormatError(
            path,
            f"sets num_attention_heads={heads!r}; it must be a positive integer.",
            "Restore the `config.json` saved with the checkpoint.",
        )
    query_rows = _shape(path, shapes, "layers.0.self_attn.q_proj.weight")[0]
    key_rows = _shape(path, shapes, "layers.0.self_attn.k_proj.weight")[0]
    head_dim = hf_config.get("head_dim") or query_rows // heads
    if query_rows != heads * head_dim or key_rows % head_dim:
        raise WeightsMismatchError(
            path,
            f"declares {heads} heads of head_dim={head_dim}, but the query and key "
            f"projections have {query_rows} and {key_rows} rows.",
            "The config and weights come from different models; keep them together.",
        )
    kv_heads = key_rows // head_dim
    check_declared(path, hf_config, {"num_key_value_heads": kv_heads})
    return heads, kv_heads, head_dim


def _gemma2_arguments(
    path: Path, hf_config: Mapping[str, Any], head_dim: int, num_layers: int
) -> dict[str, Any]:
    """The Gemma 2 fields: post norms, soft caps, sliding windows on even layers."""
    config = {**_GEMMA2_DEFAULTS, **hf_config}
    # keras-hub 0.32's decoder blocks scale queries by 1/sqrt(head_dim) whatever
    # `query_head_dim_normalize` says, so only checkpoints that do the same convert.
    scalar = config["query_pre_attn_scalar"]
    if scalar != head_dim:
        raise _refuse(
            path,
            "query_pre_attn_scalar",
            scalar,
            f"as keras-hub 0.32's, it scales queries by 1/sqrt(head_dim), head_dim={head_dim}",
            fix=f"Converted, this checkpoint (which scales by 1/sqrt({scalar})) would compute "
            "other outputs than transformers does; keras-hub's own Gemma 2 27B presets "
            "differ from transformers' in the same way.",
        )
    window = config["sliding_window"]
    layer_types = config.get("layer_types")
    alternating = [
        "sliding_attention" if i % 2 == 0 else "full_attention" for i in range(num_layers)
    ]
    if window is not None and layer_types is not None and list(layer_types) != alternating:
        raise _refuse(
            path, "layer_types", layer_types, "sliding windows are on the even layers only"
        )
    return {
        "query_head_dim_normalize": True,
        "use_post_ffw_norm": True,
        "use_post_attention_norm": True,
        "attention_logit_soft_cap": config["attn_logit_softcapping"],
        "final_logit_soft_cap": config["final_logit_softcapping"],
        "use_sliding_window_attention": window is not None,
        "sliding_window_size": window if window is not None else 4096,
    }


def arguments(path: Path, hf_config: Mapping[str, Any], shapes: Shapes) -> dict[str, Any]:
    """GemmaBackbone's constructor arguments for a transformers checkpoint.

    Raises:
        PresetFormatError: the config asks for something GemmaBackbone does not
            compute (another activation, epsilon, rotary base, attention scale,
            or an untied head).
        WeightsMismatchError: the config and the tensor shapes disagree.
    """
    model_type = hf_config.get("model_type")
    if model_type not in _TANH_GELUS:
        raise PresetFormatError(
            path,
            f"has model_type={model_type!r}; GemmaBackbone converts 'gemma' and 'gemma2'.",
            "Use a Gemma or Gemma 2 checkpoint.",
        )
    _check_supported(path, hf_config, model_type)
    vocabulary_size, hidden_dim = _shape(path, shapes, "embed_tokens.weight")
    head = shapes.get("lm_head.weight")
    if head is not None and head != (vocabulary_size, hidden_dim):
        raise WeightsMismatchError(
            path.parent,
            f"has an `lm_head.weight` of shape {head}, not the embedding's "
            f"{(vocabulary_size, hidden_dim)}; Gemma ties its head to the embedding.",
            "Convert a checkpoint whose head is tied to its embedding.",
        )
    num_layers = _num_layers(path, shapes)
    heads, kv_heads, head_dim = _attention_dimensions(path, hf_config, shapes)
    gating = _shape(path, shapes, "layers.0.mlp.gate_proj.weight")[0]
    check_declared_sizes(path, hf_config, vocabulary_size, hidden_dim, num_layers, gating)
    result: dict[str, Any] = {
        "vocabulary_size": vocabulary_size,
        "num_layers": num_layers,
        "num_query_heads": heads,
        "num_key_value_heads": kv_heads,
        "hidden_dim": hidden_dim,
        # keras-hub counts both gating kernels: twice transformers' intermediate_size.
        "intermediate_dim": 2 * gating,
        "head_dim": head_dim,
        "layer_norm_epsilon": _EPSILON,
    }
    if model_type == "gemma2":
        result.update(_gemma2_arguments(path, hf_config, head_dim, num_layers))
    _check_buildable(path, result)
    return result


def _check_buildable(path: Path, result: Mapping[str, Any]) -> None:
    try:
        check_arguments(result)
    except ValueError as error:
        raise PresetFormatError(
            path,
            f"describes no buildable GemmaBackbone: {error}.",
            "Restore the `config.json` saved with the checkpoint.",
        ) from error


def _per_head(value: np.ndarray, *, heads: int) -> list[np.ndarray]:
    """A torch projection `(heads * head_dim, hidden)` as a kernel `(heads, hidden, head_dim)`."""
    _, hidden = value.shape
    return [value.reshape(heads, -1, hidden).transpose(0, 2, 1)]


def table(arguments: Mapping[str, Any]) -> list[TensorRow]:
    """Every tensor of a Gemma or Gemma 2 checkpoint (without `model.`) and its datasets."""
    merged = {**DEFAULTS, **arguments}
    vocabulary, hidden, head_dim = (
        merged["vocabulary_size"],
        merged["hidden_dim"],
        merged["head_dim"],
    )
    heads, kv_heads = merged["num_query_heads"], merged["num_key_value_heads"]
    gating = merged["intermediate_dim"] // 2
    # Gemma's `post_attention_layernorm` is the norm before the MLP; Gemma 2 has
    # a norm after attention of that name, and `pre_feedforward_layernorm`.
    norms = {"input_layernorm": "pre_attention_norm"}
    if merged["use_post_attention_norm"]:
        norms |= {
            "post_attention_layernorm": "post_attention_norm",
            "pre_feedforward_layernorm": "pre_ffw_norm",
        }
    else:
        norms |= {"post_attention_layernorm": "pre_ffw_norm"}
    if merged["use_post_ffw_norm"]:
        norms |= {"post_feedforward_layernorm": "post_ffw_norm"}

    rows = [TensorRow("embed_tokens.weight", (vocabulary, hidden), (f"{EMBEDDING}/vars/0",))]
    for i in range(merged["num_layers"]):
        block, key = decoder_block(i), f"layers.{i}"
        attention = f"{block}/attention"
        rows += [
            TensorRow(f"{key}.{name}.weight", (hidden,), (f"{block}/{norm}/vars/0",))
            for name, norm in norms.items()
        ]
        rows += [
            TensorRow(
                f"{key}.self_attn.{name}_proj.weight",
                (count * head_dim, hidden),
                (f"{attention}/{dense}/vars/0",),
                functools.partial(_per_head, heads=count),
            )
            for name, dense, count in (
                ("q", "query_dense", heads),
                ("k", "key_dense", kv_heads),
                ("v", "value_dense", kv_heads),
            )
        ]
        rows += [
            linear_kernel(
                f"{key}.self_attn.o_proj", (hidden, heads * head_dim), f"{attention}/output_dense"
            ),
            linear_kernel(f"{key}.mlp.gate_proj", (gating, hidden), f"{block}/gating_ffw"),
            linear_kernel(f"{key}.mlp.up_proj", (gating, hidden), f"{block}/gating_ffw_2"),
            linear_kernel(f"{key}.mlp.down_proj", (hidden, gating), f"{block}/ffw_linear"),
        ]
    rows.append(TensorRow("norm.weight", (hidden,), (f"{FINAL_NORM}/vars/0",)))
    return rows
