"""GPT-2 reference cases: keras-hub presets and transformers checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.reference.cases import Case, padded_batch, randomize_keras, randomize_torch

# === keras-hub ===


def byte_level_tokenizer(directory: Path) -> None:
    """A GPT-2 byte-level BPE tokenizer with a few merges, saved as keras-hub saves it."""
    import keras_hub
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    merges = ["Ġ a", "Ġ t", "a i", "p l", "n e", "Ġa t", "p o", "r t", "ai r", "pl a",
              "po rt", "Ġa i", "pla ne", "Ġai r"]  # fmt: skip
    vocabulary = {token: index for index, token in enumerate(alphabet)}
    for merge in merges:
        vocabulary.setdefault(merge.replace(" ", ""), len(vocabulary))
    vocabulary["<|endoftext|>"] = len(vocabulary)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    tokenizer.save_to_preset(str(directory))


def keras_hub_gpt2(config: dict[str, int], *, seed: int, tokenizer: bool) -> Callable:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import keras
        import keras_hub

        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.GPT2Backbone(**config)
        randomize_keras(backbone, seed)
        backbone.save_to_preset(str(directory))
        if tokenizer:
            byte_level_tokenizer(directory)
        io = padded_batch(config["vocabulary_size"], 8, seed=seed)
        inputs = {"token_ids": io["input_token_ids"], "padding_mask": io["input_padding_mask"]}
        output = backbone(inputs, training=False)
        return {**io, "expected_output": keras.ops.convert_to_numpy(output)}

    return write


# === transformers ===


def transformers_gpt2(config: dict[str, object], *, seed: int) -> Callable:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import torch
        from transformers import GPT2Config, GPT2Model

        torch.manual_seed(seed)
        model = GPT2Model(GPT2Config(**config, attn_pdrop=0.0, embd_pdrop=0.0, resid_pdrop=0.0))
        randomize_torch(model, seed)
        model.eval()
        model.save_pretrained(directory, safe_serialization=True)
        io = padded_batch(int(config["vocab_size"]), 8, seed=seed)  # type: ignore[call-overload]
        with torch.no_grad():
            output = model(
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
        "keras_hub_tiny_gpt2",
        keras_hub_gpt2(
            dict(
                vocabulary_size=283,
                num_layers=2,
                num_heads=2,
                hidden_dim=32,
                intermediate_dim=64,
                max_sequence_length=64,
            ),
            seed=1,
            tokenizer=True,
        ),
        "GPT2Backbone and GPT2Tokenizer: vocab 283, 2 layers, 2 heads, hidden 32, "
        "intermediate 64, max length 64",
    ),
    Case(
        "keras_hub_odd_gpt2",
        keras_hub_gpt2(
            dict(
                vocabulary_size=61,
                num_layers=2,
                num_heads=3,
                hidden_dim=24,
                intermediate_dim=40,
                max_sequence_length=16,
            ),
            seed=2,
            tokenizer=False,
        ),
        "GPT2Backbone: 3 heads (not a power of two), hidden 24, intermediate 40 (not 4x)",
    ),
    Case(
        "hf_tiny_gpt2",
        transformers_gpt2(
            dict(vocab_size=283, n_embd=32, n_layer=2, n_head=2, n_positions=64), seed=3
        ),
        "GPT2Model: n_embd 32, 2 layers, 2 heads, n_positions 64, vocab 283",
    ),
    Case(
        "hf_odd_gpt2",
        transformers_gpt2(
            dict(vocab_size=61, n_embd=24, n_layer=2, n_head=3, n_positions=16, n_inner=40),
            seed=4,
        ),
        "GPT2Model: 3 heads, n_embd 24, n_inner 40 (not 4x)",
    ),
]
