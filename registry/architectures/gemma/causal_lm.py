"""Gemma's causal LM, as keras-hub's `GemmaCausalLM`: the head is the tied token
embedding reversed, its logits soft-capped by Gemma 2's `final_logit_soft_cap`."""

from __future__ import annotations

from registry.architectures.causal_lm import CausalLM, KerasHubTask
from registry.architectures.gemma.backbone import GemmaBackbone


class GemmaCausalLM(CausalLM):
    """A `GemmaBackbone` generating text (Gemma and Gemma 2, sliding windows included).

    Example:
        ```python
        from registry import GemmaCausalLM

        lm = GemmaCausalLM.from_preset("./hf_gemma2")
        lm.generate("Gemma is", max_new_tokens=20)
        ```
    """

    backbone_cls = GemmaBackbone
    keras_hub = KerasHubTask(
        "GemmaCausalLM",
        "gemma.gemma_causal_lm",
        "GemmaCausalLMPreprocessor",
        "gemma.gemma_causal_lm_preprocessor",
    )

    def cache_heads(self) -> tuple[int, int]:
        attention = self.backbone.transformer_layers[0].attention
        return int(attention.num_key_value_heads), int(attention.head_dim)
