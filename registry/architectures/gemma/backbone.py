"""Gemma and Gemma 2, as keras-hub's `GemmaBackbone`: same arguments, graph and weight layout."""

from __future__ import annotations

from typing import Any, ClassVar

import keras
from keras import ops

from registry.architectures.backbone import Backbone
from registry.architectures.gemma.layers import GemmaDecoderBlock, RMSNormalization
from registry.architectures.gemma.spec import SPEC, check_arguments
from registry.architectures.initializers import skippable
from registry.architectures.spec import ArchitectureSpec


class GemmaBackbone(Backbone):
    """Gemma core network: scaled token embeddings, decoder blocks, a final RMS norm.

    Gemma 2 is the same class with normalization after attention and after the
    feedforward network, soft caps on the attention and final logits, and
    sliding-window attention on the even-numbered blocks. Weights, variable
    paths and config match keras-hub's `GemmaBackbone`, so a preset saved by
    either loads in the other, and the two compute the same outputs.

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

    Inputs are `{"token_ids": (batch, seq) int, "padding_mask": (batch, seq)}`;
    the output is the final normalized sequence, `(batch, seq, hidden_dim)`.

    Example:
        ```python
        import numpy as np
        from registry import GemmaBackbone

        backbone = GemmaBackbone(
            vocabulary_size=256000, num_layers=18, num_query_heads=8,
            num_key_value_heads=1, hidden_dim=2048, intermediate_dim=32768,
            head_dim=256,
        )
        outputs = backbone({
            "token_ids": np.ones((1, 12), dtype="int32"),
            "padding_mask": np.ones((1, 12), dtype="int32"),
        })  # (1, 12, 2048)
        ```
    """

    spec: ClassVar[ArchitectureSpec] = SPEC

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
        self.token_embedding = keras.layers.ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            tie_weights=True,
            embeddings_initializer=skippable(
                keras.initializers.VarianceScaling(
                    scale=1.0, mode="fan_in", distribution="untruncated_normal"
                )
            ),
            logit_soft_cap=final_logit_soft_cap,
            dtype=dtype,
            name="token_embedding",
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

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        x = self.token_embedding(token_ids)  # (B, T, hidden)
        x = x * ops.cast(ops.sqrt(hidden_dim), x.dtype)
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
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.head_dim = head_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout
        self.query_head_dim_normalize = query_head_dim_normalize
        self.use_post_ffw_norm = use_post_ffw_norm
        self.use_post_attention_norm = use_post_attention_norm
        self.attention_logit_soft_cap = attention_logit_soft_cap
        self.final_logit_soft_cap = final_logit_soft_cap
        self.sliding_window_size = sliding_window_size
        self.use_sliding_window_attention = use_sliding_window_attention

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "head_dim": self.head_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "dropout": self.dropout,
                "query_head_dim_normalize": self.query_head_dim_normalize,
                "use_post_ffw_norm": self.use_post_ffw_norm,
                "use_post_attention_norm": self.use_post_attention_norm,
                "final_logit_soft_cap": self.final_logit_soft_cap,
                "attention_logit_soft_cap": self.attention_logit_soft_cap,
                "sliding_window_size": self.sliding_window_size,
                "use_sliding_window_attention": self.use_sliding_window_attention,
            }
        )
        return config
