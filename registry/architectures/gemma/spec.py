"""Gemma in the allow-list: its names, arguments, weights, conversion and presets.

Gemma and Gemma 2 are one class, keras-hub's `GemmaBackbone`: Gemma 2 is the
same network with normalization after attention and after the feedforward
network, soft caps on the attention and final logits, and sliding-window
attention on every other layer. `h5_shapes` lists every dataset of its
`model.weights.h5` in keras-hub's naming; tests compare it with built models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.architectures.gemma import convert
from registry.architectures.gemma.presets import PRESETS
from registry.architectures.spec import (
    ArchitectureSpec,
    Shapes,
    TransformersSpec,
    merged_arguments,
    positive_int,
    probability,
)

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


def _positive_number(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        kind = "a positive number or None" if optional else "a positive number"
        raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")


def check_arguments(arguments: Mapping[str, Any]) -> None:
    """Raise ValueError unless `arguments` describe a buildable GemmaBackbone."""
    merged = merged_arguments(arguments, REQUIRED, DEFAULTS)
    for name in (*REQUIRED, "sliding_window_size"):
        positive_int(name, merged[name])
    heads, kv_heads = merged["num_query_heads"], merged["num_key_value_heads"]
    if heads % kv_heads != 0:
        raise ValueError(
            "`num_query_heads` must be divisible by `num_key_value_heads`. Received: "
            f"num_query_heads={heads}, num_key_value_heads={kv_heads}"
        )
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
    _positive_number("attention_logit_soft_cap", merged["attention_logit_soft_cap"], optional=True)
    _positive_number("final_logit_soft_cap", merged["final_logit_soft_cap"], optional=True)
    _positive_number("layer_norm_epsilon", merged["layer_norm_epsilon"])
    probability("dropout", merged["dropout"])


def decoder_block(index: int) -> str:
    """The group of decoder block `index` in `model.weights.h5`."""
    return "layers/gemma_decoder_block" + (f"_{index}" if index else "")


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


SPEC = ArchitectureSpec(
    class_name="GemmaBackbone",
    family="Gemma",
    backbone_module="registry.architectures.gemma.backbone",
    registered_names=(
        "keras_hub>GemmaBackbone",
        "keras_nlp>GemmaBackbone",
        "registry>GemmaBackbone",
    ),
    config_modules=(
        "keras_hub.src.models.gemma.gemma_backbone",
        "keras_nlp.src.models.gemma.gemma_backbone",
        "registry.architectures.gemma.backbone",
    ),
    check_arguments=check_arguments,
    h5_shapes=h5_shapes,
    presets=PRESETS,
    transformers=TransformersSpec(
        model_types=("gemma", "gemma2"),
        arguments=convert.arguments,
        table=convert.table,
        prefixes=("model.",),
        # The causal LM's head, tied to the embedding (`arguments` checks its shape),
        # and the rotary frequencies older releases saved as buffers.
        ignored=r"lm_head\.weight|layers\.\d+\.self_attn\.rotary_emb\.inv_freq",
    ),
    tags=("gemma",),
)
