"""Gemma's tokenizer: SentencePiece, as keras-hub's `GemmaTokenizer`."""

from __future__ import annotations

from registry.architectures.subword import SentencePieceTokenizer


class GemmaTokenizer(SentencePieceTokenizer):
    """Gemma's SentencePiece model: keras-hub's `GemmaTokenizer` (`vocabulary.spm`)
    or a transformers checkpoint's `tokenizer.json` (or `tokenizer.model`).

    A prompt starts with `<bos>` (`add_special_tokens=True`); `<eos>` ends a
    text and `<pad>` pads.

    Example:
        ```python
        tokenizer = GemmaTokenizer.from_preset("./gemma_2b_en")
        tokenizer.encode("Hello", add_special_tokens=True)  # [2, ...]
        ```
    """

    layer_name = "gemma_tokenizer"
    start_token = "<bos>"
    end_token = "<eos>"
    pad_token = "<pad>"
    transformers_classes = ("GemmaTokenizer", "GemmaTokenizerFast")
