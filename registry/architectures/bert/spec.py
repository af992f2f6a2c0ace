"""BERT in the allow-list: its names, arguments, weights, conversion and presets."""

from __future__ import annotations

from registry.architectures.bert import convert, weights
from registry.architectures.bert.presets import PRESETS
from registry.architectures.spec import ArchitectureSpec, TaskSpec, TransformersSpec

SPEC = ArchitectureSpec(
    class_name="BertBackbone",
    family="BERT",
    backbone_module="registry.architectures.bert.backbone",
    registered_names=("keras_hub>BertBackbone", "keras_nlp>BertBackbone", "registry>BertBackbone"),
    config_modules=(
        "keras_hub.src.models.bert.bert_backbone",
        "keras_nlp.src.models.bert.bert_backbone",
        "registry.architectures.bert.backbone",
    ),
    check_arguments=weights.check_arguments,
    h5_shapes=weights.h5_shapes,
    presets=PRESETS,
    transformers=TransformersSpec(
        model_types=("bert",),
        arguments=convert.arguments,
        table=convert.table,
        # BertForMaskedLM, BertForSequenceClassification, ... save the encoder as `bert.*`.
        prefixes=("bert.",),
        ignored=convert.IGNORED,
    ),
    tasks=(
        TaskSpec(
            ("keras_hub>BertTextClassifier", "keras_nlp>BertClassifier"),
            weights.text_classifier_shapes,
        ),
        TaskSpec(("keras_hub>BertMaskedLM", "keras_nlp>BertMaskedLM"), weights.masked_lm_shapes),
    ),
    inputs=("token_ids", "segment_ids", "padding_mask"),
    tags=("bert",),
)
