"""GPT-2, as keras-hub's `GPT2Backbone`: same arguments, graph and weight layout."""

from __future__ import annotations

from typing import Any, ClassVar

import keras

from registry.architectures.backbone import Backbone
from registry.architectures.gpt2.spec import SPEC
from registry.architectures.gpt2.weights import check_arguments
from registry.architectures.initializers import random_normal
from registry.architectures.spec import ArchitectureSpec
from registry.architectures.transformer import (
    LayerNormalization,
    PositionEmbedding,
    TransformerDecoder,
)

LAYER_NORM_EPSILON = 1e-5


class GPT2Backbone(Backbone):
    """GPT-2 core network: embeddings, pre-norm decoder blocks, final layer norm.

    Weights, variable paths and config match keras-hub's `GPT2Backbone`, so a
    preset saved by either loads in the other.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_heads: int. The number of attention heads; must divide `hidden_dim`.
        hidden_dim: int. The size of the token representations.
        intermediate_dim: int. The width of each block's feedforward layer.
        dropout: float. Dropout probability in the embeddings and every block.
        max_sequence_length: int. The longest sequence the position embeddings
            cover.
        dtype: string or `keras.DTypePolicy`, e.g. `"float32"`, `"bfloat16"`
            or `"mixed_bfloat16"`. Softmax and layer normalization always
            compute in float32.

    Inputs are `{"token_ids": (batch, seq) int, "padding_mask": (batch, seq)}`;
    the output is the final layer-normed sequence, `(batch, seq, hidden_dim)`.

    Example:
        ```python
        import numpy as np
        from registry import GPT2Backbone

        backbone = GPT2Backbone(
            vocabulary_size=50257, num_layers=12, num_heads=12,
            hidden_dim=768, intermediate_dim=3072,
        )
        outputs = backbone({
            "token_ids": np.ones((1, 12), dtype="int32"),
            "padding_mask": np.ones((1, 12), dtype="int32"),
        })  # (1, 12, 768)
        ```
    """

    spec: ClassVar[ArchitectureSpec] = SPEC

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        max_sequence_length: int = 1024,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        check_arguments(
            {
                "vocabulary_size": vocabulary_size,
                "num_layers": num_layers,
                "num_heads": num_heads,
                "hidden_dim": hidden_dim,
                "intermediate_dim": intermediate_dim,
                "dropout": dropout,
                "max_sequence_length": max_sequence_length,
            }
        )

        # === Layers ===
        self.token_embedding = keras.layers.ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            embeddings_initializer=random_normal(stddev=0.01),
            dtype=dtype,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length,
            initializer=random_normal(stddev=0.02),
            dtype=dtype,
            name="position_embedding",
        )
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerDecoder(
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                layer_norm_epsilon=LAYER_NORM_EPSILON,
                kernel_initializer=random_normal(stddev=0.02),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.layer_norm = LayerNormalization(
            axis=-1, epsilon=LAYER_NORM_EPSILON, dtype=dtype, name="layer_norm"
        )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        tokens = self.token_embedding(token_ids)
        positions = self.position_embedding(tokens)
        x = self.embeddings_add((tokens, positions))
        x = self.embeddings_dropout(x)
        for block in self.transformer_layers:
            x = block(x, padding_mask=padding_mask)
        sequence_output = self.layer_norm(x)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=sequence_output,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "max_sequence_length": self.max_sequence_length,
            }
        )
        return config
