"""Llama, as keras-hub's `LlamaBackbone`: same arguments, graph and weight layout."""

from __future__ import annotations

from typing import Any, ClassVar

from registry.architectures.backbone import DecoderBackbone, token_embedding_layer
from registry.architectures.initializers import random_normal
from registry.architectures.llama.layers import LlamaLayerNorm, LlamaTransformerDecoder
from registry.architectures.llama.spec import SPEC
from registry.architectures.llama.weights import check_arguments
from registry.architectures.spec import BuiltinPreset


class LlamaBackbone(DecoderBackbone, spec=SPEC):
    """Llama core network: token embedding, pre-norm decoder blocks, final RMS norm.

    Each block normalizes with RMS norm, attends with grouped-query causal
    self-attention and rotary position embeddings, and feeds forward through a
    SwiGLU layer; no projection has a bias. Weights, variable paths and config
    match keras-hub's `LlamaBackbone` (and `Llama3Backbone`, the same class
    under another name), so a preset saved by either loads in the other. It
    is called as every `DecoderBackbone` is, on token ids and a padding mask.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_query_heads: int. The number of query heads; must divide
            `hidden_dim`, and the head size must be even.
        hidden_dim: int. The size of the token representations.
        intermediate_dim: int. The width of each block's gated feedforward layer.
        num_key_value_heads: int. The number of key and value heads; must
            divide `num_query_heads` (grouped-query attention).
        rope_max_wavelength: float. The base of the rotary embeddings'
            frequencies (transformers' `rope_theta`). Defaults to `10000`.
        rope_position_scaling_factor: float. Only `1.0`: keras-hub 0.32 accepts
            other values and ignores them, while earlier releases divided the
            positions by them.
        rope_frequency_adjustment_factor: float. Llama 3.1 rope scaling: how
            much long wavelengths are slowed down. Defaults to `None`.
        rope_low_freq_factor: float. Llama 3.1 rope scaling. Defaults to `None`.
        rope_high_freq_factor: float. Llama 3.1 rope scaling. Defaults to `None`.
        rope_pretraining_sequence_length: int. Llama 3.1 rope scaling: the
            context length of pretraining. The four Llama 3.1 arguments are
            set together or not at all. Defaults to `None`.
        layer_norm_epsilon: float. Epsilon of the RMS norms. Defaults to `1e-6`.
        dropout: float. Dropout after each attention layer, in training.
            Defaults to `0`.
        tie_word_embeddings: bool. Whether the output projection reuses the
            token embedding; if False, `token_embedding` holds its own
            `reverse_embeddings` (keras-hub's `reversible_embedding/vars/1`).
            Defaults to `False`.
        dtype: string or `keras.DTypePolicy`, e.g. `"float32"`, `"bfloat16"`
            or `"mixed_bfloat16"`. Softmax, RMS norms and SiLU always compute
            in float32.

    Example:
        ```python
        from registry import LlamaBackbone

        llama32_1b = LlamaBackbone(
            vocabulary_size=128256, num_layers=16, num_query_heads=32,
            hidden_dim=2048, intermediate_dim=8192, num_key_value_heads=8,
            rope_max_wavelength=500000, rope_frequency_adjustment_factor=32.0,
            rope_low_freq_factor=1.0, rope_high_freq_factor=4.0,
            rope_pretraining_sequence_length=8192, layer_norm_epsilon=1e-5,
            dtype="bfloat16",
        )
        ```
    """

    config_modules: ClassVar[tuple[str, ...]] = SPEC.config_modules
    registered_names: ClassVar[tuple[str, ...]] = SPEC.registered_names
    builtin_presets: ClassVar[dict[str, BuiltinPreset]] = {p.name: p for p in SPEC.presets}

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_query_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        num_key_value_heads: int,
        rope_max_wavelength: float = 10000,
        rope_position_scaling_factor: float = 1.0,
        rope_frequency_adjustment_factor: float | None = None,
        rope_low_freq_factor: float | None = None,
        rope_high_freq_factor: float | None = None,
        rope_pretraining_sequence_length: int | None = None,
        layer_norm_epsilon: float = 1e-6,
        dropout: float = 0,
        dtype: Any = None,
        tie_word_embeddings: bool = False,
        **kwargs: Any,
    ) -> None:
        # In the order of keras-hub's config. Its own config leaves out
        # `tie_word_embeddings` (so it cannot reload a tied preset); its
        # constructor takes it, so ours writes it.
        arguments = {
            "vocabulary_size": vocabulary_size,
            "num_layers": num_layers,
            "num_query_heads": num_query_heads,
            "hidden_dim": hidden_dim,
            "intermediate_dim": intermediate_dim,
            "rope_max_wavelength": rope_max_wavelength,
            "rope_position_scaling_factor": rope_position_scaling_factor,
            "rope_frequency_adjustment_factor": rope_frequency_adjustment_factor,
            "rope_low_freq_factor": rope_low_freq_factor,
            "rope_high_freq_factor": rope_high_freq_factor,
            "rope_pretraining_sequence_length": rope_pretraining_sequence_length,
            "num_key_value_heads": num_key_value_heads,
            "layer_norm_epsilon": layer_norm_epsilon,
            "dropout": dropout,
            "tie_word_embeddings": tie_word_embeddings,
        }
        check_arguments(arguments)

        # === Layers ===
        self.token_embedding = token_embedding_layer(
            vocabulary_size,
            hidden_dim,
            random_normal(stddev=0.01),
            dtype,
            tie_weights=tie_word_embeddings,
        )
        self.transformer_layers = [
            LlamaTransformerDecoder(
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                num_query_heads=num_query_heads,
                num_key_value_heads=num_key_value_heads,
                rope_max_wavelength=rope_max_wavelength,
                rope_frequency_adjustment_factor=rope_frequency_adjustment_factor,
                rope_low_freq_factor=rope_low_freq_factor,
                rope_high_freq_factor=rope_high_freq_factor,
                rope_pretraining_sequence_length=rope_pretraining_sequence_length,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=random_normal(stddev=0.02),
                dropout=dropout,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.layer_norm = LlamaLayerNorm(
            epsilon=layer_norm_epsilon, dtype=dtype, name="sequence_output_layernorm"
        )

        super().__init__(arguments, dtype=dtype, **kwargs)
