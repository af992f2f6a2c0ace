"""BERT, as keras-hub's `BertBackbone`: same arguments, graph and weight layout."""

from __future__ import annotations

from typing import Any

import keras

from registry.architectures.backbone import Backbone, token_embedding_layer, token_inputs
from registry.architectures.bert.layers import HIDDEN_ACTIVATIONS, TransformerEncoder
from registry.architectures.bert.spec import SPEC
from registry.architectures.bert.weights import DEFAULTS
from registry.architectures.initializers import skippable
from registry.architectures.transformer import LayerNormalization, PositionEmbedding

LAYER_NORM_EPSILON = 1e-12


def _truncated_normal() -> keras.initializers.Initializer:
    """keras-hub's BERT initializer, or zeros while weights are about to be loaded."""
    return skippable(keras.initializers.TruncatedNormal(stddev=0.02))


class BertBackbone(Backbone, spec=SPEC):
    """BERT core network: embeddings, post-norm encoder blocks, a tanh pooler.

    Weights, variable paths and config match keras-hub's `BertBackbone`, so a
    preset saved by either loads in the other.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_heads: int. The number of attention heads; must divide `hidden_dim`.
        hidden_dim: int. The size of the token representations and of the
            pooled output.
        intermediate_dim: int. The width of each block's feedforward layer.
        dropout: float. Dropout probability in the embeddings and every block.
        max_sequence_length: int. The longest sequence the position embeddings
            cover.
        num_segments: int. The number of values `segment_ids` may take.
        hidden_activation: `"gelu_approximate"` (GELU with the tanh
            approximation, what keras-hub computes) or `"gelu"` (exact, what
            transformers' BERT computes for `hidden_act: "gelu"`). Written to
            the config only when it is `"gelu"`; keras-hub ignores it there and
            computes the approximation, about 1e-4 away.
        dtype: string or `keras.DTypePolicy`, e.g. `"float32"`, `"bfloat16"`
            or `"mixed_bfloat16"`. Softmax and layer normalization always
            compute in float32.

    Inputs are `{"token_ids", "segment_ids", "padding_mask"}`, each `(batch, seq)`
    ints. Outputs are `{"sequence_output": (batch, seq, hidden_dim),
    "pooled_output": (batch, hidden_dim)}`, the pooled output being a tanh dense
    layer on the first (`[CLS]`) position.

    Example:
        ```python
        import numpy as np
        from registry import BertBackbone

        backbone = BertBackbone(
            vocabulary_size=30522, num_layers=12, num_heads=12,
            hidden_dim=768, intermediate_dim=3072,
        )
        outputs = backbone({
            "token_ids": np.ones((1, 12), dtype="int32"),
            "segment_ids": np.array([[0] * 6 + [1] * 6], dtype="int32"),
            "padding_mask": np.ones((1, 12), dtype="int32"),
        })
        outputs["sequence_output"]  # (1, 12, 768)
        outputs["pooled_output"]  # (1, 768)
        ```
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        max_sequence_length: int = 512,
        num_segments: int = 2,
        hidden_activation: str = "gelu_approximate",
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        arguments = {
            "vocabulary_size": vocabulary_size,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "hidden_dim": hidden_dim,
            "intermediate_dim": intermediate_dim,
            "dropout": dropout,
            "max_sequence_length": max_sequence_length,
            "num_segments": num_segments,
            "hidden_activation": hidden_activation,
        }
        SPEC.check_arguments(arguments)

        # === Layers ===
        self.token_embedding = token_embedding_layer(
            vocabulary_size, hidden_dim, _truncated_normal(), dtype
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=_truncated_normal(),
            dtype=dtype,
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            input_dim=num_segments,
            output_dim=hidden_dim,
            embeddings_initializer=_truncated_normal(),
            dtype=dtype,
            name="segment_embedding",
        )
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_layer_norm = LayerNormalization(
            axis=-1, epsilon=LAYER_NORM_EPSILON, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerEncoder(
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                layer_norm_epsilon=LAYER_NORM_EPSILON,
                activation=HIDDEN_ACTIVATIONS[hidden_activation],
                kernel_initializer=_truncated_normal(),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=_truncated_normal(),
            activation="tanh",
            dtype=dtype,
            name="pooled_dense",
        )

        # === Functional Model ===
        inputs = token_inputs(SPEC.inputs)
        tokens = self.token_embedding(inputs["token_ids"])  # (B, T, hidden)
        positions = self.position_embedding(tokens)  # (B, T, hidden)
        segments = self.segment_embedding(inputs["segment_ids"])  # (B, T, hidden)
        x = self.embeddings_add((tokens, positions, segments))
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for block in self.transformer_layers:
            x = block(x, padding_mask=inputs["padding_mask"])  # (B, T, hidden)
        sequence_output = x
        pooled_output = self.pooled_dense(x[:, 0, :])  # (B, hidden), from [CLS]
        super().__init__(
            inputs=inputs,
            outputs={"sequence_output": sequence_output, "pooled_output": pooled_output},
            arguments=arguments,
            dtype=dtype,
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        # keras-hub's own configs have no `hidden_activation`: write it only
        # when it is not keras-hub's, so keras-hub presets round-trip unchanged.
        if self.hidden_activation == DEFAULTS["hidden_activation"]:
            del config["hidden_activation"]
        return config
