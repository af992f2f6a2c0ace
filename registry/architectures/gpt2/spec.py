"""GPT-2 in the allow-list: its names, arguments, weights, conversion and presets."""

from __future__ import annotations

from registry.architectures.gpt2 import convert, weights
from registry.architectures.gpt2.presets import PRESETS
from registry.architectures.spec import ArchitectureSpec, TransformersSpec

SPEC = ArchitectureSpec(
    class_name="GPT2Backbone",
    family="GPT-2",
    backbone_module="registry.architectures.gpt2.backbone",
    registered_names=("keras_hub>GPT2Backbone", "keras_nlp>GPT2Backbone", "registry>GPT2Backbone"),
    config_modules=(
        "keras_hub.src.models.gpt2.gpt2_backbone",
        "keras_nlp.src.models.gpt2.gpt2_backbone",
        "registry.architectures.gpt2.backbone",
        "registry.architectures.gpt2",  # what this registry wrote before the move
    ),
    check_arguments=weights.check_arguments,
    h5_shapes=weights.h5_shapes,
    presets=PRESETS,
    transformers=TransformersSpec(
        model_types=("gpt2",),
        arguments=convert.arguments,
        table=convert.table,
        prefixes=("transformer.",),
        # GPT2LMHeadModel's tied head, and the causal-mask buffers older releases saved.
        ignored=r"lm_head\.weight|h\.\d+\.attn\.(bias|masked_bias)",
    ),
    tags=("gpt2",),
)
