"""BERT reference cases: keras-hub presets and transformers checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.reference.cases import Case, padded_batch, randomize_keras, randomize_torch

LENGTH = 9
TWO_SEGMENTS = [0, 0, 0, 0, 0, 1, 1, 1, 1]
THREE_SEGMENTS = [0, 0, 0, 1, 1, 1, 2, 2, 2]


def bert_batch(vocabulary_size: int, segments: list[int], *, seed: int) -> dict[str, np.ndarray]:
    """`padded_batch`'s two rows, with `segments` (one id per position) in both."""
    io = padded_batch(vocabulary_size, len(segments), seed=seed)
    io["input_segment_ids"] = np.array([segments, segments], dtype="int32")
    return io


# === keras-hub ===


def _backbone_io(
    backbone: object, vocabulary_size: int, segments: list[int], *, seed: int
) -> dict[str, np.ndarray]:
    """The batch, and what keras-hub's backbone returned for it."""
    import keras

    io = bert_batch(vocabulary_size, segments, seed=seed)
    inputs = {key.removeprefix("input_"): value for key, value in io.items()}
    outputs = backbone(inputs, training=False)  # type: ignore[operator]
    return {
        **io,
        "expected_sequence_output": keras.ops.convert_to_numpy(outputs["sequence_output"]),
        "expected_pooled_output": keras.ops.convert_to_numpy(outputs["pooled_output"]),
    }


def keras_hub_bert(config: dict[str, int], segments: list[int], *, seed: int) -> Callable:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import keras
        import keras_hub

        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.BertBackbone(**config)
        randomize_keras(backbone, seed)
        backbone.save_to_preset(str(directory))
        return _backbone_io(backbone, config["vocabulary_size"], segments, seed=seed)

    return write


def keras_hub_bert_classifier(config: dict[str, int], classes: int, *, seed: int) -> Callable:
    """A `BertTextClassifier` task preset: the backbone's files, and the task's own
    (`task.json`, `task.weights.h5` with the head, `preprocessor.json`, the tokenizer)."""

    def write(directory: Path) -> dict[str, np.ndarray]:
        import keras
        import keras_hub

        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.BertBackbone(**config)
        vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        vocabulary += [f"word{i}" for i in range(config["vocabulary_size"] - len(vocabulary))]
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=16
        )
        task = keras_hub.models.BertTextClassifier(backbone, classes, preprocessor=preprocessor)
        randomize_keras(task, seed)
        task.save_to_preset(str(directory))
        return _backbone_io(backbone, config["vocabulary_size"], TWO_SEGMENTS, seed=seed)

    return write


# === transformers ===


def _layer_norms_around_one(model: object, seed: int) -> None:
    # `randomize_torch` recognises norms by a lower-case "norm"; BERT's are "LayerNorm".
    import torch

    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():  # type: ignore[attr-defined]
            if name.endswith("LayerNorm.weight"):
                parameter.copy_(1.0 + 0.1 * torch.randn(parameter.shape, generator=generator))


def transformers_bert(
    config: dict[str, object], segments: list[int], *, seed: int, task: str = "BertModel"
) -> Callable:
    def write(directory: Path) -> dict[str, np.ndarray]:
        import torch
        import transformers

        torch.manual_seed(seed)
        model = getattr(transformers, task)(transformers.BertConfig(**config))
        randomize_torch(model, seed)
        _layer_norms_around_one(model, seed)
        model.eval()
        model.save_pretrained(directory, safe_serialization=True)
        io = bert_batch(int(config["vocab_size"]), segments, seed=seed)  # type: ignore[call-overload]
        encoder = model if task == "BertModel" else model.bert
        with torch.no_grad():
            outputs = encoder(
                input_ids=torch.from_numpy(io["input_token_ids"]).long(),
                token_type_ids=torch.from_numpy(io["input_segment_ids"]).long(),
                attention_mask=torch.from_numpy(io["input_padding_mask"]).long(),
            )
        # Rows of padded queries are transformers' own business; the tests compare
        # the positions `input_padding_mask` marks.
        return {
            **io,
            "expected_last_hidden_state": outputs.last_hidden_state.numpy(),
            "expected_pooler_output": outputs.pooler_output.numpy(),
        }

    return write


# === The cases ===


CASES = [
    Case(
        "keras_hub_tiny_bert",
        keras_hub_bert(
            dict(
                vocabulary_size=97,
                num_layers=2,
                num_heads=4,
                hidden_dim=32,
                intermediate_dim=48,
                max_sequence_length=64,
            ),
            TWO_SEGMENTS,
            seed=11,
        ),
        "BertBackbone: vocab 97, 2 layers, 4 heads, hidden 32, intermediate 48, "
        "max length 64, 2 segments",
    ),
    Case(
        "keras_hub_odd_bert",
        keras_hub_bert(
            dict(
                vocabulary_size=61,
                num_layers=2,
                num_heads=3,
                hidden_dim=24,
                intermediate_dim=40,
                max_sequence_length=16,
                num_segments=3,
            ),
            THREE_SEGMENTS,
            seed=12,
        ),
        "BertBackbone: 3 heads (not a power of two), hidden 24, intermediate 40, "
        "3 segments (all used)",
    ),
    Case(
        "keras_hub_classifier_bert",
        keras_hub_bert_classifier(
            dict(
                vocabulary_size=50,
                num_layers=1,
                num_heads=2,
                hidden_dim=16,
                intermediate_dim=24,
                max_sequence_length=16,
            ),
            classes=3,
            seed=15,
        ),
        "BertTextClassifier task preset (3 classes, compiled): task.json, task.weights.h5, "
        "preprocessor.json, tokenizer; BertBackbone vocab 50, 1 layer, 2 heads, hidden 16",
    ),
    Case(
        "hf_tiny_bert",
        transformers_bert(
            dict(
                vocab_size=97,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=48,
                max_position_embeddings=64,
                hidden_act="gelu",
            ),
            TWO_SEGMENTS,
            seed=13,
        ),
        "BertModel: hidden 32, 2 layers, 4 heads, intermediate 48, vocab 97, "
        "hidden_act gelu (exact)",
    ),
    Case(
        "hf_classifier_bert",
        transformers_bert(
            dict(
                vocab_size=61,
                hidden_size=24,
                num_hidden_layers=2,
                num_attention_heads=3,
                intermediate_size=40,
                max_position_embeddings=16,
                type_vocab_size=3,
                hidden_act="gelu_new",
            ),
            THREE_SEGMENTS,
            seed=14,
            task="BertForSequenceClassification",
        ),
        "BertForSequenceClassification (`bert.` prefix, classifier head): 3 heads, "
        "hidden 24, type_vocab_size 3, hidden_act gelu_new",
    ),
]
