"""Transformer building blocks, laid out as keras-hub lays out its own.

Each composite layer lists its children in `h5_children()` under the attribute
names keras-hub's classes use, so `model.weights.h5` files written by either
project load in the other (see `registry.preset.weights_h5`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import keras
from keras import ops

# The value masked attention scores take before the softmax, as in keras's Softmax.
_MASKED_SCORE = -1e9


class LayerNormalization(keras.layers.LayerNormalization):
    """Keras's layer normalization (same weights, same name in weights files),
    computed in fewer passes over the activations.

    `keras.ops.layer_normalization` makes five passes and a few small ops over
    its input; centring once and scaling in one fused multiply-add takes four:
    0.9 ms instead of 1.4 ms for 8 x 128 x 768 floats on TensorFlow, 25 times
    per GPT-2 base forward pass. Results agree to 5e-7. Configurations other
    than the default (centre and scale over the last axis) use Keras's own.
    """

    def call(self, inputs: Any) -> Any:
        if self.rms_scaling or not (self.center and self.scale) or self.axis not in (-1, [-1]):
            return super().call(inputs)
        x = ops.cast(inputs, "float32")  # as Keras: statistics in float32 at least
        centered = ops.subtract(x, ops.mean(x, axis=-1, keepdims=True))
        variance = ops.mean(ops.square(centered), axis=-1, keepdims=True)
        scale = ops.multiply(ops.rsqrt(ops.add(variance, self.epsilon)), self.gamma)
        outputs = ops.add(ops.multiply(centered, scale), self.beta)
        return ops.cast(outputs, self.compute_dtype)


def clone_initializer(initializer: Any) -> Any:
    """A fresh copy of `initializer`: one instance draws the same values each time
    it is called, so every variable gets its own (keras-hub's `clone_initializer`)."""
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    return initializer.__class__.from_config(initializer.get_config())


def gelu_approximate(x: Any) -> Any:
    """GELU with the tanh approximation (GPT-2's "gelu_new")."""
    return keras.activations.gelu(x, approximate=True)


def causal_padding_mask(padding_mask: Any, sequence_length: Any) -> Any:
    """Combine a (batch, seq) padding mask with a causal mask.

    Returns a boolean mask of shape (batch, 1, seq, seq): query `t` may attend to
    key `s` when `s <= t` and key `s` is not padding.
    """
    positions = ops.arange(sequence_length)
    causal = ops.expand_dims(positions, 1) >= ops.expand_dims(positions, 0)  # (T, S)
    keys = ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)
    return ops.logical_and(keys, causal[None, None, :, :])  # (B, 1, T, S)


def cached_causal_mask(
    start: Any, query_length: Any, key_length: Any, sliding_window: int | None = None
) -> Any:
    """Which cache entries each new token may attend to, during cached decoding.

    The `query_length` new tokens sit at positions `start, start + 1, ...` of a
    key/value cache `key_length` long: query `t` may attend to key `s` when
    `s <= start + t` and, with a sliding window, `start + t - s < sliding_window`.
    No padding mask is needed: generation packs each prompt at the start of its
    row, so every position before a query holds a real token by the time it is
    attended to (entries past a row's prompt are rewritten before they are).

    Returns:
        A boolean tensor of shape `(query_length, key_length)`.
    """
    queries = ops.add(ops.arange(query_length, dtype="int32"), ops.cast(start, "int32"))
    distance = ops.subtract(queries[:, None], ops.arange(key_length, dtype="int32")[None, :])
    allowed = ops.greater_equal(distance, 0)  # (T, S)
    if sliding_window is not None:
        allowed = ops.logical_and(allowed, ops.less(distance, sliding_window))
    return allowed


class PositionEmbedding(keras.layers.Layer):
    """Learned position embeddings, sliced to the input's sequence length."""

    def __init__(
        self,
        sequence_length: int,
        initializer: keras.initializers.Initializer | str = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape: tuple[int | None, ...]) -> None:
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, inputs_shape[-1]),
            initializer=self.initializer,
            trainable=True,
        )

    def call(self, inputs: Any, start_index: Any = 0) -> Any:
        """The embeddings of positions `start_index, ...`, shaped like `inputs`."""
        shape = ops.shape(inputs)
        positions = ops.slice(
            ops.convert_to_tensor(self.position_embeddings),
            (start_index, 0),
            (shape[-2], shape[-1]),
        )
        return ops.broadcast_to(positions, shape)

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config


class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention under the mask it is given (causal for GPT-2, padding
    only for BERT); scores and softmax always in float32."""

    def __init__(
        self,
        num_heads: int,
        hidden_dim: int,
        dropout: float,
        kernel_initializer: keras.initializers.Initializer,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        shared = {"bias_initializer": "zeros", "dtype": self.dtype_policy}
        projection = (None, num_heads, self.head_dim)
        self.query_dense = keras.layers.EinsumDense(
            "abc,cde->abde", projection, bias_axes="de", name="query",
            kernel_initializer=clone_initializer(kernel_initializer), **shared,
        )  # fmt: skip
        self.key_dense = keras.layers.EinsumDense(
            "abc,cde->abde", projection, bias_axes="de", name="key",
            kernel_initializer=clone_initializer(kernel_initializer), **shared,
        )  # fmt: skip
        self.value_dense = keras.layers.EinsumDense(
            "abc,cde->abde", projection, bias_axes="de", name="value",
            kernel_initializer=clone_initializer(kernel_initializer), **shared,
        )  # fmt: skip
        self.output_dense = keras.layers.EinsumDense(
            "abcd,cde->abe", (None, hidden_dim), bias_axes="e", name="attention_output",
            kernel_initializer=clone_initializer(kernel_initializer), **shared,
        )  # fmt: skip
        self._dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")

    def h5_children(self) -> list[tuple[str, keras.layers.Layer]]:
        return [
            ("_dropout_layer", self._dropout_layer),
            ("key_dense", self.key_dense),
            ("output_dense", self.output_dense),
            ("query_dense", self.query_dense),
            ("value_dense", self.value_dense),
        ]

    def build(self, inputs_shape: tuple[int | None, ...]) -> None:
        self.query_dense.build(inputs_shape)
        self.key_dense.build(inputs_shape)
        self.value_dense.build(inputs_shape)
        self.output_dense.build((*inputs_shape[:-1], self.num_heads, self.head_dim))

    def call(self, x: Any, attention_mask: Any, training: bool | None = None) -> Any:
        query = self.query_dense(x)  # (B, T, H, D)
        key = self.key_dense(x)  # (B, S, H, D)
        value = self.value_dense(x)  # (B, S, H, D)
        return self._attend(query, key, value, attention_mask, training)

    def call_cached(self, x: Any, key_cache: Any, value_cache: Any, start: Any) -> Any:
        """Attention of `x`'s tokens (at positions `start, ...`) over a key/value cache.

        Args:
            x: `(batch, new, hidden)`, the new tokens' hidden states.
            key_cache: `(batch, length, heads, head_dim)`, this layer's keys so far.
            value_cache: the same shape, its values.
            start: int tensor, the position of `x`'s first token.

        Returns:
            `(output, key_cache, value_cache)`: the attention output `(batch,
            new, hidden)` and the caches with the new tokens' keys and values
            written at `start`.
        """
        query = self.query_dense(x)  # (B, T, H, D)
        key_cache = ops.slice_update(key_cache, (0, start, 0, 0), self.key_dense(x))
        value_cache = ops.slice_update(value_cache, (0, start, 0, 0), self.value_dense(x))
        mask = cached_causal_mask(start, ops.shape(x)[1], ops.shape(key_cache)[1])
        output = self._attend(query, key_cache, value_cache, mask[None, None], False)
        return output, key_cache, value_cache

    def _attend(
        self, query: Any, key: Any, value: Any, attention_mask: Any, training: bool | None
    ) -> Any:
        """The attention of `query` over `key` and `value` where the mask allows it."""
        query = ops.multiply(query, ops.cast(1.0 / math.sqrt(self.head_dim), query.dtype))
        scores = ops.einsum("bthd,bshd->bhts", query, key)  # (B, H, T, S)
        scores = ops.where(attention_mask, ops.cast(scores, "float32"), _MASKED_SCORE)
        # As keras's Softmax: a query that may see no key (a left-padded position)
        # attends to nothing, rather than evenly to every key.
        weights = ops.where(attention_mask, ops.softmax(scores, axis=-1), 0.0)
        weights = ops.cast(weights, self.compute_dtype)
        weights = self._dropout_layer(weights, training=training)
        attended = ops.einsum("bhts,bshd->bthd", weights, value)  # (B, T, H, D)
        return self.output_dense(attended)  # (B, T, hidden)

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape


class TransformerBlock(keras.layers.Layer):
    """keras-hub's transformer block: self-attention, then a two-layer feedforward network.

    Each of the two adds its input back after dropout, with its layer norm
    before it (pre-norm, `normalize_first`, GPT-2's order) or after the sum
    (post-norm, BERT's). Subclasses choose the mask attention sees and name the
    attention layer as keras-hub's class of the same name does. Children are
    created in computation order, which is the order `weights` lists them in.
    """

    normalize_first: ClassVar[bool]
    attention_name: ClassVar[str]

    def __init__(
        self,
        hidden_dim: int,
        intermediate_dim: int,
        num_heads: int,
        dropout: float,
        layer_norm_epsilon: float,
        kernel_initializer: keras.initializers.Initializer,
        activation: Any = gelu_approximate,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.intermediate_dim = intermediate_dim

        def norm(name: str) -> LayerNormalization:
            return LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name=name)

        # Each norm is created where it computes: before its sub-block, or after it.
        if self.normalize_first:
            self._self_attention_layer_norm = norm("self_attention_layer_norm")
        self._self_attention_layer = SelfAttention(
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            dropout=dropout,
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name=self.attention_name,
        )
        self._self_attention_dropout = keras.layers.Dropout(
            dropout, dtype=policy, name="self_attention_dropout"
        )
        if not self.normalize_first:
            self._self_attention_layer_norm = norm("self_attention_layer_norm")
        if self.normalize_first:
            self._feedforward_layer_norm = norm("feedforward_layer_norm")
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
        if not self.normalize_first:
            self._feedforward_layer_norm = norm("feedforward_layer_norm")

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
        self._self_attention_layer_norm.build(inputs_shape)
        self._self_attention_layer.build(inputs_shape)
        self._feedforward_layer_norm.build(inputs_shape)
        self._feedforward_intermediate_dense.build(inputs_shape)
        self._feedforward_output_dense.build((*inputs_shape[:-1], self.intermediate_dim))

    def attention_mask(self, padding_mask: Any, sequence_length: Any) -> Any:
        """Which keys each query may attend to, `(batch, 1, seq or 1, seq)` booleans."""
        raise NotImplementedError

    def call(self, x: Any, padding_mask: Any, training: bool | None = None) -> Any:
        mask = self.attention_mask(padding_mask, ops.shape(x)[1])

        def attend(x: Any) -> Any:
            return self._self_attention_layer(x, attention_mask=mask, training=training)

        x = self._residual(
            x, attend, self._self_attention_dropout, self._self_attention_layer_norm, training
        )
        return self._residual(
            x, self._feedforward, self._feedforward_dropout, self._feedforward_layer_norm, training
        )

    def _feedforward(self, x: Any) -> Any:
        x = self._feedforward_intermediate_dense(x)  # (B, T, intermediate)
        return self._feedforward_output_dense(x)  # (B, T, hidden)

    def _residual(
        self, x: Any, sublayer: Any, dropout: Any, norm: Any, training: bool | None
    ) -> Any:
        """`sublayer`, dropout and the residual sum, with `norm` first or last."""
        residual = x  # (B, T, hidden)
        if self.normalize_first:
            x = norm(x)
        x = dropout(sublayer(x), training=training) + residual
        return x if self.normalize_first else norm(x)

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape


class TransformerDecoder(TransformerBlock):
    """A pre-norm decoder block: causal self-attention, then a GELU MLP."""

    normalize_first = True
    attention_name = "self_attention"

    def attention_mask(self, padding_mask: Any, sequence_length: Any) -> Any:
        return causal_padding_mask(padding_mask, sequence_length)  # (B, 1, T, S)

    def call_cached(self, x: Any, key_cache: Any, value_cache: Any, start: Any) -> Any:
        """The block on new tokens at positions `start, ...`, attending over a cache.

        Inference only (no dropout); the same computation as `call` for those
        tokens. Returns `(output, key_cache, value_cache)` (see
        `SelfAttention.call_cached`).
        """
        attended, key_cache, value_cache = self._self_attention_layer.call_cached(
            self._self_attention_layer_norm(x), key_cache, value_cache, start
        )
        x = attended + x  # (B, T, hidden)
        x = self._feedforward(self._feedforward_layer_norm(x)) + x
        return x, key_cache, value_cache
