"""Llama in the allow-list: its names, arguments, weights, conversion and presets.

keras-hub has two names for this architecture: `LlamaBackbone` (Llama 2) and
`Llama3Backbone` (Llama 3, 3.1, 3.2), a subclass that adds nothing (same
arguments, graph and weights), so configs naming either build `LlamaBackbone`.
"""

from __future__ import annotations

from registry.architectures.llama import convert, weights
from registry.architectures.llama.presets import PRESETS
from registry.architectures.spec import ArchitectureSpec, TransformersSpec

SPEC = ArchitectureSpec(
    class_name="LlamaBackbone",
    family="Llama",
    backbone_module="registry.architectures.llama.backbone",
    registered_names=(
        "keras_hub>LlamaBackbone",
        "keras_nlp>LlamaBackbone",
        "registry>LlamaBackbone",
        "keras_hub>Llama3Backbone",
        "keras_nlp>Llama3Backbone",
    ),
    config_modules=(
        "keras_hub.src.models.llama.llama_backbone",
        "keras_nlp.src.models.llama.llama_backbone",
        "registry.architectures.llama.backbone",
        "keras_hub.src.models.llama3.llama3_backbone",
        "keras_nlp.src.models.llama3.llama3_backbone",
    ),
    check_arguments=weights.check_arguments,
    h5_shapes=weights.h5_shapes,
    presets=PRESETS,
    transformers=TransformersSpec(
        model_types=("llama",),
        arguments=convert.arguments,
        table=convert.table,
        prefixes=("model.",),
        ignored=convert.IGNORED,
    ),
    tags=("llama",),
)
