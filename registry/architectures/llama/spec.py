"""Llama in the allow-list: its names, arguments, weights, conversion and presets.

keras-hub has two names for this architecture: `LlamaBackbone` (Llama 2) and
`Llama3Backbone` (Llama 3, 3.1, 3.2), a subclass that adds nothing (same
arguments, graph and weights), so configs naming either build `LlamaBackbone`.
"""

from __future__ import annotations

from registry.architectures.llama import convert, weights
from registry.architectures.llama.presets import PRESETS
from registry.architectures.spec import keras_hub_spec

SPEC = keras_hub_spec(
    "registry.architectures.llama",
    "Llama",
    {"LlamaBackbone": "llama.llama_backbone", "Llama3Backbone": "llama3.llama3_backbone"},
    weights=weights,
    convert=convert,
    # Llama 2 (SentencePiece) and Llama 3 (byte-level BPE).
    tokenizers={
        "LlamaTokenizer": "llama.llama_tokenizer",
        "Llama3Tokenizer": "llama3.llama3_tokenizer",
    },
    presets=PRESETS,
    tags=("llama",),
)
