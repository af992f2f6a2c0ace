"""Gemma in the allow-list: its names, arguments, weights, conversion and presets.

Gemma and Gemma 2 are one class, keras-hub's `GemmaBackbone`: Gemma 2 is the
same network with normalization after attention and after the feedforward
network, soft caps on the attention and final logits, and sliding-window
attention on every other layer.
"""

from __future__ import annotations

from registry.architectures.gemma import convert, weights
from registry.architectures.gemma.presets import PRESETS
from registry.architectures.gemma.weights import check_arguments
from registry.architectures.spec import keras_hub_spec

# `check_arguments` was defined here before `weights.py`; it stays importable.
__all__ = ["SPEC", "check_arguments"]

SPEC = keras_hub_spec(
    "registry.architectures.gemma",
    "Gemma",
    {"GemmaBackbone": "gemma.gemma_backbone"},
    weights=weights,
    convert=convert,
    tokenizers={"GemmaTokenizer": "gemma.gemma_tokenizer"},
    presets=PRESETS,
    tags=("gemma",),
)
