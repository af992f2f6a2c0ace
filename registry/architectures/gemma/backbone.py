"""Gemma and Gemma 2, as keras-hub's `GemmaBackbone`: same arguments, graph and weight layout."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from registry.architectures.backbone import DecoderBackbone, token_embedding_layer
from registry.architectures.gemma.layers import GemmaDecoderBlock, RMSNormalization
from registry.architectures.gemma.spec import SPEC
from registry.architectures.gemma.weights import check_arguments
from registry.architectures.initializers import skippable


class GemmaBackbone(DecoderBackbone, spec=SPEC):
    """Gemma core network: scaled token embeddings, decoder blocks, a final RMS norm.

    Gemma 2 is the same class with normalization after attention and after the
    feedforward network, soft caps on the attention and final logits, and
    sliding-window attention on the even-numbered blocks. Weights, variable
    paths and config match keras-hub's `GemmaBackbone`, so a preset saved by
    either loads in the other, and the two compute the same outputs. It is
    called as every `DecoderBackbone` is, on token ids and a padding mask.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of decoder blocks.
        num_query_heads: int. The number of query heads in each attention layer.
        num_key_value_heads: int. The number of key and value heads; must divide
            `num_query_heads` (1 is multi-query attention).
        hidden_dim: int. The size of the token representations.
        intermediate_dim: int. keras-hub's measure of the feedforward network:
            each of its two gating kernels is `intermediate_dim // 2` wide
            (twice transformers' `intermediate_size`).
        head_dim: int. The size of each attention head; even.
        query_head_dim_normalize: bool. Whether queries are scaled by
            `1 / sqrt(head_dim)` rather than `1 / sqrt(hidden_dim / num_query_heads)`.
            keras-hub 0.32 records it but scales by `1 / sqrt(head_dim)`
            whatever it says; so does this class, to compute what keras-hub does.
        use_post_ffw_norm: bool. Normalize the feedforward network's output
            (Gemma 2).
        use_post_attention_norm: bool. Normalize the attention's output (Gemma 2).
        attention_logit_soft_cap: float or None. Caps attention logits
            smoothly: `tanh(logits / cap) * cap` (Gemma 2: 50).
        final_logit_soft_cap: float or None. The same cap on the logits of the
            reversed token embedding (Gemma 2: 30); the backbone's output, the
            hidden states, is not capped.
        use_sliding_window_attention: bool. Let the even-numbered blocks attend
            only to the last `sliding_window_size` positions (Gemma 2).
        sliding_window_size: int. The width of those windows, the query's own
            position included.
        layer_norm_epsilon: float. The epsilon of the final normalization (as in
            keras-hub, the blocks' own norms use 1e-6).
        dropout: float. Dropout probability on attention weights and outputs.
        dtype: string or `keras.DTypePolicy`, e.g. `"float32"`, `"bfloat16"`
            or `"mixed_bfloat16"`. Softmax and normalization always compute in
            float32.

    Example:
        ```python
        from registry import GemmaBackbone

        gemma_2b = GemmaBackbone(
            vocabulary_size=256000, num_layers=18, num_query_heads=8,
            num_key_value_heads=1, hidden_dim=2048, intermediate_dim=32768,
            head_dim=256,
        )
        ```
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_query_heads: int,
        num_key_value_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        head_dim: int,
        query_head_dim_normalize: bool = True,
        use_post_ffw_norm: bool = False,
        use_post_attention_norm: bool = False,
        attention_logit_soft_cap: float | None = None,
        final_logit_soft_cap: float | None = None,
        use_sliding_window_attention: bool = False,
        sliding_window_size: int = 4096,
        layer_norm_epsilon: float = 1e-6,
        dropout: float = 0,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        arguments = {
            "vocabulary_size": vocabulary_size,
            "num_layers": num_layers,
            "num_query_heads": num_query_heads,
            "num_key_value_heads": num_key_value_heads,
            "hidden_dim": hidden_dim,
            "intermediate_dim": intermediate_dim,
            "head_dim": head_dim,
            "layer_norm_epsilon": layer_norm_epsilon,
            "dropout": dropout,
            "query_head_dim_normalize": query_head_dim_normalize,
            "use_post_ffw_norm": use_post_ffw_norm,
            "use_post_attention_norm": use_post_attention_norm,
            "final_logit_soft_cap": final_logit_soft_cap,
            "attention_logit_soft_cap": attention_logit_soft_cap,
            "sliding_window_size": sliding_window_size,
            "use_sliding_window_attention": use_sliding_window_attention,
        }
        check_arguments(arguments)

        # === Layers ===
        initializer = keras.initializers.VarianceScaling(
            scale=1.0, mode="fan_in", distribution="untruncated_normal"
        )
        self.token_embedding = token_embedding_layer(
            vocabulary_size,
            hidden_dim,
            skippable(initializer),
            dtype,
            tie_weights=True,
            logit_soft_cap=final_logit_soft_cap,
        )
        self.transformer_layers = [
            GemmaDecoderBlock(
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                head_dim=head_dim,
                num_query_heads=num_query_heads,
                num_key_value_heads=num_key_value_heads,
                use_post_ffw_norm=use_post_ffw_norm,
                use_post_attention_norm=use_post_attention_norm,
                logit_soft_cap=attention_logit_soft_cap,
                # Sliding windows on blocks 0, 2, 4, ..., global attention between.
                use_sliding_window_attention=use_sliding_window_attention and i % 2 == 0,
                sliding_window_size=sliding_window_size,
                # keras-hub passes `layer_norm_epsilon` to the final norm only.
                dropout=dropout,
                dtype=dtype,
                name=f"decoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.layer_norm = RMSNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_normalization"
        )

        super().__init__(arguments, dtype=dtype, **kwargs)

    def embed(self, token_ids: Any) -> Any:
        x = super().embed(token_ids)  # (B, T, hidden)
        # As keras-hub's Gemma: embeddings scaled by sqrt(hidden_dim), x's width.
        return x * ops.cast(ops.sqrt(x.shape[-1]), x.dtype)
