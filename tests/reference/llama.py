"""Llama reference cases: keras-hub presets and transformers checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.reference.cases import Case, padded_batch, randomize_keras, randomize_torch

LENGTH = 9

# === keras-hub ===


def keras_hub_llama(config: dict[str, Any], *, seed: int) -> Callable:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import keras
        import keras_hub

        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.LlamaBackbone(**config)
        randomize_keras(backbone, seed)
        backbone.save_to_preset(str(directory))
        io = padded_batch(config["vocabulary_size"], LENGTH, seed=seed)
        inputs = {"token_ids": io["input_token_ids"], "padding_mask": io["input_padding_mask"]}
        output = backbone(inputs, training=False)
        return {**io, "expected_output": keras.ops.convert_to_numpy(output)}

    return write


# === transformers ===


def transformers_llama(config: dict[str, Any], *, seed: int) -> Callable:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(**config))
        randomize_torch(model, seed)
        model.eval()
        model.save_pretrained(directory, safe_serialization=True)
        io = padded_batch(int(config["vocab_size"]), LENGTH, seed=seed)
        with torch.no_grad():
            output = model.model(
                input_ids=torch.from_numpy(io["input_token_ids"]).long(),
                attention_mask=torch.from_numpy(io["input_padding_mask"]).long(),
            ).last_hidden_state
        # Rows of padded queries are transformers' own business; the tests compare
        # the positions `input_padding_mask` marks.
        return {**io, "expected_last_hidden_state": output.numpy()}

    return write


# === The cases ===

CASES = [
    Case(
        "keras_hub_tiny_llama",
        keras_hub_llama(
            dict(
                vocabulary_size=97,
                num_layers=2,
                num_query_heads=4,
                num_key_value_heads=2,
                hidden_dim=32,
                intermediate_dim=56,
            ),
            seed=11,
        ),
        "LlamaBackbone: vocab 97, 2 layers, 4 query heads, 2 key/value heads, hidden 32, "
        "intermediate 56 (untied embeddings, keras-hub's default)",
    ),
    Case(
        "keras_hub_odd_llama",
        keras_hub_llama(
            dict(
                vocabulary_size=61,
                num_layers=2,
                num_query_heads=4,
                num_key_value_heads=1,
                hidden_dim=40,
                intermediate_dim=40,
                rope_max_wavelength=500000,
                rope_frequency_adjustment_factor=8.0,
                rope_low_freq_factor=1.0,
                rope_high_freq_factor=4.0,
                rope_pretraining_sequence_length=128,
                layer_norm_epsilon=1e-5,
                tie_word_embeddings=False,
            ),
            seed=12,
        ),
        "LlamaBackbone: 1 key/value head for 4 query heads, head size 10, untied "
        "embeddings, Llama 3.1 rope scaling (theta 500000, factor 8, pretraining length "
        "128: every frequency band), epsilon 1e-5",
    ),
    Case(
        "hf_tiny_llama",
        transformers_llama(
            dict(
                vocab_size=97,
                hidden_size=32,
                intermediate_size=56,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                max_position_embeddings=64,
                tie_word_embeddings=False,
            ),
            seed=13,
        ),
        "LlamaForCausalLM: hidden 32, 2 layers, 4 query heads, 2 key/value heads, "
        "intermediate 56, vocab 97, untied lm_head",
    ),
    Case(
        "hf_odd_llama",
        transformers_llama(
            dict(
                vocab_size=61,
                hidden_size=32,
                intermediate_size=40,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=1,
                max_position_embeddings=1024,
                rms_norm_eps=1e-5,
                tie_word_embeddings=True,
                rope_parameters={
                    "rope_type": "llama3",
                    "rope_theta": 500000.0,
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 256,
                },
            ),
            seed=14,
        ),
        "LlamaForCausalLM: 1 key/value head, Llama 3.1 rope scaling in transformers 5's "
        "`rope_parameters` (theta 500000, factor 8, original length 256), epsilon 1e-5, "
        "tied embeddings (no lm_head.weight)",
    ),
]
