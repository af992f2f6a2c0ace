"""Gemma's arguments and the datasets of its `model.weights.h5`, without Keras.

`h5_shapes` lists every dataset of its `model.weights.h5` in keras-hub's
naming; tests compare it with built models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.architectures.arguments import merged_arguments
from registry.architectures.spec import Shapes, layer_group

REQUIRED = (
    "vocabulary_size",
    "num_layers",
    "num_query_heads",
    "num_key_value_heads",
    "hidden_dim",
    "intermediate_dim",
    "head_dim",
)
# keras-hub 0.32's defaults: Gemma (1). Gemma 2 presets set the post norms, caps and window.
DEFAULTS: dict[str, Any] = {
    "query_head_dim_normalize": True,
    "use_post_ffw_norm": False,
    "use_post_attention_norm": False,
    "attention_logit_soft_cap": None,
    "final_logit_soft_cap": None,
    "use_sliding_window_attention": False,
    "sliding_window_size": 4096,
    "layer_norm_epsilon": 1e-6,
    "dropout": 0,
}
_FLAGS = (
    "query_head_dim_normalize",
    "use_post_ffw_norm",
    "use_post_attention_norm",
    "use_sliding_window_attention",
)

EMBEDDING = "layers/reversible_embedding"
FINAL_NORM = "layers/rms_normalization"


def check_arguments(arguments: Mapping[str, Any]) -> None:
    """Raise ValueError unless `arguments` describe a buildable GemmaBackbone."""
    merged = merged_arguments(arguments, REQUIRED, DEFAULTS)
    merged.positive_ints(*REQUIRED, "sliding_window_size")
    merged.divisible("num_query_heads", by="num_key_value_heads")
    if merged["head_dim"] % 2 != 0:
        raise ValueError(
            "`head_dim` must be even (rotary embeddings rotate pairs of features). "
            f"Received: head_dim={merged['head_dim']}"
        )
    if merged["intermediate_dim"] < 2:
        raise ValueError(
            "`intermediate_dim` must be at least 2 (each gating kernel is `intermediate_dim "
            f"// 2` wide). Received: intermediate_dim={merged['intermediate_dim']}"
        )
    for flag in _FLAGS:
        if not isinstance(merged[flag], bool):
            raise ValueError(f"`{flag}` must be a boolean. Received: {flag}={merged[flag]!r}")
    merged.positive_numbers("attention_logit_soft_cap", "final_logit_soft_cap", optional=True)
    merged.positive_numbers("layer_norm_epsilon")
    merged.probability("dropout")


def decoder_block(index: int) -> str:
    """The group of decoder block `index` in `model.weights.h5`."""
    return layer_group("gemma_decoder_block", index)


def h5_shapes(arguments: Mapping[str, Any]) -> Shapes:
    """Every dataset of a Gemma `model.weights.h5`, in keras-hub's naming."""
    check_arguments(arguments)
    merged = {**DEFAULTS, **arguments}
    vocabulary, hidden = merged["vocabulary_size"], merged["hidden_dim"]
    heads, kv_heads, head_dim = (
        merged["num_query_heads"],
        merged["num_key_value_heads"],
        merged["head_dim"],
    )
    # keras-hub's `intermediate_dim` counts both gating kernels: each is half as wide.
    gating = merged["intermediate_dim"] // 2
    norms = ["pre_attention_norm", "pre_ffw_norm"]
    norms += ["post_attention_norm"] if merged["use_post_attention_norm"] else []
    norms += ["post_ffw_norm"] if merged["use_post_ffw_norm"] else []
    shapes: Shapes = {f"{EMBEDDING}/vars/0": (vocabulary, hidden)}
    for index in range(merged["num_layers"]):
        block = decoder_block(index)
        attention = f"{block}/attention"
        shapes[f"{attention}/query_dense/vars/0"] = (heads, hidden, head_dim)
        shapes[f"{attention}/key_dense/vars/0"] = (kv_heads, hidden, head_dim)
        shapes[f"{attention}/value_dense/vars/0"] = (kv_heads, hidden, head_dim)
        shapes[f"{attention}/output_dense/vars/0"] = (heads, head_dim, hidden)
        for norm in norms:
            shapes[f"{block}/{norm}/vars/0"] = (hidden,)
        shapes[f"{block}/gating_ffw/vars/0"] = (hidden, gating)
        shapes[f"{block}/gating_ffw_2/vars/0"] = (hidden, gating)
        shapes[f"{block}/ffw_linear/vars/0"] = (gating, hidden)
    shapes[f"{FINAL_NORM}/vars/0"] = (hidden,)
    return shapes
