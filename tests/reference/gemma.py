"""Gemma and Gemma 2 reference cases: keras-hub presets and transformers checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.reference.cases import Case, padded_batch, randomize_keras, randomize_torch

# Nine tokens: longer than the Gemma 2 cases' sliding window of four.
LENGTH = 9


# Gemma's RMS norms scale by `1 + weight`: weights drawn around 0 give the scales
# around 1 that every other case has (`randomize_*` draws norm weights around 1).
def _center_keras_norms(model: Any) -> None:
    for variable in model.weights:
        if variable.path.endswith("/scale"):
            variable.assign(variable - 1.0)


def _center_torch_norms(model: Any) -> None:
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.sub_(1.0)


# === keras-hub ===


def keras_hub_gemma(config: dict[str, Any], *, seed: int) -> Callable:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import keras
        import keras_hub

        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.GemmaBackbone(**config)
        randomize_keras(backbone, seed)
        _center_keras_norms(backbone)
        backbone.save_to_preset(str(directory))
        io = padded_batch(config["vocabulary_size"], LENGTH, seed=seed)
        inputs = {"token_ids": io["input_token_ids"], "padding_mask": io["input_padding_mask"]}
        output = backbone(inputs, training=False)
        return {**io, "expected_output": keras.ops.convert_to_numpy(output)}

    return write


# === transformers ===


def transformers_gemma(model_class: str, config: dict[str, Any], *, seed: int) -> Callable:
    """A `GemmaForCausalLM` or `Gemma2ForCausalLM`; outputs of its inner `.model`."""

    def write(directory: Path) -> dict[str, np.ndarray]:
        import torch
        import transformers

        torch.manual_seed(seed)
        config_class = getattr(transformers, model_class.replace("ForCausalLM", "Config"))
        model = getattr(transformers, model_class)(config_class(**config))
        randomize_torch(model, seed)
        _center_torch_norms(model)
        model.eval()
        model.save_pretrained(directory, safe_serialization=True)
        io = padded_batch(int(config["vocab_size"]), LENGTH, seed=seed)
        with torch.no_grad():
            output = model.model(
                input_ids=torch.from_numpy(io["input_token_ids"]).long(),
                attention_mask=torch.from_numpy(io["input_padding_mask"]).long(),
            ).last_hidden_state
        # Rows of padded queries are transformers' own business; the tests compare
        # the positions `input_padding_mask` marks. `final_logit_softcapping` caps
        # the causal LM's logits only, never the hidden states recorded here.
        return {**io, "expected_last_hidden_state": output.numpy()}

    return write


# === The cases ===

_GEMMA = dict(num_layers=2, num_query_heads=4, num_key_value_heads=1, hidden_dim=32, head_dim=8)
_GEMMA2 = dict(num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=32, head_dim=12)

CASES = [
    Case(
        "keras_hub_tiny_gemma",
        keras_hub_gemma(dict(vocabulary_size=97, intermediate_dim=48, **_GEMMA), seed=21),
        "GemmaBackbone: vocab 97, 2 layers, 4 query heads, 1 key/value head, head_dim 8, "
        "hidden 32, intermediate 48",
    ),
    Case(
        "keras_hub_tiny_gemma2",
        keras_hub_gemma(
            dict(
                vocabulary_size=97,
                intermediate_dim=48,
                query_head_dim_normalize=False,
                use_post_ffw_norm=True,
                use_post_attention_norm=True,
                attention_logit_soft_cap=2.0,
                final_logit_soft_cap=3.0,
                use_sliding_window_attention=True,
                sliding_window_size=4,
                **_GEMMA2,
            ),
            seed=22,
        ),
        "GemmaBackbone, Gemma 2 style: 2 layers, 4 query heads, 2 key/value heads, head_dim "
        "12 (not hidden 32 / 4), post norms, soft caps 2 and 3 (small enough to bite), "
        "sliding window 4 (of 9 tokens) on layer 0, query_head_dim_normalize False",
    ),
    Case(
        "hf_tiny_gemma",
        transformers_gemma(
            "GemmaForCausalLM",
            dict(
                vocab_size=97,
                hidden_size=32,
                intermediate_size=24,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=1,
                head_dim=8,
                hidden_act="gelu_pytorch_tanh",
            ),
            seed=23,
        ),
        "GemmaForCausalLM: hidden 32, 2 layers, 4 heads, 1 key/value head, head_dim 8, "
        "intermediate_size 24, vocab 97, tied head",
    ),
    Case(
        "hf_tiny_gemma2",
        transformers_gemma(
            "Gemma2ForCausalLM",
            dict(
                vocab_size=97,
                hidden_size=32,
                intermediate_size=24,
                num_hidden_layers=3,
                num_attention_heads=4,
                num_key_value_heads=2,
                head_dim=12,
                query_pre_attn_scalar=12,
                sliding_window=4,
                attn_logit_softcapping=2.0,
                final_logit_softcapping=3.0,
            ),
            seed=24,
        ),
        "Gemma2ForCausalLM: hidden 32, 3 layers, 4 heads, 2 key/value heads, head_dim 12, "
        "sliding window 4 (of 9 tokens), attention soft cap 2, final soft cap 3",
    ),
]
