"""BERT in the allow-list: its names, arguments, weights, conversion and presets."""

from __future__ import annotations

from registry.architectures.bert import convert, weights
from registry.architectures.bert.presets import PRESETS
from registry.architectures.spec import TaskSpec, keras_hub_spec

SPEC = keras_hub_spec(
    "registry.architectures.bert",
    "BERT",
    {"BertBackbone": "bert.bert_backbone"},
    inputs=("token_ids", "segment_ids", "padding_mask"),
    tasks=(
        TaskSpec(
            ("keras_hub>BertTextClassifier", "keras_nlp>BertClassifier"),
            weights.text_classifier_shapes,
        ),
        TaskSpec(("keras_hub>BertMaskedLM", "keras_nlp>BertMaskedLM"), weights.masked_lm_shapes),
    ),
    weights=weights,
    convert=convert,
    tokenizers={"BertTokenizer": "bert.bert_tokenizer"},
    presets=PRESETS,
    tags=("bert",),
)
