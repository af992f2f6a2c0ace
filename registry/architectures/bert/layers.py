"""BERT's encoder block, laid out as keras-hub lays out its own.

`TransformerEncoder` lists its children in `h5_children()` under the attribute
names of keras-hub's `TransformerEncoder` (and Keras's `MultiHeadAttention`
below it), so `model.weights.h5` files written by either project load in the
other (see `registry.preset.weights_h5`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from registry.architectures.transformer import (
    LayerNormalization,
    SelfAttention,
    clone_initializer,
    gelu_approximate,
)


def gelu_exact(x: Any) -> Any:
    """GELU with the error function (transformers' BERT `hidden_act: "gelu"`)."""
    return keras.activations.gelu(x, approximate=False)


# BertBackbone's `hidden_activation` -> the function its feedforward layers apply.
HIDDEN_ACTIVATIONS = {"gelu_approximate": gelu_approximate, "gelu": gelu_exact}


class TransformerEncoder(keras.layers.Layer):
    """A post-norm encoder block: self-attention, then a GELU feedforward network.

    Each sub-block adds its input back and then normalizes (BERT's order), and
    attention sees every unpadded position in both directions.
    """

    def __init__(
        self,
        hidden_dim: int,
        intermediate_dim: int,
        num_heads: int,
        dropout: float,
        layer_norm_epsilon: float,
        activation: Any,
        kernel_initializer: keras.initializers.Initializer,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        policy = self.dtype_policy
        # The shared attention applies the mask it is given; BERT's hides
        # padded keys only, so it attends in both directions.
        self._self_attention_layer = SelfAttention(
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            dropout=dropout,
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name="self_attention_layer",
        )
        self._self_attention_dropout = keras.layers.Dropout(
            dropout, dtype=policy, name="self_attention_dropout"
        )
        self._self_attention_layer_norm = LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="self_attention_layer_norm"
        )
        self._feedforward_intermediate_dense = keras.layers.Dense(
            intermediate_dim,
            activation=activation,
            kernel_initializer=clone_initializer(kernel_initializer),
            dtype=policy,
            name="feedforward_intermediate_dense",
        )
        self._feedforward_output_dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=clone_initializer(kernel_initializer),
            dtype=policy,
            name="feedforward_output_dense",
        )
        self._feedforward_dropout = keras.layers.Dropout(
            dropout, dtype=policy, name="feedforward_dropout"
        )
        self._feedforward_layer_norm = LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="feedforward_layer_norm"
        )
        self.intermediate_dim = intermediate_dim

    def h5_children(self) -> list[tuple[str, keras.layers.Layer]]:
        return [
            ("_feedforward_dropout", self._feedforward_dropout),
            ("_feedforward_intermediate_dense", self._feedforward_intermediate_dense),
            ("_feedforward_layer_norm", self._feedforward_layer_norm),
            ("_feedforward_output_dense", self._feedforward_output_dense),
            ("_self_attention_dropout", self._self_attention_dropout),
            ("_self_attention_layer", self._self_attention_layer),
            ("_self_attention_layer_norm", self._self_attention_layer_norm),
        ]

    def build(self, inputs_shape: tuple[int | None, ...]) -> None:
        self._self_attention_layer.build(inputs_shape)
        self._self_attention_layer_norm.build(inputs_shape)
        self._feedforward_intermediate_dense.build(inputs_shape)
        self._feedforward_output_dense.build((*inputs_shape[:-1], self.intermediate_dim))
        self._feedforward_layer_norm.build(inputs_shape)

    def call(self, x: Any, padding_mask: Any, training: bool | None = None) -> Any:
        mask = ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)

        residual = x  # (B, T, hidden)
        x = self._self_attention_layer(x, attention_mask=mask, training=training)
        x = self._self_attention_dropout(x, training=training)
        x = self._self_attention_layer_norm(x + residual)

        residual = x
        x = self._feedforward_intermediate_dense(x)  # (B, T, intermediate)
        x = self._feedforward_output_dense(x)  # (B, T, hidden)
        x = self._feedforward_dropout(x, training=training)
        return self._feedforward_layer_norm(x + residual)

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape
