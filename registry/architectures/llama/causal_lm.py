"""Llama's causal LM, as keras-hub's `LlamaCausalLM`: the head is the token embedding
reversed, tied to it or its own `reverse_embeddings` as `tie_word_embeddings` says."""

from __future__ import annotations

from typing import Any

from registry.architectures.causal_lm import CausalLM, KerasHubTask
from registry.architectures.llama.backbone import LlamaBackbone

# keras-hub's Llama 3 task: the same model, with Llama 3's byte-level tokenizer.
LLAMA3 = KerasHubTask(
    "Llama3CausalLM",
    "llama3.llama3_causal_lm",
    "Llama3CausalLMPreprocessor",
    "llama3.llama3_causal_lm_preprocessor",
)


class LlamaCausalLM(CausalLM):
    """A `LlamaBackbone` generating text (Llama 2, 3, 3.1, 3.2).

    A transformers checkpoint's untied `lm_head.weight` is the backbone's
    `reverse_embeddings` (see `registry.architectures.llama.convert`). With a
    Llama 3 tokenizer, `save_to_preset` writes keras-hub's `Llama3CausalLM`.

    Example:
        ```python
        from registry import LlamaCausalLM

        lm = LlamaCausalLM.from_preset("./hf_llama")
        lm.generate("Llamas are", max_new_tokens=20)
        ```
    """

    backbone_cls = LlamaBackbone
    keras_hub = KerasHubTask(
        "LlamaCausalLM",
        "llama.llama_causal_lm",
        "LlamaCausalLMPreprocessor",
        "llama.llama_causal_lm_preprocessor",
    )

    def keras_hub_names(self, tokenizer_config: dict[str, Any] | None = None) -> KerasHubTask:
        # keras-hub's Llama 3 presets are `Llama3CausalLM`s, known by their tokenizer.
        llama3 = (tokenizer_config or {}).get("registered_name") == "keras_hub>Llama3Tokenizer"
        return LLAMA3 if llama3 else super().keras_hub_names(tokenizer_config)

    def cache_heads(self) -> tuple[int, int]:
        attention = self.backbone.transformer_layers[0]._self_attention_layer
        return int(attention.num_key_value_heads), int(attention.head_dim)
