"""Llama's layers, laid out as keras-hub lays out its own.

RMS normalization, rotary position embeddings (with Llama 3.1's frequency
scaling), grouped-query causal self-attention and a SwiGLU feedforward block.
The math is keras-hub's, step for step and in the same precision (norms,
softmax and SiLU in float32), written with `keras.ops` only so that every
Keras backend runs it. Each composite layer lists its children in
`h5_children()` under keras-hub's attribute names, in the order Keras's saver
visits them (sorted), so `model.weights.h5` files move both ways.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from registry.architectures.transformer import cached_causal_mask, causal_padding_mask


class LlamaLayerNorm(keras.layers.Layer):
    """RMS normalization with a learned scale, computed in float32.

    Args:
        epsilon: float. Added to the mean square before the square root.
    """

    def __init__(self, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.scale = self.add_weight(
            name="scale",
            shape=(input_shape[-1],),
            initializer="ones",
            trainable=True,
            dtype=self.variable_dtype,
        )

    def call(self, x: Any) -> Any:
        x = ops.cast(x, "float32")
        mean_square = ops.mean(ops.square(x), axis=-1, keepdims=True)  # (B, T, 1)
        x = ops.multiply(x, ops.rsqrt(ops.add(mean_square, self.epsilon)))
        return ops.cast(ops.multiply(x, ops.cast(self.scale, "float32")), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


class LlamaRotaryEmbedding(keras.layers.Layer):
    """Rotary position embeddings over the last axis of (batch, seq, heads, head_dim).

    The rotation pairs feature `i` with feature `i + head_dim / 2` (the
    "rotate half" convention of keras-hub and transformers' Llama). With the
    four Llama 3.1 arguments set, low frequencies are divided by
    `frequency_adjustment_factor` and the middle band is interpolated, as
    transformers' `rope_type: "llama3"`.

    Args:
        max_wavelength: float. The base of the geometric frequency series
            (transformers' `rope_theta`).
        frequency_adjustment_factor: float or None. Llama 3.1's `factor`.
        low_freq_factor: float or None. Llama 3.1's `low_freq_factor`.
        high_freq_factor: float or None. Llama 3.1's `high_freq_factor`.
        pretraining_sequence_length: int or None. Llama 3.1's
            `original_max_position_embeddings`.
    """

    def __init__(
        self,
        max_wavelength: float = 10000,
        frequency_adjustment_factor: float | None = None,
        low_freq_factor: float | None = None,
        high_freq_factor: float | None = None,
        pretraining_sequence_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.frequency_adjustment_factor = frequency_adjustment_factor
        self.low_freq_factor = low_freq_factor
        self.high_freq_factor = high_freq_factor
        self.pretraining_sequence_length = pretraining_sequence_length
        self.built = True

    def inverse_frequencies(self, rotary_dim: int) -> Any:
        """The rotation speed of each feature pair, (rotary_dim / 2,) float32."""
        exponents = ops.divide(
            ops.arange(0, rotary_dim, 2, dtype="float32"), ops.cast(rotary_dim, "float32")
        )
        inverse = ops.divide(1.0, ops.power(ops.cast(self.max_wavelength, "float32"), exponents))
        if self.frequency_adjustment_factor is None:
            return inverse
        factor = float(self.frequency_adjustment_factor)
        low, high = float(self.low_freq_factor or 0), float(self.high_freq_factor or 0)
        length = float(self.pretraining_sequence_length or 0)
        wavelength = ops.divide(2 * math.pi, inverse)
        # Long wavelengths (beyond length / low) slow down by `factor`, short ones
        # (under length / high) stay, and the band between is interpolated.
        inverse = ops.where(ops.greater(wavelength, length / low), inverse / factor, inverse)
        smooth = ops.divide(ops.subtract(ops.divide(length, wavelength), low), high - low)
        smoothed = ops.add(
            ops.multiply(1 - smooth, inverse / factor), ops.multiply(smooth, inverse)
        )
        is_middle = ops.logical_and(
            ops.greater_equal(wavelength, length / high),
            ops.less_equal(wavelength, length / low),
        )
        return ops.where(is_middle, smoothed, inverse)

    def call(self, x: Any, start_index: Any = 0) -> Any:
        """Rotate `x` as the tokens at positions `start_index, start_index + 1, ...`."""
        rotary_dim = x.shape[-1]
        positions = ops.arange(ops.shape(x)[1], dtype="float32")  # (T,)
        if not isinstance(start_index, int) or start_index:
            positions = ops.add(positions, ops.cast(start_index, "float32"))
        angles = ops.einsum("t,f->tf", positions, self.inverse_frequencies(rotary_dim))
        angles = ops.concatenate([angles, angles], axis=-1)[None, :, None, :]  # (1, T, 1, D)
        cos = ops.cast(ops.cos(angles), self.compute_dtype)
        sin = ops.cast(ops.sin(angles), self.compute_dtype)
        first, second = ops.split(x, 2, axis=-1)  # (B, T, H, D/2) each
        rotated = ops.concatenate([ops.negative(second), first], axis=-1)  # (B, T, H, D)
        return ops.add(ops.multiply(x, cos), ops.multiply(rotated, sin))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "frequency_adjustment_factor": self.frequency_adjustment_factor,
                "low_freq_factor": self.low_freq_factor,
                "high_freq_factor": self.high_freq_factor,
                "pretraining_sequence_length": self.pretraining_sequence_length,
            }
        )
        return config


class LlamaAttention(keras.layers.Layer):
    """Grouped-query causal self-attention with rotary embeddings, no biases.

    Each key/value head serves `num_query_heads // num_key_value_heads`
    consecutive query heads (keras-hub's `ops.repeat` order), computed without
    copying the keys and values. Scores are scaled in the compute dtype and
    normalized by a float32 `keras.layers.Softmax`, which also gives a query
    that may see no key (a left-padded position) zero weights, as keras-hub's
    does.

    Args:
        num_query_heads: int. The number of query heads.
        num_key_value_heads: int. The number of key and value heads.
        hidden_dim: int. The size of the token representations.
        rotary_embedding: LlamaRotaryEmbedding. Applied to queries and keys.
        kernel_initializer: initializer of the four projections.
        dropout: float. Dropout on the attended values, in training.
    """

    def __init__(
        self,
        num_query_heads: int,
        num_key_value_heads: int,
        hidden_dim: int,
        rotary_embedding: LlamaRotaryEmbedding,
        kernel_initializer: keras.initializers.Initializer,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = hidden_dim // num_query_heads
        self.groups = num_query_heads // num_key_value_heads
        policy = self.dtype_policy

        # === Layers ===
        self._query_dense = keras.layers.EinsumDense(
            "btm,muh->btuh",
            (None, num_query_heads, self.head_dim),
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name="query",
        )
        self._key_dense = keras.layers.EinsumDense(
            "bsm,mvh->bsvh",
            (None, num_key_value_heads, self.head_dim),
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name="key",
        )
        self._value_dense = keras.layers.EinsumDense(
            "bsm,mvh->bsvh",
            (None, num_key_value_heads, self.head_dim),
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name="value",
        )
        self._softmax = keras.layers.Softmax(axis=-1, dtype="float32", name="attention_softmax")
        self._dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="attention_dropout")
        self._output_dense = keras.layers.EinsumDense(
            "btuh,uhm->btm",
            (None, hidden_dim),
            kernel_initializer=kernel_initializer,
            dtype=policy,
            name="attention_output",
        )
        self.rotary_embedding_layer = rotary_embedding

    def h5_children(self) -> list[tuple[str, keras.layers.Layer]]:
        return [
            ("_dropout_layer", self._dropout_layer),
            ("_key_dense", self._key_dense),
            ("_output_dense", self._output_dense),
            ("_query_dense", self._query_dense),
            ("_softmax", self._softmax),
            ("_value_dense", self._value_dense),
            ("rotary_embedding_layer", self.rotary_embedding_layer),
        ]

    def build(self, inputs_shape: tuple[int | None, ...]) -> None:
        self._query_dense.build(inputs_shape)
        self._key_dense.build(inputs_shape)
        self._value_dense.build(inputs_shape)
        self._output_dense.build((None, None, self.num_query_heads, self.head_dim))

    def call(self, x: Any, attention_mask: Any, training: bool | None = None) -> Any:
        # `attention_mask`: (B, 1, T, S) booleans, True where query t may see key s.
        query = self.rotary_embedding_layer(self._query_dense(x))  # (B, T, Hq, D)
        key = self.rotary_embedding_layer(self._key_dense(x))  # (B, S, Hkv, D)
        value = self._value_dense(x)  # (B, S, Hkv, D)
        return self._attend(query, key, value, attention_mask, training)

    def call_cached(self, x: Any, key_cache: Any, value_cache: Any, start: Any) -> Any:
        """Attention of `x`'s tokens (at positions `start, ...`) over a key/value cache.

        Args:
            x: `(batch, new, hidden)`, the new tokens' hidden states.
            key_cache: `(batch, length, key_value_heads, head_dim)`, rotated keys so far.
            value_cache: the same shape, the values so far.
            start: int tensor, the position of `x`'s first token.

        Returns:
            `(output, key_cache, value_cache)`, the caches with the new tokens'
            keys and values written at `start`.
        """
        query = self.rotary_embedding_layer(
            self._query_dense(x), start_index=start
        )  # (B, T, Hq, D)
        key = self.rotary_embedding_layer(self._key_dense(x), start_index=start)  # (B, T, Hkv, D)
        key_cache = ops.slice_update(key_cache, (0, start, 0, 0), key)
        value_cache = ops.slice_update(value_cache, (0, start, 0, 0), self._value_dense(x))
        mask = cached_causal_mask(start, ops.shape(x)[1], ops.shape(key_cache)[1])
        output = self._attend(query, key_cache, value_cache, mask[None, None], False)
        return output, key_cache, value_cache

    def _attend(
        self, query: Any, key: Any, value: Any, attention_mask: Any, training: bool | None
    ) -> Any:
        """Grouped-query attention of `query` over `key` and `value` where the mask allows."""
        batch, length = ops.shape(query)[0], ops.shape(query)[1]
        grouped_shape = (batch, length, self.num_key_value_heads, self.groups, self.head_dim)
        query = ops.reshape(query, grouped_shape)  # (B, T, Hkv, G, D)
        scores = ops.einsum("btvgh,bsvh->bvgts", query, key)  # (B, Hkv, G, T, S)
        scores = ops.multiply(scores, ops.cast(1.0 / math.sqrt(self.head_dim), self.compute_dtype))
        mask = ops.expand_dims(attention_mask, 2)  # (B, 1, 1, T, S)
        weights = self._softmax(scores, mask=mask)
        weights = ops.cast(weights, self.compute_dtype)
        attended = ops.einsum("bvgts,bsvh->btvgh", weights, value)  # (B, T, Hkv, G, D)
        attended = ops.reshape(attended, (batch, length, self.num_query_heads, self.head_dim))
        attended = self._dropout_layer(attended, training=training)
        return self._output_dense(attended)  # (B, T, hidden)

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape


class LlamaTransformerDecoder(keras.layers.Layer):
    """A pre-norm Llama block: RMS norm, attention, RMS norm, SwiGLU feedforward.

    Args:
        hidden_dim: int. The size of the token representations.
        intermediate_dim: int. The width of the gated feedforward layer.
        num_query_heads: int. The number of query heads.
        num_key_value_heads: int. The number of key and value heads.
        rope_max_wavelength: float. The rotary embeddings' base.
        rope_frequency_adjustment_factor: float or None. Llama 3.1 scaling.
        rope_low_freq_factor: float or None. Llama 3.1 scaling.
        rope_high_freq_factor: float or None. Llama 3.1 scaling.
        rope_pretraining_sequence_length: int or None. Llama 3.1 scaling.
        layer_norm_epsilon: float. The RMS norms' epsilon.
        kernel_initializer: initializer of every projection.
        dropout: float. Dropout after attention, in training.
    """

    def __init__(
        self,
        hidden_dim: int,
        intermediate_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        rope_max_wavelength: float,
        rope_frequency_adjustment_factor: float | None,
        rope_low_freq_factor: float | None,
        rope_high_freq_factor: float | None,
        rope_pretraining_sequence_length: int | None,
        layer_norm_epsilon: float,
        kernel_initializer: keras.initializers.Initializer,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.intermediate_dim = intermediate_dim

        # === Layers ===
        self._self_attention_layernorm = LlamaLayerNorm(
            epsilon=layer_norm_epsilon, dtype=policy, name="self_attention_layernorm"
        )
        self._self_attention_layer = LlamaAttention(
            num_query_heads=num_query_heads,
            num_key_value_heads=num_key_value_heads,
            hidden_dim=hidden_dim,
            rotary_embedding=LlamaRotaryEmbedding(
                max_wavelength=rope_max_wavelength,
                frequency_adjustment_factor=rope_frequency_adjustment_factor,
                low_freq_factor=rope_low_freq_factor,
                high_freq_factor=rope_high_freq_factor,
                pretraining_sequence_length=rope_pretraining_sequence_length,
                dtype=policy,
                name="rotary_embedding",
            ),
            kernel_initializer=kernel_initializer,
            dropout=dropout,
            dtype=policy,
            name="self_attention",
        )
        self._self_attention_dropout = keras.layers.Dropout(
            dropout, dtype=policy, name="self_attention_dropout"
        )
        self._feedforward_layernorm = LlamaLayerNorm(
            epsilon=layer_norm_epsilon, dtype=policy, name="feedforward_layernorm"
        )
        dense = {"use_bias": False, "kernel_initializer": kernel_initializer, "dtype": policy}
        self._feedforward_gate_dense = keras.layers.Dense(
            intermediate_dim, name="feedforward_gate_dense", **dense
        )
        self._feedforward_intermediate_dense = keras.layers.Dense(
            intermediate_dim, name="feedforward_intermediate_dense", **dense
        )
        self._feedforward_output_dense = keras.layers.Dense(
            hidden_dim, name="feedforward_output_dense", **dense
        )

    def h5_children(self) -> list[tuple[str, keras.layers.Layer]]:
        return [
            ("_feedforward_gate_dense", self._feedforward_gate_dense),
            ("_feedforward_intermediate_dense", self._feedforward_intermediate_dense),
            ("_feedforward_layernorm", self._feedforward_layernorm),
            ("_feedforward_output_dense", self._feedforward_output_dense),
            ("_self_attention_dropout", self._self_attention_dropout),
            ("_self_attention_layer", self._self_attention_layer),
            ("_self_attention_layernorm", self._self_attention_layernorm),
        ]

    def build(self, inputs_shape: tuple[int | None, ...]) -> None:
        self._self_attention_layernorm.build(inputs_shape)
        self._self_attention_layer.build(inputs_shape)
        self._feedforward_layernorm.build(inputs_shape)
        self._feedforward_gate_dense.build(inputs_shape)
        self._feedforward_intermediate_dense.build(inputs_shape)
        self._feedforward_output_dense.build((*inputs_shape[:-1], self.intermediate_dim))

    def call(self, x: Any, padding_mask: Any, training: bool | None = None) -> Any:
        mask = causal_padding_mask(padding_mask, ops.shape(x)[1])  # (B, 1, T, S)

        residual = x
        x = self._self_attention_layernorm(x)
        x = self._self_attention_layer(x, attention_mask=mask, training=training)
        x = ops.add(self._self_attention_dropout(x, training=training), residual)
        return ops.add(self._feedforward(self._feedforward_layernorm(x)), x)

    def call_cached(self, x: Any, key_cache: Any, value_cache: Any, start: Any) -> Any:
        """The block on new tokens at positions `start, ...`, attending over a cache.

        Inference only (no dropout); the same computation as `call` for those
        tokens. Returns `(output, key_cache, value_cache)` (see
        `LlamaAttention.call_cached`).
        """
        attended, key_cache, value_cache = self._self_attention_layer.call_cached(
            self._self_attention_layernorm(x), key_cache, value_cache, start
        )
        x = ops.add(attended, x)
        x = ops.add(self._feedforward(self._feedforward_layernorm(x)), x)
        return x, key_cache, value_cache

    def _feedforward(self, x: Any) -> Any:
        # SiLU in float32, as keras-hub (and torch's own silu kernel) computes it.
        gate = ops.cast(self._feedforward_gate_dense(x), "float32")  # (B, T, F)
        gate = ops.cast(ops.silu(gate), self.compute_dtype)
        x = self._feedforward_intermediate_dense(x)  # (B, T, F)
        return self._feedforward_output_dense(ops.multiply(x, gate))  # (B, T, hidden)

    def compute_output_shape(self, inputs_shape: tuple[int | None, ...]) -> Any:
        return inputs_shape
