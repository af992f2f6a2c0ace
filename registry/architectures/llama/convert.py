"""Hugging Face transformers Llama checkpoints -> `LlamaBackbone`, as one table.

`LlamaForCausalLM` and `LlamaModel` checkpoints convert (`model.` removed from
the keys). Dimensions come from the tensor shapes; head counts, RoPE and the RMS
norms' epsilon from `config.json`. RoPE settings are read where transformers 4
writes them (`rope_theta`, `rope_scaling`) and where transformers 5 does
(`rope_parameters`), with transformers' own precedence. The table maps each key
onto the datasets of keras-hub's `model.weights.h5`, as keras-hub's
`convert_llama3.py` does: every projection is a torch `Linear` (out, in),
transposed to (in, out) and reshaped by the loader to (in, heads, head_dim) or
(heads, head_dim, out).

The output projection: an untied config converts `lm_head.weight` into the
embedding's `reverse_embeddings` (transposed, as keras-hub does). A checkpoint
without `lm_head.weight` (a `LlamaModel`, or a tied `LlamaForCausalLM`) converts
tied: the backbone's outputs never depend on the head, and there is no head to
copy. A tied config whose checkpoint still holds `lm_head.weight` converts
untied, keeping that tensor rather than dropping it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.architectures.llama.weights import (
    DEFAULTS,
    EMBEDDING,
    FINAL_NORM,
    attention,
    decoder_block,
)
from registry.architectures.spec import Shapes, TensorRow, linear_kernel, transposed
from registry.architectures.transformers_checkpoint import (
    check_declared_sizes,
    is_contiguous,
    layer_indices,
    unsupported,
)
from registry.errors import PresetFormatError, WeightsMismatchError

MODEL_TYPES: tuple[str, ...] = ("llama",)
PREFIXES: tuple[str, ...] = ("model.",)
_LAYER_KEY = re.compile(r"^layers\.(\d+)\.")
# Buffers older transformers releases saved: the rotary embeddings' frequencies.
IGNORED = r"(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq"
_LLAMA3_ROPE = {
    "factor": "rope_frequency_adjustment_factor",
    "low_freq_factor": "rope_low_freq_factor",
    "high_freq_factor": "rope_high_freq_factor",
    "original_max_position_embeddings": "rope_pretraining_sequence_length",
}
_refuse = functools.partial(
    unsupported,
    backbone="LlamaBackbone",
    fix="Only Llama checkpoints as Meta published them convert (see LlamaBackbone).",
)


def _check_supported(path: Path, hf_config: Mapping[str, Any]) -> None:
    if hf_config.get("hidden_act", "silu") != "silu":
        raise _refuse(path, "hidden_act", hf_config["hidden_act"], "its feedforward gate is SiLU")
    for field in ("attention_bias", "mlp_bias"):
        if hf_config.get(field, False):
            raise _refuse(path, field, hf_config[field], "its projections have no biases")


def _rope_arguments(path: Path, hf_config: Mapping[str, Any]) -> dict[str, Any]:
    """RoPE's arguments, wherever the config keeps them (transformers 4 or 5)."""
    # transformers' own precedence: `rope_scaling` over `rope_parameters`, and a
    # `rope_theta` inside them over the top-level one.
    rope = hf_config.get("rope_scaling") or hf_config.get("rope_parameters") or {}
    if not isinstance(rope, Mapping):
        raise PresetFormatError(path, f"has rope parameters {rope!r}, not an object.", "Fix it.")
    theta = rope.get("rope_theta", hf_config.get("rope_theta", 10000.0))
    partial = rope.get("partial_rotary_factor", hf_config.get("partial_rotary_factor"))
    if partial not in (None, 1, 1.0):
        raise _refuse(path, "partial_rotary_factor", partial, "RoPE turns every feature")
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type == "default":
        return {"rope_max_wavelength": theta}
    if rope_type != "llama3":
        raise _refuse(path, "rope_type", rope_type, "RoPE is plain or Llama 3.1's `llama3`")
    missing = sorted(set(_LLAMA3_ROPE) - set(rope))
    if missing:
        raise PresetFormatError(
            path,
            f"sets rope_type='llama3' without {missing}.",
            "Save the checkpoint again with transformers' `save_pretrained()`.",
        )
    return {"rope_max_wavelength": theta} | {
        argument: rope[field] for field, argument in _LLAMA3_ROPE.items()
    }


def _heads(
    path: Path, hf_config: Mapping[str, Any], shapes: Shapes, hidden: int
) -> tuple[int, int]:
    """The query and key/value head counts, checked against the tensors."""
    queries = hf_config.get("num_attention_heads")
    if isinstance(queries, bool) or not isinstance(queries, int) or queries <= 0:
        raise PresetFormatError(
            path, f"sets num_attention_heads={queries!r}.", "Set it to the model's head count."
        )
    keys = hf_config.get("num_key_value_heads") or queries
    head_dim = hidden // queries
    if hf_config.get("head_dim") not in (None, head_dim):
        raise _refuse(
            path,
            "head_dim",
            hf_config["head_dim"],
            f"its head size is hidden_size // heads, {head_dim}",
        )
    found = shapes["layers.0.self_attn.k_proj.weight"][0]
    if found != keys * head_dim:
        raise WeightsMismatchError(
            path,
            f"implies {keys} key/value heads of size {head_dim}, but "
            f"`layers.0.self_attn.k_proj.weight` has {found} rows.",
            "The config and weights come from different models; keep them together.",
        )
    return queries, keys


def arguments(path: Path, hf_config: Mapping[str, Any], shapes: Shapes) -> dict[str, Any]:
    """LlamaBackbone's constructor arguments for a transformers checkpoint."""
    _check_supported(path, hf_config)
    required = (
        "embed_tokens.weight",
        "layers.0.mlp.gate_proj.weight",
        "layers.0.self_attn.k_proj.weight",
    )
    if any(key not in shapes for key in required):
        raise WeightsMismatchError(
            path.parent,
            f"lacks one of {list(required)}, so it is not a Llama checkpoint.",
            "Point at the directory of a transformers LlamaModel or LlamaForCausalLM.",
        )
    vocabulary_size, hidden_dim = shapes["embed_tokens.weight"]
    layers = layer_indices(shapes, _LAYER_KEY)
    num_layers = len(layers)
    if not is_contiguous(layers):
        raise WeightsMismatchError(path, "has non-contiguous decoder layers.", "Re-save it.")
    intermediate_dim = shapes["layers.0.mlp.gate_proj.weight"][0]
    check_declared_sizes(path, hf_config, vocabulary_size, hidden_dim, num_layers, intermediate_dim)
    num_query_heads, num_key_value_heads = _heads(path, hf_config, shapes, hidden_dim)
    return {
        "vocabulary_size": vocabulary_size,
        "num_layers": num_layers,
        "num_query_heads": num_query_heads,
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "num_key_value_heads": num_key_value_heads,
        **_rope_arguments(path, hf_config),
        "layer_norm_epsilon": float(hf_config.get("rms_norm_eps", DEFAULTS["layer_norm_epsilon"])),
        # What the checkpoint holds decides (see the module's docstring): a tied
        # config's checkpoint has no `lm_head.weight`, an untied one's has.
        "tie_word_embeddings": "lm_head.weight" not in shapes,
    }


def _scale(key: str, hidden: int, layer: str) -> TensorRow:
    """An RMS norm's `{key}.weight` as the scale of `layer`."""
    return TensorRow(f"{key}.weight", (hidden,), (f"{layer}/vars/0",))


def table(arguments: Mapping[str, Any]) -> list[TensorRow]:
    """Every tensor of a Llama checkpoint (without `model.`) and the datasets it fills."""
    merged = {**DEFAULTS, **arguments}
    vocabulary, hidden = merged["vocabulary_size"], merged["hidden_dim"]
    intermediate = merged["intermediate_dim"]
    head_dim = hidden // merged["num_query_heads"]
    queries = merged["num_query_heads"] * head_dim
    keys = merged["num_key_value_heads"] * head_dim
    rows = [TensorRow("embed_tokens.weight", (vocabulary, hidden), (f"{EMBEDDING}/vars/0",))]
    if not merged["tie_word_embeddings"]:
        rows.append(
            TensorRow("lm_head.weight", (vocabulary, hidden), (f"{EMBEDDING}/vars/1",), transposed)
        )
    for i in range(merged["num_layers"]):
        block, heads, key = decoder_block(i), attention(i), f"layers.{i}"
        attn, mlp, ffw = f"{key}.self_attn", f"{key}.mlp", f"{block}/_feedforward"
        rows += [
            _scale(f"{key}.input_layernorm", hidden, f"{block}/_self_attention_layernorm"),
            linear_kernel(f"{attn}.q_proj", (queries, hidden), f"{heads}/_query_dense"),
            linear_kernel(f"{attn}.k_proj", (keys, hidden), f"{heads}/_key_dense"),
            linear_kernel(f"{attn}.v_proj", (keys, hidden), f"{heads}/_value_dense"),
            linear_kernel(f"{attn}.o_proj", (hidden, queries), f"{heads}/_output_dense"),
            _scale(f"{key}.post_attention_layernorm", hidden, f"{ffw}_layernorm"),
            linear_kernel(f"{mlp}.gate_proj", (intermediate, hidden), f"{ffw}_gate_dense"),
            linear_kernel(f"{mlp}.up_proj", (intermediate, hidden), f"{ffw}_intermediate_dense"),
            linear_kernel(f"{mlp}.down_proj", (hidden, intermediate), f"{ffw}_output_dense"),
        ]
    rows.append(TensorRow("norm.weight", (hidden,), (f"{FINAL_NORM}/vars/0",)))
    return rows
