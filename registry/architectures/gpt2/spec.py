"""GPT-2 in the allow-list: its names, arguments, weights, conversion and presets."""

from __future__ import annotations

from registry.architectures.gpt2 import convert, weights
from registry.architectures.gpt2.presets import PRESETS
from registry.architectures.spec import keras_hub_spec

SPEC = keras_hub_spec(
    "registry.architectures.gpt2",
    "GPT-2",
    {"GPT2Backbone": "gpt2.gpt2_backbone"},
    # What this registry wrote before the backbone had a module of its own.
    legacy_modules=("registry.architectures.gpt2",),
    weights=weights,
    convert=convert,
    tokenizers={"GPT2Tokenizer": "gpt2.gpt2_tokenizer"},
    presets=PRESETS,
    tags=("gpt2",),
)
