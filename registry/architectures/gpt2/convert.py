"""Hugging Face transformers GPT-2 checkpoints -> `GPT2Backbone`, as one table.

Every dimension comes from the checkpoint's tensor shapes (only the head count
must come from `config.json`), so `n_inner` may be null or any width. The table
maps each transformers key onto the datasets of keras-hub's `model.weights.h5`,
as keras-hub's `convert_gpt2.py` and nanoGPT's loader do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from registry.architectures.gpt2.weights import DEFAULTS, decoder_block
from registry.architectures.spec import Shapes, TensorRow
from registry.architectures.transformers_checkpoint import (
    check_declared,
    is_contiguous,
    layer_indices,
    unsupported,
)
from registry.errors import WeightsMismatchError

MODEL_TYPES: tuple[str, ...] = ("gpt2",)
PREFIXES: tuple[str, ...] = ("transformer.",)
# GPT2LMHeadModel's tied head, and the causal-mask buffers older releases saved.
IGNORED = r"lm_head\.weight|h\.\d+\.attn\.(bias|masked_bias)"

# GPT-2's "gelu_new" is GELU with the tanh approximation, as GPT2Backbone uses.
_TANH_GELUS = frozenset({"gelu_new", "gelu_pytorch_tanh"})
_LAYER_KEY = re.compile(r"^h\.(\d+)\.")


def _split_three(value: np.ndarray) -> list[np.ndarray]:
    # c_attn packs query, key and value along its last axis.
    return list(np.split(value, 3, axis=-1))


def _check_supported(path: Path, hf_config: Mapping[str, Any]) -> None:
    refusals = {
        "activation_function": hf_config.get("activation_function", "gelu_new") not in _TANH_GELUS,
        "layer_norm_epsilon": hf_config.get("layer_norm_epsilon", 1e-5) != 1e-5,
        "scale_attn_weights": hf_config.get("scale_attn_weights", True) is not True,
        "scale_attn_by_inverse_layer_idx": bool(
            hf_config.get("scale_attn_by_inverse_layer_idx", False)
        ),
        "add_cross_attention": bool(hf_config.get("add_cross_attention", False)),
    }
    for field, refused in refusals.items():
        if refused:
            raise unsupported(
                path,
                field,
                hf_config.get(field),
                "it is GPT-2 as published: tanh GELU, epsilon 1e-5, scaled attention, "
                "no cross-attention",
                backbone="GPT2Backbone",
                fix="Only standard GPT-2 checkpoints can be converted.",
            )


def arguments(path: Path, hf_config: Mapping[str, Any], shapes: Shapes) -> dict[str, Any]:
    """GPT2Backbone's constructor arguments for a transformers checkpoint."""
    _check_supported(path, hf_config)
    if "wte.weight" not in shapes:
        raise WeightsMismatchError(
            path.parent,
            "has no `wte.weight` tensor, so it is not a GPT-2 checkpoint.",
            "Point at the directory of a transformers GPT2Model or GPT2LMHeadModel.",
        )
    vocabulary_size, hidden_dim = shapes["wte.weight"]
    layers = layer_indices(shapes, _LAYER_KEY)
    num_layers = len(layers)
    if not is_contiguous(layers) or "h.0.mlp.c_fc.weight" not in shapes:
        raise WeightsMismatchError(
            path, "has missing or non-contiguous transformer blocks.", "Re-save it."
        )
    max_sequence_length = shapes["wpe.weight"][0] if "wpe.weight" in shapes else None
    intermediate_dim = shapes["h.0.mlp.c_fc.weight"][1]
    check_declared(
        path,
        hf_config,
        {
            "vocab_size": vocabulary_size,
            "n_embd": hidden_dim,
            "n_layer": num_layers,
            "n_positions": max_sequence_length,
            "n_inner": intermediate_dim,
        },
    )
    return {
        "vocabulary_size": vocabulary_size,
        "num_layers": num_layers,
        "num_heads": hf_config.get("n_head"),
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "dropout": float(hf_config.get("resid_pdrop", DEFAULTS["dropout"])),
        "max_sequence_length": max_sequence_length or hf_config.get("n_positions"),
    }


def table(arguments: Mapping[str, Any]) -> list[TensorRow]:
    """Every tensor of a GPT2Model checkpoint and the datasets it fills."""
    vocabulary, hidden = arguments["vocabulary_size"], arguments["hidden_dim"]
    intermediate = arguments["intermediate_dim"]
    positions = arguments.get("max_sequence_length", DEFAULTS["max_sequence_length"])
    rows = [
        TensorRow("wte.weight", (vocabulary, hidden), ("layers/reversible_embedding/vars/0",)),
        TensorRow("wpe.weight", (positions, hidden), ("layers/position_embedding/vars/0",)),
        TensorRow("ln_f.weight", (hidden,), ("layers/layer_normalization/vars/0",)),
        TensorRow("ln_f.bias", (hidden,), ("layers/layer_normalization/vars/1",)),
    ]
    for i in range(arguments["num_layers"]):
        block = decoder_block(i)
        attention = f"{block}/_self_attention_layer"
        qkv = [f"{attention}/{name}_dense" for name in ("query", "key", "value")]
        norm_1, norm_2 = f"{block}/_self_attention_layer_norm", f"{block}/_feedforward_layer_norm"
        ffn_in = f"{block}/_feedforward_intermediate_dense"
        ffn_out = f"{block}/_feedforward_output_dense"
        rows += [
            TensorRow(f"h.{i}.ln_1.weight", (hidden,), (f"{norm_1}/vars/0",)),
            TensorRow(f"h.{i}.ln_1.bias", (hidden,), (f"{norm_1}/vars/1",)),
            TensorRow(
                f"h.{i}.attn.c_attn.weight",
                (hidden, 3 * hidden),
                tuple(f"{dense}/vars/0" for dense in qkv),
                _split_three,
            ),
            TensorRow(
                f"h.{i}.attn.c_attn.bias",
                (3 * hidden,),
                tuple(f"{dense}/vars/1" for dense in qkv),
                _split_three,
            ),
            TensorRow(
                f"h.{i}.attn.c_proj.weight", (hidden, hidden), (f"{attention}/output_dense/vars/0",)
            ),
            TensorRow(f"h.{i}.attn.c_proj.bias", (hidden,), (f"{attention}/output_dense/vars/1",)),
            TensorRow(f"h.{i}.ln_2.weight", (hidden,), (f"{norm_2}/vars/0",)),
            TensorRow(f"h.{i}.ln_2.bias", (hidden,), (f"{norm_2}/vars/1",)),
            TensorRow(f"h.{i}.mlp.c_fc.weight", (hidden, intermediate), (f"{ffn_in}/vars/0",)),
            TensorRow(f"h.{i}.mlp.c_fc.bias", (intermediate,), (f"{ffn_in}/vars/1",)),
            TensorRow(f"h.{i}.mlp.c_proj.weight", (intermediate, hidden), (f"{ffn_out}/vars/0",)),
            TensorRow(f"h.{i}.mlp.c_proj.bias", (hidden,), (f"{ffn_out}/vars/1",)),
        ]
    return rows
