"""GPT-2, as keras-hub's `GPT2Backbone`: same arguments, graph and weight layout."""

from __future__ import annotations

from typing import Any

import keras

from registry.architectures.backbone import DecoderBackbone, token_embedding_layer
from registry.architectures.gpt2.spec import SPEC
from registry.architectures.gpt2.weights import check_arguments
from registry.architectures.initializers import random_normal
from registry.architectures.transformer import (
    LayerNormalization,
    PositionEmbedding,
    TransformerDecoder,
)

LAYER_NORM_EPSILON = 1e-5


class GPT2Backbone(DecoderBackbone, spec=SPEC):
    """GPT-2 core network: embeddings, pre-norm decoder blocks, final layer norm.

    Weights, variable paths and config match keras-hub's `GPT2Backbone`, so a
    preset saved by either loads in the other. It is called as every
    `DecoderBackbone` is, on token ids and a padding mask.

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

    Example:
        ```python
        from registry import GPT2Backbone

        gpt2_base = GPT2Backbone(
            vocabulary_size=50257, num_layers=12, num_heads=12,
            hidden_dim=768, intermediate_dim=3072,
        )
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
        max_sequence_length: int = 1024,
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
        }
        check_arguments(arguments)

        # === Layers ===
        self.token_embedding = token_embedding_layer(
            vocabulary_size, hidden_dim, random_normal(stddev=0.01), dtype
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

        super().__init__(arguments, dtype=dtype, **kwargs)

    def embed(self, token_ids: Any) -> Any:
        tokens = super().embed(token_ids)
        positions = self.position_embedding(tokens)
        x = self.embeddings_add((tokens, positions))
        return self.embeddings_dropout(x)
