"""GPT-2's causal LM, as keras-hub's `GPT2CausalLM`: the head is the token embedding, tied."""

from __future__ import annotations

from typing import Any

from registry.architectures.causal_lm import CausalLM, KerasHubTask
from registry.architectures.gpt2.backbone import GPT2Backbone


class GPT2CausalLM(CausalLM):
    """A `GPT2Backbone` generating text; its logits are the token embedding reversed.

    Example:
        ```python
        from registry import GPT2CausalLM

        lm = GPT2CausalLM.from_preset("gpt2_base_en")
        lm.generate("The Keras preset registry", max_length=40)
        ```
    """

    backbone_cls = GPT2Backbone
    keras_hub = KerasHubTask(
        "GPT2CausalLM",
        "gpt2.gpt2_causal_lm",
        "GPT2CausalLMPreprocessor",
        "gpt2.gpt2_causal_lm_preprocessor",
    )

    def cache_heads(self) -> tuple[int, int]:
        attention = self.backbone.transformer_layers[0]._self_attention_layer
        return int(attention.num_heads), int(attention.head_dim)

    def embed_at(self, token_ids: Any, start: Any) -> Any:
        # The backbone's `embed`, with the position embeddings of `start, ...`.
        backbone: Any = self.backbone
        tokens = backbone.token_embedding(token_ids)  # (B, T, hidden)
        positions = backbone.position_embedding(tokens, start_index=start)
        return backbone.embeddings_add((tokens, positions))
