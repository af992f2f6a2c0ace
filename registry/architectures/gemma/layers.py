"""Gemma's layers, laid out as keras-hub lays out its own.

Each composite layer lists its children in `h5_children()` under the attribute
names keras-hub's classes use (in the sorted order Keras's saver visits them),
so `model.weights.h5` files written by either project load in the other (see
`registry.preset.weights_h5`). The math is keras-hub 0.32's, op for op where
it matters to the last bit: RMS normalization in float32 scaling by
`1 + scale`, rotary embeddings, grouped-query attention with an optional soft
cap on its logits and a float32 softmax, and a GeGLU feedforward network.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from registry.architectures.initializers import skippable
from registry.architectures.transformer import cached_causal_mask


def attention_mask(padding_mask: Any, sequence_length: Any, sliding_window: int | None) -> Any:
    """Which keys each query may attend to, as keras-hub's Gemma decoder block computes it.

    Query `t` may attend to key `s` when `s <= t`, key `s` is not padding, and,
    with a sliding window, `t - s < sliding_window`.

    Returns:
        A boolean tensor of shape `(batch, seq, seq)`.
    """
    positions = ops.arange(sequence_length)
    distance = ops.expand_dims(positions, 1) - ops.expand_dims(positions, 0)  # (T, S)
    allowed = ops.greater_equal(distance, 0)
    if sliding_window is not None:
        allowed = ops.logical_and(allowed, ops.less(distance, sliding_window))
    keys = ops.cast(padding_mask, "bool")[:, None, :]  # (B, 1, S)
    return ops.logical_and(keys, allowed[None, :, :])  # (B, T, S)


class RMSNormalization(keras.layers.Layer):
    """Gemma's RMS normalization: `x / rms(x) * (1 + scale)`, always in float32.

    Args:
        epsilon: float. Added to the mean square before its square root.
    """

    def __init__(self, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.scale = self.add_weight(
            name="scale", shape=(input_shape[-1],), initializer="zeros", trainable=True
        )

    def call(self, x: Any) -> Any:
        x = ops.cast(x, "float32")
        scale = ops.cast(self.scale, "float32")
        variance = ops.mean(ops.square(x), axis=-1, keepdims=True)  # (..., 1)
        normed = x * ops.reciprocal(ops.sqrt(variance + self.epsilon))
        return ops.cast(normed * (1 + scale), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        return input_shape


class RotaryEmbedding(keras.layers.Layer):
    """Rotary position embeddings over `(batch, seq, heads, head_dim)`, positions from 0.

    Rotates the pair `(x[i], x[i + head_dim / 2])` by `position * wavelength ** (-2i / head_dim)`,
    as keras-hub's `RotaryEmbedding` (and transformers' `rotate_half`) do.

    Then, as keras-hub's Gemma attention does, the two halves of every head are
    interleaved. That permutes queries and keys alike, so the attention is the
    same without it; with it, sums run in keras-hub's order and outputs match
    keras-hub's bit for bit rather than within 1e-5.

    Args:
        max_wavelength: float. The longest wavelength of the rotations.
    """

    def __init__(self, max_wavelength: float = 10_000.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def call(self, x: Any, start_index: Any = 0) -> Any:
        """Rotate `x` as the tokens at positions `start_index, start_index + 1, ...`."""
        shape = ops.shape(x)
        head_dim = shape[-1]
        positions = ops.arange(shape[1], dtype="float32")  # (T,)
        if not isinstance(start_index, int) or start_index:
            positions = ops.add(positions, ops.cast(start_index, "float32"))
        exponents = ops.arange(0, head_dim, 2, dtype="float32") / ops.cast(head_dim, "float32")
        inverse_frequencies = ops.power(ops.cast(self.max_wavelength, "float32"), -exponents)
        angles = positions[:, None] * inverse_frequencies[None, :]  # (T, D / 2)
        angles = ops.reshape(ops.stack((angles, angles), axis=-2), (-1, head_dim))  # (T, D)
        cos = ops.cast(ops.cos(angles), self.compute_dtype)[None, :, None, :]  # (1, T, 1, D)
        sin = ops.cast(ops.sin(angles), self.compute_dtype)[None, :, None, :]  # (1, T, 1, D)
        first, second = ops.split(x, 2, axis=-1)  # (B, T, N, D / 2) each
        # `ops.stack` rather than `ops.concatenate`, as keras-hub (an XLA bug on JAX).
        rotated = ops.reshape(ops.stack((-second, first), axis=-2), shape)  # (B, T, N, D)
        x = x * cos + rotated * sin
        return ops.reshape(ops.stack(ops.split(x, 2, axis=-1), axis=-1), shape)  # (B, T, N, D)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        return input_shape


class GemmaAttention(keras.layers.Layer):
    """Grouped-query self-attention with rotary embeddings and an optional logit soft cap.

    `num_query_heads / num_key_value_heads` query heads share each key/value
    head (one key/value head is multi-query attention). Queries are scaled by
    `1 / sqrt(head_dim)`, as keras-hub 0.32 always does; the softmax runs in
    float32 and gives a query that may see no key (a left-padded position)
    all-zero weights, which is what keras-hub's own wiping of such rows yields.
    """

    def __init__(
        self,
        hidden_dim: int,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        logit_soft_cap: float | None = None,
        dropout: float = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.logit_soft_cap = logit_soft_cap
        policy = self.dtype_policy

        def dense(equation: str, output_shape: tuple[Any, ...], name: str) -> Any:
            return keras.layers.EinsumDense(
                equation,
                output_shape=output_shape,
                kernel_initializer=skippable("glorot_uniform"),
                dtype=policy,
                name=name,
            )

        self.query_dense = dense("btd,ndh->btnh", (None, num_query_heads, head_dim), "query")
        self.key_dense = dense("bsd,kdh->bskh", (None, num_key_value_heads, head_dim), "key")
        self.value_dense = dense("bsd,kdh->bskh", (None, num_key_value_heads, head_dim), "value")
        self.output_dense = dense("btnh,nhd->btd", (None, hidden_dim), "attention_output")
        self.rope_layer = RotaryEmbedding(dtype=policy, name="rotary_embedding")
        self.softmax = keras.layers.Softmax(dtype="float32", name="softmax")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")

    def h5_children(self) -> list[tuple[str, keras.layers.Layer]]:
        return [
            ("dropout_layer", self.dropout_layer),
            ("key_dense", self.key_dense),
            ("output_dense", self.output_dense),
            ("query_dense", self.query_dense),
            ("rope_layer", self.rope_layer),
            ("softmax", self.softmax),
            ("value_dense", self.value_dense),
        ]

    def build(self, inputs_shape: tuple[int | None, ...]) -> None:
        self.query_dense.build(inputs_shape)
        self.key_dense.build(inputs_shape)
        self.value_dense.build(inputs_shape)
        self.output_dense.build((None, None, self.num_query_heads, self.head_dim))

    def call(self, x: Any, attention_mask: Any, training: bool | None = None) -> Any:
        # `attention_mask`: (B, T, S) booleans, True where query t may see key s.
        query = self.rope_layer(self.query_dense(x))  # (B, T, N, H)
        key = self.rope_layer(self.key_dense(x))  # (B, S, K, H)
        value = self.value_dense(x)  # (B, S, K, H)
        return self._attend(query, key, value, attention_mask, training)

    def call_cached(
        self,
        x: Any,
        key_cache: Any,
        value_cache: Any,
        start: Any,
        sliding_window: int | None = None,
    ) -> Any:
        """Attention of `x`'s tokens (at positions `start, ...`) over a key/value cache.

        Args:
            x: `(batch, new, hidden)`, the new tokens' hidden states.
            key_cache: `(batch, length, key_value_heads, head_dim)`, rotated keys so far.
            value_cache: the same shape, the values so far.
            start: int tensor, the position of `x`'s first token.
            sliding_window: attend only to the last this many positions (the
                query's own included), if set.

        Returns:
            `(output, key_cache, value_cache)`, the caches with the new tokens'
            keys and values written at `start`.
        """
        query = self.rope_layer(self.query_dense(x), start_index=start)  # (B, T, N, H)
        key = self.rope_layer(self.key_dense(x), start_index=start)  # (B, T, K, H)
        key_cache = ops.slice_update(key_cache, (0, start, 0, 0), key)
        value_cache = ops.slice_update(value_cache, (0, start, 0, 0), self.value_dense(x))
        mask = cached_causal_mask(
            start, ops.shape(x)[1], ops.shape(key_cache)[1], sliding_window
        )  # (T, S)
        output = self._attend(query, key_cache, value_cache, mask[None], False)
        return output, key_cache, value_cache

    def _attend(
        self, query: Any, key: Any, value: Any, attention_mask: Any, training: bool | None
    ) -> Any:
        """Grouped-query attention of `query` over `key` and `value` where the mask allows."""
        groups = self.num_query_heads // self.num_key_value_heads
        query = query * ops.cast(1 / np.sqrt(self.head_dim), query.dtype)
        batch, length = ops.shape(query)[0], ops.shape(query)[1]
        query = ops.reshape(
            query, (batch, length, self.num_key_value_heads, groups, self.head_dim)
        )  # (B, T, K, G, H)
        logits = ops.einsum("btkgh,bskh->bkgts", query, key)  # (B, K, G, T, S)
        if self.logit_soft_cap is not None:
            logits = ops.multiply(
                ops.tanh(ops.divide(logits, self.logit_soft_cap)), self.logit_soft_cap
            )
        weights = self.softmax(logits, mask=attention_mask[:, None, None, :, :])  # float32
        weights = self.dropout_layer(ops.cast(weights, logits.dtype), training=training)
        attended = ops.einsum("bkgts,bskh->btkgh", weights, value)  # (B, T, K, G, H)
        attended = ops.reshape(
            attended, (batch, length, self.num_query_heads, self.head_dim)
        )  # (B, T, N, H)
        return self.output_dense(attended)  # (B, T, hidden)

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape


class GemmaDecoderBlock(keras.layers.Layer):
    """A Gemma decoder block: pre-norm attention, then a pre-norm GeGLU network.

    Gemma 2 adds a norm after the attention and one after the feedforward
    network (`use_post_attention_norm`, `use_post_ffw_norm`), a soft cap on the
    attention logits, and, on every other block, a sliding attention window.
    """

    def __init__(
        self,
        hidden_dim: int,
        intermediate_dim: int,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        use_post_ffw_norm: bool = False,
        use_post_attention_norm: bool = False,
        logit_soft_cap: float | None = None,
        use_sliding_window_attention: bool = False,
        sliding_window_size: int = 4096,
        layer_norm_epsilon: float = 1e-6,
        dropout: float = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.sliding_window_size = sliding_window_size if use_sliding_window_attention else None
        policy = self.dtype_policy

        def norm(name: str) -> RMSNormalization:
            return RMSNormalization(epsilon=layer_norm_epsilon, dtype=policy, name=name)

        def dense(equation: str, width: int, name: str) -> Any:
            return keras.layers.EinsumDense(
                equation,
                output_shape=(None, width),
                kernel_initializer=skippable("glorot_uniform"),
                dtype=policy,
                name=name,
            )

        self.pre_attention_norm = norm("pre_attention_norm")
        self.post_attention_norm = norm("post_attention_norm") if use_post_attention_norm else None
        self.attention = GemmaAttention(
            hidden_dim=hidden_dim,
            head_dim=head_dim,
            num_query_heads=num_query_heads,
            num_key_value_heads=num_key_value_heads,
            logit_soft_cap=logit_soft_cap,
            dropout=dropout,
            dtype=policy,
            name="attention",
        )
        self.attention_dropout = (
            keras.layers.Dropout(dropout, dtype=policy, name="attention_dropout")
            if dropout > 0
            else None
        )
        self.pre_ffw_norm = norm("pre_ffw_norm")
        self.post_ffw_norm = norm("post_ffw_norm") if use_post_ffw_norm else None
        # keras-hub's `intermediate_dim` counts both gating kernels: each is half as wide.
        self.gating_ffw = dense("btd,df->btf", intermediate_dim // 2, "ffw_gating")
        self.gating_ffw_2 = dense("btd,df->btf", intermediate_dim // 2, "ffw_gating_2")
        self.ffw_linear = dense("btf,fd->btd", hidden_dim, "ffw_linear")

    def h5_children(self) -> list[tuple[str, keras.layers.Layer]]:
        children = [
            ("attention", self.attention),
            ("attention_dropout", self.attention_dropout),
            ("ffw_linear", self.ffw_linear),
            ("gating_ffw", self.gating_ffw),
            ("gating_ffw_2", self.gating_ffw_2),
            ("post_attention_norm", self.post_attention_norm),
            ("post_ffw_norm", self.post_ffw_norm),
            ("pre_attention_norm", self.pre_attention_norm),
            ("pre_ffw_norm", self.pre_ffw_norm),
        ]
        return [(name, layer) for name, layer in children if layer is not None]

    def build(self, inputs_shape: tuple[int | None, ...]) -> None:
        self.pre_attention_norm.build(inputs_shape)
        self.attention.build(inputs_shape)
        self.pre_ffw_norm.build(inputs_shape)
        self.gating_ffw.build(inputs_shape)
        self.gating_ffw_2.build(inputs_shape)
        self.ffw_linear.build((*inputs_shape[:-1], self.intermediate_dim // 2))
        for post_norm in (self.post_attention_norm, self.post_ffw_norm):
            if post_norm is not None:
                post_norm.build(inputs_shape)

    def call(self, x: Any, padding_mask: Any, training: bool | None = None) -> Any:
        mask = attention_mask(padding_mask, ops.shape(x)[1], self.sliding_window_size)

        attended = self.attention(
            self.pre_attention_norm(x), attention_mask=mask, training=training
        )
        if self.post_attention_norm is not None:
            attended = self.post_attention_norm(attended)
        if self.attention_dropout is not None:
            attended = self.attention_dropout(attended, training=training)
        x = x + attended  # (B, T, hidden)

        return x + self._feedforward(x)

    def call_cached(self, x: Any, key_cache: Any, value_cache: Any, start: Any) -> Any:
        """The block on new tokens at positions `start, ...`, attending over a cache.

        Inference only (no dropout); the same computation as `call` for those
        tokens, sliding window and soft cap included. Returns `(output,
        key_cache, value_cache)` (see `GemmaAttention.call_cached`).
        """
        attended, key_cache, value_cache = self.attention.call_cached(
            self.pre_attention_norm(x), key_cache, value_cache, start, self.sliding_window_size
        )
        if self.post_attention_norm is not None:
            attended = self.post_attention_norm(attended)
        x = x + attended  # (B, T, hidden)
        return x + self._feedforward(x), key_cache, value_cache

    def _feedforward(self, x: Any) -> Any:
        """The GeGLU network on the normed `x`, then its norm (Gemma 2)."""
        normed = self.pre_ffw_norm(x)
        gate = keras.activations.gelu(self.gating_ffw(normed), approximate=True)
        hidden = self.ffw_linear(gate * self.gating_ffw_2(normed))  # (B, T, hidden)
        if self.post_ffw_norm is not None:
            hidden = self.post_ffw_norm(hidden)
        return hidden

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape
